"""In-process vLLM engines for both model families, fed with the token ids the core built."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from qwen3_core.engines.dtypes import resolve_dtype
from qwen3_core.engines.engine_reaper import EngineReaper, child_processes
from qwen3_core.engines.sizing import GpuShare, claim_gpu_share, cpu_kv_cache_bytes, plan_gpu_share
from qwen3_core.engines.spawn_safety import main_script_kept_out_of_children
from qwen3_core.engines.start_environment import environment_for_start
from qwen3_core.hardware import gpu_total_memory_bytes, has_nvidia_gpu, usable_cpu_count
from qwen3_core.logs import quiet_vllm_here, vllm_level, vllm_start_environment
from qwen3_core.models import ModelInfo

if TYPE_CHECKING:
    from qwen3_core.spec import EngineSpec

__all__ = [
    "EMBEDDING_HF_OVERRIDES",
    "RERANKER_HF_OVERRIDES",
    "VllmEngine",
    "engine_environment",
    "start_engine",
    "vllm_cpu_environment",
    "vllm_engine_args",
]

logger = logging.getLogger(__name__)

#: Loads the original Qwen3-Reranker checkpoints as a classifier over the "no"/"yes" logits,
#: whose sigmoid(yes - no) equals the model card's softmax([no, yes])[1].
RERANKER_HF_OVERRIDES = {
    "architectures": ["Qwen3ForSequenceClassification"],
    "classifier_from_token": ["no", "yes"],
    "is_original_qwen3_reranker": True,
}

#: Qwen3-Embedding is trained for Matryoshka cuts (any leading dimensions, renormalised); this
#: lets vLLM's ``dimensions`` request field do that cut.
EMBEDDING_HF_OVERRIDES = {"is_matryoshka": True}

# vLLM on CPU needs blocks in multiples of 32; 32 is the smallest, so the most of a query's
# shared instruction+query prefix falls in whole, reusable blocks.
_CPU_BLOCK_SIZE = 32

# vLLM on x86 CPUs keeps one core per worker for its scheduler process. With n cores that is
# 1/n of the compute: on the 2-core development machine, half (reserving none made reranking and
# embedding about 2x faster there). From this many cores on, vLLM's own choice is kept.
_RESERVE_CORE_FROM = 8
_RESERVED_CPU_VARIABLE = "VLLM_CPU_NUM_OF_RESERVED_CPU"
_AOT_COMPILE_VARIABLE = "VLLM_USE_AOT_COMPILE"

_MISSING_VLLM = (
    "backend='vllm' needs vLLM: pip install 'qwen3-rag[gpu]' on a machine with an NVIDIA GPU, "
    "or 'qwen3-rag[cpu]' for the CPU build"
)


def vllm_engine_args(kind: str, info: ModelInfo, dtype: str, max_length: int) -> dict[str, Any]:
    """The arguments ``vllm.LLM`` (and the equivalent server flags) need for one model.

    Pure: on a GPU the memory share is planned from what this process's engines hold now, and
    claimed only by the engine that starts (:class:`VllmEngine`).
    """
    on_gpu = has_nvidia_gpu()
    resolved = resolve_dtype(dtype, on_gpu)
    args: dict[str, Any] = {
        "model": str(info.path),
        "runner": "pooling",
        "dtype": resolved,
        "max_model_len": max_length,
        "enable_prefix_caching": True,
        "pooler_config": {"pooling_type": "LAST", "use_activation": True},
    }
    overrides = RERANKER_HF_OVERRIDES if kind == "reranker" else EMBEDDING_HF_OVERRIDES
    args["hf_overrides"] = dict(overrides)
    if on_gpu and gpu_total_memory_bytes():
        share = plan_gpu_share(info, resolved, max_length, gpu_total_memory_bytes())
        args["gpu_memory_utilization"] = share.fraction
        args["kv_cache_memory_bytes"] = share.kv_cache_bytes
    elif not on_gpu:
        args["block_size"] = _CPU_BLOCK_SIZE
        args["kv_cache_memory_bytes"] = cpu_kv_cache_bytes(info, resolved, max_length)
    return args


def vllm_cpu_environment() -> dict[str, str]:
    """Environment variables vLLM's CPU build should start with here; the user's own win.

    Empty on GPU machines. On CPUs: every core computes below 8 cores, and torch.compile's
    results are cached the way a later start can load.
    """
    if has_nvidia_gpu():
        return {}
    wanted = {}
    if usable_cpu_count() < _RESERVE_CORE_FROM:
        wanted[_RESERVED_CPU_VARIABLE] = "0"
    # vLLM's CPU build saves its compiled model as an AOT artifact that it then fails to load
    # ("'function' object has no attribute 'finalize_loading'", vllm-cpu 0.32 on torch 2.13),
    # so every start compiled again (~40 s of a 28-layer engine's start here). Without AOT,
    # torch's own inductor cache is used and a warm start loads it.
    wanted[_AOT_COMPILE_VARIABLE] = "0"
    return {key: value for key, value in wanted.items() if key not in os.environ}


@contextlib.contextmanager
def engine_environment() -> Iterator[None]:
    """The environment vLLM reads while an engine starts, set for that time only.

    vLLM reads these variables while it builds the engine (and any process it starts inherits
    them then); afterwards the user's environment is as it was, without what vLLM wrote into it.
    """
    # Not VLLM_ENABLE_V1_MULTIPROCESSING=0 (engine core in this process): closing one
    # in-process engine tears down vLLM's process-wide parallel state and breaks every other
    # engine open in the process. Scripts without a main guard are kept out of the engine
    # process by spawn_safety instead.
    with environment_for_start({**vllm_cpu_environment(), **vllm_start_environment()}):
        yield


class VllmEngine:
    """One ``vllm.LLM`` running an embedding or a reranker model. Not thread-safe by itself."""

    backend = "vllm"

    def __init__(self, spec: EngineSpec, info: ModelInfo, *,
                 overrides: Mapping[str, Any] | None = None):
        """Start the engine.

        ``overrides`` replace arguments of :func:`vllm_engine_args`; the user's
        ``engine_kwargs`` still win.
        """
        kind, max_length = spec.kind, spec.max_length
        quiet_vllm_here(vllm_level())  # before vLLM's import logs anything
        try:
            with engine_environment():  # what vLLM's import writes into it is undone too
                import vllm
        except ImportError as exc:
            raise ImportError(_MISSING_VLLM) from exc
        args = vllm_engine_args(kind, info, spec.dtype, max_length)
        self._gpu_share: GpuShare | None = None
        if "gpu_memory_utilization" in args:
            # Claimed for as long as this engine runs, so the next engine plans around it.
            self._gpu_share = claim_gpu_share(info, args["dtype"], max_length,
                                              gpu_total_memory_bytes())
            args["gpu_memory_utilization"] = self._gpu_share.fraction
            args["kv_cache_memory_bytes"] = self._gpu_share.kv_cache_bytes
        # vLLM's own progress bar ignores TQDM_DISABLE; shown only at INFO and below.
        args["use_tqdm_on_load"] = vllm_level() in ("DEBUG", "INFO")
        args.update(overrides or {})
        args.update(spec.engine_kwargs)
        self.kind = kind
        self.dtype = args["dtype"]
        logger.info("starting vLLM for %s (%s, %s)", info.name, kind, self.dtype)
        self._reaper: EngineReaper | None = None
        try:
            before = child_processes()
            with engine_environment(), main_script_kept_out_of_children():
                self._llm: Any = vllm.LLM(**args)
            self._reaper = EngineReaper(child_processes() - before)
        except BaseException:
            self._release_share()
            raise

    def embed(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        """Last-token hidden states of each prompt, as a float32 (n, hidden) array."""
        return self.embed_inputs(_token_prompts(ids))

    def score_groups(self, groups: Sequence[Sequence[Sequence[int]]]) -> list[np.ndarray]:
        """P(yes) for each prompt of each group; one engine call for all of them."""
        flat = [ids for group in groups for ids in group]
        return _split(self.score_inputs(_token_prompts(flat)), [len(g) for g in groups])

    def embed_inputs(self, inputs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """:meth:`embed` of vLLM prompt dicts (token ids, with images for Qwen3-VL)."""
        outputs = self._live().embed(list(inputs), use_tqdm=False)
        return np.asarray([o.outputs.embedding for o in outputs], dtype=np.float32)

    def score_inputs(self, inputs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """P(yes) of each vLLM prompt dict, in order."""
        outputs = self._live().classify(list(inputs), use_tqdm=False)
        return np.asarray([o.outputs.probs[0] for o in outputs], dtype=np.float32)

    def _live(self) -> Any:
        if self._llm is None:
            raise RuntimeError("this vLLM engine has been closed")
        return self._llm

    def close(self) -> None:
        """Shut the engine processes down and give back what the engine claimed."""
        llm, self._llm = getattr(self, "_llm", None), None
        if llm is not None:
            core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
            if core is not None and hasattr(core, "shutdown"):
                core.shutdown()
        if self._reaper is not None:
            self._reaper.wait_for_exit()
            self._reaper.stand_down()
            self._reaper = None
        self._release_share()

    def _release_share(self) -> None:
        if self._gpu_share is not None:
            self._gpu_share.release()
            self._gpu_share = None


def start_engine(spec: EngineSpec, info: ModelInfo, prompts: object) -> VllmEngine:
    """The ``vllm`` backend: an in-process ``vllm.LLM`` for ``spec``."""
    return VllmEngine(spec, info)


def _token_prompts(ids: Sequence[Sequence[int]]) -> list[dict[str, list[int]]]:
    return [{"prompt_token_ids": list(i)} for i in ids]


def _split(values: np.ndarray, sizes: Sequence[int]) -> list[np.ndarray]:
    return np.split(values, np.cumsum(sizes)[:-1]) if sizes else []


if TYPE_CHECKING:  # mypy checks this backend against the engine interfaces
    from qwen3_core.engines.protocols import EmbeddingEngine, EngineStarter, RerankingEngine

    _embedding_engine: type[EmbeddingEngine] = VllmEngine
    _reranking_engine: type[RerankingEngine] = VllmEngine
    _starter: EngineStarter = start_engine
