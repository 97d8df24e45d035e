"""``qwen3-rag eval``: retrieval quality of embedding recall and of reranking, on your data.

Every embedding model named recalls ``--k`` candidates per query from Chroma (stage 1); every
reranker named reorders each embedding model's candidates (stage 2). All systems are scored
with ranx, compared pairwise with a paired test, and reported as a table, JSON and a PNG.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Optional

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from qwen3_core.lexical.fusion import DEFAULT_RRF_K
from qwen3_rag.common.loading import (
    DEFAULT_EMBEDDING_MODEL,
    DEFAULT_RERANKER_MODEL,
    AppError,
    add_model_arguments,
    add_store_arguments,
    directory,
    is_vl_model,
    load_embedder,
    load_reranker,
    load_vl_embedder,
    load_vl_reranker,
    open_database,
    open_store,
    positive_int,
    server_url,
    valid_collection,
)
from qwen3_rag.common.recall_options import non_negative
from qwen3_rag.evaluation.metrics import STAT_TESTS, Ranking
from qwen3_rag.evaluation.test_set import TestSet, TestSetError, load_test_set

__all__ = ["add_arguments", "run"]

#: A model to evaluate: (id or directory, server URL or None).
ModelSpec = tuple[str, Optional[str]]


def _probability(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def _output_dir(text: str) -> Path:
    """An argparse type: a directory (existing or not) whose files eval may write."""
    path = Path(directory(text)).expanduser()
    # The report is written after every model has run: a directory it cannot write to must
    # fail now, not after the whole evaluation.
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not os.access(existing, os.W_OK):
        raise argparse.ArgumentTypeError(f"{text!r} cannot be written ({existing} is not "
                                         "writable): give a directory you can write to")
    return path


def _recall(text: str) -> tuple[str, ...]:
    from qwen3_rag.evaluation.lexical_recall import parse_recall

    try:
        return parse_recall(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``qwen3-rag eval``."""
    data = parser.add_argument_group("test set (default: the bilingual sample shipped with "
                                     "qwen3-rag)")
    data.add_argument("dataset", nargs="?", default=None, metavar="BEIR_DIR",
                      help="directory with corpus.jsonl, queries.jsonl and qrels/SPLIT.tsv")
    data.add_argument("--split", default="test", help="qrels file of a BEIR directory")
    data.add_argument("--images", action="store_true",
                      help="the image and text test set qwen3-rag draws itself: 12 coloured "
                           "shapes and their captions, queries like 'a red circle'; needs "
                           "Qwen3-VL models (default Qwen/Qwen3-VL-Embedding-2B and "
                           "Qwen/Qwen3-VL-Reranker-2B)")
    data.add_argument("--corpus", default=None, metavar="FILE",
                      help="hand-written passages, .jsonl or .csv: id, text, optional title")
    data.add_argument("--queries", default=None, metavar="FILE",
                      help="hand-written queries, .jsonl or .csv: query, relevant (passage "
                           "ids; in CSV separated by ';'), optional id")
    systems = parser.add_argument_group("systems (repeat an option to compare models)")
    systems.add_argument("--embedding-model", dest="embedding_models", action="append",
                         default=None, metavar="ID_OR_PATH",
                         help=f"Qwen3-Embedding id or directory; repeat for several "
                              f"(default {DEFAULT_EMBEDDING_MODEL})")
    systems.add_argument("--reranker-model", dest="reranker_models", action="append",
                         default=None, metavar="ID_OR_PATH",
                         help=f"Qwen3-Reranker id or directory; repeat for several "
                              f"(default {DEFAULT_RERANKER_MODEL})")
    systems.add_argument("--embedding-base-url", dest="embedding_base_urls", action="append",
                         type=server_url, default=None, metavar="URL",
                         help="`qwen3-rag serve embedding` server of the embedding model in "
                              "the same position (repeat: one per --embedding-model)")
    systems.add_argument("--reranker-base-url", dest="reranker_base_urls", action="append",
                         type=server_url, default=None, metavar="URL",
                         help="`qwen3-rag serve reranker` server, one per --reranker-model")
    systems.add_argument("--tiny-models", action="store_true",
                         help="tiny random-weight models: checks the machinery, the numbers "
                              "mean nothing (used anyway when no model is named and the "
                              "defaults cannot be loaded)")
    parser.add_argument("--k", type=positive_int, default=100,
                        help="candidates recalled per query and reranked (default 100)")
    parser.add_argument("--recall", type=_recall, default=("dense",), metavar="MODES",
                        help="stage-1 systems, comma-separated: dense (embedding), bm25 "
                             "(lexical, extra `hybrid`), hybrid (both, fused by reciprocal "
                             "rank); each is also reranked (default dense)")
    parser.add_argument("--rrf-k", type=non_negative, default=float(DEFAULT_RRF_K), metavar="K",
                        help=f"reciprocal-rank-fusion constant of hybrid recall (default "
                             f"{DEFAULT_RRF_K})")
    parser.add_argument("--instruction", default=None,
                        help="task instruction for both models, e.g. 'Given a scientific claim, "
                             "retrieve documents that support or refute it' (default: the "
                             "model cards')")
    parser.add_argument("--stat-test", default="student", choices=STAT_TESTS,
                        help="paired test between systems: student (t-test), fisher "
                             "(randomization) or tukey (default student)")
    parser.add_argument("--max-p", type=_probability, default=0.05,
                        help="p-value below which a difference counts (default 0.05)")
    parser.add_argument("--collection", type=valid_collection, default=None, metavar="NAME",
                        help="an existing Chroma collection whose ids are the corpus ids (one "
                             "embedding model only); default: eval-<test set>-<hash>, built "
                             "and reused")
    parser.add_argument("--output", type=_output_dir, default=None, metavar="DIR",
                        help="where eval.json and eval.png go (default: "
                             "<cache dir>/eval/<test set>)")
    parser.add_argument("--json", action="store_true",
                        help="print the JSON report instead of the table")
    add_model_arguments(parser, embedding=False, reranker=False)
    add_store_arguments(parser)


