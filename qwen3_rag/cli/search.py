"""``qwen3-rag search QUERY``: dense, BM25 or hybrid recall from a collection, then reranking."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from typing import Any

from qwen3_rag.common.loading import (
    AppError,
    add_collection_argument,
    add_model_arguments,
    add_store_arguments,
    is_vl_model,
    load_embedder,
    load_reranker,
    load_vl_embedder,
    load_vl_reranker,
    open_database,
    open_store,
    positive_int,
)
from qwen3_rag.common.recall_options import add_recall_arguments, open_recall
from qwen3_rag.common.render import make_console, results_table
from qwen3_rag.retrieval.hybrid import search
from qwen3_rag.retrieval.multimodal import multimodal_query, multimodal_search, query_label
from qwen3_rag.retrieval.store import (
    collection_sizes,
    default_chroma_dir,
    recorded_embedding_model,
    recorded_reranker_model,
)

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``qwen3-rag search``."""
    parser.add_argument("query", nargs="?", default="",
                        help="what to look for (may be left out with --image)")
    parser.add_argument("--image", type=_image_file, default=None, metavar="PATH",
                        help="an image to look for, alone or with the query's text (a "
                             "collection indexed with a Qwen3-VL embedding model)")
    add_collection_argument(parser)
    parser.add_argument("--k", type=positive_int, default=20,
                        help="candidates from stage 1 (default 20)")
    parser.add_argument("--top-n", type=positive_int, default=5,
                        help="results after reranking (default 5)")
    parser.add_argument("--instruction", default=None,
                        help="task instruction for both models (default: the model card's)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_recall_arguments(parser)
    add_model_arguments(parser)
    add_store_arguments(parser)
    parser.epilog = ("The models default to those recorded with the collection by `qwen3-rag "
                     "index` (or the demo); collections without a recorded reranker use "
                     "the default one.")


def _image_file(text: str) -> str:
    """An argparse type: an existing file (whether it is an image is found when it is read)."""
    path = os.path.expanduser(text)
    if not os.path.isfile(path):
        raise argparse.ArgumentTypeError(f"{text!r} is not a file")
    return path


def _search_models(args: argparse.Namespace, client) -> tuple[str | None, str | None]:
    """The embedding model and reranker the collection was indexed with, unless chosen.

    Raises:
        AppError: The collection does not exist (found before any model loads).
    """
    try:
        sizes = collection_sizes(client)
    except Exception as exc:
        where = args.chroma_url or args.chroma_dir or default_chroma_dir()
        raise AppError(f"could not read the Chroma database at {where}: "
                       f"{type(exc).__name__}: {exc}") from exc
    if args.collection not in sizes:
        where = args.chroma_url or args.chroma_dir or default_chroma_dir()
        others = ", ".join(f"{name} ({count} passages)" for name, count in sizes.items())
        hint = (f"collections there: {others}; choose one with --collection NAME"
                if others else "add files with `qwen3-rag index PATH`")
        raise AppError(f"collection {args.collection!r} does not exist in {where}; {hint}")
    return (args.embedding_model or recorded_embedding_model(client, args.collection),
            args.reranker_model or recorded_reranker_model(client, args.collection))


def run(args: argparse.Namespace) -> int:
    """Search a collection; returns the exit code."""
    if not args.query.strip() and args.image is None:
        raise AppError("the query is empty: give the words to look for, e.g. "
                       "`qwen3-rag search \"longest river\"`, or an image with --image PATH")
    # The database and the collection first: a wrong one fails in a second, not after a model.
    client = open_database(args)
    embedding_model, reranker_model = _search_models(args, client)
    if embedding_model and is_vl_model(embedding_model):
        return _run_multimodal(args, client, embedding_model, reranker_model)
    if args.image is not None:
        raise AppError(f"collection {args.collection!r} holds text only (embedded with "
                       f"{embedding_model}); --image needs a collection indexed with a Qwen3-VL "
                       f"embedding model (`qwen3-rag index PATH --embedding-model "
                       f"Qwen/Qwen3-VL-Embedding-2B`)")
    with load_embedder(args, embedding_model) as embedder:
        store = open_store(args, args.collection, embedder, create=False, client=client)
        return _recall_rerank_show(
            args, store, lambda: load_reranker(args, reranker_model),
            lambda reranker, mode, lexical: search(
                mode, args.query, reranker=reranker, k=args.k, top_n=args.top_n, store=store,
                embedder=embedder, lexical=lexical, rrf_k=args.rrf_k, weights=args.weights,
                instruction=args.instruction))


def _recall_rerank_show(args: argparse.Namespace, store, open_reranker: Callable[[], Any],
                        two_stages: Callable[[Any, str, Any], Any],
                        errors: tuple[type[Exception], ...] = (ValueError,)) -> int:
    """Both stages in the collection's recall mode (``--mode``), its notes said, then shown.

    ``two_stages(reranker, mode, lexical)`` searches; ``errors`` (a query BM25 cannot search,
    an unreadable image) end the command in one line.
    """
    if store.count() == 0:
        raise AppError(f"collection {store.name!r} is empty; add files with "
                       f"`qwen3-rag index PATH --collection {store.name}`")
    status = make_console(stderr=True)
    mode, lexical = open_recall(
        args, store, lambda line: status.print(line, highlight=False, soft_wrap=True))
    try:
        with open_reranker() as reranker:
            result = two_stages(reranker, mode, lexical)
    except errors as exc:
        raise AppError(str(exc)) from exc
    finally:
        if lexical is not None:
            lexical.close()
    for note in result.notes:
        status.print(note, highlight=False, soft_wrap=True)
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    else:
        make_console().print(results_table(result))
    return 0


def _run_multimodal(args: argparse.Namespace, client, embedding_model: str,
                    reranker_model: str | None) -> int:
    """Search a collection of text and images with the Qwen3-VL models."""
    from qwen3_core.vision import DEFAULT_VL_RERANKER_MODEL, ImageError

    why = f"collection {args.collection!r} holds text and images ({embedding_model})"
    if args.mode == "bm25" and not (args.query and args.query.strip()):
        raise AppError("--mode bm25 needs words to look for; an image alone is recalled by "
                       "--mode dense or hybrid")
    reranker_model = reranker_model or DEFAULT_VL_RERANKER_MODEL
    if not is_vl_model(reranker_model):
        raise AppError(f"{why}, but the reranker {reranker_model} is not a Qwen3-VL reranker: "
                       f"pass one with --reranker-model (e.g. {DEFAULT_VL_RERANKER_MODEL})")
    query = multimodal_query(args.query, args.image)
    with load_vl_embedder(args, embedding_model) as embedder:
        store = open_store(args, args.collection, embedder, create=False, client=client)
        return _recall_rerank_show(
            args, store, lambda: load_vl_reranker(args, reranker_model),
            lambda reranker, mode, lexical: multimodal_search(
                store, embedder, reranker, query, label=query_label(args.query, args.image),
                k=args.k, top_n=args.top_n, instruction=args.instruction, mode=mode,
                lexical=lexical, rrf_k=args.rrf_k, weights=args.weights),
            errors=(ImageError, ValueError))
