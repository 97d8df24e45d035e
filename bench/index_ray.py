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
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.index_memory import child_environment
from bench.index_servers import BIN, chroma_server, free_port, stop
from bench.synthetic_corpus import passage_text, write_jsonl

__all__ = ["main"]


def _index(corpus: Path, collection: str, model: Path, chroma_url: str, batch_size: int,
           extra: list[str], torch_threads: int | None) -> float:
    """Run ``qwen3-rag index`` once; returns its wall seconds."""
    command = [sys.executable, "-m", "qwen3_rag.cli", "index", str(corpus), "--chroma-url",
               chroma_url, "--collection", collection, "--embedding-model", str(model),
               "--backend", "transformers", "--dtype", "float32", "--batch-size",
               str(batch_size), *extra]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True,
                          env=child_environment(torch_threads))
    seconds = time.perf_counter() - started
    if done.returncode != 0 or not re.search(r"\d embedded", done.stderr):
        raise SystemExit(f"index failed:\n{done.stderr[-3000:]}")
    return seconds


class _PassThrough:
    """An actor that returns its batch: what Ray costs per batch with no work in it."""

    def __call__(self, batch):
        return {"n": [len(batch["id"])]}


def _ray_seconds_per_batch(address: str, sizes: list[int], batch_size: int) -> float:
    """Steady seconds per batch of a pass-through actor pool of one, on the same blocks."""
    import ray

    from qwen3_rag.indexing.passages import Passage
    from qwen3_rag.indexing.ray_indexing import passages_dataset

    ray.init(address=address, logging_level="WARNING")
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = context.print_on_execution_start = False
        times = {}
        for size in sizes:
            passages = (Passage(f"p{n}", passage_text(n), "bench", {"content_hash": ""})
                        for n in range(size))
            started = time.perf_counter()
            dataset = passages_dataset(passages, block_rows=4 * batch_size)
            done = dataset.map_batches(_PassThrough, batch_size=batch_size, num_cpus=1,
                                       compute=ray.data.ActorPoolStrategy(size=1))
            assert sum(int(b["n"].sum()) for b in done.iter_batches(batch_size=None)) == size
            times[size] = time.perf_counter() - started
    finally:
        ray.shutdown()
    small, large = sizes
    return (times[large] - times[small]) / ((large - small) / batch_size)


def main(argv: list[str] | None = None) -> int:
    """Run every setup at both sizes and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--sizes", type=int, nargs=2, default=[2000, 6000])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--ray-cpus", type=int, default=2)
    parser.add_argument("--torch-threads", type=int, default=None, metavar="N",
                        help="OMP_NUM_THREADS of each index process (default: torch's choice, "
                             "every core; a Ray actor gets 1 per CPU it holds)")
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

    ray_port = free_port()
    ray_temp = tempfile.mkdtemp(prefix="r", dir="/tmp")
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
        with chroma_server(args.workdir / "db") as chroma_url:
            while subprocess.run([str(BIN / "ray"), "status", "--address",
                                  f"127.0.0.1:{ray_port}"], capture_output=True).returncode:
                time.sleep(1)
            for number, (name, extra) in enumerate(setups):
                times = {size: _index(corpora[size], f"bench-{number}-{size}", model,
                                      chroma_url, args.batch_size, extra, args.torch_threads)
                         for size in args.sizes}
                steady = (large - small) / (times[large] - times[small])
                fixed = times[small] - small / steady
                rows.append((name, times[small], times[large], steady, fixed))
                print(f"{name}: {times}", file=sys.stderr)
            pass_through = _ray_seconds_per_batch(f"127.0.0.1:{ray_port}", args.sizes,
                                                  args.batch_size)
    finally:
        stop(ray_head)
        shutil.rmtree(ray_temp, ignore_errors=True)
    in_process_batch = args.batch_size / rows[0][3]
    print(f"| setup | {small:,} passages (s) | {large:,} passages (s) | steady docs/s | "
          f"fixed cost (s) | s per batch of {args.batch_size} |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, short, long, steady, fixed in rows:
        print(f"| {name} | {short:.1f} | {long:.1f} | {steady:,.0f} | {fixed:.1f} | "
              f"{args.batch_size / steady:.3f} |")
    overhead = args.batch_size / rows[1][3] - in_process_batch
    print(f"\nRay, 1 actor against in-process, steady: {overhead * 1000:+.0f} ms per batch on "
          f"{in_process_batch * 1000:.0f} ms of work (reading overlaps embedding under Ray).\n"
          f"Ray's own cost per batch (an actor that passes batches through, no model, no "
          f"Chroma): {pass_through * 1000:.1f} ms.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
