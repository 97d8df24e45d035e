"""``qwen3-rag index`` and ``search`` on the tiny models, against the model-card formulas."""

from __future__ import annotations

import json

import numpy as np
import pytest
import reference
from chroma_server import running_chroma_server

from qwen3_rag.cli import main
from qwen3_rag.retrieval.store import open_client

TRANSFORMERS = ["--backend", "transformers", "--dtype", "float32"]

RIVERS_MD = """# Rivers

The Yangtze is the longest river in Asia. It flows east into the East China Sea.

## Mountains

Everest is the highest mountain on Earth.
"""
CITIES_TXT = ("北京是中国的首都，有三千多年的建城史。上海是中国最大的城市，也是重要的港口。\n\n"
              "Python is a programming language.\n")
NOTES_JSONL = (
    '{"text": "Chroma stores vectors on disk.", "author": "ana", "tags": ["db"]}\n'
    "\n"
    '{"content": "A reranker reads the query and the passage together.", "year": 2025}\n'
)


@pytest.fixture()
def docs(tmp_path):
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "rivers.md").write_text(RIVERS_MD, encoding="utf-8")
    (root / "sub" / "cities.txt").write_text(CITIES_TXT, encoding="utf-8")
    (root / "notes.jsonl").write_text(NOTES_JSONL, encoding="utf-8")
    (root / "ignored.pdf").write_text("a,b\n", encoding="utf-8")
    return root


@pytest.fixture()
def store_args(tmp_path):
    return ["--chroma-dir", str(tmp_path / "chroma"), "--collection", "notes-test"]


def _index(paths, store_args, tiny_models, capsys, *extra):
    code = main(["index", *map(str, paths), *store_args, "--embedding-model",
                 str(tiny_models.embedding), *TRANSFORMERS, *extra])
    return code, *capsys.readouterr()


def _search(query, store_args, tiny_models, capsys, *extra):
    code = main(["search", query, *store_args, "--reranker-model", str(tiny_models.reranker),
                 *TRANSFORMERS, *extra])
    return code, *capsys.readouterr()


def test_index_is_idempotent_and_search_matches_the_formulas(docs, store_args, tiny_models,
                                                             capsys, embedded_texts):
    code, _, err = _index([docs], store_args, tiny_models, capsys, "--chunk-size", "30",
                          "--chunk-overlap", "0")
    assert code == 0
    chunks = list(embedded_texts)
    assert all(len(chunk) <= 30 for chunk in chunks)
    assert "Chroma stores vectors on disk." in chunks
    assert "北京是中国的首都，有三千多年的建城史。" in chunks  # Chinese splits at sentence ends
    assert not any("a,b" in chunk for chunk in chunks)
    assert f"{len(chunks)} embedded" in err

    embedded_texts.clear()
    code, _, err = _index([docs], store_args, tiny_models, capsys, "--chunk-size", "30",
                          "--chunk-overlap", "0")
    assert code == 0 and embedded_texts == []
    assert f"0 embedded, {len(chunks)} already stored" in err

    query = "Which river is the longest?"
    # Dense recall, against the embedding formula (hybrid, the default where the collection
    # has a lexical index, is tested in test_hybrid_search_cli.py).
    code, out, _ = _search(query, store_args, tiny_models, capsys, "--k", "50", "--top-n", "4",
                           "--json", "--mode", "dense")
    assert code == 0
    result = json.loads(out)
    emb, rr = str(tiny_models.embedding), str(tiny_models.reranker)
    # Stage 1 with k above the collection size returns every chunk, by reference cosine.
    cosine = np.stack([reference.embed(emb, c) for c in chunks]) @ reference.embed_query(emb, query)
    assert [c["text"] for c in result["candidates"]] == [chunks[i] for i in np.argsort(-cosine)]
    candidates = [c["text"] for c in result["candidates"]]
    scores = reference.rerank_scores(rr, query, candidates)
    best = sorted(range(len(candidates)), key=lambda i: -scores[i])[:4]
    assert [r["text"] for r in result["reranked"]] == [candidates[i] for i in best]
    for r, i in zip(result["reranked"], best, strict=True):
        assert r["score"] == pytest.approx(scores[i], abs=1e-5)
        assert r["recall_rank"] == i + 1
    notes = next(c for c in result["candidates"] if c["text"] == "Chroma stores vectors on disk.")
    assert notes["metadata"]["author"] == "ana" and notes["metadata"]["line"] == 1
    assert notes["metadata"]["source"] == str((docs / "notes.jsonl").resolve())


