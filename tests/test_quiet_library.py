"""A user's plain script shows only its own output: nothing from vLLM, transformers or torch.

Real scripts in real interpreters, with nothing of ours in their environment. The default is
quiet (from the start through the hand-over to vLLM to closing), and each way of asking for the
libraries' messages brings them back; vLLM's chat-template warning, which does not apply to
token-id prompts, never shows.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import VLLM_KWARGS

_SCRIPT = """\
import logging
import os
import sys
from qwen3_core import Qwen3Reranker

environment = dict(os.environ)
if {logger_level!r}:
    logging.getLogger("vllm").setLevel({logger_level!r})
rr = Qwen3Reranker({model!r}, backend={backend!r}, dtype="float32", engine_kwargs={kwargs!r})
print("first", [round(float(s), 4) for s in rr.score("Which river?", ["The river bends."])])
engine = rr._engine().engine
if hasattr(engine, "wait_for_hand_over"):
    assert engine.wait_for_hand_over(600) and engine.serving == "vllm", engine.serving
print("after", [round(float(s), 4) for s in rr.score("Which river?", ["The river bends."])])
rr.close()
assert dict(os.environ) == environment, "the user's environment changed"
"""

_INAPPLICABLE = "Serving an original Qwen3 reranker"


def _run(tmp_path, tiny_models, backend: str, env_extra=None, logger_level=None):
    script = tmp_path / "user_script.py"
    script.write_text(_SCRIPT.format(model=str(tiny_models.reranker), backend=backend,
                                     kwargs=VLLM_KWARGS, logger_level=logger_level))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VLLM_", "QWEN3_RAG_", "TRANSFORMERS_", "PYTHONWARNINGS"))}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=900, cwd=tmp_path, env=env, check=False)


@pytest.mark.vllm
def test_a_plain_script_prints_only_its_own_output(tiny_models, tmp_path):
    finished = _run(tmp_path, tiny_models, "transformers-then-vllm")
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert [line.split()[0] for line in finished.stdout.splitlines()] == ["first", "after"], \
        finished.stdout[-3000:]
    assert finished.stderr == "", finished.stderr[-3000:]


@pytest.mark.vllm
@pytest.mark.parametrize(("env_extra", "logger_level"), [
    ({"QWEN3_RAG_LOG_LEVEL": "INFO"}, None),
    ({"VLLM_LOGGING_LEVEL": "INFO"}, None),
    ({}, "INFO"),
], ids=["QWEN3_RAG_LOG_LEVEL", "VLLM_LOGGING_LEVEL", "logging"])
def test_the_quiet_default_can_be_overridden(tiny_models, tmp_path, env_extra, logger_level):
    finished = _run(tmp_path, tiny_models, "vllm", env_extra, logger_level)
    assert finished.returncode == 0, finished.stderr[-3000:]
    shown = finished.stdout + finished.stderr
    assert "INFO" in shown and "EngineCore" in shown, shown[-3000:]
    assert _INAPPLICABLE not in shown
