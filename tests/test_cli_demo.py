"""``qwen3-rag demo`` on the tiny models: both stages checked against the model-card formulas."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import reference

from qwen3_rag.cli import main
from qwen3_rag.demo.corpus import SAMPLE_QUERIES, load_sample_corpus

TRANSFORMERS = ["--backend", "transformers", "--dtype", "float32"]


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    """An empty qwen3-rag cache dir (Chroma, tiny models) for one test."""
    monkeypatch.setenv("QWEN3_RAG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no hub here: fail fast, never hang on retries
    return tmp_path / "cache"


@pytest.fixture()
def tiny_args(tiny_models):
    return ["--embedding-model", str(tiny_models.embedding),
            "--reranker-model", str(tiny_models.reranker), *TRANSFORMERS]


def _run(argv, capsys, stdin: str = ""):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_json_results_match_the_model_card_formulas(cache, tiny_args, tiny_models, capsys):
    code, out, _ = _run(["demo", *tiny_args, "--json", "--k", "6", "--top-n", "3"], capsys)
    assert code == 0
    report = json.loads(out)
    assert report["random_weights"] is False
    assert [r["query"] for r in report["results"]] == list(SAMPLE_QUERIES)

    corpus = [p.text for p in load_sample_corpus()]
    emb_path, rr_path = str(tiny_models.embedding), str(tiny_models.reranker)
    corpus_vectors = np.stack([reference.embed(emb_path, text) for text in corpus])
    for result in report["results"]:
        cosine = corpus_vectors @ reference.embed_query(emb_path, result["query"])
        expected_top = [corpus[i] for i in np.argsort(-cosine)[:6]]
        candidates = result["candidates"]
        # Stage 1: the k passages closest by the reference embedding, in that order.
        assert [c["text"] for c in candidates] == expected_top
        for c in candidates:
            assert c["cosine"] == pytest.approx(cosine[corpus.index(c["text"])], abs=1e-4)
        # Stage 2: the reference reranker's scores, best first, each naming its stage-1 rank.
        scores = reference.rerank_scores(rr_path, result["query"], expected_top)
        best = sorted(range(6), key=lambda i: -scores[i])[:3]
        assert [r["recall_rank"] for r in result["reranked"]] == [i + 1 for i in best]
        for r, i in zip(result["reranked"], best, strict=True):
            assert r["text"] == expected_top[i]
            assert r["score"] == pytest.approx(scores[i], abs=1e-5)
        assert result["recall_ms"] > 0 and result["rerank_ms"] > 0


def test_second_run_reuses_the_stored_vectors(cache, tiny_args, capsys, embedded_texts):
    corpus = [p.text for p in load_sample_corpus()]
    assert _run(["demo", *tiny_args, "--no-interactive"], capsys)[0] == 0
    assert sorted(embedded_texts) == sorted(corpus)
    assert (cache / "chroma").is_dir()
    embedded_texts.clear()
    code, out, err = _run(["demo", *tiny_args, "--no-interactive"], capsys)
    assert code == 0
    assert embedded_texts == []  # every passage found by its content hash
    assert f"{len(corpus)} passages" in err
    assert "0 embedded now" in err and f"{len(corpus)} reused" in err
    for query in SAMPLE_QUERIES:
        assert f"Query: {query}" in out
    assert "Stage 1" in out and "Stage 2" in out


QUESTION = "how does [b]attention[/b] work?"  # brackets must print as typed, not as style


@pytest.mark.parametrize("stdin", [f"{QUESTION}\nquit\n", f"{QUESTION}\nexit\n",
                                   f"\n{QUESTION}\nQ\n",
                                   f"{QUESTION}\n"])  # Ctrl-D: end of input
def test_interactive_prompt_answers_then_ends_cleanly(cache, tiny_args, capsys, stdin):
    code, out, _ = _run(["demo", *tiny_args], capsys, stdin=stdin)
    assert code == 0
    assert out.count("Query: ") == len(SAMPLE_QUERIES) + 1
    assert f"Query: {QUESTION}" in out


def test_ctrl_c_at_the_prompt_ends_cleanly(cache, tiny_args, capsys, monkeypatch):
    def interrupted(prompt=""):
        raise KeyboardInterrupt

    monkeypatch.setattr("builtins.input", interrupted)
    code, out, _ = _run(["demo", *tiny_args], capsys)
    assert code == 0
    assert out.count("Query: ") == len(SAMPLE_QUERIES)


def test_falls_back_to_tiny_models_loudly_when_defaults_are_unavailable(cache, capsys):
    code, out, err = _run(["demo", *TRANSFORMERS, "--json"], capsys)
    assert code == 0
    assert "RANDOM-WEIGHT" in err and "Qwen/Qwen3-Embedding-0.6B" in err
    report = json.loads(out)
    assert report["random_weights"] is True
    assert report["embedding_model"].startswith(str(cache / "tiny-models"))


def test_a_named_model_that_cannot_load_is_one_message_and_exit_1(cache, tmp_path):
    missing = tmp_path / "no-such-model"
    child = subprocess.run(
        [sys.executable, "-m", "qwen3_rag.cli", "demo", "--embedding-model", str(missing),
         "--no-interactive"],
        capture_output=True, text=True, timeout=120, env=os.environ.copy(), check=False,
    )
    assert child.returncode == 1
    assert "Traceback" not in child.stderr
    assert str(missing) in child.stderr and "--embedding-model" in child.stderr
    assert child.stdout == ""


def test_an_unreachable_hub_id_names_the_model_and_exits_1(cache, tiny_models, capsys):
    code, out, err = _run(["demo", "--embedding-model", str(tiny_models.embedding),
                           "--reranker-model", "Qwen/Qwen3-Reranker-8B", *TRANSFORMERS], capsys)
    assert code == 1
    assert "Qwen/Qwen3-Reranker-8B" in err and "hf download Qwen/Qwen3-Reranker-8B" in err
    assert "RANDOM-WEIGHT" not in err  # a model the user named never falls back


# -- leaving the prompt, and the width of what is printed -------------------------------------

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _demo_process(cache, tiny_args, *extra, stdin: str = "", columns: str | None = None):
    """The demo as a person runs it, its output piped (not a terminal)."""
    env = {**os.environ, "PYTHONPATH": ROOT, "QWEN3_RAG_CACHE_DIR": str(cache),
           "HF_HUB_OFFLINE": "1"}
    env.pop("COLUMNS", None)
    if columns is not None:
        env["COLUMNS"] = columns
    return subprocess.run([sys.executable, "-m", "qwen3_rag.cli", "demo", *tiny_args, *extra],
                          input=stdin, capture_output=True, text=True, env=env, timeout=300,
                          check=False)


@pytest.mark.parametrize("word", ["退出", "  QuIt \t", "EXIT", " q "])
def test_quit_words_end_the_prompt_in_a_real_process(cache, tiny_args, word):
    child = _demo_process(cache, tiny_args, stdin=f"{QUESTION}\n{word}\nnever asked\n")
    assert child.returncode == 0, child.stderr
    assert f"Query: {QUESTION}" in child.stdout
    assert "never asked" not in child.stdout  # the loop ended at the word, not at end of input
    assert child.stdout.count("Query: ") == len(SAMPLE_QUERIES) + 1
    assert "退出" in child.stdout  # the prompt says how to leave


@pytest.mark.parametrize("line, leaves", [("q", True), ("Q", True), (" quit ", True),
                                          ("Exit", True), ("退出", True), ("　退出　", True),
                                          ("quit now", False), ("exit?", False), ("", False),
                                          ("退", False)])
def test_is_quit(line, leaves):
    from qwen3_rag.demo.command import is_quit

    assert is_quit(line) is leaves


def test_piped_output_follows_columns(cache, tiny_args):
    from rich.cells import cell_len

    child = _demo_process(cache, tiny_args, "--no-interactive", columns="80")
    assert child.returncode == 0, child.stderr
    for stream in (child.stdout, child.stderr):
        widths = [cell_len(line) for line in stream.splitlines()]
        assert max(widths) <= 80, max(widths)
    assert max(cell_len(line) for line in child.stdout.splitlines()) == 80  # tables fill it

    # COLUMNS unset: the readable default of piped output, not rich's 80.
    from qwen3_rag.common.render import PIPED_WIDTH

    child = _demo_process(cache, tiny_args, "--no-interactive")
    assert child.returncode == 0, child.stderr
    assert max(cell_len(line) for line in child.stdout.splitlines()) == PIPED_WIDTH


def test_the_demo_collection_records_its_pair_for_search(cache, tiny_args, tiny_models, capsys):
    from qwen3_rag.retrieval.store import (
        default_chroma_dir,
        open_client,
        recorded_embedding_model,
        recorded_reranker_model,
    )

    assert _run(["demo", *tiny_args, "--no-interactive"], capsys)[0] == 0
    client = open_client(default_chroma_dir())
    (name,) = [c if isinstance(c, str) else c.name for c in client.list_collections()]
    assert recorded_embedding_model(client, name) == str(tiny_models.embedding)
    assert recorded_reranker_model(client, name) == str(tiny_models.reranker)
    code, out, err = _run(["search", "glaciers", "--collection", name, *TRANSFORMERS, "--json"],
                          capsys)
    assert code == 0, err  # neither model named: the demo's pair, not the defaults
    assert json.loads(out)["reranked"]
