"""Retrieval test sets: passages, queries and relevance judgements, read and checked.

Two layouts are read:

* BEIR: a directory with ``corpus.jsonl`` (``_id``, ``text``, optional ``title``),
  ``queries.jsonl`` (``_id``, ``text``) and ``qrels/<split>.tsv`` (``query-id``, ``corpus-id``,
  ``score``, with a header line).
* Written by hand: a corpus file (``id``, ``text``, optional ``title``) and a queries file
  (``query``, ``relevant``: the ids of the passages that answer it, optional ``id``), each
  JSONL or CSV. In CSV, ``relevant`` holds the ids separated by ``;``.

Every problem is a :class:`TestSetError` naming the file, the line and the field.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = [
    "SHIPPED_TEST_SET_NAME",
    "TestSet",
    "TestSetError",
    "load_beir",
    "load_hand_written",
    "load_shipped",
    "load_test_set",
]

#: The name of the bilingual test set shipped in ``qwen3_rag/evaluation/data``.
SHIPPED_TEST_SET_NAME = "qwen3-rag-sample"
#: Separator of passage ids in the ``relevant`` column of a hand-written CSV file.
CSV_ID_SEPARATOR = ";"
_SUFFIXES = (".jsonl", ".csv")
_ID_FIELDS = frozenset({"_id", "id"})


class TestSetError(ValueError):
    """A test set file that cannot be used; the message names the file, line and field."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, path: str | Path, line: int | None, field: str | None, problem: str):
        where = f"{path}:{line}" if line is not None else str(path)
        what = f"field {field!r}: " if field else ""
        super().__init__(f"{where}: {what}{problem}")
        self.path, self.line, self.field = str(path), line, field


@dataclass(frozen=True)
class TestSet:
    """Passages, queries and which passages answer which query.

    Attributes:
        name: A short name, used for collection and output names.
        passages: Passage id to the text that is embedded and reranked (title, blank line,
            text).
        queries: Query id to query text, only queries with at least one relevant passage.
        qrels: Query id to ``{passage id: relevance grade}``; grades above 0 are relevant.
    """

    __test__ = False  # not a pytest test class, despite the name

    name: str
    passages: Mapping[str, str]
    queries: Mapping[str, str]
    qrels: Mapping[str, Mapping[str, int]]

    def __post_init__(self):
        # Read-only views, so a caller's edits can never change a set already evaluated.
        object.__setattr__(self, "passages", MappingProxyType(dict(self.passages)))
        object.__setattr__(self, "queries", MappingProxyType(dict(self.queries)))
        object.__setattr__(self, "qrels", MappingProxyType(
            {query: MappingProxyType(dict(grades)) for query, grades in self.qrels.items()}))
        missing = sorted(set(self.queries) ^ set(self.qrels))
        if missing:
            raise ValueError(f"queries and qrels must name the same query ids; differing: "
                             f"{', '.join(missing[:5])}")
        if not self.queries:
            raise ValueError(f"test set {self.name!r} has no query with a relevant passage")


