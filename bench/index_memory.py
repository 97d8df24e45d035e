"""Peak memory of ``qwen3-rag index`` as the corpus grows: it streams, so it should stay flat.

Runs the real command (transformers backend, the tiny random-weight model) on synthetic
corpora of each size, each into a fresh embedded Chroma, and reads the child's peak RSS from
the kernel (``wait4``). With ``--chroma-server`` it writes to a Chroma server instead, so the
measured process holds no vector index. Prints a Markdown table.

    python -m bench.index_memory --sizes 10000 100000 --workdir /tmp/index-memory
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from bench.index_servers import chroma_server
from bench.synthetic_corpus import write_jsonl

__all__ = ["child_environment", "main", "peak_rss_of_index"]


def child_environment(torch_threads: int | None) -> dict[str, str] | None:
    """The environment of an index process: ours, with OMP_NUM_THREADS when asked."""
    if torch_threads is None:
        return None
    return {**os.environ, "OMP_NUM_THREADS": str(torch_threads)}


def peak_rss_of_index(corpus: Path, store: list[str], model: Path, batch_size: int,
                      torch_threads: int | None = None) -> tuple[float, float]:
    """Run ``qwen3-rag index`` once into ``store`` (its options); returns (MiB, seconds)."""
    command = [sys.executable, "-m", "qwen3_rag.cli", "index", str(corpus), *store,
               "--embedding-model", str(model),
               "--backend", "transformers", "--dtype", "float32", "--batch-size",
               str(batch_size)]
    # A file, not a pipe: nobody reads while the child runs, so a pipe could fill and block it.
    with tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log,
                                   env=child_environment(torch_threads))
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            log.seek(0)
            raise SystemExit(f"index failed:\n{log.read().decode(errors='replace')[-3000:]}")
    # Linux reports ru_maxrss in KiB.
    return usage.ru_maxrss / 1024, seconds


def main(argv: list[str] | None = None) -> int:
    """Measure each size and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--torch-threads", type=int, default=None, metavar="N",
                        help="OMP_NUM_THREADS of each index process (default: torch's choice, "
                             "every core; a Ray actor gets 1 per CPU it holds)")
    parser.add_argument("--model", type=Path, default=None,
                        help="embedding model directory (default: tiny models built here)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--chroma-server", action="store_true",
                        help="write to a Chroma server started here, so the index process "
                             "holds no vector index of its own")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    model = args.model
    if model is None:
        from qwen3_core.testing.tiny_models import build_tiny_models

        model = build_tiny_models(args.workdir / "tiny").embedding
    with ExitStack() as servers:
        url = (servers.enter_context(chroma_server(args.workdir / "server"))
               if args.chroma_server else None)
        rows = []
        for size in args.sizes:
            corpus = write_jsonl(args.workdir / f"corpus-{size}.jsonl", size)
            store = (["--chroma-url", url, "--collection", f"memory-{size}"] if url else
                     ["--chroma-dir", str(args.workdir / f"chroma-{size}"), "--collection",
                      "memory"])
            peak, seconds = peak_rss_of_index(corpus, store, model, args.batch_size,
                                              args.torch_threads)
            rows.append((size, peak, seconds))
            print(f"{size} passages: peak RSS {peak:.0f} MiB, {seconds:.0f} s", file=sys.stderr)
    smallest = rows[0][1]
    print("| passages | peak RSS (MiB) | vs smallest | wall (s) | docs/s |")
    print("|---:|---:|---:|---:|---:|")
    for size, peak, seconds in rows:
        print(f"| {size:,} | {peak:.0f} | {(peak / smallest - 1) * 100:+.1f}% | {seconds:.0f} "
              f"| {size / seconds:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
