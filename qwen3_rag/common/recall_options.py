"""The recall options of ``search`` and ``ui``: ``--mode``, ``--rrf-k``, ``--weights``.

Also opening the collection's lexical index for them, refusing one out of step in one line.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from qwen3_core.lexical.fusion import DEFAULT_RRF_K
from qwen3_rag.common.loading import AppError
from qwen3_rag.retrieval.hybrid import MODES
from qwen3_rag.retrieval.lexical import add_lexical_argument, lexical_available, lexical_dir
from qwen3_rag.retrieval.store import VectorStore

__all__ = ["add_recall_arguments", "non_negative", "open_recall", "weights_pair"]


def weights_pair(text: str) -> tuple[float, float]:
    """An argparse type: ``DENSE,BM25`` weights, e.g. ``1,0.5``."""
    parts = text.split(",")
    try:
        values = tuple(float(part) for part in parts)
    except ValueError:
        values = ()
    if len(values) != 2 or any(v < 0 for v in values) or not any(values):
        raise argparse.ArgumentTypeError(f"expected two weights DENSE,BM25, 0 or more and not "
                                         f"both 0, e.g. 1,1 or 1,0.5; got {text!r}")
    return values[0], values[1]


def non_negative(text: str) -> float:
    """An argparse type: a number of 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value:g}")
    return value


def add_recall_arguments(parser: argparse.ArgumentParser) -> None:
    """``--mode``, ``--rrf-k``, ``--weights`` and ``--lexical-dir``."""
    group = parser.add_argument_group("recall (stage 1)")
    group.add_argument("--mode", default=None, choices=MODES,
                       help="dense (embedding cosine), bm25 (lexical) or hybrid (both, fused "
                            "by reciprocal rank) (default: hybrid where the collection has a "
                            "lexical index, else dense)")
    group.add_argument("--rrf-k", type=non_negative, default=float(DEFAULT_RRF_K), metavar="K",
                       help=f"reciprocal-rank-fusion constant of hybrid recall (default "
                            f"{DEFAULT_RRF_K})")
    group.add_argument("--weights", type=weights_pair, default=(1.0, 1.0), metavar="DENSE,BM25",
                       help="weights of the dense and the BM25 list in hybrid recall "
                            "(default 1,1)")
    add_lexical_argument(group)


def open_recall(args: argparse.Namespace, store: VectorStore,
                say: Callable[[str], None]) -> tuple[str, Any]:
    """The recall mode and the lexical index it needs (None for dense).

    Without ``--mode``: hybrid where the collection has a lexical index, else dense, said in
    one line through ``say``. A lexical index that is missing (asked for), stale or another
    collection's is refused: never used out of step, never silently replaced by dense.

    Raises:
        AppError: One line: what is wrong with the lexical index and what to do.
    """
    from qwen3_core.lexical import LexicalIndex, LexicalIndexError, read_manifest

    mode = args.mode
    if mode == "dense":
        return mode, None
    missing = lexical_available()
    if missing:
        if mode is not None:
            raise AppError(f"--mode {mode} needs the lexical index, but {missing}")
        say(f"{missing}: dense recall only.")
        return "dense", None
    directory = lexical_dir(args, store.name)
    try:
        manifest = read_manifest(directory)
        if manifest is None:
            if mode is None:
                say(f"No lexical index for collection {store.name!r} (looked in {directory}): "
                    f"dense recall only; `qwen3-rag index` builds one.")
                return "dense", None
            raise AppError(f"--mode {mode} needs a lexical index, and collection "
                           f"{store.name!r} has none in {directory}: index it with `qwen3-rag "
                           f"index PATH --collection {store.name}` (without --no-lexical), "
                           f"give its --lexical-dir, or use --mode dense")
        lexical = LexicalIndex.open(directory, collection=store.name)
        try:
            lexical.check_in_step(store.collection)
        except BaseException:
            lexical.close()
            raise
    except LexicalIndexError as exc:
        raise AppError(str(exc)) from exc
    return mode or "hybrid", lexical
