"""Real ``qwen3-rag serve`` processes on loopback for the tests, and how to stop them.

Three servers run for the session (``servers`` in conftest.py): an embedding and a reranker
server, both guarding every route with ``API_KEY``, that stay up, and a second reranker server
without a key that the failover tests stop and kill.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from local_ports import free_port
from tolerances import VLLM_VECTORS

from qwen3_rag.server.command import set_parent_death_signal

API_KEY = "tiny-secret"
STARTUP_SECONDS = 400
#: Vectors from a served embedding model against the reference (see tolerances.py).
SERVED_EMBEDDING_TOLERANCE = VLLM_VECTORS


@dataclass
class Server:
    """One ``qwen3-rag serve`` process and where it listens."""

    process: subprocess.Popen
    url: str
    log: Path

    def processes(self) -> list[psutil.Process]:
        """The command and every process under it (the vLLM API server and its engine)."""
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def kill(self) -> None:
        """Kill the whole server at once, as a crash would."""
        for proc in self.processes():
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        self.process.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM the command (it forwards to vLLM); kill what is left after 60 s."""
        if self.process.poll() is None:
            left_behind = self.processes()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            finally:
                for proc in left_behind:
                    if proc.is_running():
                        proc.kill()
        return self.process.wait(timeout=30)


def _serve_command() -> list[str]:
    script = Path(sys.executable).with_name("qwen3-rag")
    return [str(script)] if script.exists() else [sys.executable, "-m", "qwen3_rag.cli"]


def start_server(kind: str, model: Path, log_dir: Path, *options: str) -> Server:
    port = free_port()
    log = log_dir / f"{kind}-{port}.log"
    command = [*_serve_command(), "serve", kind, "--model", str(model), "--dtype", "float32",
               "--port", str(port), *options, "--", "--enforce-eager"]
    with log.open("wb") as sink:
        # Dies with pytest even when the session is killed before its teardown runs.
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT,
                                   start_new_session=True, preexec_fn=set_parent_death_signal)
    return Server(process, f"http://127.0.0.1:{port}", log)


def wait_ready(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"qwen3-rag serve exited with {server.process.returncode}:\n"
                        + server.log.read_text(errors="replace")[-3000:])
        try:
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(1)
    pytest.fail(f"{server.url} not ready after {STARTUP_SECONDS} s; log: {server.log}")
