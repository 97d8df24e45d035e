"""Test sets: BEIR and hand-written files are read; bad ones are named by file, line and field."""

from __future__ import annotations

import json
import re

import pytest

from qwen3_rag.evaluation import TestSetError, load_beir, load_shipped, load_test_set


def _jsonl(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                    encoding="utf-8")


def _beir(root, corpus=None, queries=None, qrels=None):
    (root / "qrels").mkdir(parents=True)
    _jsonl(root / "corpus.jsonl", corpus or [
        {"_id": "d1", "title": "Tea", "text": "Green tea wants water below boiling."},
        {"_id": "d2", "text": "绿茶用八十度的水冲泡。"},
        {"_id": "d3", "title": "", "text": "Bicycles need oiled chains."},
    ])
    _jsonl(root / "queries.jsonl", queries or [
        {"_id": "q1", "text": "how hot should green tea water be?"},
        {"_id": "q2", "text": "chain care"},
        {"_id": "q3", "text": "a query of another split"},
    ])
    (root / "qrels" / "test.tsv").write_text(
        qrels if qrels is not None else
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t2\nq2\td3\t1\nq2\td1\t0\n",
        encoding="utf-8")
    return root


def test_beir_directory_is_read(tmp_path):
    test_set = load_beir(_beir(tmp_path / "my-set"))
    assert test_set.name == "my-set"
    # A title is read with its passage, a blank line between.
    assert dict(test_set.passages) == {"d1": "Tea\n\nGreen tea wants water below boiling.",
                                       "d2": "绿茶用八十度的水冲泡。",
                                       "d3": "Bicycles need oiled chains."}
    # q3 has no judgement in this split, so it is not evaluated.
    assert dict(test_set.queries) == {"q1": "how hot should green tea water be?",
                                      "q2": "chain care"}
    assert {q: dict(g) for q, g in test_set.qrels.items()} == {"q1": {"d1": 1, "d2": 2},
                                                              "q2": {"d3": 1, "d1": 0}}


def test_hand_written_jsonl_and_csv_are_read(tmp_path):
    corpus = tmp_path / "passages.csv"
    corpus.write_text("id,title,text\nd1,Tea,\"Green tea, not boiled.\"\nd2,,Chains need oil.\n",
                      encoding="utf-8")
    queries_csv = tmp_path / "queries.csv"
    queries_csv.write_text("query,relevant\ngreen tea water,d1\nbike care,d2;d1\n",
                           encoding="utf-8")
    from_csv = load_test_set(corpus=corpus, queries=queries_csv)
    assert from_csv.name == "passages"
    assert dict(from_csv.passages) == {"d1": "Tea\n\nGreen tea, not boiled.",
                                       "d2": "Chains need oil."}
    # Query ids default to q<line number>; the header is line 1.
    assert dict(from_csv.queries) == {"q2": "green tea water", "q3": "bike care"}
    assert {q: dict(g) for q, g in from_csv.qrels.items()} == {"q2": {"d1": 1},
                                                               "q3": {"d2": 1, "d1": 1}}

    queries_jsonl = tmp_path / "queries.jsonl"
    _jsonl(queries_jsonl, [{"id": "tea", "query": "green tea water", "relevant": ["d1"]},
                           {"query": "bike care", "relevant": {"d2": 2, "d1": 0}}])
    from_jsonl = load_test_set(corpus=corpus, queries=queries_jsonl)
    assert dict(from_jsonl.queries) == {"tea": "green tea water", "q2": "bike care"}
    assert {q: dict(g) for q, g in from_jsonl.qrels.items()} == {"tea": {"d1": 1},
                                                                 "q2": {"d2": 2, "d1": 0}}


def test_the_test_set_cannot_be_changed_through_it(tmp_path):
    test_set = load_beir(_beir(tmp_path / "set"))
    with pytest.raises(TypeError):
        test_set.passages["d9"] = "new"  # type: ignore[index]
    with pytest.raises(TypeError):
        test_set.qrels["q1"]["d3"] = 1  # type: ignore[index]


def _error(call) -> TestSetError:
    with pytest.raises(TestSetError) as caught:
        call()
    return caught.value