def _passage_text(title: str, text: str) -> str:
    # The title, when there is one, is read with the passage, as BEIR evaluations and
    # `qwen3-rag index` do, so a collection built by either holds the same texts.
    return f"{title}\n\n{text}" if title.strip() else text


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) of each non-blank record of a JSONL or CSV file."""
    if path.suffix.lower() not in _SUFFIXES:
        raise TestSetError(path, None, None,
                           f"unsupported file type; use {' or '.join(_SUFFIXES)}")
    try:
        content = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise TestSetError(path, None, None, "file not found") from None
    except UnicodeDecodeError as exc:
        raise TestSetError(path, None, None, f"not UTF-8 text ({exc.reason})") from None
    if path.suffix.lower() == ".jsonl":
        for number, line in enumerate(content.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TestSetError(path, number, None, f"not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise TestSetError(path, number, None, "each line must be a JSON object")
            yield number, record
        return
    reader = csv.DictReader(content.splitlines())
    for record in reader:
        if any((value or "").strip() for value in record.values() if isinstance(value, str)):
            yield reader.line_num, record


def _text_field(path: Path, line: int, record: dict[str, Any], names: tuple[str, ...], *,
                required: bool = True) -> str:
    """The first of ``names`` present in ``record``, a non-empty string when required."""
    name = next((n for n in names if n in record and record[n] is not None), None)
    if name is None:
        if not required:
            return ""
        raise TestSetError(path, line, names[0], f"missing (fields present: "
                                                 f"{', '.join(map(str, record)) or 'none'})")
    value = record[name]
    is_id = name in _ID_FIELDS
    if is_id and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # numeric ids, as some JSON writers make them
    if not isinstance(value, str):
        raise TestSetError(path, line, name, f"must be a string, got {type(value).__name__}")
    if required and not value.strip():
        raise TestSetError(path, line, name, "is empty")
    return value.strip() if is_id else value


def _read_corpus(path: Path) -> dict[str, str]:
    passages: dict[str, str] = {}
    for line, record in _rows(path):
        passage_id = _text_field(path, line, record, ("_id", "id"))
        if passage_id in passages:
            raise TestSetError(path, line, "_id" if "_id" in record else "id",
                               f"passage id {passage_id!r} appears twice")
        title = _text_field(path, line, record, ("title",), required=False)
        passages[passage_id] = _passage_text(title, _text_field(path, line, record, ("text",)))
    if not passages:
        raise TestSetError(path, None, None, "no passages")
    return passages


def _check_passage_id(path: Path, line: int, field: str, passage_id: str,
                      passages: Mapping[str, str]) -> None:
    if passage_id not in passages:
        raise TestSetError(path, line, field,
                           f"passage id {passage_id!r} is not in the corpus "
                           f"({len(passages)} passages, e.g. {', '.join(list(passages)[:3])})")


def load_beir(directory: str | Path, split: str = "test") -> TestSet:
    """Read a BEIR directory: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``.

    Queries without a relevant passage in the qrels are left out, as BEIR does.

    Raises:
        TestSetError: A file is missing or malformed, or names an unknown id.
    """
    root = Path(directory).expanduser()
    qrels_path = root / "qrels" / f"{split}.tsv"
    for needed in (root / "corpus.jsonl", root / "queries.jsonl", qrels_path):
        if not needed.is_file():
            splits = sorted(p.stem for p in (root / "qrels").glob("*.tsv"))
            hint = f" (qrels splits there: {', '.join(splits)})" if splits else ""
            raise TestSetError(needed, None, None, f"not found; a BEIR directory has "
                               f"corpus.jsonl, queries.jsonl and qrels/{split}.tsv{hint}")
    passages = _read_corpus(root / "corpus.jsonl")
    all_queries = {}
    queries_path = root / "queries.jsonl"
    for line, record in _rows(queries_path):
        query_id = _text_field(queries_path, line, record, ("_id", "id"))
        all_queries[query_id] = (line, _text_field(queries_path, line, record, ("text",)))
    qrels: dict[str, dict[str, int]] = {}
    lines = qrels_path.read_text(encoding="utf-8-sig").splitlines()
    fields = ("query-id", "corpus-id", "score")
    for number, raw in enumerate(lines, 1):
        if not raw.strip() or (number == 1 and raw.split("\t")[0].strip() == "query-id"):
            continue
        cells = [cell.strip() for cell in raw.split("\t")]
        if len(cells) != 3:
            raise TestSetError(qrels_path, number, None, f"expected 3 tab-separated fields "
                               f"({', '.join(fields)}), got {len(cells)}")
        query_id, passage_id, grade_text = cells
        if query_id not in all_queries:
            raise TestSetError(qrels_path, number, "query-id",
                               f"query id {query_id!r} is not in {queries_path.name}")
        _check_passage_id(qrels_path, number, "corpus-id", passage_id, passages)
        try:
            grade = int(float(grade_text))
        except ValueError:
            raise TestSetError(qrels_path, number, "score",
                               f"not a number: {grade_text!r}") from None
        qrels.setdefault(query_id, {})[passage_id] = grade
    judged = {q: grades for q, grades in qrels.items() if any(g > 0 for g in grades.values())}
    if not judged:
        raise TestSetError(qrels_path, None, None, "no query has a relevant passage (score > 0)")
    return TestSet(root.resolve().name, passages,
                   {q: all_queries[q][1] for q in judged}, judged)


def _relevant_ids(path: Path, line: int, record: dict[str, Any]) -> dict[str, int]:
    if "relevant" not in record or record["relevant"] is None:
        raise TestSetError(path, line, "relevant", "missing: the ids of the passages that "
                                                   "answer the query")
    value = record["relevant"]
    if isinstance(value, str):
        value = [part.strip() for part in value.split(CSV_ID_SEPARATOR) if part.strip()]
    if isinstance(value, dict):
        grades = {str(k): v for k, v in value.items()}
    elif isinstance(value, list):
        grades = {str(v).strip(): 1 for v in value}
    else:
        raise TestSetError(path, line, "relevant", "must be a list of passage ids (CSV: ids "
                           f"separated by {CSV_ID_SEPARATOR!r}) or an object id -> grade")
    if not grades or not any(isinstance(g, int) and g > 0 for g in grades.values()):
        raise TestSetError(path, line, "relevant", "names no relevant passage")
    for grade in grades.values():
        if not isinstance(grade, int) or isinstance(grade, bool):
            raise TestSetError(path, line, "relevant", f"grades must be whole numbers, "
                                                       f"got {grade!r}")
    return grades


def load_hand_written(corpus: str | Path, queries: str | Path, name: str | None = None) -> TestSet:
    """Read a corpus file and a queries file written by hand (JSONL or CSV each).

    Args:
        corpus: Records with ``id`` (or ``_id``), ``text`` and optionally ``title``.
        queries: Records with ``query``, ``relevant`` and optionally ``id`` (default
            ``q<line>``).
        name: The test set's name; the corpus file's stem when None.

    Raises:
        TestSetError: A file is missing or malformed, or names an unknown id.
    """
    corpus_path, queries_path = Path(corpus).expanduser(), Path(queries).expanduser()
    passages = _read_corpus(corpus_path)
    texts: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for line, record in _rows(queries_path):
        query_id = _text_field(queries_path, line, record, ("id",), required=False).strip() \
            or f"q{line}"
        if query_id in texts:
            raise TestSetError(queries_path, line, "id", f"query id {query_id!r} appears twice")
        texts[query_id] = _text_field(queries_path, line, record, ("query",))
        qrels[query_id] = _relevant_ids(queries_path, line, record)
        for passage_id in qrels[query_id]:
            _check_passage_id(queries_path, line, "relevant", passage_id, passages)
    if not texts:
        raise TestSetError(queries_path, None, None, "no queries")
    return TestSet(name or corpus_path.stem, passages, texts, qrels)


def load_shipped() -> TestSet:
    """The small bilingual test set shipped with qwen3-rag (BEIR layout, ``data/``)."""
    with resources.as_file(resources.files("qwen3_rag.evaluation").joinpath("data")) as directory:
        loaded = load_beir(directory)
    return TestSet(SHIPPED_TEST_SET_NAME, loaded.passages, loaded.queries, loaded.qrels)


def load_test_set(path: str | Path | None = None, *, corpus: str | Path | None = None,
                  queries: str | Path | None = None, split: str = "test") -> TestSet:
    """A BEIR directory, hand-written corpus and queries files, or (nothing given) the shipped set.

    Raises:
        TestSetError: A file is missing or malformed, or names an unknown id.
        ValueError: A BEIR directory and hand-written files given together, or only one of
            ``corpus`` and ``queries``.
    """
    if path is not None and (corpus is not None or queries is not None):
        raise ValueError("give a BEIR directory or --corpus and --queries, not both")
    if (corpus is None) != (queries is None):
        raise ValueError("hand-written test sets need both --corpus and --queries")
    if corpus is not None and queries is not None:
        return load_hand_written(corpus, queries)
    if path is not None:
        if not Path(path).expanduser().is_dir():
            raise TestSetError(path, None, None, "not a directory; a BEIR directory has "
                               "corpus.jsonl, queries.jsonl and qrels/test.tsv (hand-written "
                               "files: --corpus FILE --queries FILE)")
        return load_beir(path, split)
    return load_shipped()
