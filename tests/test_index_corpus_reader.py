"""Reading a corpus as a stream: every format, and bad records named by file, line and field."""

from __future__ import annotations

import csv
import json

import pytest

from qwen3_rag.indexing.corpus_reader import CorpusError, CorpusReader, Record, count_records
from qwen3_rag.indexing.files import find_files
from qwen3_rag.indexing.passages import Chunker, text_hash
from qwen3_rag.retrieval.store import content_id


def _write_jsonl(path, rows):
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n"
                            for row in rows), encoding="utf-8")
    return path


def _read(*paths, skip_bad=False):
    reader = CorpusReader(paths, skip_bad=skip_bad)
    return list(reader), reader


def test_jsonl_records_keep_their_ids_and_scalar_fields(tmp_path):
    path = _write_jsonl(tmp_path / "c.jsonl", [
        {"id": "a", "text": "Alpha.", "lang": "en", "tags": ["x"]},
        {"id": 7, "content": "Beta.", "metadata": {"year": 2025, "deep": {"no": 1}}},
    ])
    records, _ = _read(path)
    source = str(path.resolve())
    assert records == [
        Record("Alpha.", source, 1, "a", {"lang": "en"}),
        Record("Beta.", source, 2, "7", {"year": 2025}),
    ]


def test_beir_corpus_puts_the_title_before_the_text(tmp_path):
    path = _write_jsonl(tmp_path / "corpus.jsonl", [
        {"_id": "d1", "title": "Yangtze", "text": "The longest river in Asia.", "metadata": {}},
        {"_id": "d2", "title": "", "text": "No title here."},
    ])
    records, _ = _read(path)
    assert [(r.id, r.text) for r in records] == [
        ("d1", "Yangtze\n\nThe longest river in Asia."), ("d2", "No title here.")]
    assert records[0].metadata == {"title": "Yangtze"}


