"""Index passages on a Ray cluster: Ray Data, an actor pool, one embedding engine per actor.

:func:`index_dataset` takes a ``ray.data.Dataset`` of passages (columns ``id`` and ``text``;
other scalar columns become metadata; rows are stored as they are, not cut) and either

* writes them to a Chroma server (``chroma_url``): each actor looks its batch up by id and
  ``content_hash``, embeds what is missing or changed and upserts it in one HTTP call, so a
  killed actor (Ray restarts it and retries the batch) or a killed run (run it again) leaves
  whole batches and resumes with what is missing; or
* writes them, with a ``vector`` column, to Parquet files in ``parquet_dir`` (no resume).

Each actor holds one :class:`~qwen3_core.Qwen3Embedder`; on a cluster with GPUs each actor
takes one GPU. ``qwen3-rag index --ray`` reads and cuts the corpus with the same reader as
the in-process command, then hands the passages to this module.

Examples:
    >>> import ray  # doctest: +SKIP
    >>> from qwen3_rag.indexing.ray_indexing import index_dataset
    >>> ds = ray.data.read_parquet("s3://bucket/passages/")  # columns id, text, ...
    >>> index_dataset(ds, embedding_model="Qwen/Qwen3-Embedding-0.6B",
    ...               chroma_url="http://chroma:8000", collection="docs", num_actors=8)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qwen3_rag.indexing.passages import Passage, text_hash
from qwen3_rag.indexing.pipeline import is_stored, vector_settings
from qwen3_rag.retrieval.store import HASH_KEY, VectorStore, open_client

__all__ = [
    "CONTENT_ADDRESSED_COLUMN",
    "DEFAULT_BLOCK_ROWS",
    "METADATA_COLUMN",
    "RayIndexCounts",
    "index_dataset",
    "passages_dataset",
]

_SCALARS = (str, int, float, bool)
#: Column of :func:`passages_dataset` holding each passage's metadata as a JSON object: its
#: types survive, whatever the columns of other blocks.
METADATA_COLUMN = "metadata_json"
#: Column of :func:`passages_dataset`: the id is a hash of the text (a file without ids).
CONTENT_ADDRESSED_COLUMN = "content_addressed"
#: Passages per block handed to Ray by :func:`passages_dataset`: a block goes to one actor,
#: so blocks of a few batches keep every actor of the pool busy.
DEFAULT_BLOCK_ROWS = 256


@dataclass
class RayIndexCounts:
    """What a run did: passages embedded and written, and those found already stored."""

    embedded: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class _Target:
    """Where actors write and with which model; sent to every actor."""

    embedding_model: str
    embedder_options: dict[str, Any] = field(default_factory=dict)
    chroma_url: str | None = None
    collection: str | None = None


def _rows_metadata(batch: dict[str, Any], row: int, skip: set[str]) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    if METADATA_COLUMN in batch:
        metadata.update(json.loads(str(batch[METADATA_COLUMN][row])))
    for column, values in batch.items():
        if column in skip or column in (METADATA_COLUMN, CONTENT_ADDRESSED_COLUMN):
            continue
        value = values[row]
        value = value.item() if isinstance(value, np.generic) else value
        if isinstance(value, _SCALARS):
            metadata[column] = value
    return metadata


class _EmbedBatches:
    """A Ray actor: one engine, batches of passages in, vectors or write counts out."""

    def __init__(self, target: _Target):
        from qwen3_core import Qwen3Embedder

        self.target = target
        self.embedder = Qwen3Embedder(target.embedding_model, **target.embedder_options)
        self.store = None
        if target.chroma_url:
            self.store = VectorStore(open_client(chroma_url=target.chroma_url),
                                     str(target.collection), self.embedder.model,
                                     self.embedder.embedding_size)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        ids = [str(value) for value in batch["id"]]
        texts = [str(value) for value in batch["text"]]
        if self.store is None:
            vectors = self.embedder.embed_documents(texts)
            return {**batch, "vector": list(vectors)}
        metadatas = [{**_rows_metadata(batch, row, {"id", "text"}), HASH_KEY: text_hash(text)}
                     for row, text in enumerate(texts)]
        stored = self.store.stored_hashes(ids)
        content_addressed = batch.get(CONTENT_ADDRESSED_COLUMN, [False] * len(ids))
        todo = [row for row, passage_id in enumerate(ids)
                if not is_stored(passage_id, metadatas[row][HASH_KEY], stored,
                                 content_addressed=bool(content_addressed[row]))]
        if todo:
            vectors = self.embedder.embed_documents([texts[row] for row in todo])
            self.store.upsert([ids[row] for row in todo], [texts[row] for row in todo],
                              [metadatas[row] for row in todo], vectors)
        return {"embedded": [len(todo)], "unchanged": [len(ids) - len(todo)]}


def passages_dataset(passages: Iterable[Passage], block_rows: int = DEFAULT_BLOCK_ROWS) -> Any:
    """A Ray dataset of passages (``id``, ``text``, ``metadata_json``, ``content_addressed``).

    Each block goes to Ray's object store as it is made, so the caller's memory holds one
    block and the ids seen (repeated ones are dropped), never the corpus.
    """
    import pyarrow as pa
    import ray

    refs: list[Any] = []
    # A text repeated in a file without ids gives one id twice; Chroma takes each id once.
    seen: set[str] = set()

    def blocks() -> Iterator[list[dict[str, Any]]]:
        block: list[dict[str, Any]] = []
        for passage in passages:
            if passage.id in seen:
                continue
            seen.add(passage.id)
            metadata = {key: value for key, value in passage.metadata.items()
                        if key != HASH_KEY}
            block.append({"id": passage.id, "text": passage.text,
                          METADATA_COLUMN: json.dumps(metadata, ensure_ascii=False),
                          CONTENT_ADDRESSED_COLUMN: passage.content_addressed})
            if len(block) >= block_rows:
                yield block
                block = []
        if block:
            yield block

    for block in blocks():
        refs.append(ray.put(pa.Table.from_pylist(block)))
    if not refs:
        raise ValueError("no passages to index")
    return ray.data.from_arrow_refs(refs)


def _actor_resources(num_gpus_per_actor: float | None) -> dict[str, float]:
    import ray

    if num_gpus_per_actor is None:
        num_gpus_per_actor = 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0
    return {"num_gpus": num_gpus_per_actor} if num_gpus_per_actor else {"num_cpus": 1}


def index_dataset(dataset: Any, *, embedding_model: str, chroma_url: str | None = None,
                  collection: str | None = None, parquet_dir: str | None = None,
                  num_actors: int = 1, batch_size: int = 64,
                  embedder_options: dict[str, Any] | None = None,
                  num_gpus_per_actor: float | None = None) -> RayIndexCounts:
    """Embed a dataset of passages with a pool of actors; write to Chroma or Parquet.

    Args:
        dataset: A ``ray.data.Dataset`` with ``id`` (unique) and ``text`` columns.
        embedding_model: Qwen3-Embedding id or a directory every node can read.
        chroma_url: A Chroma server every node can reach; the collection is created or
            checked (model, vector size, max_length) before any actor starts.
        collection: The Chroma collection (with ``chroma_url``).
        parquet_dir: Write ``id``, ``text``, metadata and ``vector`` here instead.
        num_actors: Actors in the pool, each with its own engine.
        batch_size: Passages per actor call (one lookup, one model call, one upsert).
        embedder_options: More :class:`~qwen3_core.Qwen3Embedder` arguments (backend, dtype,
            max_length, device, ...), the same for every actor.
        num_gpus_per_actor: GPUs per actor; None takes one where the cluster has GPUs.

    Returns:
        The counts (for Parquet, every passage is embedded).

    Raises:
        ValueError: Neither or both of ``chroma_url`` and ``parquet_dir``; no ``id`` or
            ``text`` column; a collection built with other settings.
    """
    if (chroma_url is None) == (parquet_dir is None):
        raise ValueError("give exactly one of chroma_url (a Chroma server) or parquet_dir")
    if num_actors < 1 or batch_size < 1:
        raise ValueError(f"num_actors and batch_size must be at least 1, got {num_actors} "
                         f"and {batch_size}")
    columns = list(getattr(dataset.schema(), "names", None) or [])
    if not {"id", "text"} <= set(columns):
        raise ValueError(f"the dataset needs columns 'id' and 'text'; it has "
                         f"{', '.join(map(repr, columns)) or 'none'}")
    options = dict(embedder_options or {})
    target = _Target(embedding_model, options, chroma_url, collection or "qwen3-rag")
    if chroma_url:
        _check_collection(target)
    import ray

    embedded = dataset.map_batches(
        _EmbedBatches, fn_constructor_args=(target,), batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(size=num_actors), batch_format="numpy",
        **_actor_resources(num_gpus_per_actor))
    if parquet_dir is not None:
        embedded.write_parquet(parquet_dir)
        return RayIndexCounts(embedded=dataset.count())
    counts = RayIndexCounts()
    for batch in embedded.iter_batches(batch_size=None, batch_format="numpy"):
        counts.embedded += int(np.sum(batch["embedded"]))
        counts.unchanged += int(np.sum(batch["unchanged"]))
    return counts


def _check_collection(target: _Target) -> None:
    """Create the collection, or refuse one built with other settings, before actors start."""
    from qwen3_core.defaults import DEFAULT_MAX_LENGTH
    from qwen3_core.models import resolve_model

    info = resolve_model(target.embedding_model, weights=False)
    size = target.embedder_options.get("dimensions") or info.hidden_size
    store = VectorStore(open_client(chroma_url=target.chroma_url), str(target.collection),
                        info.name, size)
    store.require_settings(vector_settings(
        info.name, target.embedder_options.get("max_length", DEFAULT_MAX_LENGTH)))
