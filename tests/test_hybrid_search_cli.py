"""``qwen3-rag search --mode dense|bm25|hybrid`` on a real collection and its lexical index, and
each bad case said in one line: missing, stale, foreign index, unknown mode, stop words only."""

from __future__ import annotations

import json

import pytest
from chroma_server import running_chroma_server

from qwen3_rag.cli import main
from qwen3_rag.retrieval.store import open_client

TRANSFORMERS = ["--backend", "transformers", "--dtype", "float32"]
PASSAGES = {
    "starter": "Feed the sourdough starter once a day with flour and water.",
    "tea": "Green tea is brewed with water at about eighty degrees.",
    "tyre": "自行车内胎被扎破后，可以用补胎片修补。",
    "moon": "月相变化大约每二十九天半重复一次。",
    "fog": "Fog forms when moist air cools to its dew point.",
}


@pytest.fixture()
def corpus(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps({"id": k, "text": v}, ensure_ascii=False) + "\n"
                            for k, v in PASSAGES.items()), encoding="utf-8")
    return path


def _models(tiny_models, reranker=True):
    words = ["--embedding-model", str(tiny_models.embedding), *TRANSFORMERS]
    return [*words, "--reranker-model", str(tiny_models.reranker)] if reranker else words


def _search(tiny_models, where, query, *options):
    return main(["search", query, *where, "--json", "--top-n", "5", *options,
                 *_models(tiny_models)])


@pytest.fixture()
def indexed(corpus, tiny_models, tmp_path, capsys):
    where = ["--chroma-dir", str(tmp_path / "chroma"), "--collection", "hyb"]
    assert main(["index", str(corpus), *where, *_models(tiny_models, reranker=False)]) == 0
    capsys.readouterr()
    return where


def _said(err: str) -> str:
    """What the command said on stderr, without the libraries' progress bars."""
    return "".join(f"{line}\n" for line in err.splitlines() if line.strip() and "it/s]" not in line)


def _json(capsys):
    captured = capsys.readouterr()
    return json.loads(captured.out), _said(captured.err)


def test_hybrid_is_the_default_and_fuses_both_lists(indexed, tiny_models, capsys):
    assert _search(tiny_models, indexed, "sourdough starter") == 0
    result, err = _json(capsys)
    assert result["mode"] == "hybrid" and err.strip() == ""
    top = result["candidates"][0]
    assert top["id"] == "starter" and top["bm25_rank"] == 1
    ids = [c["id"] for c in result["candidates"]]
    assert len(ids) == len(set(ids)) == len(PASSAGES)  # each passage once, by id
    for c in result["candidates"]:  # RRF k=60, weights 1,1
        expected = sum(1 / (60 + r) for r in (c["dense_rank"], c["bm25_rank"]) if r)
        assert c["fused"] == pytest.approx(expected)
    assert sorted(r["id"] for r in result["reranked"]) == sorted(ids)


def test_bm25_mode_finds_chinese_words_and_dense_mode_has_no_bm25(indexed, tiny_models, capsys):
    assert _search(tiny_models, indexed, "内胎破了怎么修补", "--mode", "bm25") == 0
    result, _ = _json(capsys)
    assert [c["id"] for c in result["candidates"]] == ["tyre"]
    assert result["candidates"][0]["cosine"] is None  # found by BM25 alone: no cosine, valid JSON
    assert _search(tiny_models, indexed, "内胎", "--mode", "dense") == 0
    result, _ = _json(capsys)
    assert result["mode"] == "dense" and all(c["bm25_rank"] is None
                                             for c in result["candidates"])


def test_weights_and_rrf_k_reach_the_fusion(indexed, tiny_models, capsys):
    assert _search(tiny_models, indexed, "sourdough", "--weights", "0,1", "--rrf-k", "1") == 0
    result, _ = _json(capsys)
    assert [c["id"] for c in result["candidates"]][:1] == ["starter"]
    assert result["candidates"][0]["fused"] == pytest.approx(1 / 2)


def test_stop_words_only_bm25_refused_hybrid_says_dense_alone(indexed, tiny_models, capsys):
    assert _search(tiny_models, indexed, "the of and", "--mode", "bm25") == 1
    err = _said(capsys.readouterr().err)
    assert err.count("\n") == 1 and "only stop words: the, of, and" in err
    assert _search(tiny_models, indexed, "the of and") == 0
    result, err = _json(capsys)
    assert "hybrid recall used the dense list alone" in err
    assert len(result["candidates"]) == len(PASSAGES)


def test_unknown_mode_is_one_line_naming_the_valid_ones(indexed, tiny_models, capsys):
    with pytest.raises(SystemExit):
        _search(tiny_models, indexed, "tea", "--mode", "sparse")
    assert "invalid choice: 'sparse' (choose from 'dense', 'bm25', 'hybrid')" in \
        capsys.readouterr().err


