"""The lexical (BM25) index beside each Chroma collection: where it lives, how it is kept.

``qwen3-rag index`` writes each batch to the lexical index's passage store and then to Chroma
(:class:`MirroredStore`, in that order: a kill between the two leaves the lexical side ahead,
which the next run's reconciliation removes, never behind unnoticed). At the end of the run,
:func:`finish_lexical` reconciles the passage store with the collection (deletes what Chroma no
longer holds, copies from Chroma what it lacks: no embedding), rebuilds the bm25s index and
records the fingerprint on both sides. A run killed anywhere therefore leaves the old build in
place, marked out of step, and the same command again brings both to exactly the corpus.

Where: beside an embedded database, ``<chroma dir>/lexical/<collection>``; with a Chroma
server, ``--lexical-dir`` (one sub-directory per collection), by default
``<user cache dir>/lexical/<host>-<port>/<collection>``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from qwen3_rag.retrieval.store import HASH_KEY, VectorStore, cache_dir, default_chroma_dir

__all__ = [
    "LEXICAL_PACKAGES",
    "MirroredStore",
    "add_lexical_argument",
    "begin_lexical",
    "finish_lexical",
    "lexical_available",
    "lexical_dir",
]

#: What the lexical index needs: the ``hybrid`` extra.
LEXICAL_PACKAGES = ("bm25s", "Stemmer", "jieba")
_PAGE = 1000


def lexical_available() -> str | None:
    """None when the ``hybrid`` extra is installed, else a one-line reason naming the missing."""
    import importlib.util

    missing = [name for name in LEXICAL_PACKAGES if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    return (f"{', '.join(missing)} not installed (pip install 'qwen3-rag[hybrid]'), so there "
            f"is no lexical (BM25) index")


def add_lexical_argument(parser: argparse.ArgumentParser | Any) -> None:
    """Add ``--lexical-dir DIR``."""
    parser.add_argument("--lexical-dir", default=None, metavar="DIR",
                        help="directory of the lexical (BM25) indexes, one sub-directory per "
                             "collection (default: <chroma dir>/lexical, or with --chroma-url "
                             f"{cache_dir() / 'lexical'}/<host>-<port>)")


def lexical_dir(args: argparse.Namespace, collection: str) -> Path:
    """The directory of ``collection``'s lexical index, by the options."""
    explicit = getattr(args, "lexical_dir", None)
    if explicit:
        return Path(explicit).expanduser() / collection
    url = getattr(args, "chroma_url", None)
    if url:
        parsed = urlparse(url)
        server = f"{parsed.hostname}-{parsed.port or 8000}"
        return cache_dir() / "lexical" / server / collection
    base = Path(args.chroma_dir).expanduser() if getattr(args, "chroma_dir", None) \
        else default_chroma_dir()
    return base / "lexical" / collection


class MirroredStore(VectorStore):
    """The same collection as ``store``, whose every write reaches the lexical passages first.

    Reads (``stored_hashes``, ``count``) are the collection's: Chroma decides what is stored,
    as without a lexical index, so resuming embeds the same passages.
    """

    def __init__(self, store: VectorStore, passages: Any):  # noqa: D107 - no Chroma call here
        self.__dict__.update(store.__dict__)  # the same open collection, name and model
        self.store, self.passages = store, passages

    def upsert(self, ids: Sequence[str], texts: Sequence[str],
               metadatas: Sequence[dict[str, Any]], vectors: np.ndarray) -> None:
        """Store the passages in the lexical store, then with their vectors in Chroma."""
        from qwen3_core.lexical import text_hash

        hashes = [str(meta.get(HASH_KEY) or text_hash(text))
                  for text, meta in zip(texts, metadatas, strict=True)]
        self.passages.upsert(ids, texts, hashes, metadatas)
        self.store.upsert(ids, texts, metadatas, vectors)

    def prune(self, source: str, keep: Any) -> int:
        """Delete ``source``'s passages not in ``keep`` from both; Chroma's count."""
        keep = set(keep)
        removed = self.store.prune(source, keep)
        self.passages.prune(source, keep)
        return removed


def _set_marker(store: VectorStore, value: str) -> None:
    from qwen3_core.lexical import MARKER_KEY

    collection = store.collection
    metadata = dict(collection.metadata or {})
    if metadata.get(MARKER_KEY) != value:
        collection.modify(metadata={**metadata, MARKER_KEY: value})


def begin_lexical(store: VectorStore, directory: Path) -> tuple[Any, str | None]:
    """Open the passage store of ``store``'s lexical index before any write.

    Clears the collection's in-step marker first, so a run killed from here on leaves the
    lexical index marked for a full check.

    Returns:
        The passage store, and a one-line note when the directory held another collection's
        index (it is brought in step at the end, from the collection).
    """
    from qwen3_core.lexical import ForeignLexicalIndex, PassageStore, read_manifest

    note = None
    try:
        manifest = read_manifest(directory)
    except ForeignLexicalIndex as exc:
        raise ValueError(str(exc)) from exc
    collection = store.collection
    if manifest is not None and (manifest.collection != store.name
                                 or manifest.collection_id != str(collection.id)):
        note = (f"the lexical index in {directory} was built for collection "
                f"{manifest.collection!r} (id {manifest.collection_id}); rebuilding it for "
                f"{store.name!r} (id {collection.id})")
    _set_marker(store, "")
    return PassageStore(directory), note


def finish_lexical(store: VectorStore, passages: Any) -> tuple[Any, int]:
    """Bring the passage store to exactly the collection, rebuild BM25, mark both in step.

    Returns:
        The new build's manifest, and how many passages were copied from or deleted to
        match Chroma (0 after an uninterrupted run).

    Raises:
        ValueError: The two still differ after reconciling (the collection changed under
            the run: another writer); index again.
    """
    from qwen3_core.lexical import build_index, collection_hashes, fingerprint, text_hash

    collection = store.collection
    wanted = collection_hashes(collection)
    held = passages.hashes()
    extra = [pid for pid in held if pid not in wanted]
    lacking = [pid for pid, digest in wanted.items() if held.get(pid) != digest]
    passages.delete(extra)
    for start in range(0, len(lacking), _PAGE):
        page = collection.get(ids=lacking[start:start + _PAGE],
                              include=["documents", "metadatas"])
        metas = page.get("metadatas") or [None] * len(page["ids"])
        texts = [text or "" for text in page["documents"]]
        passages.upsert(page["ids"], texts,
                        [wanted.get(pid) or text_hash(text)
                         for pid, text in zip(page["ids"], texts, strict=True)],
                        [dict(meta or {}) for meta in metas])
    if passages.fingerprint() != fingerprint(wanted.items()):
        raise ValueError(f"the lexical index of collection {store.name!r} could not be brought "
                         f"in step (the collection changed during the run?); index again")
    manifest = build_index(passages, collection=store.name, collection_id=str(collection.id))
    _set_marker(store, manifest.marker)
    return manifest, len(extra) + len(lacking)
