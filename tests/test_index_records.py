"""``qwen3-rag index`` on records with ids: kept ids, exact vectors, changes, refusals."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from qwen3_core import Qwen3Embedder
from qwen3_rag.cli import main
from qwen3_rag.retrieval.store import open_client

TRANSFORMERS = ["--backend", "transformers", "--dtype", "float32"]


@pytest.fixture()
def run_index(tmp_path, tiny_models, capsys):
    """Runs ``qwen3-rag index`` in this process; returns (exit code, stderr)."""

    def run(*paths, collection="records", model=None, extra=()):
        code = main(["index", *map(str, paths), "--chroma-dir", str(tmp_path / "chroma"),
                     "--collection", collection, "--embedding-model",
                     str(model or tiny_models.embedding), *TRANSFORMERS, *extra])
        return code, capsys.readouterr().err

    return run


def _stored(tmp_path, collection="records"):
    found = open_client(tmp_path / "chroma").get_collection(collection).get(
        include=["documents", "embeddings", "metadatas"])
    return {passage_id: (text, np.asarray(vector), meta) for passage_id, text, vector, meta
            in zip(found["ids"], found["documents"], found["embeddings"], found["metadatas"],
                   strict=True)}


def _jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_ids_are_kept_and_vectors_match_the_embedder(tmp_path, tiny_models, run_index):
    pq = pytest.importorskip("pyarrow.parquet", reason="Parquet is read with pyarrow")
    import pyarrow as pa

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    _jsonl(corpus / "corpus.jsonl", [
        {"_id": "beir-1", "title": "Rivers", "text": "The Yangtze is long.", "metadata": {}},
        {"_id": "beir-2", "title": "", "text": "Everest is high."}])
    with (corpus / "rows.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["id", "text", "lang"], ["csv-1", "Bonjour.", "fr"]])
    pq.write_table(pa.Table.from_pylist([{"id": "pq-1", "text": "Parquet row."}]),
                   corpus / "rows.parquet")
    (corpus / "note.md").write_text("A note without an id.", encoding="utf-8")

    code, err = run_index(corpus)
    assert code == 0, err
    stored = _stored(tmp_path)
    expected = {"beir-1": "Rivers\n\nThe Yangtze is long.", "beir-2": "Everest is high.",
                "csv-1": "Bonjour.", "pq-1": "Parquet row."}
    named = {passage_id: text for passage_id, (text, _, _) in stored.items()
             if passage_id in expected}
    assert named == expected
    assert len(stored) == 5  # and the note, under a content-derived id
    assert stored["csv-1"][2]["lang"] == "fr"
    with Qwen3Embedder(tiny_models.embedding, backend="transformers", dtype="float32") as emb:
        texts = [text for text, _, _ in stored.values()]
        direct = emb.embed_documents(texts)
    np.testing.assert_allclose(np.stack([v for _, v, _ in stored.values()]), direct, atol=1e-5)
    assert "5 records from 4 file(s)" in err and "5 embedded" in err


def test_a_changed_record_is_embedded_again_and_its_stale_parts_go(tmp_path, run_index,
                                                                   embedded_texts):
    long = "First sentence of a long one. Second sentence of it. Third sentence ends it."
    path = _jsonl(tmp_path / "c.jsonl", [
        {"id": "same", "text": "Unchanged."}, {"id": "edit", "text": "Old text."},
        {"id": "long", "text": long}, {"id": "gone", "text": "Removed later."}])
    chunks = ["--chunk-size", "32", "--chunk-overlap", "0"]
    assert run_index(path, extra=chunks)[0] == 0
    assert {"long#0", "long#1", "long#2"} <= set(_stored(tmp_path))

    _jsonl(path, [{"id": "same", "text": "Unchanged."}, {"id": "edit", "text": "New text."},
                  {"id": "long", "text": "Now short."}])
    embedded_texts.clear()
    code, err = run_index(path, extra=chunks)
    assert code == 0, err
    assert embedded_texts == ["New text.", "Now short."]
    stored = _stored(tmp_path)
    assert {i: t for i, (t, _, _) in stored.items()} == {
        "same": "Unchanged.", "edit": "New text.", "long": "Now short."}
    assert "2 embedded, 1 already stored, 4 stale removed" in err


def test_another_model_or_max_length_is_refused_naming_both(tmp_path, tiny_models, run_index):
    path = _jsonl(tmp_path / "c.jsonl", [{"id": "a", "text": "Some text."}])
    assert run_index(path)[0] == 0
    code, err = run_index(path, extra=["--max-length", "64"])
    assert code == 1
    assert "max_length=8192" in err and "max_length=64" in err, err
    # The tiny reranker is a Qwen3 of the same width: only the recorded model tells it apart.
    code, err = run_index(path, model=tiny_models.reranker)
    assert code == 1
    assert f"model={str(tiny_models.embedding)!r}" in err
    assert f"model={str(tiny_models.reranker)!r}" in err
    assert len(_stored(tmp_path)) == 1


def test_bad_input_is_one_line_naming_file_line_and_field(tmp_path, run_index):
    path = _jsonl(tmp_path / "c.jsonl", [{"id": "a", "text": "fine"}, {"id": "b", "text": 3}])
    code, err = run_index(path)
    assert code == 1
    assert err.strip().splitlines()[-1] == (
        f"qwen3-rag index: error: {path}:2: field 'text': must be a string, got int 3")


def test_skip_bad_indexes_the_rest_and_lists_what_was_skipped(tmp_path, run_index):
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "a", "text": "fine"}\n{"id": "a", "text": "dup"}\n{oops\n'
                    '{"id": "c", "text": "also fine"}\n', encoding="utf-8")
    code, err = run_index(path, extra=["--skip-bad"])
    assert code == 0, err
    assert set(_stored(tmp_path)) == {"a", "c"}
    assert "skipped 2 bad record(s):" in err
    assert f"{path}:2: field 'id': duplicate id 'a' (first at {path}:1)" in err
    assert f"{path}:3: not valid JSON" in err
    assert "2 skipped" in err


def test_vectors_of_another_size_are_refused_naming_both(tmp_path):
    from qwen3_rag.retrieval.store import VectorStore

    client = open_client(tmp_path / "chroma")
    VectorStore(client, "sized", "model-a", 128).upsert(
        ["a"], ["text"], [{"content_hash": "h"}], np.ones((1, 128), dtype=np.float32))
    with pytest.raises(ValueError, match="holds 128-dimensional vectors from 'model-a', but "
                                         "the embedding model gives 64"):
        VectorStore(client, "sized", "model-b", 64)


def test_a_collection_indexed_before_hashes_is_not_embedded_again(tmp_path, tiny_models,
                                                                 run_index, embedded_texts):
    from qwen3_rag.retrieval.store import VectorStore, content_id

    note = tmp_path / "note.txt"
    note.write_text("A note indexed by an earlier release.", encoding="utf-8")
    source = str(note.resolve())
    # As the earlier `index` stored it: content-derived id, no content_hash, no settings.
    with Qwen3Embedder(tiny_models.embedding, backend="transformers", dtype="float32") as emb:
        VectorStore(open_client(tmp_path / "chroma"), "records", emb.model,
                    emb.embedding_size).add([content_id(note.read_text(), source)],
                                            [note.read_text()], [{"source": source, "chunk": 0}],
                                            emb.embed_documents)
    embedded_texts.clear()
    code, err = run_index(note)
    assert code == 0, err
    assert embedded_texts == []
    assert "0 embedded, 1 already stored, 0 stale removed" in err
