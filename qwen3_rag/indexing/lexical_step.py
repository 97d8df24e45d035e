"""The lexical (BM25) index's part in ``qwen3-rag index``: mirror every write, rebuild at the end.

Kept out of the command so the command gains three lines: :func:`add_arguments`,
:meth:`LexicalStep.start` (before the first write) and :meth:`LexicalStep.finish` (after the
last). See :mod:`qwen3_rag.retrieval.lexical` for why a killed run loses nothing.
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from typing import Any

from qwen3_rag.retrieval.lexical import (
    MirroredStore,
    add_lexical_argument,
    begin_lexical,
    finish_lexical,
    lexical_available,
    lexical_dir,
)
from qwen3_rag.retrieval.store import VectorStore

__all__ = ["LexicalStep", "add_arguments"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--lexical-dir`` and ``--no-lexical`` (in a group of their own)."""
    group = parser.add_argument_group("lexical index (BM25, extra `hybrid`)")
    add_lexical_argument(group)
    group.add_argument("--no-lexical", action="store_true",
                       help="keep no BM25 index beside the collection (search is then dense)")


class LexicalStep:
    """The lexical index of one indexing run.

    Args:
        args: The command's options (``--no-lexical``, ``--lexical-dir``, store options).
        say: Prints a one-line note for the user (on stderr).
    """

    def __init__(self, args: argparse.Namespace, say: Any):
        self.args, self.say = args, say
        self.passages: Any = None
        self.store: VectorStore | None = None

    def start(self, store: VectorStore) -> VectorStore:
        """The store the run writes to: mirrored into the lexical index, or ``store`` alone."""
        if getattr(self.args, "no_lexical", False):
            return store
        missing = lexical_available()
        if missing:
            self.say(f"{missing}: search will be dense only.")
            return store
        directory = lexical_dir(self.args, store.name)
        try:
            self.passages, note = begin_lexical(store, directory)
        except sqlite3.Error as exc:  # e.g. a file that is no SQLite database
            raise ValueError(f"the lexical index in {directory} cannot be opened ({exc}); "
                             f"give another --lexical-dir, or delete it and index again "
                             f"(it is rebuilt from the collection)") from exc
        if note:
            self.say(note)
        self.store = store
        return MirroredStore(store, self.passages)

    def finish(self) -> str | None:
        """Reconcile with the collection and rebuild BM25; the summary line (None if off)."""
        if self.passages is None or self.store is None:
            return None
        started = time.monotonic()
        try:
            manifest, repaired = finish_lexical(self.store, self.passages)
        except sqlite3.Error as exc:
            raise ValueError(f"the lexical index in {self.passages_dir()} could not be "
                             f"written ({exc}); index again") from exc
        finally:
            self.passages.close()
            self.passages = None
        fixed = f", {repaired:,} passages brought in step from Chroma" if repaired else ""
        return (f"Lexical index (BM25) rebuilt: {manifest.count:,} passages in "
                f"{time.monotonic() - started:,.1f} s{fixed} ({self.passages_dir()}).")

    def passages_dir(self) -> str:
        """Where the lexical index is."""
        assert self.store is not None
        return str(lexical_dir(self.args, self.store.name))

    def close(self) -> None:
        """Close the passage store (a failed run); the lexical index stays marked stale."""
        if self.passages is not None:
            self.passages.close()
            self.passages = None
