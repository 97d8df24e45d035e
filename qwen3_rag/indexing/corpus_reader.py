"""Stream the records of a corpus, one at a time, checking each as it is read.

Formats, chosen by suffix:

* ``.jsonl``: one JSON object a line. The text is the first string field of ``text``,
  ``content`` or ``page_content``; the record's id is ``id`` or ``_id`` (a BEIR
  ``corpus.jsonl``); a non-empty string ``title`` is put before the text, a blank line
  between, as BEIR evaluations do. Other scalar fields, and the scalar fields of a nested
  ``metadata`` object, become metadata. The first record decides whether the file has ids:
  then every record needs one.
* ``.csv``: a header row and the same column names; the ``id``/``_id`` column, when present,
  gives every row its id.
* ``.parquet``: the same column names, read in row groups (needs pyarrow).
* ``.txt`` and ``.md``: the whole file is one record without an id.
* ``.png``, ``.jpg``, ``.jpeg``, ``.webp``: the whole file is one image record (for a
  multimodal collection): its text is the file name, ``image_sha256`` the hash of its bytes.
  Whether it decodes is found out when it is embedded.

Nothing is held but the record being read and the ids seen so far (to refuse duplicates). A
record longer than :data:`MAX_RECORD_BYTES` is refused (a bad record: ``--skip-bad`` goes on
without it); a blank one is always set aside and counted, never indexed.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ID_FIELDS",
    "MAX_RECORD_BYTES",
    "TEXT_FIELDS",
    "BlankRecord",
    "CorpusError",
    "CorpusReader",
    "Record",
    "count_records",
    "read_file",
]

#: Fields that may hold a record's id, in order of preference.
ID_FIELDS = ("id", "_id")
#: Fields that may hold a record's text, in order of preference.
TEXT_FIELDS = ("text", "content", "page_content")
_TITLE = "title"
_NESTED_METADATA = "metadata"
_SCALARS = (str, int, float, bool)
#: Rows per Parquet read: bounded memory whatever the row group size.
_PARQUET_ROWS = 1024
#: Longest record: a whole .txt/.md file or one JSONL line. Its passages are stored a batch at
#: a time whatever its size; this bounds the memory one record takes while it is cut.
MAX_RECORD_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class Record:
    """One record of the corpus, before it is cut into passages.

    Attributes:
        text: What gets embedded.
        source: Absolute path of its file.
        line: Line (JSONL, CSV) or row (Parquet) number from 1; None for a whole file.
        id: The record's own id, or None where the file has none (content-derived ids).
        metadata: Scalar fields to store beside the vectors.
        id_field: The field the id came from (``id`` or ``_id``), for messages.
        image_sha256: For an image file, the SHA-256 of its bytes (None for text).
    """

    text: str
    source: str
    line: int | None = None
    id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    id_field: str | None = field(default=None, compare=False)
    image_sha256: str | None = None


class CorpusError(ValueError):
    """A record that cannot be indexed, with the file, line and field it is about."""

    def __init__(self, path: str | Path, line: int | None, problem: str, *,
                 field_name: str | None = None, unit: str = "line"):
        self.path = str(path)
        self.line = line
        self.field_name = field_name
        self.problem = problem
        where = self.path if line is None else (
            f"{self.path}:{line}" if unit == "line" else f"{self.path}, row {line}")
        about = f"field {field_name!r}: " if field_name else ""
        super().__init__(f"{where}: {about}{problem}")


class BlankRecord(CorpusError):
    """A record whose text is empty or white space only: nothing to index, but counted."""


def _too_long(path: Path, line: int | None, size: int, unit: str = "line") -> CorpusError:
    return CorpusError(path, line, f"the record has {size:,} bytes; records of at most "
                       f"{MAX_RECORD_BYTES:,} bytes are indexed (cut it into several files or "
                       f"records)", unit=unit)


def _text_of(fields: dict[str, Any], path: Path, line: int, unit: str) -> str:
    name = next((f for f in TEXT_FIELDS if fields.get(f) is not None), None)
    if name is None:
        raise CorpusError(path, line, f"missing (a record needs one of {', '.join(TEXT_FIELDS)})",
                          field_name=TEXT_FIELDS[0], unit=unit)
    text = fields[name]
    if not isinstance(text, str):
        raise CorpusError(path, line, f"must be a string, got {type(text).__name__} "
                          f"{_shorten(text)}", field_name=name, unit=unit)
    title = fields.get(_TITLE)
    return f"{title}\n\n{text}" if isinstance(title, str) and title.strip() else text


def _id_of(fields: dict[str, Any], path: Path, line: int, unit: str,
           id_field: str) -> str:
    value = fields.get(id_field)
    # bool is an int subclass, and True as an id is a mistake, not an id.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is None or value == "":
        raise CorpusError(path, line, "missing (this file's records have ids: every record "
                          "needs one)", field_name=id_field, unit=unit)
    if not isinstance(value, str):
        raise CorpusError(path, line, f"must be a string or an integer, got "
                          f"{type(value).__name__} {_shorten(value)}", field_name=id_field,
                          unit=unit)
    return value


def _shorten(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _metadata_of(fields: dict[str, Any], id_field: str | None) -> dict[str, Any]:
    # Chroma metadata holds scalars only; other values are left out.
    taken = {*TEXT_FIELDS, _NESTED_METADATA, *((id_field,) if id_field else ())}
    metadata = {key: value for key, value in fields.items()
                if key not in taken and isinstance(value, _SCALARS)}
    nested = fields.get(_NESTED_METADATA)
    if isinstance(nested, dict):
        metadata.update({key: value for key, value in nested.items()
                         if key not in metadata and isinstance(value, _SCALARS)})
    return metadata


def _record(fields: Any, path: Path, line: int, unit: str,
            id_field: str | None) -> Record:
    if not isinstance(fields, dict):
        raise CorpusError(path, line, f"a record must be a JSON object, got "
                          f"{type(fields).__name__}", unit=unit)
    text = _text_of(fields, path, line, unit)
    record_id = _id_of(fields, path, line, unit, id_field) if id_field else None
    return Record(text, str(path.resolve()), line, record_id, _metadata_of(fields, id_field),
                  id_field)


def _id_field(names: Iterable[str]) -> str | None:
    present = set(names)
    return next((name for name in ID_FIELDS if name in present), None)


def _jsonl(path: Path) -> Iterator[Record | CorpusError]:
    id_field: str | None = None
    decided = False
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            if len(line) > MAX_RECORD_BYTES // 4 and len(line.encode()) > MAX_RECORD_BYTES:
                yield _too_long(path, number, len(line.encode()))
                continue
            try:
                fields = json.loads(line)
            except json.JSONDecodeError as exc:
                yield CorpusError(path, number, f"not valid JSON ({exc.msg}, column {exc.colno})")
                continue
            if not decided and isinstance(fields, dict):
                id_field, decided = _id_field(fields), True
            elif isinstance(fields, dict) and id_field is None and _id_field(fields):
                yield CorpusError(path, number, "this record has an id but the file's first "
                                  "record has none: give every record an id, or none",
                                  field_name=_id_field(fields))
                continue
            try:
                yield _record(fields, path, number, "line", id_field)
            except CorpusError as exc:
                yield exc


def _csv(path: Path) -> Iterator[Record | CorpusError]:
    # Long passages are normal in a corpus; the csv module's 128 KiB field default is not.
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        id_field = _id_field(reader.fieldnames or [])
        for row in reader:
            try:
                yield _record(row, path, reader.line_num, "line", id_field)
            except CorpusError as exc:
                yield exc


def _parquet(path: Path) -> Iterator[Record | CorpusError]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise CorpusError(path, None, "reading Parquet needs pyarrow: pip install pyarrow "
                          "(or qwen3-rag[ray])") from exc
    try:
        table = pq.ParquetFile(path)
    except Exception as exc:
        raise CorpusError(path, None, f"not a readable Parquet file ({exc})") from exc
    id_field = _id_field(table.schema_arrow.names)
    row = 0
    for batch in table.iter_batches(batch_size=_PARQUET_ROWS):
        for fields in batch.to_pylist():
            row += 1
            try:
                yield _record(fields, path, row, "row", id_field)
            except CorpusError as exc:
                yield exc


def _whole_file(path: Path) -> Iterator[Record | CorpusError]:
    size = path.stat().st_size
    if size > MAX_RECORD_BYTES:  # refused before it is read
        yield _too_long(path, None, size)
        return
    yield Record(path.read_text(encoding="utf-8"), str(path.resolve()))


def _image_file(path: Path) -> Iterator[Record | CorpusError]:
    size = path.stat().st_size
    if size > MAX_RECORD_BYTES:
        yield _too_long(path, None, size)
        return
    if size == 0:
        yield CorpusError(path, None, "empty file: not an image")
        return
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    source = str(path.resolve())
    yield Record(path.name, source, metadata={"image": source}, image_sha256=digest.hexdigest())


_READERS = {".jsonl": _jsonl, ".csv": _csv, ".parquet": _parquet, ".txt": _whole_file,
            ".md": _whole_file, ".png": _image_file, ".jpg": _image_file,
            ".jpeg": _image_file, ".webp": _image_file}


def read_file(path: Path) -> Iterator[Record | CorpusError]:
    """The records of one file, in order, and a :class:`CorpusError` in place of each bad one.

    Raises:
        CorpusError: The file as a whole cannot be read (not UTF-8, not Parquet).
        ValueError: The suffix is not one of the supported formats.
    """
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise ValueError(f"{path}: unsupported file type (use {', '.join(_READERS)})")
    try:
        yield from reader(path)
    except UnicodeDecodeError as exc:
        raise CorpusError(path, None, f"not UTF-8 text (byte {exc.start} of a chunk: "
                          f"{exc.reason})") from exc


def count_records(path: Path) -> int:
    """How many records :func:`read_file` will give, read cheaply (for a progress total)."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        with path.open("rb") as lines:
            return sum(1 for line in lines if line.strip())
    if suffix == ".csv":
        with path.open(encoding="utf-8", errors="replace", newline="") as handle:
            return max(sum(1 for _ in csv.reader(handle)) - 1, 0)
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).metadata.num_rows
        except Exception:
            return 0  # read_file reports why
    return 1


