"""``qwen3-rag index PATH...``: your files into a Chroma collection, batch by batch."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from qwen3_core import DEFAULT_EMBEDDING_MODEL, DEFAULT_RERANKER_MODEL
from qwen3_core.vision import DEFAULT_VL_RERANKER_MODEL
from qwen3_rag.common.loading import (
    SMALL_CORPUS_BYTES,
    AppError,
    add_collection_argument,
    add_model_arguments,
    add_store_arguments,
    directory,
    is_vl_model,
    load_embedder,
    load_vl_embedder,
    non_negative_int,
    open_database,
    open_store,
    positive_int,
)
from qwen3_rag.common.render import make_console
from qwen3_rag.indexing.corpus_reader import BlankRecord, CorpusError, CorpusReader
from qwen3_rag.indexing.files import (
    IMAGE_SUFFIXES,
    SUFFIXES,
    TEXT_SUFFIXES,
    is_image,
    scan_paths,
)
from qwen3_rag.indexing.lexical_step import LexicalStep
from qwen3_rag.indexing.lexical_step import add_arguments as add_lexical_arguments
from qwen3_rag.indexing.passages import Chunker, Passage
from qwen3_rag.indexing.pipeline import (
    DEFAULT_BATCH_SIZE,
    BadInputs,
    index_records,
    vector_settings,
)
from qwen3_rag.indexing.progress import indexing_progress
from qwen3_rag.indexing.ray_command import LOCAL, run_ray_index
from qwen3_rag.retrieval.store import recorded_reranker_model

__all__ = ["add_arguments", "run"]

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``qwen3-rag index``."""
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help=f"files ({', '.join(TEXT_SUFFIXES)}; images "
                             f"{', '.join(IMAGE_SUFFIXES)} with a Qwen3-VL --embedding-model) "
                             "or directories searched recursively; records with an id "
                             "(JSONL/CSV/Parquet `id` or `_id`) keep it in Chroma, cut ones as "
                             "ID#0, ID#1, ...")
    add_collection_argument(parser)
    parser.add_argument("--chunk-size", type=positive_int, default=1000,
                        help="longest passage in characters (default 1000)")
    parser.add_argument("--chunk-overlap", type=non_negative_int, default=150,
                        help="characters shared by neighbouring passages (default 150)")
    parser.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE,
                        help="passages per model call and per Chroma write")
    parser.add_argument("--follow-symlinks", action="store_true",
                        help="follow links inside the directories that point outside them "
                             "(by default such links are skipped and listed)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="index the good records and list the bad ones, instead of "
                             "stopping at the first")
    cluster = parser.add_argument_group("cluster (extra `ray`)")
    cluster.add_argument("--ray", nargs="?", const=LOCAL, default=None, metavar="ADDRESS",
                         help="embed on a Ray cluster (after the paths): ADDRESS of its head, "
                              "e.g. 10.0.0.1:6379 or auto; alone, a Ray started on this "
                              "machine. Needs --chroma-url or --parquet")
    cluster.add_argument("--ray-actors", type=positive_int, default=None, metavar="N",
                         help="embedding actors, one engine each (default: one per GPU of "
                              "the cluster, else 1)")
    cluster.add_argument("--parquet", type=directory, default=None, metavar="DIR",
                         help="with --ray: write id, text, metadata and vector to Parquet "
                              "files in DIR instead of Chroma")
    add_model_arguments(parser, reranker=False).add_argument(
        "--reranker-model", default=None, metavar="ID_OR_PATH",
        help="reranker recorded with the collection, which `qwen3-rag search` then uses "
             "unless told otherwise; not loaded here (default: the one already recorded, "
             f"else {DEFAULT_RERANKER_MODEL})")
    add_store_arguments(parser)
    parser.epilog = (f"With --backend auto on a machine without a GPU, files totalling under "
                     f"{SMALL_CORPUS_BYTES // 1_000_000} MB (about "
                     f"{SMALL_CORPUS_BYTES // 1000:,} passages of 1,000 characters) are "
                     "embedded with transformers, which starts in seconds; larger corpora "
                     "with vLLM, whose minute-long start on a CPU their size pays for. "
                     "A Qwen3-VL --embedding-model (e.g. Qwen/Qwen3-VL-Embedding-2B) makes a "
                     "multimodal collection: images are embedded as images, text files as "
                     "text, on the transformers backend.")
    add_lexical_arguments(parser)