def _paired(kind: str, models: Sequence[str] | None, urls: Sequence[str] | None,
            default: str) -> list[ModelSpec]:
    """Models with their servers: one URL per model, or URLs alone for the default model."""
    urls = list(urls or [])
    models = list(models or [])
    if urls and models and len(urls) != len(models):
        raise AppError(f"{len(models)} --{kind}-model but {len(urls)} --{kind}-base-url: give "
                       f"one URL per model, in the same order, or none")
    if not models:
        models = [default] * max(len(urls), 1)
    servers: list[str | None] = list(urls) if urls else [None] * len(models)
    specs = list(zip(models, servers, strict=True))
    return list(dict.fromkeys(specs))  # the same system twice would only be measured twice


def _named_anything(args: argparse.Namespace) -> bool:
    return any((args.embedding_models, args.reranker_models, args.embedding_base_urls,
                args.reranker_base_urls, args.base_url))


def _model_args(args: argparse.Namespace, kind: str, url: str | None) -> argparse.Namespace:
    """The options ``load_embedder``/``load_reranker`` read, for one model and its server.

    Without a GPU, ``auto`` starts transformers (seconds) rather than vLLM (a minute or more
    per model on a CPU), as the interactive commands do.
    """
    from qwen3_rag.common.loading import command_backend

    values = {**vars(args), f"{kind}_base_url": url, "command": "eval"}
    backend = args.backend
    if backend == "auto" and not url and not args.base_url:
        backend = command_backend(argparse.Namespace(**values), None)
    return argparse.Namespace(**{**values, "backend": backend})


def _labels(models: Sequence[str]) -> dict[str, str]:
    """Short names: the fewest trailing parts of each id or path that tell them apart.

    ``Qwen/Qwen3-Embedding-4B`` is ``Qwen3-Embedding-4B``; ``/a/v1/model`` and ``/a/v2/model``
    are ``v1/model`` and ``v2/model``.
    """
    unique = list(dict.fromkeys(models))
    parts = {model: [p for p in model.replace("\\", "/").split("/") if p] or [model]
             for model in unique}
    depth = dict.fromkeys(unique, 1)
    while True:
        labels = {model: "/".join(parts[model][-depth[model]:]) for model in unique}
        seen = Counter(labels.values())
        clashing = [model for model in unique if seen[labels[model]] > 1]
        deeper = [model for model in clashing if depth[model] < len(parts[model])]
        if not deeper:  # told apart, or as far as the names go: those left show in full
            return {model: model if model in clashing else labels[model] for model in unique}
        for model in deeper:
            depth[model] += 1


