"""The commands print their own output only; ``-v`` shows what the libraries print.

Run as a user runs them: a real ``qwen3-rag`` process on the vLLM backend, the noisiest one
(vLLM's INFO logs, Triton, tcmalloc, torch FutureWarnings, progress bars while loading).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

# What the libraries print and the commands never do.
THIRD_PARTY = re.compile(r"\b(INFO|WARNING|DEBUG)\b|Triton|FutureWarning|tcmalloc|NUMA|"
                         r"EngineCore|Loading weights|it/s\]|chat.template")


def _demo(tiny_models, tmp_path, *options: str, env: dict | None = None):
    command = [sys.executable, "-m", "qwen3_rag.cli", *options, "demo", "--no-interactive",
               "--embedding-model", str(tiny_models.embedding),
               "--reranker-model", str(tiny_models.reranker), "--backend", "vllm",
               "--engine-kwargs", '{"enforce_eager": true}']
    environment = {**os.environ, "QWEN3_RAG_CACHE_DIR": str(tmp_path / "cache"),
                   "COLUMNS": "100", **(env or {})}
    for variable in ("VLLM_LOGGING_LEVEL", "TRANSFORMERS_VERBOSITY", "QWEN3_RAG_LOG_LEVEL"):
        if env is None or variable not in env:
            environment.pop(variable, None)
    return subprocess.run(command, capture_output=True, text=True, timeout=900,
                          env=environment, check=False)


@pytest.mark.vllm
def test_demo_prints_nothing_from_the_libraries_unless_asked(tiny_models, tmp_path):
    quiet = _demo(tiny_models, tmp_path)
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    everything = quiet.stdout + quiet.stderr
    assert "Stage 2" in quiet.stdout and "Models:" in quiet.stderr
    assert not [line for line in everything.splitlines() if THIRD_PARTY.search(line)]
    loud = _demo(tiny_models, tmp_path, "-v")
    assert loud.returncode == 0, loud.stderr[-3000:]
    assert "Stage 2" in loud.stdout
    assert [line for line in loud.stderr.splitlines() if THIRD_PARTY.search(line)]


def test_an_unknown_log_level_is_one_message(tiny_models, tmp_path):
    child = subprocess.run([sys.executable, "-m", "qwen3_rag.cli", "doctor"],
                           capture_output=True, text=True, timeout=120, check=False,
                           env={**os.environ, "QWEN3_RAG_LOG_LEVEL": "LOUD"})
    assert child.returncode == 2
    assert "QWEN3_RAG_LOG_LEVEL='LOUD'" in child.stderr and "DEBUG, INFO" in child.stderr
    assert "Traceback" not in child.stderr


@pytest.mark.parametrize("command,options,gpu,want", [
    ("demo", [], False, "transformers"),
    ("search", [], False, "transformers"),
    ("demo", [], True, "auto"),
    ("index", [], False, "auto"),
    ("demo", ["--backend", "vllm"], False, "vllm"),
    ("demo", ["--engine-kwargs", '{"enforce_eager": true}'], False, "auto"),
])
def test_interactive_commands_start_fast_on_a_cpu(command, options, gpu, want, monkeypatch):
    import qwen3_core.hardware

    from qwen3_rag.cli import build_parser
    from qwen3_rag.common.loading import command_backend

    monkeypatch.setattr(qwen3_core.hardware, "has_nvidia_gpu", lambda: gpu)
    argv = [command, *options] + (["x.txt", "--collection", "col"] if command == "index" else [])
    if command == "search":
        argv += ["a question", "--collection", "col"]
    assert command_backend(build_parser().parse_args(argv), None) == want
