"""A BM25 index beside a vector-store collection: built from its passage store, checked in step.

Why bm25s: it is maintained, pure Python on NumPy/SciPy (no JVM, no server), indexes ~100k
passages in seconds (eager sparse scoring, Lù 2024) and saves to a few ``.npy`` files that
load memory-mapped, so a search opens a large index at once. Its indexes are immutable, so the
passages live in a SQLite table (:mod:`.store`) and the index is rebuilt from it, in full, at
the end of each indexing run: rebuilding is faster than the embedding that came before it.

Layout of a lexical index's directory::

    passages.sqlite3     the passages (id, content hash, text, metadata, tokens)
    current.json         the manifest: which build is current, its fingerprint and collection
    bm25-<digest>/       the bm25s files of that build, and ids.json (id and hash per row)

A build is written to its own directory and becomes current when ``current.json`` is replaced
(an atomic rename), so a search always opens a whole build. The manifest records the
collection's name and id and the fingerprint (count and SHA-256 of every id and content hash)
of what was indexed; :meth:`LexicalIndex.check_in_step` compares it with the collection, so an
index out of step is refused, never silently used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qwen3_core.lexical.store import STORE_FILE, PassageStore, fingerprint
from qwen3_core.lexical.tokenize import BilingualTokenizer

__all__ = [
    "HASH_KEY",
    "MANIFEST_FILE",
    "MARKER_KEY",
    "EmptyLexicalQuery",
    "ForeignLexicalIndex",
    "LexicalHit",
    "LexicalIndex",
    "LexicalIndexError",
    "Manifest",
    "MissingLexicalIndex",
    "StaleLexicalIndex",
    "build_index",
    "collection_fingerprint",
    "marker",
    "read_manifest",
    "text_hash",
]

MANIFEST_FILE = "current.json"
_FORMAT = 1
#: Passage metadata key of the SHA-256 of the passage's text (as ``qwen3-rag index`` writes).
HASH_KEY = "content_hash"
#: Collection metadata key where an indexing run records the fingerprint it left the collection
#: with (:func:`marker`), and clears it while it writes: a cheap check at search time.
MARKER_KEY = "qwen3_rag_lexical_fingerprint"
_PAGE = 5000


class LexicalIndexError(ValueError):
    """A lexical index that cannot be used; the message says why and what to do."""


class MissingLexicalIndex(LexicalIndexError):
    """No lexical index in the directory."""


class ForeignLexicalIndex(LexicalIndexError):
    """The directory holds another collection's lexical index, or something else."""


class StaleLexicalIndex(LexicalIndexError):
    """The lexical index does not hold what its collection holds."""


class EmptyLexicalQuery(LexicalIndexError):
    """The query has no word BM25 can search for (only stop words or punctuation)."""


@dataclass(frozen=True)
class Manifest:
    """What the current build of a lexical index holds."""

    collection: str
    collection_id: str
    count: int
    digest: str
    tokenizer: str
    build: str
    built_at: float
    format: int = _FORMAT

    @property
    def marker(self) -> str:
        """The value an in-step collection holds under :data:`MARKER_KEY`."""
        return marker(self.count, self.digest)


def marker(count: int, digest: str) -> str:
    """``count:digest``: the fingerprint as recorded in collection metadata."""
    return f"{count}:{digest}"


@dataclass(frozen=True)
class LexicalHit:
    """A passage found by BM25."""

    id: str
    text: str
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)


def text_hash(text: str) -> str:
    """The SHA-256 of a passage's text, as ``qwen3-rag index`` stores it (``content_hash``)."""
    return hashlib.sha256(text.encode()).hexdigest()


def collection_hashes(collection: Any) -> dict[str, str]:
    """Every id of a Chroma collection with its content hash, read page by page.

    Args:
        collection: A ``chromadb`` collection, or anything with its ``get(include=, limit=,
            offset=)`` (LangChain's ``Chroma`` has it). A passage without a ``content_hash``
            in its metadata counts with the hash of its text.
    """
    found: dict[str, str] = {}
    offset = 0
    while True:
        page = collection.get(include=["metadatas"], limit=_PAGE, offset=offset)
        metas = page.get("metadatas") or [None] * len(page["ids"])
        unhashed = []
        for pid, meta in zip(page["ids"], metas, strict=True):
            digest = (meta or {}).get(HASH_KEY)
            if digest is None:
                unhashed.append(pid)
            else:
                found[pid] = str(digest)
        if unhashed:
            texts = collection.get(ids=unhashed, include=["documents"])
            found.update((pid, text_hash(text or ""))
                         for pid, text in zip(texts["ids"], texts["documents"], strict=True))
        if len(page["ids"]) < _PAGE:
            return found
        offset += _PAGE