def _default_models(args: argparse.Namespace) -> tuple[str, str]:
    """The embedding model and reranker used when none is named."""
    if getattr(args, "images", False):
        from qwen3_core.vision import DEFAULT_VL_EMBEDDING_MODEL, DEFAULT_VL_RERANKER_MODEL

        return DEFAULT_VL_EMBEDDING_MODEL, DEFAULT_VL_RERANKER_MODEL
    return DEFAULT_EMBEDDING_MODEL, DEFAULT_RERANKER_MODEL


def _defaults_missing(args: argparse.Namespace) -> str | None:
    """Why the default models cannot be had (fetched or found in the cache), or None."""
    from qwen3_core.models import resolve_model

    for model in _default_models(args):
        try:
            resolve_model(model)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            return f"could not load the default model {model!r}: {exc}"
    return None


def _warn_random(console: Console, reason: str | None) -> None:
    text = (f"{escape(reason)}\n\n" if reason else "") + (
        "Running with TINY RANDOM-WEIGHT models, so you can see the machinery work.\n"
        "[bold]The metrics below mean nothing.[/bold]\n\n"
        "For real numbers pass models: --embedding-model ID_OR_DIR --reranker-model ID_OR_DIR")
    console.print(Panel(text, title="WARNING: no real models", border_style="bold red"))


def _systems(args: argparse.Namespace,
             status: Console) -> tuple[list[ModelSpec], list[ModelSpec], dict[str, str], bool]:
    """Embedding and reranker specs, their labels, and whether they are random tiny models."""
    default_embedding, default_reranker = _default_models(args)
    embeddings = _paired("embedding", args.embedding_models, args.embedding_base_urls,
                         default_embedding)
    rerankers = _paired("reranker", args.reranker_models, args.reranker_base_urls,
                        default_reranker)
    tiny = args.tiny_models
    if tiny and _named_anything(args):
        raise AppError("--tiny-models replaces the models: name no model or server with it")
    if not tiny and not _named_anything(args):
        reason = _defaults_missing(args)
        if reason:  # the defaults when they can be had, as the demo does; else tiny ones, loudly
            _warn_random(status, reason)
            tiny = True
    elif tiny:
        _warn_random(status, None)
    if tiny:
        from qwen3_core.testing.tiny_models import build_tiny_models
        from qwen3_core.testing.tiny_vl_models import build_tiny_vl_models
        from qwen3_rag.retrieval.store import cache_dir

        build = build_tiny_vl_models if getattr(args, "images", False) else build_tiny_models
        models = build(cache_dir() / "tiny-models")  # shared with the demo
        embeddings, rerankers = [(str(models.embedding), None)], [(str(models.reranker), None)]
        labels = {str(models.embedding): "tiny random embedding",
                  str(models.reranker): "tiny random reranker"}
        return embeddings, rerankers, labels, True
    if getattr(args, "images", False):
        for kind, specs, example in (("embedding", embeddings, default_embedding),
                                     ("reranker", rerankers, default_reranker)):
            for model, _ in specs:
                if not is_vl_model(model):
                    raise AppError(f"--images needs Qwen3-VL models, and --{kind}-model "
                                   f"{model} is not one (e.g. {example})")
    return embeddings, rerankers, _labels([m for m, _ in embeddings + rerankers]), False


def _name(spec: ModelSpec, labels: dict[str, str]) -> str:
    model, url = spec
    return f"{labels[model]} @ {url}" if url else labels[model]


def _query_bar(status: Console, description: str, total: int,
               work: Callable[..., Any]) -> Any:
    """``work(on_progress=...)`` under a progress bar of ``total`` queries."""
    from qwen3_rag.evaluation.progress import query_progress

    with query_progress(status) as progress:
        task = progress.add_task(escape(description), total=total)
        return work(on_progress=lambda n: progress.advance(task, n))


