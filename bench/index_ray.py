"""Indexing speed: plain ``qwen3-rag index`` against ``--ray`` with 1 and 2 actors.

Everything writes to the same Chroma server (``chroma run``) so only the embedding path
differs; Ray runs on a head node started here (``ray start --head``) on loopback. Each setup
indexes two corpus sizes into fresh collections: the difference gives the steady speed
(start-up, model loads and actor starts cancel out), and the rest the fixed cost. Ray's
overhead per batch is its steady time per batch minus the in-process one, both with one
engine. Prints a Markdown table.

    python -m bench.index_ray --workdir /tmp/index-ray --sizes 2000 6000
"""

from __future__ import annotations

import argparse
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.synthetic_corpus import write_jsonl

__all__ = ["main"]

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _index(corpus: Path, collection: str, model: Path, chroma_url: str, batch_size: int,
           extra: list[str]) -> float:
    """Run ``qwen3-rag index`` once; returns its wall seconds."""
    command = [sys.executable, "-m", "qwen3_rag.cli", "index", str(corpus), "--chroma-url",
               chroma_url, "--collection", collection, "--embedding-model", str(model),
               "--backend", "transformers", "--dtype", "float32", "--batch-size",
               str(batch_size), *extra]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0 or not re.search(r"\d embedded", done.stderr):
        raise SystemExit(f"index failed:\n{done.stderr[-3000:]}")
    return seconds


def _wait_for(url: str, process: subprocess.Popen) -> None:
    for _ in range(240):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"{process.args} exited") from None
            time.sleep(0.25)
    raise SystemExit(f"{url} did not answer")


def main(argv: list[str] | None = None) -> int:
    """Run every setup at both sizes and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--sizes", type=int, nargs=2, default=[2000, 6000])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--ray-cpus", type=int, default=2)
    parser.add_argument("--model", type=Path, default=None,
                        help="embedding model directory (default: tiny models built here)")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    model = args.model
    if model is None:
        from qwen3_core.testing.tiny_models import build_tiny_models

        model = build_tiny_models(args.workdir / "tiny").embedding
    small, large = args.sizes
    corpora = {size: write_jsonl(args.workdir / f"corpus-{size}.jsonl", size)
               for size in args.sizes}

    chroma_port, ray_port = _free_port(), _free_port()
    chroma_url = f"http://127.0.0.1:{chroma_port}"
    ray_temp = tempfile.mkdtemp(prefix="r", dir="/tmp")
    chroma = subprocess.Popen([str(BIN / "chroma"), "run", "--path", str(args.workdir / "db"),
                               "--host", "127.0.0.1", "--port", str(chroma_port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    ray_head = subprocess.Popen([str(BIN / "ray"), "start", "--head", "--port", str(ray_port),
                                 "--node-ip-address", "127.0.0.1", "--num-cpus",
                                 str(args.ray_cpus), "--include-dashboard", "false",
                                 "--temp-dir", ray_temp, "--disable-usage-stats", "--block"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
    setups = [("in-process", []),
              ("Ray, 1 actor", ["--ray", f"127.0.0.1:{ray_port}", "--ray-actors", "1"]),
              ("Ray, 2 actors", ["--ray", f"127.0.0.1:{ray_port}", "--ray-actors", "2"])]
    rows = []
    try:
        _wait_for(f"{chroma_url}/api/v2/heartbeat", chroma)
        while subprocess.run([str(BIN / "ray"), "status", "--address",
                              f"127.0.0.1:{ray_port}"], capture_output=True).returncode:
            time.sleep(1)
        for number, (name, extra) in enumerate(setups):
            times = {size: _index(corpora[size], f"bench-{number}-{size}", model, chroma_url,
                                  args.batch_size, extra) for size in args.sizes}
            steady = (large - small) / (times[large] - times[small])
            fixed = times[small] - small / steady
            rows.append((name, times[small], times[large], steady, fixed))
            print(f"{name}: {times}", file=sys.stderr)
    finally:
        for process in (ray_head, chroma):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
    in_process_batch = args.batch_size / rows[0][3]
    print(f"| setup | {small:,} passages (s) | {large:,} passages (s) | steady docs/s | "
          f"fixed cost (s) | s per batch of {args.batch_size} |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, short, long, steady, fixed in rows:
        print(f"| {name} | {short:.1f} | {long:.1f} | {steady:,.0f} | {fixed:.1f} | "
              f"{args.batch_size / steady:.3f} |")
    overhead = args.batch_size / rows[1][3] - in_process_batch
    print(f"\nRay's overhead per batch (1 actor against in-process, steady): "
          f"{overhead * 1000:+.0f} ms on {in_process_batch * 1000:.0f} ms of work.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
