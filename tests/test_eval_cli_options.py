"""``qwen3-rag eval`` refuses options that do not fit together, in one line, before any model."""

from __future__ import annotations

import pytest

from qwen3_rag.cli import main


@pytest.fixture(autouse=True)
def _no_hub(monkeypatch, tmp_path):
    monkeypatch.setenv("QWEN3_RAG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.parametrize(("arguments", "message"), [
    (["--embedding-model", "a", "--embedding-model", "b", "--embedding-base-url", "http://x:1"],
     "2 --embedding-model but 1 --embedding-base-url: give one URL per model, in the same "
     "order, or none"),
    (["--tiny-models", "--reranker-model", "r"],
     "--tiny-models replaces the models: name no model or server with it"),
    (["--corpus", "c.jsonl"], "hand-written test sets need both --corpus and --queries"),
    (["some-dir", "--corpus", "c.jsonl", "--queries", "q.jsonl"],
     "give a BEIR directory or --corpus and --queries, not both"),
])
def test_conflicting_options_are_one_line(capsys, arguments, message):
    assert main(["eval", *arguments]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"qwen3-rag eval: error: {message}"


@pytest.mark.parametrize(("arguments", "words"), [
    (["--k", "0"], "--k: 0 is out of range: use a whole number from 1 up"),
    (["--stat-test", "wilcoxon"],
     "invalid choice: 'wilcoxon' (choose from 'student', 'fisher', 'tukey')"),
    (["--max-p", "1.5"], "must be between 0 and 1, got 1.5"),
])
def test_bad_values_are_refused_by_the_parser(capsys, arguments, words):
    with pytest.raises(SystemExit) as exit_:
        main(["eval", *arguments])
    assert exit_.value.code == 2
    assert words in capsys.readouterr().err


def test_systems_are_named_by_the_fewest_parts_that_tell_them_apart():
    from qwen3_rag.evaluation.command import _labels

    assert _labels(["Qwen/Qwen3-Embedding-0.6B", "Qwen/Qwen3-Embedding-4B"]) == {
        "Qwen/Qwen3-Embedding-0.6B": "Qwen3-Embedding-0.6B",
        "Qwen/Qwen3-Embedding-4B": "Qwen3-Embedding-4B"}
    assert _labels(["/m/v1/embedding", "/m/v2/embedding", "/m/v1/reranker"]) == {
        "/m/v1/embedding": "v1/embedding", "/m/v2/embedding": "v2/embedding",
        "/m/v1/reranker": "reranker"}
    # Names that no trailing part tells apart are shown in full.
    assert _labels(["a/model", "/a/model"]) == {"a/model": "a/model", "/a/model": "/a/model"}