def test_csv_and_parquet_read_the_same_columns(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet", reason="Parquet is read with pyarrow")
    import pyarrow as pa

    rows = [{"id": "r1", "text": "One,\nwith a newline.", "topic": "t"},
            {"id": "r2", "text": "Two.", "topic": "u"}]
    with (tmp_path / "c.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["id", "text", "topic"])
        writer.writeheader()
        writer.writerows(rows)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "c.parquet")
    for name in ("c.csv", "c.parquet"):
        records, _ = _read(tmp_path / name)
        assert [(r.id, r.text, r.metadata) for r in records] == [
            (row["id"], row["text"], {"topic": row["topic"]}) for row in rows], name
        assert count_records(tmp_path / name) == 2
    assert [r.line for r in _read(tmp_path / "c.parquet")[0]] == [1, 2]


def test_a_folder_of_text_files_gives_one_record_per_file_without_ids(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.md").write_text("# A\n\ntext", encoding="utf-8")
    (tmp_path / "sub" / "b.txt").write_text("bee", encoding="utf-8")
    (tmp_path / "notes.pdf").write_text("not read", encoding="utf-8")
    records, _ = _read(*find_files([tmp_path]))
    assert [(r.text, r.id, r.line) for r in records] == [("# A\n\ntext", None, None),
                                                         ("bee", None, None)]


@pytest.mark.parametrize("rows, line, field, problem", [
    ([{"id": "a", "text": "x"}, {"text": "no id"}], 2, "id", "missing"),
    ([{"_id": "a", "text": "x"}, {"_id": "", "text": "empty id"}], 2, "_id", "missing"),
    ([{"id": "a", "text": "x"}, {"id": "a", "text": "again"}], 2, "id", "duplicate id 'a'"),
    ([{"_id": "a", "text": "x"}, {"_id": "a", "text": "again"}], 2, "_id", "duplicate id 'a'"),
    ([{"id": "a", "text": 42}], 1, "text", "must be a string, got int 42"),
    ([{"id": "a", "text": "x"}, {"id": "b"}], 2, "text", "missing"),
    ([{"id": "a", "text": "x"}, {"id": ["b"], "text": "y"}], 2, "id", "string or an integer"),
    ([{"text": "x"}, {"id": "b", "text": "y"}], 2, "id", "first record has none"),
    ([{"id": "a", "text": "x"}, '{"id": "b", "text": '], 2, None, "not valid JSON"),
    (["[1, 2]"], 1, None, "must be a JSON object"),
])
def test_bad_records_name_the_file_line_and_field(tmp_path, rows, line, field, problem):
    path = _write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(CorpusError) as raised:
        _read(path)
    error = raised.value
    assert (error.path, error.line, error.field_name) == (str(path), line, field)
    assert problem in str(error) and str(error).startswith(f"{path}:{line}: ")


def test_duplicates_across_files_name_where_the_first_was(tmp_path):
    first = _write_jsonl(tmp_path / "1.jsonl", [{"id": "x", "text": "one"}])
    second = _write_jsonl(tmp_path / "2.jsonl", [{"id": "y", "text": "two"},
                                                 {"id": "x", "text": "three"}])
    with pytest.raises(CorpusError, match=f"duplicate id 'x' \\(first at {first}:1\\)"):
        _read(first, second)


def test_skip_bad_keeps_the_good_records_and_lists_the_bad(tmp_path):
    path = _write_jsonl(tmp_path / "mixed.jsonl", [
        {"id": "a", "text": "good"}, "{broken", {"id": "b", "text": None},
        {"id": "a", "text": "dup"}, {"id": "c", "text": "also good"}])
    bad_bytes = tmp_path / "latin1.txt"
    bad_bytes.write_bytes("caf\xe9".encode("latin-1"))
    records, reader = _read(path, bad_bytes, skip_bad=True)
    assert [r.id for r in records] == ["a", "c"]
    assert [(e.path, e.line) for e in reader.skipped] == [
        (str(path), 2), (str(path), 3), (str(path), 4), (str(bad_bytes), None)]
    assert "not UTF-8" in str(reader.skipped[-1])


def test_the_reader_is_lazy(tmp_path):
    # The second line is broken: a lazy reader hands out the first record before seeing it.
    path = _write_jsonl(tmp_path / "c.jsonl", [{"id": "a", "text": "first"}, "{broken"])
    records = iter(CorpusReader([path]))
    assert next(records).id == "a"
    with pytest.raises(CorpusError):
        next(records)


def test_passage_ids_own_id_chunked_with_a_suffix_or_content_derived(tmp_path):
    chunker = Chunker(chunk_size=25, chunk_overlap=0)
    short = Record("Short text.", "/c.jsonl", 1, "doc-1", {"k": "v"})
    long = Record("First sentence here. Second sentence here.", "/c.jsonl", 2, "doc-2")
    plain = Record("A file without ids.", "/a.txt")
    [one] = chunker.passages(short)
    assert one.id == "doc-1" and one.text == "Short text."
    assert one.metadata == {"k": "v", "source": "/c.jsonl", "line": 1, "chunk": 0,
                            "record_id": "doc-1", "content_hash": text_hash("Short text.")}
    assert short.metadata == {"k": "v"}  # the record is not changed
    pieces = chunker.passages(long)
    assert [p.id for p in pieces] == ["doc-2#0", "doc-2#1"]
    assert "".join(p.text for p in pieces).replace(" ", "") == long.text.replace(" ", "")
    [text] = chunker.passages(plain)
    assert text.id == content_id("A file without ids.", "/a.txt")


def test_parquet_problems_name_the_row(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet", reason="Parquet is read with pyarrow")
    import pyarrow as pa

    path = tmp_path / "c.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": "r1", "text": "one"}, {"id": "r1", "text": "2"}]),
                   path)
    with pytest.raises(CorpusError) as raised:
        _read(path)
    assert str(raised.value) == (f"{path}, row 2: field 'id': duplicate id 'r1' (first at "
                                 f"{path}, row 1)")