def test_search_prints_a_table(docs, store_args, tiny_models, capsys):
    assert _index([docs / "rivers.md"], store_args, tiny_models, capsys)[0] == 0
    code, out, _ = _search("longest river", store_args, tiny_models, capsys, "--top-n", "1")
    assert code == 0
    for header in ("rank", "rerank", "cosine", "source", "snippet"):
        assert header in out
    assert "rivers.md" in out and "Yangtze" in out


def test_changed_file_replaces_its_old_passages(docs, store_args, tiny_models, capsys,
                                                embedded_texts):
    target = docs / "sub" / "cities.txt"
    assert _index([target], store_args, tiny_models, capsys)[0] == 0
    target.write_text("Hangzhou is known for the West Lake.\n", encoding="utf-8")
    embedded_texts.clear()
    code, _, err = _index([target], store_args, tiny_models, capsys)
    assert code == 0
    assert embedded_texts == ["Hangzhou is known for the West Lake."]
    assert "1 stale removed" in err and "now holds 1 passages" in err


@pytest.mark.parametrize("bad, message", [
    ("missing.txt", "does not exist"),
    ("ignored.pdf", "unsupported file type"),
])
def test_bad_paths_are_one_message_and_exit_1(docs, store_args, tiny_models, capsys, bad,
                                              message):
    code, out, err = _index([docs / bad], store_args, tiny_models, capsys)
    assert code == 1 and message in err and out == ""


def test_bad_jsonl_line_is_reported_with_its_line_number(docs, store_args, tiny_models, capsys):
    (docs / "notes.jsonl").write_text('{"text": "fine"}\n{"title": "no text"}\n')
    code, _, err = _index([docs / "notes.jsonl"], store_args, tiny_models, capsys)
    assert code == 1 and "notes.jsonl:2" in err


def test_search_of_a_missing_collection_says_how_to_create_it(store_args, tiny_models, capsys):
    code, _, err = _search("anything", store_args, tiny_models, capsys, "--embedding-model",
                           str(tiny_models.embedding))
    assert code == 1
    assert "notes-test" in err and "qwen3-rag index" in err


