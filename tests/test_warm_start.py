"""Backend ``auto`` on a CPU: transformers answers at once, vLLM takes over once it has started.

The hand-over is checked with recording engines (every prompt answered once, by one engine,
under concurrent calls) and with the real engines against the model cards' formulas
(``reference``); the memory check and closing during vLLM's start with real processes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np
import psutil
import pytest
import reference
from conftest import VLLM_KWARGS
from tolerances import VLLM_VECTORS

from qwen3_core import EngineSpec, Qwen3Embedder, Qwen3Reranker
from qwen3_core.engines.warm_start import (
    WARM_START_BACKEND,
    WarmStartEngine,
    memory_problem,
    prefer_warm_start,
)
from qwen3_core.models import resolve_model

QUERY = "Which river flows through the old town?"
DOCUMENTS = ["The river bends twice before it reaches the harbour.", "量子力学描述微观粒子的行为。",
             "A compiler translates source code into machine instructions."]


def _score(prompt: Sequence[int]) -> float:
    return (sum(prompt) % 97) / 97


class RecordingEngine:
    """Answers from the prompt alone (so both engines agree) and records what it was asked."""

    def __init__(self, backend: str, seconds_per_call: float = 0.0):
        self.backend = backend
        self.seconds_per_call = seconds_per_call
        self.seen: list[tuple[int, ...]] = []
        self.closed = False
        self.busy = threading.Lock()

    def score_groups(self, groups):
        assert self.busy.acquire(blocking=False), "called from two threads at once"
        try:
            assert not self.closed, "called after close()"
            time.sleep(self.seconds_per_call)
            self.seen += [tuple(p) for group in groups for p in group]
            return [np.asarray([_score(p) for p in group], dtype=np.float32) for group in groups]
        finally:
            self.busy.release()

    def embed(self, ids):
        scores = self.score_groups([ids])[0]
        return np.repeat(scores[:, None], 4, axis=1)

    def close(self):
        self.closed = True


def test_hand_over_under_concurrent_calls_answers_every_prompt_once():
    first = RecordingEngine("transformers", seconds_per_call=0.002)
    final = RecordingEngine("vllm")
    go = threading.Event()

    def start_final():
        go.wait(30)
        return final

    engine = WarmStartEngine("reranker", first, start_final, idle_start_seconds=0)
    answers: dict[tuple[int, ...], float] = {}
    failures: list[BaseException] = []

    def user(thread: int):
        try:
            for call in range(40):
                # One small group and one larger than a piece, so calls are cut mid-way.
                groups = [[(thread, call, 0, i) for i in range(3)],
                          [(thread, call, 1, i) for i in range(150)]]
                for group, scores in zip(groups, engine.score_groups(groups)):
                    for prompt, score in zip(group, scores):
                        answers[prompt] = float(score)
                if thread == 0 and call == 10:
                    go.set()  # the others keep calling while the hand-over happens
                    assert engine.wait_for_hand_over(30)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=user, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures
    assert engine.wait_for_hand_over(30) and engine.serving == "vllm"
    asked = first.seen + final.seen
    assert len(asked) == len(set(asked)) == 4 * 40 * 153, "a prompt was dropped or repeated"
    assert first.seen and final.seen, "both engines should have served"
    assert first.closed and not final.closed
    assert all(answers[p] == pytest.approx(_score(p)) for p in asked)
    engine.close()
    assert final.closed


def test_embed_keeps_the_order_across_pieces():
    first = RecordingEngine("transformers")
    engine = WarmStartEngine("embedding", first, lambda: RecordingEngine("vllm"),
                             final_memory_problem=lambda: "no room", idle_start_seconds=0)
    prompts = [(i, i + 1) for i in range(200)]
    vectors = engine.embed(prompts)
    assert vectors.shape == (200, 4)
    np.testing.assert_allclose(vectors[:, 0], [_score(p) for p in prompts], rtol=1e-6)
    engine.close()


def test_short_memory_keeps_the_first_engine_and_starts_nothing():
    first = RecordingEngine("transformers")
    started = []
    engine = WarmStartEngine("reranker", first, lambda: started.append(1),
                             final_memory_problem=lambda: "vLLM needs 5 GiB, 1 GiB available",
                             idle_start_seconds=0)
    assert engine.wait_for_hand_over(10)
    assert engine.serving == "transformers" and not started
    assert engine.score_groups([[(1, 2, 3)]])[0][0] == pytest.approx(_score((1, 2, 3)))
    engine.close()
    assert first.closed


def test_memory_check_uses_the_available_memory_it_is_given(tiny_models):
    info = resolve_model(str(tiny_models.reranker), weights=True)
    assert memory_problem(info, "float32", 8192, available=lambda: 256 << 20) is not None
    assert memory_problem(info, "float32", 8192, available=lambda: 1 << 40) is None


@pytest.mark.vllm  # vLLM installed, no GPU: the machine `make test` runs on
def test_auto_starts_warm_on_a_cpu_and_settings_pin_one_engine():
    assert prefer_warm_start("vllm", EngineSpec("reranker", "m")) == WARM_START_BACKEND
    assert prefer_warm_start("vllm", EngineSpec("reranker", "m", backend="vllm")) == "vllm"
    pinned = EngineSpec("reranker", "m", engine_kwargs={"enforce_eager": True})
    assert prefer_warm_start("vllm", pinned) == "vllm"
    assert prefer_warm_start("transformers", EngineSpec("reranker", "m")) == "transformers"


@pytest.mark.vllm
def test_results_before_and_after_the_hand_over_match_the_model_cards(tiny_models):
    with Qwen3Reranker(tiny_models.reranker, backend=WARM_START_BACKEND, dtype="float32",
                       engine_kwargs=VLLM_KWARGS) as rr, \
            Qwen3Embedder(tiny_models.embedding, backend=WARM_START_BACKEND, dtype="float32",
                          engine_kwargs=VLLM_KWARGS) as emb:
        want = reference.rerank_scores(str(tiny_models.reranker), QUERY, DOCUMENTS)
        want_vectors = np.stack([reference.embed(str(tiny_models.embedding), d)
                                 for d in DOCUMENTS])
        served = []
        for model in (rr, emb, rr, emb):  # before, then after each hand-over
            engine = model._engine().engine
            served.append(engine.serving)
            if isinstance(model, Qwen3Reranker):
                np.testing.assert_allclose(rr.score(QUERY, DOCUMENTS), want, atol=1e-5)
            else:
                np.testing.assert_allclose(emb.embed_documents(DOCUMENTS), want_vectors,
                                           atol=VLLM_VECTORS)
            if len(served) <= 2:
                assert engine.wait_for_hand_over(600)
        assert served == ["transformers", "transformers", "vllm", "vllm"]


def _engine_processes() -> list[psutil.Process]:
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(process.cmdline()):
                found.append(process)
        except psutil.ZombieProcess:
            found.append(process)  # ended, not yet reaped: still left behind
        except psutil.NoSuchProcess:
            pass
    return found


@pytest.mark.vllm
def test_close_during_vllm_start_leaves_no_process(tiny_models):
    before = {p.pid for p in _engine_processes()}
    rr = Qwen3Reranker(tiny_models.reranker, backend=WARM_START_BACKEND, dtype="float32",
                       engine_kwargs=VLLM_KWARGS)
    rr.score(QUERY, DOCUMENTS)  # the first answer starts vLLM in the background
    deadline = time.monotonic() + 120
    while not [p for p in _engine_processes() if p.pid not in before]:
        assert time.monotonic() < deadline, "vLLM started no process"
        time.sleep(0.2)
    started = [p for p in _engine_processes() if p.pid not in before]
    assert rr._engine().engine.serving == "transformers", "the start should still be under way"
    rr.close()
    _, alive = psutil.wait_procs(started, timeout=10)
    assert not alive, f"left behind: {alive}"
