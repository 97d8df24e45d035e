"""vLLM's CPU build gets every core of a small machine, unless the user decided otherwise."""

from __future__ import annotations

import os

import pytest

from qwen3_core.engines import vllm_backend

VARIABLE = "VLLM_CPU_NUM_OF_RESERVED_CPU"
AOT = "VLLM_USE_AOT_COMPILE"


@pytest.fixture
def machine(monkeypatch):
    """Set the number of usable cores and whether a GPU is present."""
    monkeypatch.delenv(VARIABLE, raising=False)
    monkeypatch.delenv(AOT, raising=False)

    def set_machine(cores: int, gpu: bool = False) -> None:
        monkeypatch.setattr(vllm_backend, "usable_cpu_count", lambda: cores)
        monkeypatch.setattr(vllm_backend, "has_nvidia_gpu", lambda: gpu)

    return set_machine


@pytest.mark.parametrize("cores", [1, 2, 4, 7])
def test_small_cpus_reserve_no_core(machine, cores):
    machine(cores)
    assert vllm_backend.vllm_cpu_environment() == {VARIABLE: "0", AOT: "0"}


@pytest.mark.parametrize("cores", [8, 64])
def test_large_cpus_keep_vllms_core_choice(machine, cores):
    machine(cores)
    assert vllm_backend.vllm_cpu_environment() == {AOT: "0"}


def test_gpu_machines_are_left_alone(machine):
    machine(2, gpu=True)
    assert vllm_backend.vllm_cpu_environment() == {}


def test_the_users_own_settings_win(machine, monkeypatch):
    machine(2)
    monkeypatch.setenv(VARIABLE, "1")
    monkeypatch.setenv(AOT, "1")
    assert vllm_backend.vllm_cpu_environment() == {}


@pytest.mark.vllm
def test_a_running_engine_computes_on_every_core_here(vllm_reranker):
    # The session's engine started on this machine (2 cores, no GPU); its engine process read
    # the setting while it started, and the user's environment is as it was.
    if len(os.sched_getaffinity(0)) >= 8:
        pytest.skip("this machine has enough cores for vLLM's own binding")
    assert len(vllm_reranker.score("q", ["d"])) == 1
    assert VARIABLE not in os.environ and AOT not in os.environ


def test_engine_environment_is_set_while_an_engine_starts_only(machine, monkeypatch):
    machine(2)
    with vllm_backend.engine_environment():
        assert os.environ[VARIABLE] == "0" and os.environ[AOT] == "0"
    assert VARIABLE not in os.environ and AOT not in os.environ
