"""What reading long documents by their best window costs, against truncating them (issue 26).

One query and ``--documents`` documents of about ``--doc-tokens`` tokens each, reranked with
``max_length=--max-length`` under ``long_documents="truncate"`` and ``"best_window"`` (default
overlap, a quarter of the window, and ``--overlap`` when given), on one engine. Each mode runs
once to warm up, then the modes take turns ``--repeats`` times (the machine may be shared: a
change in its load falls on every mode alike); the fastest and the median time are reported
with the prompts and tokens the engine received, so the cost can be read against the work:
best-window computes about ``windows x max_length`` tokens per document where truncation
computes ``max_length``.

The model is Qwen3-0.6B's shape (random weights) with ``--layers`` layers, two by default, so a
CPU run takes minutes: the time of a layer scales, and the ratio between the modes is what the
report is for. ``--tiny`` uses the test suite's tiny model instead (seconds; a smoke run).

    python -m bench.best_window                          # transformers, 2 layers, CPU
    python -m bench.best_window --backend vllm --engine-kwargs '{"enforce_eager": true}'
    python -m bench.best_window --tiny --repeats 1       # smoke
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.machine import describe_machine

__all__ = ["main", "measure"]

_WORDS = ("glacier valley ice moraine river bedrock cirque summit snow meltwater erosion "
          "sediment delta harbour crane violin bread plains north winter summer basin "
          "ridge slope current tide season").split()
QUERY = "How do glaciers carve U-shaped valleys?"


def _documents(count: int, tokens: int, tokenizer: Any) -> list[str]:
    """``count`` varied documents of about ``tokens`` tokens under ``tokenizer``."""
    rng = random.Random(26)
    documents = []
    for _ in range(count):
        words: list[str] = []
        text = ""
        while len(tokenizer.encode(text, add_special_tokens=False).ids) < tokens:
            words.extend(rng.choice(_WORDS) for _ in range(64))
            text = " ".join(words)
        documents.append(text)
    return documents


def measure(reranker: Any, documents: Sequence[str], modes: Sequence[tuple[str, int | None]],
            repeats: int) -> list[dict[str, Any]]:
    """Median seconds of one rerank call per mode, and the prompts and tokens the engine got.

    The modes take turns in every round, so a change in the machine's load (it is shared)
    falls on all of them alike rather than on whichever ran last.
    """
    engine = reranker._engine()
    sent: list[int] = []
    original = engine.score_groups

    def counting(groups):
        sent.extend(len(prompt) for group in groups for prompt in group)
        return original(groups)

    rows = []
    engine.score_groups = counting
    try:
        for mode, overlap in modes:  # warm-up, counting what the engine receives
            sent.clear()
            reranker.rerank(QUERY, documents, long_documents=mode, overlap=overlap)
            rows.append({"mode": mode, "overlap": overlap, "prompts": len(sent),
                         "tokens": sum(sent), "times": []})
        for _ in range(repeats):
            for row in rows:
                started = time.perf_counter()
                reranker.rerank(QUERY, documents, long_documents=row["mode"],
                                overlap=row["overlap"])
                row["times"].append(time.perf_counter() - started)
    finally:
        del engine.score_groups  # the instance attribute; the method shows again
    for row in rows:
        row["seconds"] = statistics.median(row["times"])
    return rows


def _table(rows: list[dict[str, Any]], documents: int) -> str:
    """The rows as Markdown, the ratio taken on the fastest rounds.

    On a shared machine other work only adds time, so the fastest round is the least disturbed.
    """
    fastest = min(rows[0]["times"])
    lines = ["| mode | overlap | prompts | tokens computed | seconds: fastest | seconds: median "
             "| vs truncate (fastest) |", "|---|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        overlap = "-" if row["mode"] == "truncate" else (
            "1/4 window" if row["overlap"] is None else str(row["overlap"]))
        per_document = row["prompts"] / documents
        lines.append(f"| {row['mode']} | {overlap} | {row['prompts']} ({per_document:.1f} per "
                     f"document) | {row['tokens']:,} | {min(row['times']):.2f} | "
                     f"{row['seconds']:.2f} | {min(row['times']) / fastest:.2f}x |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison and print a Markdown report."""
    parser = argparse.ArgumentParser(prog="python -m bench.best_window", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="transformers")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--engine-kwargs", type=json.loads, default=None)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--tiny", action="store_true", help="the test suite's tiny model")
    parser.add_argument("--documents", type=int, default=8)
    parser.add_argument("--doc-tokens", type=int, default=2048)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--overlap", type=int, default=None,
                        help="also measure best_window with this overlap")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models-dir", type=Path, default=None)
    args = parser.parse_args(argv)

    from qwen3_core import Qwen3Reranker
    from qwen3_core.tokenization import load_tokenizers

    if args.tiny:
        from qwen3_core.testing.tiny_models import build_tiny_models

        root = args.models_dir or Path(tempfile.gettempdir()) / "qwen3-rag-bench-tiny"
        models = build_tiny_models(root)
        model_name = "tiny test model"
    else:
        from bench.models import full_shape_models

        models = full_shape_models(args.layers, args.models_dir)
        model_name = f"Qwen3-0.6B shape, {args.layers} layers, random weights"
    _, plain = load_tokenizers(models.reranker)
    documents = _documents(args.documents, args.doc_tokens, plain)
    with Qwen3Reranker(models.reranker, backend=args.backend, dtype=args.dtype,
                       max_length=args.max_length, engine_kwargs=args.engine_kwargs) as rr:
        modes: list[tuple[str, int | None]] = [("truncate", None), ("best_window", None)]
        if args.overlap is not None:
            modes.append(("best_window", args.overlap))
        rows = measure(rr, documents, modes, args.repeats)
        backend = rr.backend
    machine = describe_machine()
    print(f"{model_name}; backend {backend}, {args.dtype}; {args.documents} documents of "
          f"~{args.doc_tokens} tokens, max_length {args.max_length}; median of {args.repeats}")
    print(f"machine: {machine['cpu']}, {machine['cores']} cores, {machine['system']}\n")
    print(_table(rows, args.documents))
    return 0


if __name__ == "__main__":
    sys.exit(main())