def _stage_one(args: argparse.Namespace, spec: ModelSpec, test_set: TestSet, name: str,
               status: Console) -> tuple[Ranking, dict[str, list[str]]]:
    """Index the passages with one embedding model (what is missing) and recall."""
    from qwen3_rag.common.render import embedding_progress
    from qwen3_rag.evaluation.pipeline import (
        collection_name,
        index_image_passages,
        index_passages,
        recall,
    )

    images = getattr(args, "images", False)
    load = load_vl_embedder if images else load_embedder
    index = index_image_passages if images else index_passages
    started = time.perf_counter()
    with load(_model_args(args, "embedding", spec[1]), spec[0]) as embedder:
        status.print(escape(f"{name}: loaded on {embedder.backend} "
                            f"({time.perf_counter() - started:.1f} s)"))
        if args.collection:  # e.g. built by `qwen3-rag index corpus.jsonl`, which keeps ids
            store = open_store(args, args.collection, embedder, create=False)
        else:
            store = open_store(args, collection_name(test_set, embedder.model,
                                                     embedder.embedding_size,
                                                     embedder.max_length), embedder)
            with embedding_progress(status) as progress:
                task = progress.add_task("embedding", total=len(test_set.passages))
                added = index(store, test_set, embedder.embed_documents,
                                       on_progress=lambda n: progress.advance(task, n))
            status.print(escape(f"{name}: {added} passages embedded now, "
                                f"{len(test_set.passages) - added} reused from Chroma "
                                f"collection {store.name}"))
        ranking, texts = _query_bar(status, f"recall  {name}", len(test_set.queries),
                                    partial(recall, store, embedder, test_set, args.k, name,
                                            instruction=args.instruction))
    found = {pid for ids in ranking.ids.values() for pid in ids}
    if not found & set(test_set.passages):
        raise AppError(f"collection {store.name!r} returned no passage id of {test_set.name!r} "
                       f"(e.g. {', '.join(sorted(found)[:3])}): its ids are not the corpus "
                       f"ids. Index the corpus with its ids (`qwen3-rag index corpus.jsonl`), "
                       f"or leave out --collection and eval builds and keeps its own")
    return ranking, texts


def _evaluate(args: argparse.Namespace, test_set: TestSet, status: Console
              ) -> tuple[list[Ranking], bool]:
    from qwen3_rag.evaluation.pipeline import rerank

    embeddings, rerankers, labels, random_weights = _systems(args, status)
    if args.collection and len(embeddings) > 1:
        raise AppError("--collection holds one embedding model's vectors: name one "
                       "--embedding-model with it")
    modes = getattr(args, "recall", ("dense",))
    dense: dict[Any, tuple[Ranking, dict[str, list[str]]]] = {}
    if "dense" in modes or "hybrid" in modes:
        for spec in embeddings:
            dense[spec] = _stage_one(args, spec, test_set, _name(spec, labels), status)
    first = _recall_systems(args, modes, test_set, dense, status)
    second: dict[tuple[Any, ModelSpec], Ranking] = {}
    load = load_vl_reranker if getattr(args, "images", False) else load_reranker
    for reranker_spec in rerankers:
        started = time.perf_counter()
        with load(_model_args(args, "reranker", reranker_spec[1]),
                  reranker_spec[0]) as reranker:
            status.print(escape(f"{_name(reranker_spec, labels)}: loaded on "
                                f"{reranker.backend} ({time.perf_counter() - started:.1f} s)"))
            for spec, (candidates, texts) in first.items():
                name = f"{candidates.name} + {_name(reranker_spec, labels)}"
                second[spec, reranker_spec] = _query_bar(
                    status, f"rerank  {name}", len(test_set.queries),
                    partial(rerank, candidates, texts, reranker, test_set, name,
                            instruction=args.instruction))
    rankings = []
    for spec in first:  # each recall system, then its reranked versions, together
        rankings.append(first[spec][0])
        rankings.extend(second[spec, reranker_spec] for reranker_spec in rerankers)
    return rankings, random_weights


