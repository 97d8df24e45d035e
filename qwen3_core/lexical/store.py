"""The passages of a lexical index, kept in SQLite so the index can be rebuilt at any time.

bm25s indexes are immutable once built, so the passages live here, keyed by id with their
content hash, source, text, metadata and tokens, and are written in the same batches as the
vector store. Each batch is one SQLite transaction: a process killed at any point leaves whole
batches. The BM25 index is rebuilt from this table at the end of a run (:mod:`.index`); keeping
the tokens means a rebuild re-tokenises nothing that did not change.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qwen3_core.lexical.tokenize import DEFAULT_TOKENIZER, BilingualTokenizer

__all__ = ["STORE_FILE", "PassageStore", "StoredPassage", "fingerprint"]

#: The SQLite file in a lexical index's directory.
STORE_FILE = "passages.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS passages (
    id TEXT PRIMARY KEY, source TEXT, content_hash TEXT NOT NULL, text TEXT NOT NULL,
    tokens TEXT NOT NULL, metadata TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS passages_by_source ON passages (source);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
#: Ids per SQL statement (SQLite allows 32766 parameters; stay far below).
_CHUNK = 900


def fingerprint(pairs: Iterable[tuple[str, str]]) -> tuple[int, str]:
    """Count and SHA-256 of ``(id, content hash)`` pairs, whatever their order.

    The same on the vector store and on the lexical index exactly when both hold the same
    passages: what a lexical index records to be checked against its collection.
    """
    ordered = sorted(pairs)
    digest = hashlib.sha256()
    for passage_id, content_hash in ordered:
        digest.update(f"{passage_id}\0{content_hash}\n".encode())
    return len(ordered), digest.hexdigest()


@dataclass(frozen=True)
class StoredPassage:
    """A passage as the lexical index keeps it."""

    id: str
    text: str
    content_hash: str
    metadata: dict[str, Any] = field(default_factory=dict)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class PassageStore:
    """The SQLite table of passages beside a BM25 index.

    Args:
        directory: The lexical index's directory (created when missing).
        tokenizer: Cuts texts into tokens; a store tokenised otherwise is re-tokenised on
            :meth:`retokenize`.
    """

    def __init__(self, directory: str | Path,
                 tokenizer: BilingualTokenizer = DEFAULT_TOKENIZER):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.tokenizer = tokenizer
        self._db = sqlite3.connect(self.directory / STORE_FILE, timeout=60,
                                   isolation_level=None, check_same_thread=False)
        # WAL: a reader (a search) never blocks the writer, and a kill loses no commit.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        if self.setting("tokenizer") != tokenizer.spec:
            self.retokenize()  # one tokenisation per store: a query is cut as its passages

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> PassageStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def count(self) -> int:
        """Passages stored."""
        return int(self._db.execute("SELECT count(*) FROM passages").fetchone()[0])

    def setting(self, key: str) -> str | None:
        """A value recorded with :meth:`set_setting` (None if never)."""
        row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_setting(self, key: str, value: str) -> None:
        """Record a value with the passages (the collection it mirrors, the tokenizer)."""
        self._db.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", (key, value))

    def hashes(self, ids: Sequence[str] | None = None) -> dict[str, str]:
        """Content hash of each stored id among ``ids`` (of every passage when None)."""
        if ids is None:
            return dict(self._db.execute("SELECT id, content_hash FROM passages"))
        found: dict[str, str] = {}
        for part in _chunks(list(dict.fromkeys(ids))):
            marks = ",".join("?" * len(part))
            found.update(self._db.execute(
                f"SELECT id, content_hash FROM passages WHERE id IN ({marks})", list(part)))
        return found

    def upsert(self, ids: Sequence[str], texts: Sequence[str], content_hashes: Sequence[str],
               metadatas: Sequence[dict[str, Any] | None]) -> None:
        """Store passages, replacing any under the same ids: one transaction, all or nothing."""
        if not len(ids) == len(texts) == len(content_hashes) == len(metadatas):
            raise ValueError("ids, texts, content_hashes and metadatas must have the same length")
        rows = [(pid, str((meta or {}).get("source", "")) or None, digest, text,
                 " ".join(self.tokenizer(text)), json.dumps(meta or {}, ensure_ascii=False))
                for pid, text, digest, meta in zip(ids, texts, content_hashes, metadatas,
                                                   strict=True)]
        with self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO passages VALUES (?, ?, ?, ?, ?, ?)",
                                 rows)

    def delete(self, ids: Iterable[str]) -> int:
        """Delete passages by id; returns how many were stored."""
        ids = list(ids)
        removed = 0
        with self._transaction():
            for part in _chunks(ids):
                marks = ",".join("?" * len(part))
                removed += self._db.execute(f"DELETE FROM passages WHERE id IN ({marks})",
                                            list(part)).rowcount
        return removed

    def prune(self, source: str, keep: Iterable[str]) -> int:
        """Delete the passages of ``source`` whose ids are not in ``keep``; returns how many."""
        keep = set(keep)
        stale = [pid for (pid,) in self._db.execute(
            "SELECT id FROM passages WHERE source = ?", (source,)) if pid not in keep]
        return self.delete(stale)

    def passages(self, ids: Sequence[str]) -> dict[str, StoredPassage]:
        """The stored passages among ``ids``, by id."""
        found: dict[str, StoredPassage] = {}
        for part in _chunks(list(dict.fromkeys(ids))):
            marks = ",".join("?" * len(part))
            for pid, text, digest, meta in self._db.execute(
                    f"SELECT id, text, content_hash, metadata FROM passages WHERE id IN ({marks})",
                    list(part)):
                found[pid] = StoredPassage(pid, text, digest, json.loads(meta))
        return found

    def tokens(self) -> Iterator[tuple[str, str, list[str]]]:
        """Every passage's id, content hash and tokens, in id order."""
        for pid, digest, tokens in self._db.execute(
                "SELECT id, content_hash, tokens FROM passages ORDER BY id"):
            yield pid, digest, tokens.split()

    def retokenize(self) -> bool:
        """Tokenise every passage again if it was tokenised otherwise; True if it was."""
        if self.setting("tokenizer") == self.tokenizer.spec:
            return False
        rows = list(self._db.execute("SELECT id, text FROM passages"))
        with self._transaction():
            self._db.executemany("UPDATE passages SET tokens = ? WHERE id = ?",
                                 [(" ".join(self.tokenizer(text)), pid) for pid, text in rows])
            self.set_setting("tokenizer", self.tokenizer.spec)
        return True

    def fingerprint(self) -> tuple[int, str]:
        """:func:`fingerprint` of the stored passages."""
        return fingerprint(self._db.execute("SELECT id, content_hash FROM passages"))

    def _transaction(self):
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *rest: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
