"""Read .txt, .md and .jsonl files and cut them into passages for indexing."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["SUFFIXES", "Chunk", "chunk_files", "find_files"]

SUFFIXES = (".txt", ".md", ".jsonl")
#: Fields of a .jsonl record that may hold its text, in order of preference.
_TEXT_FIELDS = ("text", "content", "page_content")
# Sentence ends of English and Chinese, so a chunk of Chinese prose (no spaces) still breaks
# between sentences rather than mid-word.
_SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", ". ", "! ", "? ", "; ", " ", ""]


@dataclass(frozen=True)
class Chunk:
    """One passage to index, with where it came from."""

    text: str
    source: str
    metadata: dict[str, Any] = field(default_factory=dict)


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


def _records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(text, metadata) of each record of a file: the whole file, or each .jsonl line."""
    content = path.read_text(encoding="utf-8")
    if path.suffix.lower() != ".jsonl":
        yield content, {}
        return
    for number, line in enumerate(content.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
        text = next((record[f] for f in _TEXT_FIELDS if isinstance(record, dict)
                     and isinstance(record.get(f), str)), None)
        if text is None:
            raise ValueError(f"{path}:{number}: a record needs a string field "
                             f"{' or '.join(_TEXT_FIELDS)}")
        # Chroma metadata holds scalars only; other fields are left out.
        extra = {key: value for key, value in record.items()
                 if key not in _TEXT_FIELDS and isinstance(value, (str, int, float, bool))}
        yield text, {**extra, "line": number}


def chunk_files(files: Iterable[Path], chunk_size: int = 1000,
                chunk_overlap: int = 150) -> list[Chunk]:
    """Split every file into passages of at most ``chunk_size`` characters.

    Args:
        files: Files from :func:`find_files`.
        chunk_size: Longest passage in characters.
        chunk_overlap: Characters shared by neighbouring passages of one text.

    Returns:
        The passages in file order; metadata has ``source``, ``chunk`` (position in its file)
        and, for .jsonl, the record's scalar fields and ``line``.
    """
    from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

    if not 0 <= chunk_overlap < chunk_size:
        raise ValueError("need 0 <= --chunk-overlap < --chunk-size")
    plain = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap,
                                           separators=_SEPARATORS, keep_separator="end")
    markdown = RecursiveCharacterTextSplitter.from_language(
        Language.MARKDOWN, chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    chunks = []
    for path in files:
        splitter = markdown if path.suffix.lower() == ".md" else plain
        # Absolute, so re-indexing from another directory finds the same ids.
        source = str(path.resolve())
        position = 0
        for text, extra in _records(path):
            for piece in splitter.split_text(text):
                if piece.strip():
                    chunks.append(Chunk(piece, source,
                                        {**extra, "source": source, "chunk": position}))
                    position += 1
    return chunks
