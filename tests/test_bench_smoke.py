"""The benchmark's smoke mode runs end to end and writes its report; no speed is checked.

It runs through ``bench.run.main`` (what ``python -m bench.run`` calls), on the tiny test model,
in-process and without vLLM, in seconds.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import reference

from bench.run import main


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory):
    """The output directory of one smoke run and its exit code."""
    output = tmp_path_factory.mktemp("bench-report")
    models = tmp_path_factory.mktemp("bench-models")
    code = main(["--smoke", "--output", str(output), "--models-dir", str(models)])
    return output, models, code


def test_smoke_run_succeeds_and_writes_the_report(smoke_report):
    output, _, code = smoke_report
    assert code == 0
    markdown = (output / "benchmarks.md").read_text(encoding="utf-8")
    for heading in ("## Machine", "## Results", "## Targets (issue 7)",
                    "## Techniques, each measured on its own"):
        assert heading in markdown
    assert "| (a) model card code, fp32, batch 16 | " in markdown
    assert "| (b) ours, transformers, dtype auto | " in markdown
    assert "![speed relative to the model card code](benchmarks.png)" in markdown
    assert (output / "benchmarks.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_smoke_run_records_every_score_of_every_workload(smoke_report):
    output, _, _ = smoke_report
    data = json.loads((output / "benchmarks.json").read_text(encoding="utf-8"))
    sizes = data["workload"]["sizes"]
    for system in ("card", "transformers", "transformers-fp32"):
        reranker = data["raw"][system]["reranker"]["results"]
        embedding = data["raw"][system]["embedding"]["results"]
        assert len(reranker["short"]["scores"]) == sizes["short_docs"]
        assert len(reranker["long"]["scores"]) == sizes["long_docs"]
        assert [len(s) for s in reranker["latency"]["scores"]] == (
            [sizes["latency_docs"]] * sizes["latency_repeats"]
        )
        assert len(embedding["embed"]["scores"]) == sizes["passages"]


def test_the_benchmarks_model_card_code_matches_the_reference(smoke_report):
    """System (a) must be the model card's computation, or every ratio means nothing."""
    output, models, _ = smoke_report
    data = json.loads((output / "benchmarks.json").read_text(encoding="utf-8"))
    workload = data["workload"]
    expected = reference.rerank_scores(
        models / "tiny" / "reranker", workload["long_query"], workload["long_docs"]
    )
    measured = data["raw"]["card"]["reranker"]["results"]["long"]["scores"]
    assert measured == pytest.approx(expected, abs=1e-5)


def test_the_benchmarks_model_card_embeddings_match_the_reference(smoke_report):
    output, models, _ = smoke_report
    data = json.loads((output / "benchmarks.json").read_text(encoding="utf-8"))
    workload = data["workload"]
    path = models / "tiny" / "embedding"
    query = np.asarray(reference.embed_query(path, workload["embed_query"]))
    expected = [float(np.asarray(reference.embed(path, p)) @ query) for p in workload["passages"]]
    measured = data["raw"]["card"]["embedding"]["results"]["embed"]["scores"]
    assert measured == pytest.approx(expected, abs=1e-5)
