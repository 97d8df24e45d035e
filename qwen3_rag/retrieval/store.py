"""Chroma collections of Qwen3 vectors: embedded and persistent by default, ids from content.

Passages without an id of their own get a hash of their content, so indexing the same text
again finds it already stored and skips the model: a second run only pays for model load. Each
passage stores the hash of its text (``content_hash``), so a passage changed under the same id
is embedded again. Each collection records the embedding model and vector size it was built
with, so it is never searched with mismatching vectors, and ``index`` records and checks the
other settings that change vectors (:meth:`VectorStore.require_settings`).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

__all__ = [
    "DEFAULT_COLLECTION",
    "HASH_KEY",
    "Hit",
    "VectorStore",
    "cache_dir",
    "check_collection_name",
    "content_id",
    "default_chroma_dir",
    "open_client",
    "recorded_embedding_model",
    "recorded_reranker_model",
]

#: The collection the commands use unless told otherwise.
DEFAULT_COLLECTION = "qwen3-rag"

_MODEL_KEY = "qwen3_rag_embedding_model"
_SIZE_KEY = "qwen3_rag_embedding_size"
#: The reranker meant to go with the collection's vectors, which ``search`` uses by default.
_RERANKER_KEY = "qwen3_rag_reranker_model"
#: Collection metadata keys of the other settings that change the vectors, by setting name.
_SETTING_PREFIX = "qwen3_rag_"
#: Passage metadata key holding the SHA-256 of the passage's text.
HASH_KEY = "content_hash"
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$")
_NAME_RULE = ("3-512 characters from letters, digits, '.', '_' and '-', starting and ending "
              "with a letter or digit, no '..', not an IPv4 address")
#: Texts embedded per model call while indexing; small enough for a steady progress bar.
_BATCH = 16
#: Ids per Chroma read or delete when paging through a collection.
_PAGE = 5000


def cache_dir() -> Path:
    """Where qwen3-rag keeps its data: ``$QWEN3_RAG_CACHE_DIR``, else the user's cache dir."""
    explicit = os.environ.get("QWEN3_RAG_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("qwen3-rag", appauthor=False))


def default_chroma_dir() -> Path:
    """The embedded Chroma database used when no directory or server is given."""
    return cache_dir() / "chroma"


def content_id(text: str, source: str = "") -> str:
    """A stable id for a passage: the SHA-256 of its source and text."""
    return hashlib.sha256(f"{source}\0{text}".encode()).hexdigest()


def open_client(chroma_dir: str | os.PathLike[str] | None = None, chroma_url: str | None = None):
    """A Chroma client: a server at ``chroma_url``, else an embedded database on disk.

    Args:
        chroma_dir: Directory of the embedded database; :func:`default_chroma_dir` when None.
        chroma_url: ``http(s)://host:port`` of a Chroma server; wins over ``chroma_dir``.
    """
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if chroma_url:
        url = urlparse(chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"--chroma-url must look like http://host:8000, got {chroma_url!r}")
        return chromadb.HttpClient(host=url.hostname, port=url.port or 8000,
                                   ssl=url.scheme == "https", settings=settings)
    path = Path(chroma_dir) if chroma_dir else default_chroma_dir()
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=settings)


def collection_sizes(client: Any) -> dict[str, int]:
    """Every collection of the database and how many passages it holds."""
    names = sorted(c if isinstance(c, str) else c.name for c in client.list_collections())
    return {name: client.get_collection(name, embedding_function=None).count() for name in names}


def check_collection_name(name: str) -> str:
    """Refuse a name Chroma would refuse, without Chroma (and before any model loads).

    Chroma 1.x checks names in its Rust core, with no Python function to call; its rule is
    the one here: 3-512 characters of ``[A-Za-z0-9._-]``, first and last alphanumeric, no
    ``..``, not an IPv4 address (``tests/test_cli_arguments.py`` compares both).

    Returns:
        ``name`` unchanged.

    Raises:
        ValueError: The name breaks the rule; the message names it and states the rule.
    """
    import ipaddress

    problem = None
    if not _NAME_PATTERN.match(name):
        problem = f"use {_NAME_RULE}"
    elif ".." in name:
        problem = f"it contains '..' (use {_NAME_RULE})"
    else:
        try:
            ipaddress.IPv4Address(name)
            problem = f"it is an IPv4 address (use {_NAME_RULE})"
        except ValueError:
            pass
    if problem:
        raise ValueError(f"collection name {name!r} is not valid: {problem}")
    return name


def _recorded(client: Any, name: str, key: str) -> str | None:
    existing = {c if isinstance(c, str) else c.name for c in client.list_collections()}
    if name not in existing:
        return None
    value = (client.get_collection(name, embedding_function=None).metadata or {}).get(key)
    return str(value) if value is not None else None


def recorded_embedding_model(client: Any, name: str) -> str | None:
    """The embedding model a collection was built with (None if it does not exist)."""
    return _recorded(client, name, _MODEL_KEY)


