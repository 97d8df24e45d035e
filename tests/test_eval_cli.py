"""``qwen3-rag eval`` as a user runs it: a process, tiny models, a small BEIR set on disk."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TRANSFORMERS = ["--backend", "transformers", "--dtype", "float32"]
CORPUS = {
    "d1": "Green tea turns bitter in boiling water.",
    "d2": "绿茶用八十度左右的水冲泡。",
    "d3": "Oil a bicycle chain every few hundred kilometres.",
    "d4": "Fog forms when air cools to its dew point.",
    "d5": "Rinse rice until the water runs clear.",
    "d6": "月相大约每二十九天半循环一次。",
    "d7": "Compost needs green and brown material.",
}
QUERIES = {"q1": "How hot should green tea water be?", "q2": "为什么会起雾？",
           "q3": "How long is a lunar cycle?"}
QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t1\nq2\td4\t1\nq3\td6\t1\n"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _command() -> list[str]:
    found = shutil.which("qwen3-rag", path=str(Path(sys.executable).parent))
    assert found, "the qwen3-rag command is not installed next to this Python"
    return [found, "eval"]


@pytest.fixture()
def beir(tmp_path) -> Path:
    root = tmp_path / "tiny-beir"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": pid, "title": "", "text": text}, ensure_ascii=False) + "\n"
        for pid, text in CORPUS.items()), encoding="utf-8")
    (root / "queries.jsonl").write_text("".join(
        json.dumps({"_id": qid, "text": text}, ensure_ascii=False) + "\n"
        for qid, text in QUERIES.items()), encoding="utf-8")
    (root / "qrels" / "test.tsv").write_text(QRELS, encoding="utf-8")
    return root


def _run(arguments: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "QWEN3_RAG_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(_command() + arguments, capture_output=True, text=True, timeout=300,
                          env=env, check=False)


def test_eval_reports_both_stages_and_resumes(tiny_models, beir, tmp_path):
    output = tmp_path / "report"
    arguments = [str(beir), "--embedding-model", str(tiny_models.embedding),
                 "--reranker-model", str(tiny_models.reranker), *TRANSFORMERS,
                 "--chroma-dir", str(tmp_path / "chroma"), "--output", str(output),
                 "--k", "5", "--json"]
    first = _run(arguments, tmp_path)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert (report["test_set"], report["passages"], report["queries"]) == ("tiny-beir", 7, 3)
    assert report["random_weights"] is False and report["k"] == 5
    recall, reranked = report["systems"]
    assert (recall["stage"], reranked["stage"]) == (1, 2)
    assert reranked["name"] == f"{recall['name']} + {Path(tiny_models.reranker).name}"
    for system in report["systems"]:
        assert set(system["metrics"]) == {"ndcg@10", "mrr@10", "recall@5", "recall@10",
                                          "recall@100"}
        assert all(0.0 <= value <= 1.0 for value in system["metrics"].values())
        assert set(system["per_query"]) == set(QUERIES)
        assert 0 < system["latency_ms"]["p50"] <= system["latency_ms"]["p95"]
    # With k=5 both stages hold the same five passages, only the order differs: recall at 5
    # and beyond cannot change, whatever the reranker does.
    for metric in ("recall@5", "recall@10", "recall@100"):
        assert reranked["metrics"][metric] == recall["metrics"][metric]
    # Reranking adds time to every query: stage 2's latency includes stage 1's.
    assert reranked["latency_ms"]["p50"] > recall["latency_ms"]["p50"]
    assert len(report["paired_tests"]) == 5  # one pair of systems, five metrics
    assert json.loads((output / "eval.json").read_text(encoding="utf-8")) == report
    assert (output / "eval.png").read_bytes().startswith(PNG_SIGNATURE)
    assert "7 passages embedded now, 0 reused" in first.stderr

    again = _run(arguments, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "0 passages embedded now, 7 reused" in again.stderr
    assert json.loads(again.stdout)["systems"][0]["metrics"] == recall["metrics"]


def test_eval_reuses_a_collection_built_by_index(tiny_models, beir, tmp_path):
    chroma = ["--chroma-dir", str(tmp_path / "chroma"), "--collection", "my-corpus"]
    model = ["--embedding-model", str(tiny_models.embedding), *TRANSFORMERS]
    env = {**os.environ, "QWEN3_RAG_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    indexed = subprocess.run([_command()[0], "index", str(beir / "corpus.jsonl"), *chroma,
                              *model], capture_output=True, text=True, timeout=300, env=env,
                             check=False)
    assert indexed.returncode == 0, indexed.stderr
    result = _run([str(beir), *chroma, *model, "--reranker-model", str(tiny_models.reranker),
                   "--output", str(tmp_path / "out")], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "embedded now" not in result.stderr  # nothing embedded: index did it
    for heading in ("nDCG@10", "MRR@10", "R@5", "R@10", "R@100", "p50", "p95"):
        assert heading in result.stdout
    assert "embedding + reranker" in result.stdout  # the tiny models' directory names
    assert (tmp_path / "out" / "eval.png").read_bytes().startswith(PNG_SIGNATURE)


def test_a_bad_file_is_one_line_naming_file_line_and_field(beir, tmp_path):
    with open(beir / "queries.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"_id": "q4", "text": "   "}) + "\n")
    result = _run([str(beir), "--tiny-models"], tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (f"qwen3-rag eval: error: {beir / 'queries.jsonl'}:4: "
                                     f"field 'text': is empty")


def test_unknown_qrels_id_is_one_line(beir, tmp_path):
    with open(beir / "qrels" / "test.tsv", "a", encoding="utf-8") as handle:
        handle.write("q2\td99\t1\n")
    result = _run([str(beir), "--tiny-models"], tmp_path)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"qwen3-rag eval: error: {beir / 'qrels' / 'test.tsv'}:6: "
                           f"field 'corpus-id': passage id 'd99' is not in the corpus")