def _skipped_report(skipped: list[CorpusError], shown: int = 20) -> str:
    lines = [f"skipped {len(skipped)} bad record(s):"]
    lines += [f"  {problem}" for problem in skipped[:shown]]
    if len(skipped) > shown:
        lines.append(f"  ... and {len(skipped) - shown} more")
    return "\n".join(lines)


def _links_report(links: list, shown: int = 20) -> str:
    lines = [f"skipped {len(links)} symbolic link(s) leaving their directory "
             "(--follow-symlinks follows them):"]
    lines += [f"  {link} -> {target}" for link, target in links[:shown]]
    if len(links) > shown:
        lines.append(f"  ... and {len(links) - shown} more")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Index the files, streaming them batch by batch; returns the exit code."""
    try:
        scan = scan_paths(args.paths, follow_symlinks=getattr(args, "follow_symlinks", False))
        files = scan.files
        chunker = Chunker(args.chunk_size, args.chunk_overlap)
    except (OSError, ValueError) as exc:
        raise AppError(str(exc)) from exc
    if scan.skipped_links:
        make_console(stderr=True).print(_links_report(scan.skipped_links), highlight=False,
                                        soft_wrap=True)
    images = [path for path in files if is_image(path)]
    model = str(args.embedding_model or DEFAULT_EMBEDDING_MODEL)
    multimodal = bool(args.embedding_model) and is_vl_model(model)
    if images and not multimodal:
        files = [path for path in files if not is_image(path)]
        note = (f"{len(images):,} image file(s) ({', '.join(IMAGE_SUFFIXES)}) found, but "
                f"{model} is a text embedding model: images need a Qwen3-VL one, e.g. "
                f"--embedding-model Qwen/Qwen3-VL-Embedding-2B")
        if not files:
            raise AppError(note)
        make_console(stderr=True).print(f"Left out {note}.", highlight=False, soft_wrap=True)
    if not files:
        raise AppError(f"no corpus files found in {', '.join(args.paths)} "
                       f"(looked for {', '.join(SUFFIXES)} files)")
    reader = CorpusReader(files, skip_bad=args.skip_bad)
    if multimodal:
        _check_multimodal(args, model)
        return _run_multimodal(args, reader, chunker, files)
    if args.ray is not None or args.parquet is not None:
        return run_ray_index(args, reader, chunker)
    # The backend `auto` picks without a GPU depends on the amount of text (see --help).
    args.corpus_bytes = sum(path.stat().st_size for path in files)
    status = make_console(stderr=True)
    # The database before the model: a wrong --chroma-url fails in a second.
    client = open_database(args)
    reranker_model = (args.reranker_model or recorded_reranker_model(client, args.collection)
                      or DEFAULT_RERANKER_MODEL)
    with load_embedder(args) as embedder:
        store = open_store(args, args.collection, embedder, client=client)
        started = time.monotonic()
        lexical = LexicalStep(
            args, lambda line: status.print(line, highlight=False, soft_wrap=True))
        try:
            store.require_settings(vector_settings(embedder.model, embedder.max_length))
            store.record_reranker(reranker_model)
            target = lexical.start(store)
            with indexing_progress(status) as progress:
                total = reader.total()
                task = progress.add_task("indexing", total=total)
                counts = index_records(reader, target, embedder.embed_documents, chunker,
                                       batch_size=args.batch_size,
                                       on_records=lambda n: progress.advance(task, n))
                # Skipped records never reach the store, but they are done with too.
                progress.update(task, completed=total)
            lexical_line = lexical.finish()
        except (CorpusError, ValueError, OSError) as exc:
            raise AppError(str(exc)) from exc
        finally:
            lexical.close()
        seconds = time.monotonic() - started
        if reader.skipped:
            status.print(_skipped_report(reader.skipped), highlight=False, soft_wrap=True)
        if not counts.passages and all(isinstance(p, BlankRecord) for p in reader.skipped):
            raise AppError(f"no text found in {', '.join(args.paths)}")
        speed = counts.records / max(seconds, 1e-9)
        status.print(f"{counts.records:,} records from {len(files)} file(s) in {seconds:,.0f} s "
                     f"({speed:,.0f} docs/s), {len(reader.skipped):,} skipped.\n"
                     f"{counts.passages:,} passages: {counts.embedded:,} embedded, "
                     f"{counts.unchanged:,} already stored, {counts.removed:,} stale removed.\n"
                     f"Collection {store.name!r} now holds {store.count():,} passages "
                     f"({embedder.model} on {embedder.backend}; `search` reranks with "
                     f"{reranker_model}).",
                     highlight=False)
        if lexical_line:
            status.print(lexical_line, highlight=False, soft_wrap=True)
    return 0


def _check_multimodal(args: argparse.Namespace, model: str) -> None:
    """Refuse, before any model loads, what a multimodal collection cannot do yet."""
    why = f"{model} is a Qwen3-VL embedding model"
    if args.ray is not None or args.parquet is not None:
        raise AppError(f"{why}: --ray and --parquet embed text only; index images without them")
    if args.reranker_model and not is_vl_model(args.reranker_model):
        raise AppError(f"{why}, but --reranker-model {args.reranker_model} is not a Qwen3-VL "
                       f"reranker, which a collection with images needs (e.g. "
                       f"{DEFAULT_VL_RERANKER_MODEL})")


def _image_embedder(embedder) -> Callable[[list], np.ndarray]:
    """``embed_documents`` whose bad images become :class:`BadInputs` (skipped, not fatal)."""
    from qwen3_core.vision import ImageError

    def embed(inputs: list) -> np.ndarray:
        try:
            return embedder.embed_documents(inputs)
        except ImageError as exc:
            reasons: dict[int, str] = {}
            for position, (_, why) in zip(exc.positions, exc.failures):
                reasons.setdefault(position, why)  # an input's first bad image says why
            raise BadInputs(reasons) from exc

    return embed


def _run_multimodal(args: argparse.Namespace, reader: CorpusReader, chunker: Chunker,
                    files: list) -> int:
    """Index text and image files into a multimodal collection with a Qwen3-VL model."""
    status = make_console(stderr=True)
    client = open_database(args)
    recorded = recorded_reranker_model(client, args.collection)
    if recorded and not args.reranker_model and not is_vl_model(recorded):
        recorded = None  # a text reranker cannot read the images: the VL default instead
    reranker_model = args.reranker_model or recorded or DEFAULT_VL_RERANKER_MODEL
    bad_images: list[CorpusError] = []

    def on_bad(passage: Passage, why: str) -> None:
        problem = CorpusError(passage.source, None, why)
        if not args.skip_bad and not is_image(passage.source):
            raise AppError(str(problem))
        bad_images.append(problem)

    with load_vl_embedder(args, str(args.embedding_model)) as embedder:
        store = open_store(args, args.collection, embedder, client=client)
        started = time.monotonic()
        # BM25 over the passages' words (an image's are its file name), as for text.
        lexical = LexicalStep(
            args, lambda line: status.print(line, highlight=False, soft_wrap=True))
        try:
            store.require_settings(vector_settings(embedder.model, embedder.max_length))
            store.record_reranker(reranker_model)
            target = lexical.start(store)
            with indexing_progress(status) as progress:
                total = reader.total()
                task = progress.add_task("indexing", total=total)
                counts = index_records(reader, target, _image_embedder(embedder), chunker,
                                       batch_size=args.batch_size,
                                       on_records=lambda n: progress.advance(task, n),
                                       on_bad=on_bad)
                progress.update(task, completed=total)
            lexical_line = lexical.finish()
        except (CorpusError, ValueError, OSError) as exc:
            raise AppError(str(exc)) from exc
        finally:
            lexical.close()
        seconds = time.monotonic() - started
        skipped = [*reader.skipped, *bad_images]
        if skipped:
            status.print(_skipped_report(skipped), highlight=False, soft_wrap=True)
        images = sum(1 for path in files if is_image(path))
        status.print(f"{counts.records:,} records from {len(files)} file(s) ({images:,} "
                     f"image(s)) in {seconds:,.0f} s, {len(skipped):,} skipped.\n"
                     f"{counts.passages:,} passages: {counts.embedded:,} embedded, "
                     f"{counts.unchanged:,} already stored, {counts.removed:,} stale removed.\n"
                     f"Collection {store.name!r} (text and images) now holds "
                     f"{store.count():,} passages ({embedder.model} on {embedder.backend}; "
                     f"`search` reranks with {reranker_model}).", highlight=False)
        if lexical_line:
            status.print(lexical_line, highlight=False, soft_wrap=True)
    return 0
