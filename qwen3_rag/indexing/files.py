"""Find the corpus files among the paths given to ``qwen3-rag index``."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

__all__ = ["SUFFIXES", "find_files"]

#: The formats :mod:`qwen3_rag.indexing.corpus_reader` reads.
SUFFIXES = (".jsonl", ".csv", ".parquet", ".txt", ".md")


def find_files(paths: Iterable[str | Path]) -> list[Path]:
    """The supported files among ``paths``, directories searched recursively, each once.

    Raises:
        FileNotFoundError: A path does not exist.
        ValueError: A file named directly has an unsupported suffix.
    """
    found: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() in SUFFIXES:
                    found.setdefault(child, None)
        elif path.is_file():
            if path.suffix.lower() not in SUFFIXES:
                raise ValueError(f"{path}: unsupported file type (use {', '.join(SUFFIXES)})")
            found.setdefault(path, None)
        else:
            raise FileNotFoundError(f"{path} does not exist")
    return list(found)
