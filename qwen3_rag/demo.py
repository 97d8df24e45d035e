"""``qwen3-rag demo``: embedding recall, then reranking, side by side, over sample passages."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time

import numpy as np

from qwen3_core import ModelLoadError, Qwen3Embedder, Qwen3Reranker

__all__ = ["add_arguments", "run"]

DEFAULT_EMBEDDING_MODEL = "Qwen/Qwen3-Embedding-0.6B"
DEFAULT_RERANKER_MODEL = "Qwen/Qwen3-Reranker-0.6B"

PASSAGES = [
    "Lake Baikal in Siberia holds roughly a fifth of the world's unfrozen fresh surface water.",
    "The Yangtze is the longest river in Asia, flowing east from the Tibetan Plateau to Shanghai.",
    "A prism splits white light into colours because each wavelength bends by a different angle.",
    "Attention layers let a transformer weigh every token of its input against every other one.",
    "Python's garbage collector frees objects whose reference count drops to zero.",
    "The printing press with movable type spread across Europe during the fifteenth century.",
    "珠穆朗玛峰位于中国与尼泊尔边境，是世界海拔最高的山峰。",
    "向量检索先把文本编码成向量，再按余弦相似度找出最接近的候选段落。",
    "重排序模型同时阅读查询和段落，判断段落是否真正回答了问题。",
    "Solid-state drives store data in flash cells and have no moving parts.",
]
QUERIES = ["Which river is the longest in Asia?", "重排序模型有什么作用？"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``qwen3-rag demo``."""
    parser.add_argument("--embedding-model", default=None, help="id or local path")
    parser.add_argument("--reranker-model", default=None, help="id or local path")
    parser.add_argument("--backend", default="auto", help="auto, vllm or transformers")
    parser.add_argument("--k", type=int, default=5, help="candidates from stage 1")
    parser.add_argument("--top-n", type=int, default=3, help="results after reranking")


def _load(args: argparse.Namespace) -> tuple[Qwen3Embedder, Qwen3Reranker, bool]:
    """Load both models; with no models named, fall back to tiny random ones if needed."""
    chosen = args.embedding_model is not None or args.reranker_model is not None
    embedding = args.embedding_model or DEFAULT_EMBEDDING_MODEL
    reranker = args.reranker_model or DEFAULT_RERANKER_MODEL
    try:
        return (Qwen3Embedder(embedding, backend=args.backend),
                Qwen3Reranker(reranker, backend=args.backend), False)
    except (ModelLoadError, FileNotFoundError) as exc:
        if chosen:
            raise
        print(f"Could not load the default models ({exc}).\n"
              "Running with tiny RANDOM-WEIGHT models instead: the rankings below mean nothing.\n"
              "Pass --embedding-model/--reranker-model with local paths for real results.\n")
    from qwen3_core.tiny_models import build_tiny_models

    tiny = build_tiny_models(tempfile.mkdtemp(prefix="qwen3-rag-demo-"))
    return (Qwen3Embedder(tiny.embedding, backend=args.backend),
            Qwen3Reranker(tiny.reranker, backend=args.backend), True)


def _search(emb: Qwen3Embedder, rr: Qwen3Reranker, vectors: np.ndarray, query: str,
            k: int, top_n: int) -> None:
    start = time.perf_counter()
    cosine = vectors @ emb.embed_queries([query])[0]
    candidates = [int(i) for i in np.argsort(-cosine, kind="stable")[:k]]
    recall_s = time.perf_counter() - start
    start = time.perf_counter()
    results = rr.rerank(query, [PASSAGES[i] for i in candidates], top_n=top_n)
    rerank_s = time.perf_counter() - start
    print(f"\nQuery: {query}")
    print(f"  Stage 1, embedding recall ({recall_s * 1000:.0f} ms):")
    for rank, i in enumerate(candidates, 1):
        print(f"    {rank}. cos={cosine[i]:.3f}  {PASSAGES[i]}")
    print(f"  Stage 2, reranked ({rerank_s * 1000:.0f} ms):")
    for rank, r in enumerate(results, 1):
        print(f"    {rank}. score={r.score:.3f} (was #{r.index + 1})  {r.document}")


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns the exit code."""
    logging.basicConfig(level=logging.WARNING)
    try:
        emb, rr, _ = _load(args)
    except (ModelLoadError, FileNotFoundError, ImportError, MemoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with emb, rr:
        vectors = emb.embed_documents(PASSAGES)
        for query in QUERIES:
            _search(emb, rr, vectors, query, args.k, args.top_n)
    return 0