def recorded_reranker_model(client: Any, name: str) -> str | None:
    """The reranker recorded with a collection (None if it has none or does not exist)."""
    return _recorded(client, name, _RERANKER_KEY)


@dataclass(frozen=True)
class Hit:
    """A stored passage found by a vector query."""

    id: str
    text: str
    cosine: float
    metadata: dict[str, Any] = field(default_factory=dict)


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class VectorStore:
    """One Chroma collection holding vectors from one embedding model.

    Args:
        client: A Chroma client (see :func:`open_client`).
        name: Collection name: 3-512 characters from ``[A-Za-z0-9._-]``.
        embedding_model: The model the vectors come from, recorded with the collection.
        embedding_size: Length of the vectors.
        create: Create the collection when missing; when False a missing one is an error.

    Raises:
        ValueError: Bad name, a missing collection with ``create=False``, or a collection
            built with vectors of another size or another distance.
    """

    def __init__(self, client: Any, name: str, embedding_model: str, embedding_size: int,
                 *, create: bool = True):
        check_collection_name(name)
        existing = {c if isinstance(c, str) else c.name for c in client.list_collections()}
        if name not in existing and not create:
            known = ", ".join(sorted(existing)) or "none yet"
            raise ValueError(f"collection {name!r} does not exist (collections: {known}); "
                             f"create it with `qwen3-rag index PATH --collection {name}`")
        self.name = name
        self._collection = client.get_or_create_collection(
            name,
            embedding_function=None,  # vectors always come from Qwen3, never Chroma's default
            configuration={"hnsw": {"space": "cosine"}},
            metadata={_MODEL_KEY: embedding_model, _SIZE_KEY: embedding_size},
        )
        space = ((getattr(self._collection, "configuration", None) or {}).get("hnsw") or {}) \
            .get("space", "cosine")
        if space != "cosine":
            # Scores are 1 - distance, which is the cosine only in cosine space.
            raise ValueError(f"collection {name!r} was created by another tool with {space!r} "
                             "distance; qwen3-rag needs cosine: use another --collection")
        recorded = self._collection.metadata or {}
        self.embedding_model = str(recorded.get(_MODEL_KEY, embedding_model))
        size = int(recorded.get(_SIZE_KEY, embedding_size))
        if size != embedding_size:
            raise ValueError(
                f"collection {name!r} holds {size}-dimensional vectors from "
                f"{self.embedding_model!r}, but the embedding model gives {embedding_size}; "
                f"use --embedding-model {self.embedding_model} or another --collection")

    @classmethod
    def existing(cls, client: Any, name: str) -> VectorStore:
        """Open a collection qwen3-rag created, with the model and size recorded in it.

        Raises:
            ValueError: The collection is missing, or was not made by ``qwen3-rag index``.
        """
        check_collection_name(name)
        try:
            recorded = client.get_collection(name, embedding_function=None).metadata or {}
        except Exception as exc:  # chromadb raises its own NotFoundError (a ValueError in 0.5)
            raise ValueError(f"collection {name!r} does not exist ({exc})") from exc
        if _MODEL_KEY not in recorded or _SIZE_KEY not in recorded:
            raise ValueError(f"collection {name!r} was not made by `qwen3-rag index`: it records "
                             "no embedding model")
        return cls(client, name, str(recorded[_MODEL_KEY]), int(recorded[_SIZE_KEY]),
                   create=False)

    @property
    def collection(self) -> Any:
        """The Chroma collection itself (its id and metadata identify it to a lexical index)."""
        return self._collection

    def count(self) -> int:
        """Number of passages stored."""
        return self._collection.count()

    @property
    def reranker_model(self) -> str | None:
        """The reranker recorded with the collection, if any (see :meth:`record_reranker`)."""
        value = (self._collection.metadata or {}).get(_RERANKER_KEY)
        return str(value) if value is not None else None

    def record_reranker(self, model: str) -> None:
        """Record the reranker that goes with these vectors, for ``search`` to use by default.

        The reranker does not change the vectors, so a new one simply replaces the old.
        """
        recorded = dict(self._collection.metadata or {})
        if recorded.get(_RERANKER_KEY) != model:
            self._collection.modify(metadata={**recorded, _RERANKER_KEY: model})

    def require_settings(self, settings: dict[str, str | int]) -> None:
        """Refuse to add vectors made differently from those stored; record the settings.

        Args:
            settings: What, besides the vector size, decides the vectors: ``model`` and
                e.g. ``max_length`` or ``document_instruction``.

        Raises:
            ValueError: The collection was built with another value of one of them; the
                message names both.
        """
        recorded = dict(self._collection.metadata or {})
        wanted = {f"{_SETTING_PREFIX}{name}": value for name, value in settings.items()
                  if name != "model"}
        mismatches = [(name, recorded[f"{_SETTING_PREFIX}{name}"], value)
                      for name, value in settings.items() if name != "model"
                      and recorded.get(f"{_SETTING_PREFIX}{name}", value) != value]
        model = settings.get("model")
        if model is not None and self.embedding_model != model:
            mismatches.insert(0, ("model", self.embedding_model, model))
        if mismatches:
            built = ", ".join(f"{name}={old!r}" for name, old, _ in mismatches)
            now = ", ".join(f"{name}={new!r}" for name, _, new in mismatches)
            raise ValueError(f"collection {self.name!r} was built with {built}; this run has "
                             f"{now}: vectors of both would not compare. Use the same "
                             f"settings, or another --collection")
        if any(key not in recorded for key in wanted):
            self._collection.modify(metadata={**recorded, **wanted})

    def stored_hashes(self, ids: Sequence[str]) -> dict[str, str | None]:
        """The stored ids among ``ids``, each with its ``content_hash`` (None if it has none)."""
        found = self._collection.get(ids=list(dict.fromkeys(ids)), include=["metadatas"])
        metadatas = found["metadatas"] or [None] * len(found["ids"])
        return {passage_id: (meta or {}).get(HASH_KEY)
                for passage_id, meta in zip(found["ids"], metadatas, strict=True)}

    def upsert(self, ids: Sequence[str], texts: Sequence[str],
               metadatas: Sequence[dict[str, Any]], vectors: np.ndarray) -> None:
        """Store passages with their vectors, replacing any stored under the same ids.

        One Chroma call: an embedded database stores all of it or, killed, none of it.
        """
        self._collection.upsert(
            ids=list(ids), embeddings=np.asarray(vectors, dtype=np.float32).tolist(),
            documents=list(texts), metadatas=[dict(meta) or None for meta in metadatas])

    def missing(self, ids: Sequence[str]) -> set[str]:
        """The ids among ``ids`` that are not stored yet."""
        wanted = list(dict.fromkeys(ids))
        stored: set[str] = set()
        for batch in _batches(wanted, 1000):
            stored.update(self._collection.get(ids=list(batch), include=[])["ids"])
        return set(wanted) - stored

    def add(self, ids: Sequence[str], texts: Sequence[str],
            metadatas: Sequence[dict[str, Any]],
            embed: Callable[[list[str]], np.ndarray],
            on_progress: Callable[[int], None] | None = None) -> int:
        """Embed and store the passages not stored yet.

        Args:
            ids: One id per passage (see :func:`content_id`); repeated ids are stored once.
            texts: The passages.
            metadatas: One metadata dict per passage (copied, never changed).
            embed: Turns a list of texts into an ``(n, d)`` array (``embed_documents``).
            on_progress: Called with the number of passages handled after each batch.

        Returns:
            How many passages were new.
        """
        if not len(ids) == len(texts) == len(metadatas):
            raise ValueError("ids, texts and metadatas must have the same length")
        missing = self.missing(ids)
        new: dict[str, int] = {}
        for position, passage_id in enumerate(ids):
            if passage_id in missing and passage_id not in new:
                new[passage_id] = position
        if on_progress is not None and len(ids) > len(new):
            on_progress(len(ids) - len(new))
        for batch in _batches(list(new.items()), _BATCH):
            batch_texts = [texts[position] for _, position in batch]
            vectors = embed(batch_texts)
            self._collection.upsert(
                ids=[passage_id for passage_id, _ in batch],
                embeddings=np.asarray(vectors, dtype=np.float32).tolist(),
                documents=batch_texts,
                metadatas=[dict(metadatas[position]) or None for _, position in batch],
            )
            if on_progress is not None:
                on_progress(len(batch))
        return len(new)

    def prune(self, source: str, keep: Iterable[str]) -> int:
        """Delete the passages of ``source`` whose ids are not in ``keep`` (the file changed).

        Returns:
            How many passages were deleted.
        """
        keep = set(keep)
        stale: list[str] = []
        # Paged, so a source of a million passages never comes back in one answer.
        offset = 0
        while True:
            page = self._collection.get(where={"source": source}, include=[],
                                        limit=_PAGE, offset=offset)["ids"]
            stale.extend(passage_id for passage_id in page if passage_id not in keep)
            if len(page) < _PAGE:
                break
            offset += _PAGE
        for batch in _batches(stale, _PAGE):
            self._collection.delete(ids=list(batch))
        return len(stale)

    def query(self, vector: np.ndarray, k: int) -> list[Hit]:
        """The ``k`` stored passages closest to ``vector``, closest first."""
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        found = self._collection.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32).tolist()],
            n_results=k, include=["documents", "distances", "metadatas"],
        )
        metadatas = found["metadatas"][0] if found["metadatas"] else [None] * len(found["ids"][0])
        return [
            Hit(id=passage_id, text=text, cosine=1.0 - float(distance), metadata=dict(meta or {}))
            for passage_id, text, distance, meta in zip(
                found["ids"][0], found["documents"][0], found["distances"][0], metadatas,
                strict=True,
            )
        ]
