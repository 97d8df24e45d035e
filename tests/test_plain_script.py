"""A user's script without an ``if __name__ == "__main__":`` guard runs exactly once.

Checked with real script files run by a real interpreter, as a path and as a module (``-m``),
on every in-process backend: vLLM's CPU build starts its engine process with ``spawn``, which
would re-import the script.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import psutil
import pytest
import reference

QUERY = "Which river flows through the old town?"
DOCUMENTS = ["The river bends twice before it reaches the harbour.", "量子力学描述微观粒子的行为。"]

_SCRIPT = """\
import json
import sys
import psutil
from qwen3_core import Qwen3Reranker

with open({runs!r}, "a") as runs:
    runs.write("started\\n")
rr = Qwen3Reranker({model!r}, backend={backend!r}, dtype="float32",
                   engine_kwargs={kwargs!r})
scores = rr.score({query!r}, {documents!r})
if {hold!r}:
    with open({result!r}, "w") as out:
        out.write(json.dumps([[p.pid, ""] for p in psutil.Process().children(recursive=True)]))
    sys.stdin.read()
if {close!r}:
    rr.close()
with open({result!r}, "w") as out:
    out.write(json.dumps({{"scores": [float(s) for s in scores], "children": [
        [p.pid, " ".join(p.cmdline())] for p in psutil.Process().children(recursive=True)]}}))
"""


def _write_script(folder, tiny_models, backend: str, result, hold: bool = False,
                  close: bool = True):
    kwargs = {"enforce_eager": True} if backend == "vllm" else None
    script = folder / "user_script.py"
    script.write_text(_SCRIPT.format(
        runs=str(folder / "runs.txt"), result=str(result), model=str(tiny_models.reranker),
        backend=backend, kwargs=kwargs, query=QUERY, documents=DOCUMENTS, hold=hold,
        close=close))
    return script


def _user_environment() -> dict[str, str]:
    # As a user has it: vLLM's engine process separate, nothing of ours preset.
    return {k: v for k, v in os.environ.items() if k != "VLLM_ENABLE_V1_MULTIPROCESSING"}


# The module run also leaves its model open: closing it at exit is ours to do, quietly (left to
# vLLM's finalizers, the process aborted: "terminate called without an active exception").
@pytest.mark.parametrize(("backend", "invocation", "close"), [
    ("transformers", "path", True), ("vllm", "path", True), ("vllm", "module", False)])
def test_script_without_main_guard_runs_once(backend, invocation, close, tiny_models, tmp_path):
    result = tmp_path / "scores.json"
    script = _write_script(tmp_path, tiny_models, backend, result, close=close)
    command = ([sys.executable, str(script)] if invocation == "path"
               else [sys.executable, "-m", script.stem])
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600,
                              cwd=tmp_path, env=_user_environment(), check=False)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "terminate called" not in finished.stderr
    assert (tmp_path / "runs.txt").read_text().splitlines() == ["started"]
    want = reference.rerank_scores(str(tiny_models.reranker), QUERY, DOCUMENTS)
    outcome = json.loads(result.read_text())
    np.testing.assert_allclose(outcome["scores"], want, atol=1e-5)
    if close:
        # Closing the engine leaves no process of it behind; multiprocessing's resource
        # tracker (started with the first spawned process) ends with the script.
        assert [cmd for _, cmd in outcome["children"] if "resource_tracker" not in cmd] == []
    _, alive = psutil.wait_procs(_still_running(outcome["children"]), timeout=30)
    assert not alive, f"left behind after the script ended: {alive}"


def test_sigterm_to_a_script_leaves_no_engine_process_behind(tiny_models, tmp_path):
    result = tmp_path / "children.json"
    script = _write_script(tmp_path, tiny_models, "vllm", result, hold=True)
    # stderr to a file: processes left behind would hold a pipe open forever.
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr, subprocess.Popen(
            [sys.executable, str(script)], stdin=subprocess.PIPE, stderr=stderr, cwd=tmp_path,
            env=_user_environment()) as user:
        deadline = time.monotonic() + 600
        while not result.exists() or not result.read_text():
            assert user.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the engine did not start in 600 s"
            time.sleep(0.5)
        engine_processes = _still_running(json.loads(result.read_text()))
        assert engine_processes, "the vLLM engine should run in a process of its own"
        user.send_signal(signal.SIGTERM)
        user.wait(timeout=60)
    assert user.returncode == -signal.SIGTERM, log.read_text()[-3000:]
    _, alive = psutil.wait_procs(engine_processes, timeout=60)
    for process in alive:
        process.kill()
    assert not alive, f"left behind: {alive}"


def _still_running(children) -> list[psutil.Process]:
    running = []
    for pid, _ in children:
        try:
            running.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    return running


def test_the_script_template_has_no_main_guard():
    assert "__main__" not in textwrap.dedent(_SCRIPT)
