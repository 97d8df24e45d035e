"""``qwen3-rag eval --images``: the generated shapes test set, on the tiny Qwen3-VL models.

Each query's MRR@10 and Recall@10, per stage, are checked against the rankings the reference
scripts give; a second run reuses the stored vectors.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import reference

from qwen3_rag.cli import main
from qwen3_rag.evaluation.image_test_set import build_image_test_set

K = 4


def _mrr_and_recall(ranked: list[str], relevant: set[str]) -> tuple[float, float]:
    top = ranked[:10]
    first = next((rank for rank, pid in enumerate(top, 1) if pid in relevant), None)
    return (1 / first if first else 0.0), len(relevant & set(top)) / len(relevant)


def test_eval_on_the_generated_shapes_matches_the_scripts(tiny_vl_models, tmp_path, capsys,
                                                          monkeypatch):
    monkeypatch.setenv("QWEN3_RAG_CACHE_DIR", str(tmp_path / "cache"))
    command = ["eval", "--images", "--embedding-model", str(tiny_vl_models.embedding),
               "--reranker-model", str(tiny_vl_models.reranker), "--k", str(K),
               "--chroma-dir", str(tmp_path / "chroma"), "--output", str(tmp_path / "out"),
               "--backend", "transformers", "--dtype", "float32", "--json"]
    assert main(command) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert "24 passages embedded now" in err
    assert report["test_set"] == "qwen3-rag-shapes" and report["queries"] == 12

    test_set = build_image_test_set(tmp_path / "cache" / "eval" / "qwen3-rag-shapes" / "images")
    documents = {pid: ({"image": Path(test_set.images[pid])} if pid in test_set.images
                       else {"text": text}) for pid, text in test_set.passages.items()}
    ids = list(documents)
    vectors = np.stack([reference.vl_embed(tiny_vl_models.embedding, **documents[pid])
                        for pid in ids])
    recall_system, rerank_system = report["systems"]
    assert (recall_system["stage"], rerank_system["stage"]) == (1, 2)
    for query_id, query in test_set.queries.items():
        relevant = {pid for pid, grade in test_set.qrels[query_id].items() if grade > 0}
        cosine = vectors @ reference.vl_embed_query(tiny_vl_models.embedding, text=query)
        recalled = [ids[i] for i in np.argsort(-cosine)[:K]]
        scores = {pid: reference.vl_rerank_score(tiny_vl_models.reranker, {"text": query},
                                                 documents[pid]) for pid in recalled}
        reranked = sorted(recalled, key=lambda pid: -scores[pid])
        for system, ranked in ((recall_system, recalled), (rerank_system, reranked)):
            mrr, recall = _mrr_and_recall(ranked, relevant)
            shown = system["per_query"][query_id]
            assert shown["mrr@10"] == pytest.approx(mrr), (system["name"], query)
            assert shown["recall@10"] == pytest.approx(recall), (system["name"], query)

    # Again: the vectors are reused, and the images are not drawn anew.
    drawn = {path: Path(path).stat().st_mtime_ns for path in test_set.images.values()}
    assert main(command) == 0
    assert "0 passages embedded now, 24 reused" in capsys.readouterr().err
    assert {path: Path(path).stat().st_mtime_ns for path in drawn} == drawn


def test_eval_images_refuses_what_does_not_fit_before_loading(tmp_path, capsys, monkeypatch):
    from qwen3_core.vision import Qwen3VLEmbedder

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(Qwen3VLEmbedder, "__init__", refuse)
    monkeypatch.setenv("QWEN3_RAG_CACHE_DIR", str(tmp_path / "cache"))
    for extra, message in [(["--corpus", "c.jsonl"], "leave out --corpus"),
                           (["--recall", "dense,bm25"], "densely only"),
                           (["--embedding-model", "Qwen/Qwen3-Embedding-0.6B"],
                            "is not one")]:
        code = main(["eval", "--images", *extra, "--chroma-dir", str(tmp_path / "chroma")])
        err = capsys.readouterr().err
        assert code == 1 and message in err, (extra, err)
