"""A real Chroma server (the ``chroma run`` that chromadb installs) on a free loopback port."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def running_chroma_server(data_dir: Path, log: Path | None = None) -> Iterator[str]:
    """Start ``chroma run`` on ``data_dir``; yields its URL once it answers, stops it after."""
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent))
    assert chroma, "chromadb's `chroma` command is missing"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sink = log.open("w") if log is not None else subprocess.DEVNULL
    server = subprocess.Popen([chroma, "run", "--path", str(data_dir), "--host", "127.0.0.1",
                               "--port", str(port)], stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1)
                break
            except OSError:
                assert server.poll() is None, "chroma run exited"
                time.sleep(0.25)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if log is not None:
            sink.close()  # type: ignore[union-attr]