def test_stale_index_is_refused_not_used_and_the_same_index_command_repairs_it(
        indexed, corpus, tiny_models, tmp_path, capsys):
    # Another writer adds a passage to the collection behind the lexical index's back.
    collection = open_client(tmp_path / "chroma").get_collection("hyb")
    stored = collection.get(ids=["tea"], include=["embeddings", "metadatas"])
    collection.add(ids=["extra"], embeddings=stored["embeddings"], documents=["Extra tea."],
                   metadatas=[{"content_hash": "x", "source": "elsewhere"}])
    for mode in ([], ["--mode", "bm25"], ["--mode", "hybrid"]):
        assert _search(tiny_models, indexed, "tea", *mode) == 1
        err = _said(capsys.readouterr().err)
        assert err.count("\n") == 1 and "out of step with collection 'hyb'" in err
        assert "holds 5 passages, the collection 6" in err
    assert _search(tiny_models, indexed, "tea", "--mode", "dense") == 0  # asked for: fine
    capsys.readouterr()
    assert main(["index", str(corpus), *indexed, *_models(tiny_models, reranker=False)]) == 0
    assert "0 embedded" in capsys.readouterr().err  # nothing lost, nothing embedded again
    assert _search(tiny_models, indexed, "extra tea", "--mode", "bm25") == 0
    assert _json(capsys)[0]["candidates"][0]["id"] == "extra"


def test_a_recreated_collection_makes_the_index_foreign(indexed, tiny_models, tmp_path, capsys):
    client = open_client(tmp_path / "chroma")
    old = client.get_collection("hyb")
    everything = old.get(include=["embeddings", "metadatas", "documents"])
    metadata = dict(old.metadata)
    client.delete_collection("hyb")
    client.create_collection("hyb", metadata=metadata, embedding_function=None,
                             configuration={"hnsw": {"space": "cosine"}}).add(
        ids=everything["ids"], embeddings=everything["embeddings"],
        metadatas=everything["metadatas"], documents=everything["documents"])
    assert _search(tiny_models, indexed, "tea") == 1
    err = _said(capsys.readouterr().err)
    assert err.count("\n") == 1 and "was built for collection 'hyb' (id" in err


def test_no_lexical_index_auto_is_dense_in_one_line_asked_is_refused(corpus, tiny_models,
                                                                     tmp_path, capsys):
    where = ["--chroma-dir", str(tmp_path / "chroma"), "--collection", "plain"]
    assert main(["index", str(corpus), *where, "--no-lexical",
                 *_models(tiny_models, reranker=False)]) == 0
    capsys.readouterr()
    assert _search(tiny_models, where, "tea") == 0
    result, err = _json(capsys)
    assert result["mode"] == "dense"
    assert err.count("\n") == 1 and "No lexical index for collection 'plain'" in err
    assert _search(tiny_models, where, "tea", "--mode", "hybrid") == 1
    err = _said(capsys.readouterr().err)
    assert err.count("\n") == 1 and "--mode hybrid needs a lexical index" in err


def test_with_a_chroma_server_the_index_lives_in_lexical_dir(corpus, tiny_models, tmp_path,
                                                             capsys, monkeypatch):
    monkeypatch.setenv("QWEN3_RAG_CACHE_DIR", str(tmp_path / "cache"))
    with running_chroma_server(tmp_path / "server") as url:
        where = ["--chroma-url", url, "--collection", "served"]
        own = [*where, "--lexical-dir", str(tmp_path / "mine")]
        assert main(["index", str(corpus), *own, *_models(tiny_models, reranker=False)]) == 0
        assert (tmp_path / "mine" / "served" / "current.json").exists()
        capsys.readouterr()
        assert _search(tiny_models, own, "green tea", "--mode", "bm25") == 0
        assert _json(capsys)[0]["candidates"][0]["id"] == "tea"
        # Without --lexical-dir the per-user default is looked in, and has none: said.
        assert _search(tiny_models, where, "green tea") == 0
        result, err = _json(capsys)
        assert result["mode"] == "dense"
        assert str(tmp_path / "cache" / "lexical") in err.replace("\n", "")
        assert main(["index", str(corpus), *where, *_models(tiny_models, reranker=False)]) == 0
        port = url.rsplit(":", 1)[1]
        assert (tmp_path / "cache" / "lexical" / f"127.0.0.1-{port}" / "served"
                / "current.json").exists()


def test_a_damaged_lexical_store_stops_index_in_one_line_and_loses_nothing(
        indexed, corpus, tiny_models, tmp_path, capsys):
    store = tmp_path / "chroma" / "lexical" / "hyb" / "passages.sqlite3"
    for extra in store.parent.glob("passages.sqlite3-*"):
        extra.unlink()  # the WAL files of the good database
    store.write_bytes(b"not a database at all" * 100)
    assert main(["index", str(corpus), *indexed, *_models(tiny_models, reranker=False)]) == 1
    err = _said(capsys.readouterr().err)
    assert err.count("\n") == 1 and "cannot be opened" in err and "--lexical-dir" in err
    assert open_client(tmp_path / "chroma").get_collection("hyb").count() == len(PASSAGES)