def collection_fingerprint(collection: Any) -> tuple[int, str]:
    """:func:`~qwen3_core.lexical.store.fingerprint` of :func:`collection_hashes`."""
    return fingerprint(collection_hashes(collection).items())


def _bm25s() -> Any:
    import logging

    import bm25s

    # bm25s sets its own logger to DEBUG on import, which would print a line per build and
    # load in every command; its warnings still show.
    if logging.getLogger("bm25s").level < logging.WARNING:
        logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


def _without_progress(method: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a bm25s method with its progress bar off where the installed version has one.

    bm25s 0.2 has ``show_progress`` on ``index`` only; 0.3 also on ``save`` and ``load``. The
    0.2 line is what pip resolves beside llama-index-core 0.12 (llama-index-retrievers-bm25).
    """
    import inspect

    if "show_progress" in inspect.signature(method).parameters:
        kwargs["show_progress"] = False
    return method(*args, **kwargs)


def _write_json(path: Path, data: Any) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    os.replace(temporary, path)  # atomic: readers see the old file or the new one


def read_manifest(directory: str | Path) -> Manifest | None:
    """The manifest of the lexical index in ``directory`` (None if there is none).

    Raises:
        ForeignLexicalIndex: ``current.json`` is not a manifest this version reads.
    """
    path = Path(directory) / MANIFEST_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != _FORMAT:
            raise ValueError(f"format {data.get('format')!r}")
        return Manifest(**data)
    except (ValueError, TypeError) as exc:
        raise ForeignLexicalIndex(f"{path} is not a qwen3-rag lexical index manifest ({exc}); "
                                  "point --lexical-dir at another directory, or delete it and "
                                  "index again") from exc


def build_index(store: PassageStore, *, collection: str, collection_id: str) -> Manifest:
    """Build the BM25 index of every passage in ``store`` and make it current.

    Args:
        store: The passages (tokens included).
        collection: Name of the collection the passages mirror.
        collection_id: Its id (a deleted and re-created collection has another).

    Returns:
        The manifest of the new build.
    """
    bm25s = _bm25s()
    ids: list[list[str]] = []
    corpus: list[list[str]] = []
    for pid, digest, tokens in store.tokens():
        ids.append([pid, digest])
        corpus.append(tokens)
    count, digest = fingerprint((pid, h) for pid, h in ids)
    name = f"bm25-{digest[:16]}-{int(time.time() * 1000)}"
    target = store.directory / name
    temporary = store.directory / f".{name}.tmp"
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir()
    if corpus:
        retriever = bm25s.BM25()
        _without_progress(retriever.index, corpus)
        _without_progress(retriever.save, str(temporary))
    _write_json(temporary / "ids.json", ids)
    os.replace(temporary, target)
    manifest = Manifest(collection=collection, collection_id=str(collection_id), count=count,
                        digest=digest, tokenizer=store.tokenizer.spec, build=name,
                        built_at=time.time())
    _write_json(store.directory / MANIFEST_FILE, asdict(manifest))
    for old in store.directory.glob("bm25-*"):  # builds no manifest names any more
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    return manifest


def _topk(scores: np.ndarray, k: int) -> Iterator[int]:
    k = min(k, len(scores))
    best = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    # Highest score first; equal scores by row (id order), so results are deterministic.
    for row in sorted(best.tolist(), key=lambda r: (-float(scores[r]), r)):
        if scores[row] > 0:
            yield row


class LexicalIndex:
    """The current build of a lexical index, opened for search.

    Use :meth:`open`.
    """

    def __init__(self, directory: Path, manifest: Manifest, retriever: Any,
                 rows: list[list[str]], store: PassageStore):
        self.directory, self.manifest = directory, manifest
        self._retriever, self._rows, self._store = retriever, rows, store
        self.tokenizer = BilingualTokenizer.from_spec(manifest.tokenizer)

    @classmethod
    def open(cls, directory: str | Path, *, collection: str | None = None) -> LexicalIndex:
        """Open the lexical index in ``directory``.

        Args:
            directory: Its directory.
            collection: The collection it must belong to (checked when given).

        Raises:
            MissingLexicalIndex: There is no index in ``directory``.
            ForeignLexicalIndex: It belongs to another collection, or is not one.
        """
        bm25s = _bm25s()
        directory = Path(directory)
        manifest = read_manifest(directory)
        if manifest is None:
            raise MissingLexicalIndex(f"no lexical index in {directory}")
        if collection is not None and manifest.collection != collection:
            raise ForeignLexicalIndex(
                f"the lexical index in {directory} belongs to collection "
                f"{manifest.collection!r}, not {collection!r}; give the --lexical-dir of "
                f"{collection!r}'s index")
        build = directory / manifest.build
        try:
            rows = json.loads((build / "ids.json").read_text(encoding="utf-8"))
            retriever = _without_progress(bm25s.BM25.load, str(build), mmap=True) \
                if rows else None
        except (OSError, ValueError) as exc:
            raise StaleLexicalIndex(f"the lexical index in {directory} is damaged ({exc}); "
                                    "index the collection again to rebuild it") from exc
        store = PassageStore(directory, BilingualTokenizer.from_spec(manifest.tokenizer))
        return cls(directory, manifest, retriever, rows, store)

    def close(self) -> None:
        """Close the passage store."""
        self._store.close()

    def __enter__(self) -> LexicalIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self._rows)

    def check_in_step(self, collection: Any) -> None:
        """Refuse to go on unless this index holds exactly what ``collection`` holds.

        Cheap when the collection carries the marker an indexing run leaves (:data:`MARKER_KEY`):
        its id, count and marker are compared. Otherwise (a run killed mid-way, or a collection
        written by another tool) every id and content hash is read and compared.

        Args:
            collection: A ``chromadb`` collection (``id``, ``name``, ``metadata``, ``count()``,
                ``get()``).

        Raises:
            ForeignLexicalIndex: The index was built for another collection (or one deleted
                and re-created under the same name).
            StaleLexicalIndex: The passages differ; the message gives both counts.
        """
        name = getattr(collection, "name", "?")
        if str(getattr(collection, "id", self.manifest.collection_id)) != \
                self.manifest.collection_id or name != self.manifest.collection:
            raise ForeignLexicalIndex(
                f"the lexical index in {self.directory} was built for collection "
                f"{self.manifest.collection!r} (id {self.manifest.collection_id}), not for "
                f"{name!r} (id {getattr(collection, 'id', '?')}); index the collection again "
                f"to rebuild it, or give the right --lexical-dir")
        count = collection.count()
        recorded = (getattr(collection, "metadata", None) or {}).get(MARKER_KEY)
        if count == self.manifest.count and recorded == self.manifest.marker:
            return
        if count == self.manifest.count and not recorded:
            if collection_fingerprint(collection) == (self.manifest.count, self.manifest.digest):
                return
        raise StaleLexicalIndex(
            f"the lexical index in {self.directory} is out of step with collection {name!r} "
            f"(it holds {self.manifest.count:,} passages, the collection {count:,}"
            f"{', changed since' if count == self.manifest.count else ''}); run the "
            f"`qwen3-rag index` command that fills the collection again (it rebuilds the "
            f"lexical index from the collection, embedding nothing already stored), or search "
            f"with --mode dense")

    def search(self, query: str, k: int) -> list[LexicalHit]:
        """The ``k`` passages with the highest BM25 scores for ``query``, best first.

        Passages sharing no word with the query are never returned, so fewer than ``k`` may
        come back.

        Raises:
            EmptyLexicalQuery: The query has no searchable word (only stop words or
                punctuation); the message names the words dropped.
            StaleLexicalIndex: The passage store changed under the build (an index run is
                under way or was killed); index again.
            ValueError: ``k`` below 1.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        tokens = self.tokenizer(query)
        if not tokens:
            dropped = self.tokenizer.stop_words_in(query)
            said = f" (only stop words: {', '.join(dropped)})" if dropped else ""
            raise EmptyLexicalQuery(f"the query {query!r} has no word BM25 can search for"
                                    f"{said}; add a content word, or search with --mode dense")
        if self._retriever is None:
            return []
        token_ids = self._retriever.get_tokens_ids(tokens)
        if not token_ids:
            return []  # no passage shares a word with the query
        scores = np.asarray(self._retriever.get_scores_from_ids(token_ids))
        rows = list(_topk(scores, k))
        stored = self._store.passages([self._rows[row][0] for row in rows])
        hits = []
        for row in rows:
            pid, digest = self._rows[row]
            passage = stored.get(pid)
            if passage is None or passage.content_hash != digest:
                raise StaleLexicalIndex(
                    f"passage {pid!r} changed in {self.directory / STORE_FILE} since the "
                    f"lexical index was built (an indexing run is under way or was stopped); "
                    f"run `qwen3-rag index` again to the end")
            hits.append(LexicalHit(pid, passage.text, float(scores[row]), passage.metadata))
        return hits

    def search_many(self, queries: Sequence[str], k: int) -> list[list[LexicalHit]]:
        """:meth:`search` for each query."""
        return [self.search(query, k) for query in queries]