def _recall_systems(args: argparse.Namespace, modes: Sequence[str], test_set: TestSet,
                    dense: dict[Any, tuple[Ranking, dict[str, list[str]]]], status: Console
                    ) -> dict[Any, tuple[Ranking, dict[str, list[str]]]]:
    """The stage-1 systems ``--recall`` names, in report order: dense, bm25, hybrid."""
    if modes == ("dense",):
        return dense
    from qwen3_rag.evaluation.lexical_recall import bm25_recall, hybrid_recall, lexical_index
    from qwen3_rag.retrieval.lexical import lexical_available
    from qwen3_rag.retrieval.store import cache_dir

    missing = lexical_available()
    if missing:
        raise AppError(f"--recall {','.join(modes)} needs BM25, but {missing}")
    first = dict(dense) if "dense" in modes else {}
    with lexical_index(test_set, cache_dir() / "eval" / "lexical") as lexical:
        bm25 = _query_bar(status, "recall  BM25", len(test_set.queries),
                          partial(bm25_recall, lexical, test_set, args.k, "BM25"))
    if bm25[0].details.get("empty_queries"):
        status.print(escape(f"BM25: {bm25[0].details['empty_queries']} queries of only stop "
                            f"words recalled nothing"))
    if "bm25" in modes:
        first["bm25"] = bm25
    if "hybrid" in modes:
        for spec, recalled in dense.items():
            name = f"hybrid RRF ({recalled[0].name} + BM25)"
            first["hybrid", spec] = hybrid_recall(recalled, bm25, args.k, name,
                                                  rrf_k=args.rrf_k)
    return first


def _load(args: argparse.Namespace) -> TestSet:
    if getattr(args, "images", False):
        return _load_images(args)
    try:
        return load_test_set(args.dataset, corpus=args.corpus, queries=args.queries,
                             split=args.split)
    except (TestSetError, ValueError) as exc:
        raise AppError(str(exc)) from exc


def _load_images(args: argparse.Namespace) -> TestSet:
    """The generated shapes, after refusing what does not go with them (before any model)."""
    from qwen3_rag.evaluation.image_test_set import IMAGE_TEST_SET_NAME, build_image_test_set
    from qwen3_rag.retrieval.store import cache_dir

    given = [name for name, value in (("BEIR_DIR", args.dataset), ("--corpus", args.corpus),
                                      ("--queries", args.queries),
                                      ("--collection", args.collection)) if value]
    if given:
        raise AppError(f"--images is a test set of its own: leave out {', '.join(given)}")
    if tuple(getattr(args, "recall", ("dense",))) != ("dense",):
        raise AppError("--images is recalled densely only (no BM25 over images): leave out "
                       "--recall")
    try:
        return build_image_test_set(cache_dir() / "eval" / IMAGE_TEST_SET_NAME / "images")
    except OSError as exc:
        raise AppError(f"could not draw the image test set: {exc}") from exc


def _require_collection(args: argparse.Namespace) -> None:
    """Refuse a --collection that is not there, before any model loads."""
    from qwen3_rag.retrieval.store import collection_sizes

    client = open_database(args)
    sizes = collection_sizes(client)
    if args.collection not in sizes:
        known = ", ".join(sizes) or "none yet"
        raise AppError(f"collection {args.collection!r} does not exist (collections: {known}); "
                       "build it with `qwen3-rag index corpus.jsonl --collection "
                       f"{args.collection}`, or leave out --collection")


def run(args: argparse.Namespace) -> int:
    """Evaluate; returns the exit code."""
    from qwen3_rag.common.render import make_console
    from qwen3_rag.evaluation.evaluate import evaluate_rankings
    from qwen3_rag.retrieval.store import cache_dir

    started = time.perf_counter()
    missing = [name for name in ("ranx", "matplotlib") if importlib.util.find_spec(name) is None]
    if missing:
        raise AppError(f"{' and '.join(missing)} not installed: pip install 'qwen3-rag[eval]'")
    test_set = _load(args)  # before any model loads: a bad file fails in a second
    if args.collection:
        _require_collection(args)
    status = make_console(stderr=True)
    status.print(escape(f"Test set {test_set.name}: {len(test_set.passages)} passages, "
                        f"{len(test_set.queries)} queries with judgements"))
    rankings, random_weights = _evaluate(args, test_set, status)
    report = evaluate_rankings(test_set, rankings, stat_test=args.stat_test, max_p=args.max_p,
                               random_weights=random_weights,
                               notes={"k": args.k, "instruction": args.instruction})
    output = args.output or cache_dir() / "eval" / test_set.name
    output.mkdir(parents=True, exist_ok=True)
    data = report.to_json()
    (output / "eval.json").write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n",
                                      encoding="utf-8")
    chart = report.save_chart(output / "eval.png")
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        make_console().print(report.table())
    status.print(escape(f"Wrote {output / 'eval.json'} and {chart} "
                        f"({time.perf_counter() - started:.1f} s in all)"))
    return 0
