"""Cut records into passages, each with its Chroma id, metadata and content hash.

Ids:

* A record with its own id keeps it: one passage is stored as ``<id>``; a record cut into
  several passages is stored as ``<id>#0``, ``<id>#1``, ... (``record_id`` in the metadata
  holds ``<id>``).
* A record without one (``.txt``, ``.md``, a JSONL file without ids) gets the SHA-256 of its
  file and passage text, as before, so collections built earlier keep their ids.

Every passage's metadata has ``content_hash``, the SHA-256 of its text: a record whose text
changed under the same id is found and embedded again.

An image file is one passage: its ``content_hash`` is the SHA-256 of its bytes, its id the hash
of its path and that, ``image`` in the metadata its path; its text is the file name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qwen3_rag.indexing.corpus_reader import Record
from qwen3_rag.retrieval.store import HASH_KEY, content_id

__all__ = ["Chunker", "Passage", "text_hash"]

# Sentence ends of English and Chinese, so a chunk of Chinese prose (no spaces) still breaks
# between sentences rather than mid-word.
_SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", ". ", "! ", "? ", "; ", " ", ""]


def text_hash(text: str) -> str:
    """The SHA-256 of a passage's text, stored to notice a changed passage under the same id."""
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Passage:
    """One passage to embed and store."""

    id: str
    text: str
    source: str
    metadata: dict[str, Any] = field(default_factory=dict)
    #: The id is a hash of source and text, so a stored id is this very text.
    content_addressed: bool = False
    #: The image file this passage is (None for text).
    image: str | None = None

    @property
    def embed_input(self) -> str | Path:
        """What the embedding model is given: the text, or the image file's path."""
        return Path(self.image) if self.image is not None else self.text

    @property
    def content_hash(self) -> str:
        """The hash stored with the passage (see :func:`text_hash`)."""
        return str(self.metadata[HASH_KEY])


class Chunker:
    """Splits records into passages of at most ``chunk_size`` characters.

    Args:
        chunk_size: Longest passage in characters.
        chunk_overlap: Characters shared by neighbouring passages of one text.

    Raises:
        ValueError: Not ``0 <= chunk_overlap < chunk_size``.
    """

    def __init__(self, chunk_size: int = 1000, chunk_overlap: int = 150):
        from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

        if not 0 <= chunk_overlap < chunk_size:
            raise ValueError(f"need 0 <= --chunk-overlap < --chunk-size, got "
                             f"{chunk_overlap} and {chunk_size}")
        self._plain = RecursiveCharacterTextSplitter(
            chunk_size=chunk_size, chunk_overlap=chunk_overlap, separators=_SEPARATORS,
            keep_separator="end")
        self._markdown = RecursiveCharacterTextSplitter.from_language(
            Language.MARKDOWN, chunk_size=chunk_size, chunk_overlap=chunk_overlap)
        # Passages of a file without ids are numbered through the file, as before.
        self._source: str | None = None
        self._position = 0

    def passages(self, record: Record) -> list[Passage]:
        """The passages of one record (none for a blank text); the record is not changed."""
        if record.image_sha256 is not None:
            metadata = {**record.metadata, "source": record.source,
                        "image": record.source, HASH_KEY: record.image_sha256}
            return [Passage(content_id(record.image_sha256, record.source), record.text,
                            record.source, metadata, content_addressed=True,
                            image=record.source)]
        splitter = self._markdown if record.source.lower().endswith(".md") else self._plain
        pieces = [piece for piece in splitter.split_text(record.text) if piece.strip()]
        if record.source != self._source:
            self._source, self._position = record.source, 0
        passages = []
        for number, piece in enumerate(pieces):
            metadata = {**record.metadata, "source": record.source,
                        HASH_KEY: text_hash(piece)}
            if record.line is not None:
                metadata["line"] = record.line
            if record.id is None:
                passage_id = content_id(piece, record.source)
                metadata["chunk"] = self._position + number
            else:
                passage_id = record.id if len(pieces) == 1 else f"{record.id}#{number}"
                metadata["chunk"] = number
                metadata["record_id"] = record.id
            passages.append(Passage(passage_id, piece, record.source, metadata,
                                    content_addressed=record.id is None))
        self._position += len(pieces)
        return passages
