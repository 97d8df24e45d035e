"""``qwen3-rag serve`` flags, without starting a server (``--dry-run``).

The flags a server needs are checked against the vLLM settings the model card and the in-process
engine use; starting real servers is ``test_http_backend.py``'s job.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from local_ports import free_port

from qwen3_rag.cli import build_parser, main
from qwen3_rag.server.command import vllm_flags


def _plain_command(capsys, argv: list[str]) -> list[str]:
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    command = next(line for line in lines if "vllm.entrypoints.openai.api_server" in line)
    words = shlex.split(command)
    # Leading NAME=VALUE words are environment settings (checked in their own test).
    while "=" in words[0]:
        words.pop(0)
    return words


def test_the_plain_command_shows_the_cpu_setting_it_runs_with(capsys, tiny_models):
    assert main(["serve", "reranker", "--model", str(tiny_models.reranker), "--dry-run"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines()
                if "vllm.entrypoints.openai.api_server" in line)
    # This machine: 2 cores, no GPU, so vLLM's scheduler gets no core of its own, and the
    # compile cache is the one a warm start loads. A user's own setting is inherited, not
    # repeated.
    expected = ""
    if len(os.sched_getaffinity(0)) < 8 and "VLLM_CPU_NUM_OF_RESERVED_CPU" not in os.environ:
        expected += "VLLM_CPU_NUM_OF_RESERVED_CPU=0 "
    if "VLLM_USE_AOT_COMPILE" not in os.environ:
        expected += "VLLM_USE_AOT_COMPILE=0 "
    assert line.strip().startswith(expected + "python -m vllm.entrypoints.openai.api_server")


def _value(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def test_reranker_server_flags(capsys, tiny_models):
    model = str(tiny_models.reranker)
    command = _plain_command(capsys, ["serve", "reranker", "--model", model, "--dry-run"])
    assert command[:3] == ["python", "-m", "vllm.entrypoints.openai.api_server"]
    assert _value(command, "--model") == model
    assert _value(command, "--served-model-name") == model
    assert _value(command, "--port") == "8001"
    assert _value(command, "--runner") == "pooling"
    assert json.loads(_value(command, "--hf-overrides")) == {
        "architectures": ["Qwen3ForSequenceClassification"],
        "classifier_from_token": ["no", "yes"],
        "is_original_qwen3_reranker": True,
    }
    assert json.loads(_value(command, "--pooler-config"))["pooling_type"] == "LAST"
    assert "--enable-prefix-caching" in command
    assert int(_value(command, "--kv-cache-memory-bytes")) > 0
    # The standard rerank/score routes answer with the Qwen3 prompt (tests/test_api_routes.py).
    assert _value(command, "--middleware") == "qwen3_rag.server.Qwen3Routes"


def test_embedding_server_flags_and_passthrough(capsys, tiny_models):
    argv = ["serve", "embedding", "--model", str(tiny_models.embedding), "--port", "9123",
            "--host", "0.0.0.0", "--dtype", "float32", "--max-length", "4096",
            "--served-model-name", "emb", "--dry-run", "--", "--enforce-eager",
            "--max-num-seqs", "8"]
    command = _plain_command(capsys, argv)
    # Matryoshka cuts through the OpenAI `dimensions` field.
    assert json.loads(_value(command, "--hf-overrides")) == {"is_matryoshka": True}
    assert _value(command, "--middleware") == "qwen3_rag.server.Qwen3Routes"
    assert _value(command, "--served-model-name") == "emb"
    assert (_value(command, "--host"), _value(command, "--port")) == ("0.0.0.0", "9123")
    assert _value(command, "--dtype") == "float32"
    assert _value(command, "--max-model-len") == "4096"
    assert command[-3:] == ["--enforce-eager", "--max-num-seqs", "8"]


def test_vllm_flags_spelling():
    flags = vllm_flags({"model": "m", "enforce_eager": True, "enable_prefix_caching": False,
                        "max_model_len": 512, "hf_overrides": {"a": [1]}, "_private": 1,
                        "seed": None})
    assert flags == ["--enforce-eager", "--no-enable-prefix-caching", "--max-model-len", "512",
                     "--hf-overrides", '{"a":[1]}']


def test_model_and_kind_are_required():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "reranker"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "classifier", "--model", "x"])


@pytest.mark.vllm  # runs vLLM's server module, which rejects the flag
def test_exits_with_the_servers_status(tiny_models):
    # vLLM itself rejects the unknown flag (argparse status 2) before loading anything.
    script = Path(sys.executable).with_name("qwen3-rag")
    result = subprocess.run(
        [str(script), "serve", "embedding", "--model", str(tiny_models.embedding),
         "--port", str(free_port()), "--", "--no-such-vllm-flag"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2
    assert "--no-such-vllm-flag" in result.stderr
    assert "python -m vllm.entrypoints.openai.api_server" in result.stdout


def test_a_dry_run_needs_no_weights(capsys, tiny_models, tmp_path):
    # A model directory as a dry run downloads it from the hub: config and tokenizer only.
    config_only = tmp_path / "reranker-without-weights"
    shutil.copytree(tiny_models.reranker, config_only,
                    ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    assert main(["serve", "reranker", "--model", str(config_only), "--dry-run"]) == 0
    assert "vllm.entrypoints.openai.api_server" in capsys.readouterr().out


def test_a_dry_run_without_the_hub_fails_fast_in_one_line(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "empty-hub-cache")}
    started = time.monotonic()
    finished = subprocess.run(
        [sys.executable, "-m", "qwen3_rag.cli", "serve", "reranker", "--model",
         "Qwen/Qwen3-Reranker-0.6B", "--dry-run"],
        capture_output=True, text=True, env=env, timeout=120, check=False)
    assert finished.returncode == 1
    assert time.monotonic() - started < 30
    assert "Traceback" not in finished.stderr
    assert "could not get model 'Qwen/Qwen3-Reranker-0.6B'" in finished.stderr


@pytest.mark.parametrize("option", [["--dtype", "fp8"], ["--max-length", "0"],
                                    ["--max-length", "many"], ["--port", "x"],
                                    ["--port", "0"], ["--port", "65536"]])
def test_a_bad_option_value_is_one_line_without_traceback(option, capsys, tiny_models):
    with pytest.raises(SystemExit) as exited:
        main(["serve", "reranker", "--model", str(tiny_models.reranker), *option, "--dry-run"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"argument {option[0]}" in err
