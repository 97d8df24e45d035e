"""``qwen3-rag index --ray``: read and cut the corpus here, embed it on a Ray cluster.

The reader and the chunker are the in-process command's (same ids, same checks of bad
records); the passages go to Ray's object store block by block and
:func:`~qwen3_rag.indexing.ray_indexing.index_dataset` does the rest. The lexical (BM25) index
is then brought in step from the collection here, as the in-process command's last step does.
Stale passages of changed files are not looked for on this path (the in-process command removes
them).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from qwen3_core.defaults import DEFAULT_EMBEDDING_MODEL
from qwen3_rag.common.loading import API_KEY_VARIABLE, AppError
from qwen3_rag.common.render import make_console
from qwen3_rag.indexing.corpus_reader import CorpusError, CorpusReader
from qwen3_rag.indexing.lexical_step import LexicalStep
from qwen3_rag.indexing.passages import Chunker
from qwen3_rag.retrieval.store import VectorStore, open_client

__all__ = ["LOCAL", "run_ray_index"]

#: The value of a bare ``--ray``: start Ray on this machine.
LOCAL = "local"


def _check_arguments(args: argparse.Namespace) -> None:
    if args.ray is None:
        raise AppError("--parquet is written by Ray workers: add --ray [ADDRESS]")
    if args.ray != LOCAL and Path(args.ray).exists():
        raise AppError(f"--ray took {args.ray!r}, a path, as the cluster's address: put --ray "
                       "after the paths, or give the address (e.g. --ray auto)")
    if bool(args.chroma_url) == bool(args.parquet):
        raise AppError("--ray writes from every worker: give --chroma-url URL (a Chroma server "
                       "all nodes reach) or --parquet DIR, one of them"
                       + ("; --chroma-dir is one machine's database" if args.chroma_dir
                          else ""))


def _embedder_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {"backend": args.backend, "dtype": args.dtype,
                               "max_length": args.max_length, "device": args.device,
                               "engine_kwargs": args.engine_kwargs}
    base_url = args.embedding_base_url or args.base_url
    if base_url:
        # Read here, not on the workers, whose environment is the cluster's.
        options["base_url"] = base_url
        options["api_key"] = getattr(args, "api_key", None) or os.environ.get(API_KEY_VARIABLE)
    return options


def _start_ray(address: str) -> Any:
    try:
        import ray
    except ImportError as exc:
        raise AppError(f"--ray needs Ray ({exc}): pip install 'qwen3-rag[ray]'") from exc
    if address == LOCAL:
        ray.init(logging_level=logging.WARNING, include_dashboard=False)
    else:
        try:
            ray.init(address=address, logging_level=logging.WARNING)
        except (ConnectionError, ValueError) as exc:
            raise AppError(f"could not join the Ray cluster at {address!r}: {exc}") from exc
    import ray.data

    context = ray.data.DataContext.get_current()
    context.print_on_execution_start = False
    # Without a terminal, Ray Data's progress bars become a log line every few seconds.
    context.enable_progress_bars = sys.stderr.isatty()
    return ray


def run_ray_index(args: argparse.Namespace, reader: CorpusReader, chunker: Chunker) -> int:
    """Index the corpus of ``reader`` on Ray; returns the exit code."""
    _check_arguments(args)
    ray = _start_ray(args.ray)
    from qwen3_rag.indexing.ray_indexing import index_dataset, passages_dataset

    status = make_console(stderr=True)
    model = str(args.embedding_model or DEFAULT_EMBEDDING_MODEL)
    started = time.monotonic()
    try:
        actors = args.ray_actors or max(int(ray.cluster_resources().get("GPU", 0)), 1)
        # Blocks of four batches: enough blocks for every actor, few enough to stay cheap.
        dataset = passages_dataset((passage for record in reader
                                    for passage in chunker.passages(record)),
                                   block_rows=4 * args.batch_size)
        counts = index_dataset(dataset, embedding_model=model, chroma_url=args.chroma_url,
                               collection=args.collection, parquet_dir=args.parquet,
                               num_actors=actors, batch_size=args.batch_size,
                               embedder_options=_embedder_options(args))
    except (CorpusError, ValueError, OSError) as exc:
        raise AppError(str(exc)) from exc
    finally:
        ray.shutdown()
    seconds = time.monotonic() - started
    lexical_line = None if args.parquet else _lexical_from_collection(args, status)
    for problem in reader.skipped:
        status.print(f"skipped: {problem}", highlight=False, soft_wrap=True)
    done = counts.embedded + counts.unchanged
    where = (f"Parquet files in {args.parquet}" if args.parquet else
             f"collection {args.collection!r} now holds "
             f"{open_client(chroma_url=args.chroma_url).get_collection(args.collection).count():,}"
             " passages")
    status.print(f"{done:,} passages on Ray ({actors} actor(s)) in {seconds:,.0f} s "
                 f"({done / max(seconds, 1e-9):,.0f} passages/s), {len(reader.skipped):,} "
                 f"records skipped.\n{counts.embedded:,} embedded, {counts.unchanged:,} already "
                 f"stored. {where[0].upper()}{where[1:]} ({model}).", highlight=False)
    if lexical_line:
        status.print(lexical_line, highlight=False, soft_wrap=True)
    return 0


def _lexical_from_collection(args: argparse.Namespace, status: Any) -> str | None:
    """Bring the collection's lexical index in step with what the workers wrote."""
    lexical = LexicalStep(args, lambda line: status.print(line, highlight=False, soft_wrap=True))
    try:
        lexical.start(VectorStore.existing(open_client(chroma_url=args.chroma_url),
                                           args.collection))
        return lexical.finish()
    except (ValueError, OSError) as exc:
        raise AppError(str(exc)) from exc
    finally:
        lexical.close()
