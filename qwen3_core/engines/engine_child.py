"""Run first in vLLM's engine processes (as their ``__mp_main__``), before vLLM is imported there.

vLLM starts its engine and worker processes with ``spawn``, which first imports the parent's
``__main__``. While an engine starts, :mod:`qwen3_core.engines.spawn_safety` names this module
instead of the user's script, so the script never runs twice and the processes log at the level
the user's process chose (:mod:`qwen3_core.logs`).
"""

from __future__ import annotations

import os

from qwen3_core.logs import CHILD_LEVEL_VARIABLE, quiet_vllm_here

__all__: list[str] = []

if os.environ.get(CHILD_LEVEL_VARIABLE):
    quiet_vllm_here(os.environ[CHILD_LEVEL_VARIABLE])
