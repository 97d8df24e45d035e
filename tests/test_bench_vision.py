"""The VL benchmark's quick path runs end to end on the tiny VL models and writes its report.

No speed is checked: only that every system ran, agreed with the model card code, and that the
report has its sections.
"""

from __future__ import annotations

import json

import pytest

from bench.vision import main


@pytest.fixture(scope="module")
def vision_report(tmp_path_factory):
    """The output directory of one quick in-process run on the tiny models, and its exit code."""
    output = tmp_path_factory.mktemp("bench-vision-report")
    models = tmp_path_factory.mktemp("bench-vision-models")
    code = main(["--quick", "--tiny", "--in-process", "--output", str(output),
                 "--models-dir", str(models)])
    return output, code


def test_quick_run_succeeds_and_writes_the_report(vision_report):
    output, code = vision_report
    assert code == 0
    markdown = (output / "benchmarks-vision.md").read_text(encoding="utf-8")
    for heading in ("# Benchmarks: images (Qwen3-VL)", "## Machine", "## Settings",
                    "## Results", "## Targets", "## An image against a text of the same length",
                    "## How it is measured"):
        assert heading in markdown
    assert "| (a) model card code, fp32, one input per pass | " in markdown
    assert "| (b) qwen3_core.vision, transformers, dtype auto (the default) | " in markdown
    assert "| (c) qwen3_core.vision, transformers, fp32 | " in markdown
    assert "(quick, tiny model mode)" in markdown


def test_quick_run_records_every_output_and_agrees_with_the_card(vision_report):
    output, _ = vision_report
    data = json.loads((output / "benchmarks-vision.json").read_text(encoding="utf-8"))
    sizes = data["sizes"]
    for system in ("card", "core", "core-fp32"):
        embedding = data["raw"][system]["embedding"]
        reranker = data["raw"][system]["reranker"]
        assert len(embedding["outputs"]) == sizes["embed_images"]
        assert len(reranker["outputs"]) == sizes["rerank_images"]
        assert embedding["peak_rss_bytes"] > 0
    for kind in ("embedding", "reranker"):
        assert data["summary"]["core-fp32"][kind]["max_abs_diff"] <= 1e-5
    # The defaults (bf16 where the CPU computes it natively) within the report's own bounds.
    assert data["summary"]["core"]["reranker"]["max_abs_diff"] <= 0.05
    assert data["summary"]["core"]["embedding"]["min_cosine"] >= 0.99
    rows = data["raw"]["core"]["token-cost"]["rows"]
    assert [row["n"] for row in rows] == list(sizes["token_counts"])
    assert all(row["image_tokens"] == row["n"] for row in rows)
    assert all(row["text_tokens"] >= row["n"] for row in rows)
    assert all(row["vision_seconds"] is not None for row in rows)


def test_bench_run_vision_hands_its_options_to_bench_vision(monkeypatch, tmp_path):
    import bench.vision
    from bench.run import main as run_main

    seen = []
    monkeypatch.setattr(bench.vision, "main", lambda argv: seen.append(argv) or 0)
    assert run_main(["--vision", "--smoke", "--output", str(tmp_path)]) == 0
    assert seen == [["--quick", "--tiny", "--in-process", "--output", str(tmp_path),
                     "--timeout", "3600"]]
