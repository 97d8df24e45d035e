"""``qwen3-rag eval --recall dense,bm25,hybrid``: three recall systems, each reranked, one table."""

from __future__ import annotations

import json

import pytest
from test_eval_cli import CORPUS, QRELS, QUERIES  # noqa: F401 - the same tiny BEIR set

from qwen3_rag.cli import main
from qwen3_rag.evaluation.lexical_recall import hybrid_recall, parse_recall
from qwen3_rag.evaluation.metrics import Ranking

TRANSFORMERS = ["--backend", "transformers", "--dtype", "float32"]


def test_recall_modes_parse_in_report_order_and_bad_ones_are_named():
    assert parse_recall("hybrid,dense") == ("dense", "hybrid")
    assert parse_recall(" bm25 ") == ("bm25",)
    with pytest.raises(ValueError, match="unknown recall 'sparse'; valid: dense, bm25, hybrid"):
        parse_recall("dense,sparse")


def test_hybrid_recall_is_rrf_of_both_rankings_by_hand():
    dense = (Ranking("dense", {"q": ["a", "b", "a", "c"]}, {"q": 0.010}),
             {"q": ["A0", "B", "A1", "C"]})
    bm25 = (Ranking("BM25", {"q": ["c", "d"]}, {"q": 0.002}), {"q": ["C", "D"]})
    ranking, texts = hybrid_recall(dense, bm25, 3, "hybrid", rrf_k=60)
    # a: 1/61; b: 1/62; c: 1/64 + 1/61; d: 1/62 -> c, a, then b and d tie (b met first)
    assert ranking.ids["q"] == ["c", "a", "b"]
    assert texts["q"] == ["C", "A0", "B"]  # a cut record's text: its best piece
    assert ranking.seconds["q"] >= 0.012 and ranking.details["recall"] == "hybrid"


def test_eval_compares_three_recalls_with_and_without_the_reranker(tiny_models, tmp_path,
                                                                   monkeypatch, capsys):
    root = tmp_path / "beir"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": pid, "title": "", "text": text}, ensure_ascii=False) + "\n"
        for pid, text in CORPUS.items()), encoding="utf-8")
    (root / "queries.jsonl").write_text("".join(
        json.dumps({"_id": qid, "text": text}, ensure_ascii=False) + "\n"
        for qid, text in QUERIES.items()), encoding="utf-8")
    (root / "qrels" / "test.tsv").write_text(QRELS, encoding="utf-8")
    monkeypatch.setenv("QWEN3_RAG_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["eval", str(root), "--recall", "dense,bm25,hybrid", "--json",
                 "--embedding-model", str(tiny_models.embedding),
                 "--reranker-model", str(tiny_models.reranker), *TRANSFORMERS,
                 "--chroma-dir", str(tmp_path / "chroma"), "--output",
                 str(tmp_path / "out")]) == 0
    report = json.loads(capsys.readouterr().out)
    names = [s["name"] for s in report["systems"]]
    assert names == ["embedding", "embedding + reranker", "BM25", "BM25 + reranker",
                     "hybrid RRF (embedding + BM25)", "hybrid RRF (embedding + BM25) + reranker"]
    assert [s.get("recall") for s in report["systems"]] == \
        [None, None, "bm25", "bm25", "hybrid", "hybrid"]
    assert len(report["paired_tests"]) == 15 * 5  # every pair of six systems, five metrics
    bm25 = report["systems"][2]["per_query"]
    assert bm25["q1"]["mrr@10"] == 1.0  # "green tea water" is d1's words
    assert bm25["q2"]["mrr@10"] == 0.0  # 为什么会起雾: the relevant passage is English


def test_bm25_alone_needs_no_embedding_model(tiny_models, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QWEN3_RAG_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["eval", "--recall", "bm25", "--json", "--reranker-model",
                 str(tiny_models.reranker), "--embedding-model", "/nonexistent/model",
                 *TRANSFORMERS, "--chroma-dir", str(tmp_path / "chroma")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in report["systems"]][0] == "BM25"
    assert report["systems"][0]["metrics"]["ndcg@10"] == pytest.approx(0.482, abs=1e-3)
