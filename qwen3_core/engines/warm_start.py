"""The first answer in seconds, vLLM's speed after: transformers now, vLLM once it has started.

vLLM on a CPU takes 40 to 100 s to start (importing it, its engine processes, torch.compile);
the transformers backend is ready in about 5 s and computes the same formulas. Backend
``auto`` on a machine with vLLM but without a GPU starts a :class:`WarmStartEngine`: it answers
on transformers at once and starts vLLM in a background thread, then hands over.

The hand-over changes no result beyond the dtype's tolerance (both engines compute the model
cards' formulas from the same token ids), drops and repeats no request (each piece of work runs
on exactly one engine; calls in flight finish on the engine they started on, which is closed
only after them), and never holds two copies of the weights where memory does not allow: vLLM
starts only if the memory available then fits it beside the running engine, otherwise the
engine stays on transformers. ``backend="vllm"``, ``backend="transformers"`` and
``engine_kwargs`` (whose keys belong to one engine) pin a single engine instead.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from qwen3_core.engines.backends import engine_starter
from qwen3_core.engines.dtypes import dtype_bytes
from qwen3_core.engines.sizing import cpu_kv_cache_bytes, plan_gpu_share
from qwen3_core.hardware import gpu_total_memory_bytes, has_nvidia_gpu
from qwen3_core.models import ModelInfo

if TYPE_CHECKING:
    from qwen3_core.engines.protocols import TokenIds
    from qwen3_core.spec import EngineSpec

__all__ = [
    "WARM_START_BACKEND",
    "MemoryProbe",
    "WarmStartEngine",
    "memory_problem",
    "prefer_warm_start",
    "start_engine",
]

logger = logging.getLogger(__name__)

#: The backend name of :class:`WarmStartEngine` (``Qwen3Reranker.backend`` shows it).
WARM_START_BACKEND = "transformers-then-vllm"

#: Returns the bytes of memory available now (RAM on a CPU, free GPU memory on a GPU).
MemoryProbe = Callable[[], int]

_GIB = 1 << 30
# What vLLM's engine and worker processes hold on a CPU beyond weights and KV cache (torch,
# vLLM and compiled code in two processes; 6.1 GiB peak for Qwen3-0.6B in docs/benchmarks.md).
_CPU_RUNTIME_BYTES = 3 * _GIB
# While on the first engine, calls go to it in pieces of this many prompts, so a long call
# moves to vLLM as soon as vLLM is ready instead of finishing on the slower engine.
_PIECE_PROMPTS = 64
# vLLM starts once the first piece of work is answered (its start competes with that answer for
# the cores and the GIL), or this long after the first engine is ready if no work comes.
_IDLE_START_SECONDS = 10.0
# Closing during vLLM's start ends its processes; how long to wait for the start to give up.
_CLOSE_WAIT_SECONDS: float = 60  # not the HTTP timeout: a different wait

# One vLLM start at a time in this process: on a CPU two starts only share the cores, and the
# processes that appear during a start are then that start's alone (close() ends them).
_background_start_lock = threading.Lock()

T = TypeVar("T")


def prefer_warm_start(chosen: str, spec: EngineSpec) -> str:
    """The backend ``auto`` starts: :data:`WARM_START_BACKEND` where it chose vLLM on a CPU.

    Args:
        chosen: What ``auto`` resolved to (``choose_backend``).
        spec: The settings; ``engine_kwargs`` belong to one engine, so they keep ``chosen``.
    """
    if (spec.backend == "auto" and chosen == "vllm" and not spec.engine_kwargs
            and not has_nvidia_gpu() and spec.device in (None, "cpu")):
        return WARM_START_BACKEND
    return chosen


def _available_memory_bytes() -> int:
    """Free GPU memory on a GPU (nvidia-smi, no CUDA in this process), else available RAM."""
    if has_nvidia_gpu() and shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=memory.free",
                                  "--format=csv,noheader,nounits"], capture_output=True,
                                 text=True, timeout=10, check=False)
            return int(out.stdout.split()[0]) << 20  # MiB
        except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
            return 0
    import psutil

    return int(psutil.virtual_memory().available)


def memory_problem(info: ModelInfo, dtype: str, max_length: int,
                   available: MemoryProbe = _available_memory_bytes) -> str | None:
    """Why vLLM cannot start beside the running engine now, or None if its memory fits.

    Args:
        info: The model.
        dtype: The resolved dtype vLLM would load it in.
        max_length: The longest prompt (sizes vLLM's KV cache).
        available: The memory available now, in bytes (injectable for tests).
    """
    weights = info.weight_bytes // 2 * dtype_bytes(dtype)  # checkpoints are stored in bf16
    if has_nvidia_gpu():
        total = gpu_total_memory_bytes()
        needed = int(plan_gpu_share(info, dtype, max_length, total).fraction * total)
    else:
        needed = weights + cpu_kv_cache_bytes(info, dtype, max_length) + _CPU_RUNTIME_BYTES
    have = available()
    if have >= needed:
        return None
    return (f"vLLM needs about {needed / _GIB:.1f} GiB beside the running engine and "
            f"{have / _GIB:.1f} GiB are available")


@dataclasses.dataclass(eq=False)
class _Lane:
    """One inner engine and the lock that serialises calls to it (engines are not thread-safe)."""

    engine: Any
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    retired: bool = False

    def call(self, work: Callable[[Any], T]) -> T | _Retired:
        """``work(engine)``, or :data:`_RETIRED` if the engine was handed over meanwhile."""
        with self.lock:
            if self.retired:
                return _RETIRED
            return work(self.engine)

    def retire(self) -> None:
        """Close the engine after the calls in flight; later calls get :data:`_RETIRED`."""
        with self.lock:
            self.retired = True
            self.engine.close()


class _Retired:
    """The answer of a lane whose engine was closed: ask the current lane instead."""


_RETIRED = _Retired()


class WarmStartEngine:
    """Serves on a quick engine while a faster one starts in the background, then switches.

    Thread-safe: calls may overlap (each inner engine is called by one thread at a time).

    Args:
        kind: ``"embedding"`` or ``"reranker"``.
        first: The engine that serves until the hand-over (transformers).
        start_final: Starts the engine to hand over to (vLLM); runs on a background thread.
        final_memory_problem: Why the final engine does not fit now, or None; asked just before
            it starts.
        idle_start_seconds: Start the final engine this long after construction at the latest
            (at once after the first piece of work).
    """

    backend = WARM_START_BACKEND
    thread_safe = True

    def __init__(self, kind: str, first: Any, start_final: Callable[[], Any], *,
                 final_memory_problem: Callable[[], str | None] = lambda: None,
                 idle_start_seconds: float = _IDLE_START_SECONDS):
        self.kind = kind
        self._lane = _Lane(first)
        self._first_lane = self._lane
        self._start_final = start_final
        self._final_memory_problem = final_memory_problem
        self._state = threading.Lock()
        self._closed = False
        self._starting = False
        self._start_wanted = threading.Event()
        self._settled = threading.Event()  # handed over, or staying on the first engine
        self._processes_before: set[tuple[int, float]] = set()
        self._starter = threading.Thread(target=self._start_in_background, args=(
            idle_start_seconds,), name="qwen3-vllm-start", daemon=True)
        self._starter.start()

    # -- the engine interface ----------------------------------------------------------------

    @property
    def serving(self) -> str:
        """The backend answering new calls now (``"transformers"``, then ``"vllm"``)."""
        return str(getattr(self._lane.engine, "backend", "?"))

    def embed(self, ids: Sequence[TokenIds]) -> np.ndarray:
        """See :meth:`~qwen3_core.engines.protocols.EmbeddingEngine.embed`."""
        pieces: list[np.ndarray] = []
        done = 0
        while True:
            lane = self._current_lane()
            on_first = lane is self._first_lane
            stop = min(done + _PIECE_PROMPTS, len(ids)) if on_first else len(ids)
            piece = ids[done:stop]
            vectors = lane.call(lambda engine: engine.embed(piece))
            if isinstance(vectors, _Retired):
                continue  # handed over between choosing the lane and calling it
            pieces.append(vectors)
            done = stop
            if on_first:
                self._start_wanted.set()
            if done >= len(ids):
                break
        if len(pieces) == 1:
            return pieces[0]
        return np.concatenate(pieces, axis=0)

    def score_groups(self, groups: Sequence[Sequence[TokenIds]]) -> list[np.ndarray]:
        """See :meth:`~qwen3_core.engines.protocols.RerankingEngine.score_groups`."""
        # Every prompt as (group, position); pieces of them go to the engine serving then.
        slots = [(g, i) for g, group in enumerate(groups) for i in range(len(group))]
        scores = [np.empty(len(group), dtype=np.float32) for group in groups]
        done = 0
        while done < len(slots):
            lane = self._current_lane()
            on_first = lane is self._first_lane
            stop = min(done + _PIECE_PROMPTS, len(slots)) if on_first else len(slots)
            piece = _regroup(groups, slots[done:stop])
            answers = lane.call(
                lambda engine: engine.score_groups([prompts for _, _, prompts in piece]))
            if isinstance(answers, _Retired):
                continue  # handed over between choosing the lane and calling it
            for (g, positions, _), values in zip(piece, answers):
                scores[g][positions] = values
            done = stop
            if on_first:
                self._start_wanted.set()
        return scores

    def wait_for_hand_over(self, timeout: float | None = None) -> bool:
        """Wait until the engine has handed over or decided to stay; True if it settled."""
        return self._settled.wait(timeout)

    def close(self) -> None:
        """Close both engines; a start still under way is ended, its processes with it."""
        with self._state:
            if self._closed:
                return
            self._closed = True
            starting = self._starting
            lane = self._lane
        self._start_wanted.set()
        if starting:
            self._end_start_under_way()
        self._starter.join(_CLOSE_WAIT_SECONDS)
        lane.retire()

    # -- internals ---------------------------------------------------------------------------

    def _current_lane(self) -> _Lane:
        with self._state:
            if self._closed:
                raise RuntimeError("this model has been closed")
            return self._lane

    def _start_in_background(self, idle_start_seconds: float) -> None:
        self._start_wanted.wait(idle_start_seconds)
        try:
            # Another engine's start may hold the lock for a minute; close() must not wait.
            while not _background_start_lock.acquire(timeout=0.2):
                with self._state:
                    if self._closed:
                        return
            try:
                problem = self._final_memory_problem()
                with self._state:
                    if self._closed:
                        return
                    if problem is not None:
                        logger.info("staying on %s: %s", self.serving, problem)
                        return
                    from qwen3_core.engines.engine_reaper import spawned_processes

                    self._processes_before = spawned_processes()
                    self._starting = True
                try:
                    final = self._start_final()
                except Exception as exc:
                    with self._state:
                        closed = self._closed
                    if not closed:  # a start ended by close() is no problem to report
                        logger.warning("vLLM did not start (%s: %s); staying on %s",
                                       type(exc).__name__, exc, self.serving)
                    return
                finally:
                    with self._state:
                        self._starting = False
                self._hand_over(final)
            finally:
                _background_start_lock.release()
        finally:
            self._settled.set()

    def _hand_over(self, final: Any) -> None:
        with self._state:
            closed = self._closed
            old = self._lane
            if not closed:
                self._lane = _Lane(final)
        if closed:
            final.close()
            return
        logger.info("handed over from %s to %s", getattr(old.engine, "backend", "?"),
                    getattr(final, "backend", "?"))
        old.retire()  # the calls in flight on the old engine finish first

    def _end_start_under_way(self) -> None:
        """End the processes the background start created, until the start gives up."""
        import psutil

        from qwen3_core.engines.engine_reaper import spawned_processes

        deadline = time.monotonic() + _CLOSE_WAIT_SECONDS
        while self._starter.is_alive() and time.monotonic() < deadline:
            # Only multiprocessing's trees: a server the caller started meanwhile is not ours.
            for pid, _ in spawned_processes() - self._processes_before:
                try:
                    process = psutil.Process(pid)
                    process.send_signal(signal.SIGKILL)
                    process.wait(5)  # reaps it where it is our child: no zombie either
                except (psutil.NoSuchProcess, psutil.TimeoutExpired, ChildProcessError):
                    pass
            self._starter.join(0.2)


def _regroup(groups: Sequence[Sequence[TokenIds]], slots: Sequence[tuple[int, int]]
             ) -> list[tuple[int, list[int], list[TokenIds]]]:
    """The prompts at ``slots`` as ``(group, positions, prompts)``, one entry per group."""
    regrouped: list[tuple[int, list[int], list[TokenIds]]] = []
    for g, i in slots:
        if not regrouped or regrouped[-1][0] != g:
            regrouped.append((g, [], []))
        regrouped[-1][1].append(i)
        regrouped[-1][2].append(groups[g][i])
    return regrouped


def start_engine(spec: EngineSpec, info: ModelInfo, prompts: object) -> WarmStartEngine:
    """The ``transformers-then-vllm`` backend: transformers now, vLLM when it has started.

    ``engine_kwargs`` go to vLLM, the engine that serves from the hand-over on (``auto``
    never starts this backend with them; passing this backend by name does).
    """
    from qwen3_core.engines.dtypes import resolve_dtype

    first_spec = dataclasses.replace(spec, backend="transformers", engine_kwargs={})
    final_spec = dataclasses.replace(spec, backend="vllm")
    first = engine_starter("transformers")(first_spec, info, prompts)
    dtype = resolve_dtype(spec.dtype, has_nvidia_gpu())
    return WarmStartEngine(
        spec.kind, first,
        lambda: engine_starter("vllm")(final_spec, info, prompts),
        final_memory_problem=lambda: memory_problem(info, dtype, spec.max_length))


if TYPE_CHECKING:  # mypy checks this backend against the engine interfaces
    from qwen3_core.engines.protocols import EmbeddingEngine, EngineStarter, RerankingEngine

    _embedding_engine: type[EmbeddingEngine] = WarmStartEngine
    _reranking_engine: type[RerankingEngine] = WarmStartEngine
    _starter: EngineStarter = start_engine