@pytest.mark.parametrize(("corpus", "line", "field", "words"), [
    ([{"_id": "d1", "text": "fine"}, {"_id": "d2", "txt": "typo"}], 2, "text", "missing"),
    ([{"_id": "d1", "text": "fine"}, {"_id": "d1", "text": "again"}], 2, "_id", "twice"),
    ([{"_id": "d1", "text": "fine"}, {"_id": "d2", "text": 3}], 2, "text", "must be a string"),
    ([{"_id": "d1", "text": "  "}], 1, "text", "empty"),
])
def test_bad_corpus_records_are_named(tmp_path, corpus, line, field, words):
    root = _beir(tmp_path / "set", corpus=corpus, qrels="q1\td1\t1\n")
    error = _error(lambda: load_beir(root))
    assert (error.path, error.line, error.field) == (str(root / "corpus.jsonl"), line, field)
    assert str(error).startswith(f"{root / 'corpus.jsonl'}:{line}: field {field!r}: ")
    assert words in str(error)


def test_malformed_json_names_file_and_line(tmp_path):
    root = _beir(tmp_path / "set")
    with open(root / "queries.jsonl", "a", encoding="utf-8") as handle:
        handle.write("\n{\"_id\": \"q4\", \"text\": \"unterminated}\n")
    error = _error(lambda: load_beir(root))
    assert (error.path, error.line) == (str(root / "queries.jsonl"), 5)
    assert "not valid JSON" in str(error)


def test_an_empty_query_is_named(tmp_path):
    root = _beir(tmp_path / "set", queries=[{"_id": "q1", "text": "fine"},
                                            {"_id": "q2", "text": ""}])
    error = _error(lambda: load_beir(root))
    assert (error.path, error.line, error.field) == (str(root / "queries.jsonl"), 2, "text")
    assert "empty" in str(error)


@pytest.mark.parametrize(("qrels", "line", "field", "words"), [
    ("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td7\t1\n", 3, "corpus-id", "'d7' is not in"),
    ("query-id\tcorpus-id\tscore\nq9\td1\t1\n", 2, "query-id", "'q9' is not in"),
    ("query-id\tcorpus-id\tscore\nq1\td1\tyes\n", 2, "score", "not a number"),
    ("q1\td1\n", 1, None, "expected 3 tab-separated fields"),
])
def test_bad_qrels_lines_are_named(tmp_path, qrels, line, field, words):
    root = _beir(tmp_path / "set", qrels=qrels)
    error = _error(lambda: load_beir(root))
    assert (error.path, error.line, error.field) == (str(root / "qrels" / "test.tsv"), line, field)
    assert words in str(error)


def test_hand_written_unknown_relevant_id_is_named(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    _jsonl(corpus, [{"id": "d1", "text": "one"}, {"id": "d2", "text": "two"}])
    queries = tmp_path / "queries.csv"
    queries.write_text("query,relevant\nfirst,d1\nsecond,d2;d5\n", encoding="utf-8")
    error = _error(lambda: load_test_set(corpus=corpus, queries=queries))
    assert (error.path, error.line, error.field) == (str(queries), 3, "relevant")
    assert "'d5' is not in the corpus" in str(error)


def test_missing_files_and_wrong_combinations_are_explained(tmp_path):
    root = _beir(tmp_path / "set")
    (root / "qrels" / "test.tsv").rename(root / "qrels" / "dev.tsv")
    error = _error(lambda: load_beir(root))
    assert "qrels/test.tsv" in str(error) and "splits there: dev" in str(error)
    with pytest.raises(ValueError, match="need both --corpus and --queries"):
        load_test_set(corpus=root / "corpus.jsonl")
    with pytest.raises(TestSetError, match="unsupported file type"):
        load_test_set(corpus=root / "corpus.jsonl", queries=root / "qrels" / "dev.tsv")
    with pytest.raises(TestSetError, match="not a directory"):
        load_test_set(root / "corpus.jsonl")


def test_the_shipped_set_is_bilingual_and_consistent():
    test_set = load_shipped()
    assert test_set.name == "qwen3-rag-sample"
    assert 30 <= len(test_set.passages) <= 60 and 10 <= len(test_set.queries) <= 20
    chinese = re.compile(r"[\u4e00-\u9fff]")
    chinese_queries = [q for q in test_set.queries.values() if chinese.search(q)]
    assert 0 < len(chinese_queries) < len(test_set.queries)
    chinese_passages = [p for p in test_set.passages.values() if chinese.search(p)]
    assert 0 < len(chinese_passages) < len(test_set.passages)
    for grades in test_set.qrels.values():
        assert set(grades) <= set(test_set.passages)
        assert any(grade > 0 for grade in grades.values())
