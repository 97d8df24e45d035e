"""``qwen3-rag demo``: embedding recall and Qwen3 reranking side by side over a sample corpus."""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from qwen3_core import Qwen3Embedder, Qwen3Reranker
from qwen3_rag.common.loading import (
    AppError,
    add_model_arguments,
    add_store_arguments,
    load_embedder,
    load_reranker,
    open_database,
    open_store,
    positive_int,
)
from qwen3_rag.common.render import embedding_progress, make_console, stages
from qwen3_rag.demo.corpus import SAMPLE_QUERIES, load_sample_corpus
from qwen3_rag.retrieval.store import VectorStore, cache_dir, content_id
from qwen3_rag.retrieval.two_stage import two_stage_search

__all__ = ["QUIT_WORDS", "add_arguments", "is_quit", "run"]

#: Typed alone at the prompt (any case, any surrounding spaces), these end the demo.
QUIT_WORDS = frozenset({"q", "quit", "exit", "退出"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``qwen3-rag demo``."""
    add_model_arguments(parser)
    add_store_arguments(parser)
    parser.add_argument("--k", type=positive_int, default=8,
                        help="candidates from stage 1 (default 8)")
    parser.add_argument("--top-n", type=positive_int, default=3,
                        help="results kept after reranking (default 3)")
    parser.add_argument("--no-interactive", action="store_true",
                        help="stop after the sample queries")
    parser.add_argument("--json", action="store_true",
                        help="print the sample queries' results as JSON (no prompt)")


def _warn_random_weights(console: Console, reason: str) -> None:
    console.print(Panel(
        f"{escape(reason)}\n\nRunning with TINY RANDOM-WEIGHT models instead, so you can see the "
        "machinery work.\n[bold]The scores and rankings below mean nothing.[/bold]\n\n"
        "For real results pass downloaded models: --embedding-model DIR --reranker-model DIR",
        title="WARNING: no real models", border_style="bold red",
    ))


def _tiny_models(args: argparse.Namespace) -> tuple[Qwen3Embedder, Qwen3Reranker]:
    from qwen3_core.testing.tiny_models import build_tiny_models

    # Under the cache dir, so a second run reuses both the models and their stored vectors.
    tiny = build_tiny_models(cache_dir() / "tiny-models")
    embedder = load_embedder(args, str(tiny.embedding))
    try:
        return embedder, load_reranker(args, str(tiny.reranker))
    except AppError:
        embedder.close()
        raise


def _load_models(args: argparse.Namespace,
                 warnings: Console) -> tuple[Qwen3Embedder, Qwen3Reranker, bool]:
    """The named models; with none named, the defaults or else tiny random ones (loudly)."""
    embedder = None
    try:
        embedder = load_embedder(args)
        return embedder, load_reranker(args), False
    except AppError as error:
        if embedder is not None:
            embedder.close()
        chosen = (args.embedding_model, args.reranker_model, args.base_url,
                  args.embedding_base_url, args.reranker_base_url)
        if any(chosen):
            raise  # what the user chose never silently becomes random weights
        _warn_random_weights(warnings, str(error))
    return (*_tiny_models(args), True)


def _demo_store(args: argparse.Namespace, client: Any, embedder: Qwen3Embedder,
                reranker: Qwen3Reranker, status: Console) -> tuple[VectorStore, int]:
    """The sample corpus in Chroma, embedding only what is not stored yet.

    The collection records the reranker too, so `qwen3-rag search --collection NAME` on it
    uses the same pair of models.
    """
    passages = load_sample_corpus()
    texts = [p.text for p in passages]
    # One collection per (model, vector size, corpus), so changing any of them never mixes
    # vectors; a rerun with the same ones finds every id stored and embeds nothing.
    fingerprint = hashlib.sha256(
        json.dumps([embedder.model, embedder.embedding_size, texts]).encode()
    ).hexdigest()[:16]
    store = open_store(args, f"qwen3-rag-demo-{fingerprint}", embedder, client=client)
    store.record_reranker(reranker.model)
    ids = [content_id(t) for t in texts]
    if not store.missing(ids):
        return store, 0
    with embedding_progress(status) as progress:
        task = progress.add_task("embedding", total=len(texts))
        added = store.add(ids, texts,
                          [{"topic": p.topic, "language": p.language} for p in passages],
                          embedder.embed_documents,
                          on_progress=lambda n: progress.advance(task, n))
    return store, added


def is_quit(line: str) -> bool:
    """Whether a line typed at the prompt asks to leave (see :data:`QUIT_WORDS`)."""
    return line.strip().casefold() in QUIT_WORDS


def _interact(console: Console, ask: Callable[[str], None]) -> None:
    console.print("\nAsk your own questions (English or 中文). "
                  "Type q, quit, exit or 退出, or press Ctrl-D, to leave.")
    while True:
        try:
            query = input("\nquery> ").strip()
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        if is_quit(query):
            return
        if query:
            ask(query)


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns the exit code."""
    console = make_console()
    status = make_console(stderr=True)
    started = time.perf_counter()
    client = open_database(args)  # before the models: a wrong --chroma-url fails in a second
    embedder, reranker, random_weights = _load_models(args, status)
    with embedder, reranker:
        loaded = time.perf_counter()
        store, added = _demo_store(args, client, embedder, reranker, status)
        indexed = time.perf_counter()
        reused = store.count() - added
        status.print(escape(
            f"Models: {embedder.model} + {reranker.model} on {embedder.backend} "
            f"(loaded in {loaded - started:.1f} s)\n"
            f"Corpus: {store.count()} passages in Chroma collection {store.name}: "
            f"{added} embedded now ({indexed - loaded:.1f} s), {reused} reused from the cache"))

        def ask(query: str):
            return two_stage_search(store, embedder, reranker, query, k=args.k,
                                    top_n=args.top_n)

        if args.json:
            report = {"embedding_model": embedder.model, "reranker_model": reranker.model,
                      "backend": embedder.backend, "random_weights": random_weights,
                      "results": [ask(query).to_json() for query in SAMPLE_QUERIES]}
            print(json.dumps(report, ensure_ascii=False, indent=2))
            return 0

        def show(query: str) -> None:
            console.print(f"\n[bold]Query:[/bold] {escape(query)}")
            console.print(stages(ask(query), console.width))

        for query in SAMPLE_QUERIES:
            show(query)
        if not args.no_interactive:
            _interact(console, show)
    return 0