def test_search_of_a_missing_collection_names_the_others_before_loading_a_model(tmp_path,
                                                                             capsys):
    # As after `qwen3-rag demo`, whose collection has a name of its own.
    client = open_client(tmp_path / "chroma")
    demo = client.create_collection("qwen3-rag-demo-1a2b", embedding_function=None)
    demo.add(ids=["a", "b"], embeddings=[[1.0, 0.0], [0.0, 1.0]], documents=["x", "y"])
    code = main(["search", "anything", "--chroma-dir", str(tmp_path / "chroma"),
                 "--embedding-model", str(tmp_path / "no-such-model")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1, err  # one line
    assert "'qwen3-rag' does not exist" in err and "qwen3-rag-demo-1a2b (2 passages)" in err
    assert "no-such-model" not in err  # no model was loaded


@pytest.fixture()
def chroma_server(tmp_path):
    """A Chroma server on a free loopback port."""
    with running_chroma_server(tmp_path / "server") as url:
        yield url


def test_index_and_search_through_a_chroma_server(docs, tiny_models, capsys, chroma_server,
                                                  tmp_path):
    server_args = ["--chroma-url", chroma_server, "--collection", "served"]
    assert _index([docs / "rivers.md"], server_args, tiny_models, capsys)[0] == 0
    code, out, _ = _search("longest river", server_args, tiny_models, capsys, "--json")
    assert code == 0
    texts = [c["text"] for c in json.loads(out)["candidates"]]
    assert texts == [RIVERS_MD.strip()]
    assert not (tmp_path / "chroma").exists()  # nothing went to an embedded database


def test_a_collection_with_another_distance_is_refused(store_args, tiny_models, capsys,
                                                       tmp_path):
    # Made the way other tools do, with Chroma's default (l2) distance.
    open_client(tmp_path / "chroma").create_collection("notes-test", embedding_function=None)
    code, _, err = _search("anything", store_args, tiny_models, capsys, "--embedding-model",
                           str(tiny_models.embedding))
    assert code == 1 and "'l2' distance" in err


# -- `index` starts as fast as `search` on a CPU ----------------------------------------------


def test_index_of_a_small_corpus_on_a_cpu_uses_transformers_under_auto(docs, store_args,
                                                                      tiny_models, capsys,
                                                                      monkeypatch):
    monkeypatch.setattr("qwen3_core.hardware.has_nvidia_gpu", lambda: False)
    code = main(["index", str(docs), *store_args, "--embedding-model",
                 str(tiny_models.embedding), "--backend", "auto", "--dtype", "float32"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "on transformers" in err  # not vLLM, a minute or more to start on a CPU


# -- `search` uses the reranker recorded with the collection -----------------------------------


def _search_json(store_args, capsys, *models):
    code = main(["search", "longest river", *store_args, *models, *TRANSFORMERS, "--json",
                 "--k", "10", "--top-n", "3"])
    out, err = capsys.readouterr()
    return code, out, err


def test_search_uses_the_models_recorded_by_index(docs, store_args, tiny_models, capsys,
                                                   tmp_path):
    code, _, err = _index([docs], store_args, tiny_models, capsys, "--reranker-model",
                          str(tiny_models.reranker))
    assert code == 0 and f"reranks with {tiny_models.reranker}" in err
    # No model named: the tiny pair recorded with the collection, not the default reranker
    # (which this offline test machine could not load).
    code, out, err = _search_json(store_args, capsys)
    assert code == 0, err
    result = json.loads(out)
    candidates = [c["text"] for c in result["candidates"]]
    scores = reference.rerank_scores(str(tiny_models.reranker), "longest river", candidates)
    assert [r["score"] for r in result["reranked"]] == pytest.approx(
        sorted(scores, reverse=True)[:3], abs=1e-5)

    # Indexing again without --reranker-model keeps the recorded one.
    assert _index([docs], store_args, tiny_models, capsys)[0] == 0
    assert _search_json(store_args, capsys)[0] == 0

    # --reranker-model, when given, wins over the recorded one.
    missing = tmp_path / "another-reranker"
    code, _, err = _search_json(store_args, capsys, "--reranker-model", str(missing))
    assert code == 1 and str(missing) in err


def test_index_records_the_default_reranker_when_none_is_named(docs, store_args, tiny_models,
                                                               capsys, monkeypatch):
    from qwen3_core import DEFAULT_RERANKER_MODEL

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = _index([docs / "rivers.md"], store_args, tiny_models, capsys)
    assert code == 0 and f"reranks with {DEFAULT_RERANKER_MODEL}" in err
    code, _, err = _search_json(store_args, capsys)
    assert code == 1 and f"the reranker model {DEFAULT_RERANKER_MODEL!r}" in err


def test_a_collection_without_a_recorded_reranker_keeps_the_default(tiny_models, capsys,
                                                                    tmp_path, monkeypatch):
    from qwen3_core import DEFAULT_RERANKER_MODEL, Qwen3Embedder
    from qwen3_rag.retrieval.store import VectorStore, recorded_reranker_model

    # As built before rerankers were recorded: the embedding model only.
    client = open_client(tmp_path / "chroma")
    with Qwen3Embedder(str(tiny_models.embedding), backend="transformers",
                       dtype="float32") as embedder:
        store = VectorStore(client, "older", embedder.model, embedder.embedding_size)
        store.add(["a"], ["The Yangtze is long."], [{}], embedder.embed_documents)
    assert recorded_reranker_model(client, "older") is None
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = _search_json(["--chroma-dir", str(tmp_path / "chroma"), "--collection",
                                 "older"], capsys)
    assert code == 1 and f"the reranker model {DEFAULT_RERANKER_MODEL!r}" in err
    code, out, _ = _search_json(["--chroma-dir", str(tmp_path / "chroma"), "--collection",
                                 "older"], capsys, "--reranker-model", str(tiny_models.reranker))
    assert code == 0 and json.loads(out)["reranked"][0]["text"] == "The Yangtze is long."
