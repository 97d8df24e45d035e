"""One measurement in a process of its own, so its memory and engines die with it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["run_in_subprocess"]

_REPO_ROOT = Path(__file__).resolve().parent.parent


def run_in_subprocess(command: Sequence[str], spec: dict[str, Any], stem: str, work: Path,
                      timeout: float) -> dict[str, Any]:
    """Run ``python -m *command SPEC_FILE`` and read back the JSON it writes to ``output``.

    ``spec`` gets an ``output`` path added; the worker writes its result there. A failure or a
    timeout comes back as ``{"error": ...}`` with the end of the worker's log.
    """
    spec_file, output = work / f"{stem}.json", work / f"{stem}.result.json"
    log = work / f"{stem}.log"
    spec_file.write_text(json.dumps({**spec, "output": str(output)}), encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_REPO_ROOT), env.get("PYTHONPATH")]))
    with open(log, "wb") as log_file:
        # Its own session, so a timeout can end the worker and vLLM's engine process together.
        worker = subprocess.Popen([sys.executable, "-m", *command, str(spec_file)], env=env,
                                  stdout=log_file, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        try:
            code = worker.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            if worker.poll() is None:  # timed out, or this process was interrupted
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
    if code != 0 or not output.is_file():
        tail = "\n".join(log.read_text(errors="replace").strip().splitlines()[-15:])
        why = f"timed out after {timeout:.0f} s" if code is None else f"exit code {code}"
        return {"error": f"{why}:\n{tail}"}
    return json.loads(output.read_text())