class CorpusReader:
    """The records of several files, duplicates refused, bad ones raised or set aside.

    Args:
        files: The files, in order (see :func:`qwen3_rag.indexing.files.find_files`).
        skip_bad: Set bad records aside in :attr:`skipped` and go on, instead of raising.

    Attributes:
        skipped: The problems met with ``skip_bad``, in order.
    """

    def __init__(self, files: Iterable[Path], *, skip_bad: bool = False):
        self.files = list(files)
        self.skip_bad = skip_bad
        self.skipped: list[CorpusError] = []
        self._first_seen: dict[str, tuple[int, int | None]] = {}

    def total(self) -> int:
        """How many records the files hold (bad ones included)."""
        return sum(count_records(path) for path in self.files)

    def __iter__(self) -> Iterator[Record]:
        for position, path in enumerate(self.files):
            try:
                for item in read_file(path):
                    if isinstance(item, CorpusError):
                        self._bad(item)
                        continue
                    if not item.text.strip():
                        # Never indexed, never fatal: counted and listed with the skipped ones.
                        self.skipped.append(BlankRecord(
                            path, item.line, "empty or whitespace-only text: nothing to index",
                            unit="row" if path.suffix.lower() == ".parquet" else "line"))
                        continue
                    duplicate = self._duplicate(item, position, path)
                    if duplicate is None:
                        yield item
                    else:
                        self._bad(duplicate)
            except CorpusError as whole_file:
                self._bad(whole_file)

    def _duplicate(self, record: Record, position: int, path: Path) -> CorpusError | None:
        if record.id is None:
            return None
        first = self._first_seen.setdefault(record.id, (position, record.line))
        if first == (position, record.line):
            return None
        where = self.files[first[0]]
        first_at = f"{where}, row {first[1]}" if where.suffix.lower() == ".parquet" else \
            f"{where}:{first[1]}"
        return CorpusError(path, record.line, f"duplicate id {record.id!r} (first at "
                           f"{first_at})", field_name=record.id_field or "id",
                           unit="row" if path.suffix.lower() == ".parquet" else "line")

    def _bad(self, problem: CorpusError) -> None:
        if not self.skip_bad:
            raise problem
        self.skipped.append(problem)
