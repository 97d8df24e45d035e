"""Peak memory of ``qwen3-rag index`` as the corpus grows: it streams, so it should stay flat.

Runs the real command (transformers backend, the tiny random-weight model) on synthetic
corpora of each size, each into a fresh embedded Chroma, and reads the child's peak RSS from
the kernel (``wait4``). Prints a Markdown table.

    python -m bench.index_memory --sizes 10000 100000 --workdir /tmp/index-memory
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.synthetic_corpus import write_jsonl

__all__ = ["main", "peak_rss_of_index"]


def peak_rss_of_index(corpus: Path, chroma_dir: Path, model: Path,
                      batch_size: int) -> tuple[float, float]:
    """Run ``qwen3-rag index`` once; returns (peak RSS in MiB, wall seconds)."""
    command = [sys.executable, "-m", "qwen3_rag.cli", "index", str(corpus), "--chroma-dir",
               str(chroma_dir), "--collection", "memory", "--embedding-model", str(model),
               "--backend", "transformers", "--dtype", "float32", "--batch-size",
               str(batch_size)]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    error = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"index failed:\n{error}")
    # Linux reports ru_maxrss in KiB.
    return usage.ru_maxrss / 1024, seconds


def main(argv: list[str] | None = None) -> int:
    """Measure each size and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--model", type=Path, default=None,
                        help="embedding model directory (default: tiny models built here)")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    model = args.model
    if model is None:
        from qwen3_core.testing.tiny_models import build_tiny_models

        model = build_tiny_models(args.workdir / "tiny").embedding
    rows = []
    for size in args.sizes:
        corpus = write_jsonl(args.workdir / f"corpus-{size}.jsonl", size)
        peak, seconds = peak_rss_of_index(corpus, args.workdir / f"chroma-{size}", model,
                                          args.batch_size)
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
