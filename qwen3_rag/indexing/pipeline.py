"""Index a stream of records into a collection, batch by batch, resumable after any kill.

Each batch of passages is looked up in the collection first: a passage stored under its id
with the same ``content_hash`` is left alone, every other one is embedded and upserted, one
Chroma call per embedding batch. A run killed at any point therefore leaves whole batches
behind, and the same command again embeds only what is missing or changed. Memory holds one
batch, the ids of the file being read (to remove its stale passages when it ends) and the ids
seen so far (to refuse duplicates), whatever the size of the corpus.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from qwen3_rag.indexing.corpus_reader import Record
from qwen3_rag.indexing.passages import Chunker, Passage
from qwen3_rag.retrieval.store import VectorStore

__all__ = ["DEFAULT_BATCH_SIZE", "BadInputs", "IndexCounts", "index_records", "is_stored",
           "vector_settings"]

#: Passages per model call and per Chroma upsert.
DEFAULT_BATCH_SIZE = 64


def vector_settings(model: str, max_length: int) -> dict[str, str | int]:
    """What decides stored vectors besides their size (see ``VectorStore.require_settings``)."""
    # Documents are embedded without an instruction, as the model card does; recorded so a
    # collection never mixes in vectors of documents embedded with one.
    return {"model": model, "max_length": max_length, "document_instruction": ""}


class BadInputs(ValueError):
    """Raised by an ``embed`` function: these inputs of the batch cannot be embedded.

    The batch is embedded again without them, and each is reported (``on_bad``), not stored.

    Args:
        failures: Position in the batch -> why.
    """

    def __init__(self, failures: dict[int, str]):
        super().__init__("; ".join(f"[{i}] {why}" for i, why in sorted(failures.items())))
        self.failures = failures


@dataclass
class IndexCounts:
    """What a run did."""

    records: int = 0
    passages: int = 0
    embedded: int = 0
    unchanged: int = 0
    removed: int = 0


def is_stored(passage_id: str, content_hash: str, stored: dict[str, str | None], *,
              content_addressed: bool = False) -> bool:
    """Whether the collection holds this text under this id already.

    Args:
        passage_id: The passage's id.
        content_hash: The hash of its text (see :func:`~qwen3_rag.indexing.passages.text_hash`).
        stored: :meth:`~qwen3_rag.retrieval.store.VectorStore.stored_hashes` of the batch.
        content_addressed: The id is a hash of the text itself.
    """
    if passage_id not in stored:
        return False
    recorded = stored[passage_id]
    # Collections indexed before hashes were stored: a content-derived id is its text.
    if recorded is None and content_addressed:
        return True
    return recorded == content_hash


class _Batcher:
    """Collects whole records' passages and stores them when a batch is full."""

    def __init__(self, store: VectorStore, embed: Callable[[list[Any]], np.ndarray],
                 batch_size: int, counts: IndexCounts,
                 on_records: Callable[[int], None] | None,
                 on_bad: Callable[[Passage, str], None] | None = None):
        self.store, self.embed, self.batch_size = store, embed, batch_size
        self.counts, self.on_records, self.on_bad = counts, on_records, on_bad
        self.pending: list[Passage] = []
        self.pending_records = 0

    def add(self, passages: list[Passage]) -> None:
        self.pending.extend(passages)
        self.pending_records += 1
        if len(self.pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        batch, self.pending = self.pending, []
        # One huge record gives tens of thousands of passages at once: looked up, embedded and
        # stored a batch at a time, so no Chroma call takes more ids than SQLite has variables.
        for start in range(0, len(batch), self.batch_size):
            self._store(batch[start:start + self.batch_size])
        if self.on_records is not None and self.pending_records:
            self.on_records(self.pending_records)
        self.pending_records = 0

    def _store(self, batch: list[Passage]) -> None:
        stored = self.store.stored_hashes([p.id for p in batch]) if batch else {}
        # A text repeated in a file without ids gives one id twice; Chroma takes each id once.
        todo = list({p.id: p for p in reversed(batch) if not is_stored(
            p.id, p.content_hash, stored, content_addressed=p.content_addressed)}.values())[::-1]
        unchanged = len(batch) - len(todo)
        todo = self._embed_and_store(todo)
        self.counts.passages += unchanged + len(todo)
        self.counts.embedded += len(todo)
        self.counts.unchanged += unchanged

    def _embed_and_store(self, todo: list[Passage]) -> list[Passage]:
        """Embed and store ``todo``, leaving out (and reporting) inputs the model refuses."""
        while todo:
            try:
                vectors = self.embed([p.embed_input for p in todo])
            except BadInputs as bad:
                if self.on_bad is None or not bad.failures:
                    raise
                for position, why in sorted(bad.failures.items()):
                    self.on_bad(todo[position], why)
                todo = [p for i, p in enumerate(todo) if i not in bad.failures]
                continue
            self.store.upsert([p.id for p in todo], [p.text for p in todo],
                              [p.metadata for p in todo], vectors)
            break
        return todo


def index_records(records: Iterable[Record], store: VectorStore,
                  embed: Callable[[list[Any]], np.ndarray], chunker: Chunker, *,
                  batch_size: int = DEFAULT_BATCH_SIZE,
                  on_records: Callable[[int], None] | None = None,
                  on_bad: Callable[[Passage, str], None] | None = None) -> IndexCounts:
    """Embed and store every record's passages that the collection lacks or holds changed.

    When the records of a file end, its passages that this run did not produce (the file
    changed, or lost records) are deleted.

    Args:
        records: The corpus, read lazily (see
            :class:`~qwen3_rag.indexing.corpus_reader.CorpusReader`); records of one file come
            together.
        store: The collection.
        embed: Turns a list of texts (and, for image passages, image paths) into an
            ``(n, d)`` array (``embed_documents``); may raise :class:`BadInputs`.
        chunker: Cuts records into passages.
        batch_size: Passages per model call and per upsert.
        on_records: Called with the number of records done after each batch.
        on_bad: Called with each passage ``embed`` refused and why (it is not stored); without
            it :class:`BadInputs` ends the run.

    Returns:
        The counts of the run.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    counts = IndexCounts()
    batcher = _Batcher(store, embed, batch_size, counts, on_records, on_bad)
    source: str | None = None
    kept: set[str] = set()
    for record in records:
        if record.source != source:
            batcher.flush()
            if source is not None:
                counts.removed += store.prune(source, kept)
            source, kept = record.source, set()
        passages = chunker.passages(record)
        kept.update(p.id for p in passages)
        counts.records += 1
        batcher.add(passages)
    batcher.flush()
    if source is not None:
        counts.removed += store.prune(source, kept)
    return counts
