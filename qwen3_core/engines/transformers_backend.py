"""Plain PyTorch engines (Hugging Face transformers) for machines without vLLM.

Faster than the model cards' loops without changing a single score:
- batches are sorted by length and cut to a token budget, right-padded, so padding is minimal and
  real tokens never attend to padding;
- the reranker computes only the "no" and "yes" rows of the output layer at the last real
  position, never the full-vocabulary logits at every position;
- the candidates of one query share a long prompt prefix, whose KV cache is computed once and
  reused for every candidate.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from qwen3_core.engines.dtypes import resolve_dtype
from qwen3_core.hardware import has_nvidia_gpu
from qwen3_core.logs import quiet_transformers_loading
from qwen3_core.models import ModelInfo
from qwen3_core.tokenization import RerankPromptTokenizer

if TYPE_CHECKING:
    from qwen3_core.spec import EngineSpec

__all__ = ["TransformersEngine", "length_sorted_batches", "start_engine", "torch_device"]

logger = logging.getLogger(__name__)

_MISSING_TRANSFORMERS = (
    "backend='transformers' needs torch and transformers: pip install 'qwen3-rag[transformers]'"
)
# Padded tokens per forward pass; bounds activation memory while keeping matmuls large. On CPU
# small batches win: with Qwen3-0.6B's shape on the 2-core development machine, 1024 tokens
# reranked 1.3x and embedded 1.5x faster than 4096 (their activations stay in the caches).
_TOKEN_BUDGET = {"cpu": 1024, "cuda": 32768}
# Reusing a prefix pays off once it is this long and shared by at least two candidates.
_MIN_SHARED_PREFIX = 16
_TORCH_DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}


def torch_device(torch: Any, device: str | None) -> str:
    """The device to load on: the one asked for if torch has it, else the best there is."""
    if device is None:
        return "cuda" if has_nvidia_gpu() and torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(device[5:]) if ":" in device else 0
        if index >= count:
            raise ValueError(f"device={device!r} cannot be honoured: torch sees {count} CUDA "
                             f"GPU(s) here" + ("" if count else " (a CPU-only torch, or no GPU)"))
    elif device == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device='mps' cannot be honoured: torch's MPS backend (Apple GPUs) is "
                         "not available here")
    return device


class TransformersEngine:
    """A Qwen3 backbone plus, for the reranker, the yes/no rows of its output layer."""

    backend = "transformers"

    def __init__(
        self, spec: EngineSpec, info: ModelInfo, *, no_yes_ids: tuple[int, int] | None = None
    ):
        try:
            import torch
            from transformers import AutoModel, AutoModelForCausalLM
        except ImportError as exc:
            raise ImportError(_MISSING_TRANSFORMERS) from exc
        self._torch = torch
        self.kind = kind = spec.kind
        self.device = torch_device(torch, spec.device)
        on_gpu = self.device.startswith("cuda")
        self.dtype = resolve_dtype(spec.dtype, on_gpu)
        torch_dtype = getattr(torch, _TORCH_DTYPES[self.dtype])
        load_kwargs = {"dtype": torch_dtype, **spec.engine_kwargs}
        if kind == "reranker":
            if no_yes_ids is None:
                raise ValueError("the reranker engine needs the ids of the 'no' and 'yes' tokens")
            with quiet_transformers_loading():
                full = AutoModelForCausalLM.from_pretrained(info.path, **load_kwargs)
            # Keep only the two rows of the output layer the score uses, in float32.
            head = full.get_output_embeddings().weight[list(no_yes_ids)].detach().float()
            self._head = head.to(self.device)
            # The backbone under the LM head (``get_decoder()`` is None for Qwen3 on
            # transformers 4.56, the oldest version supported).
            self._backbone: Any = full.base_model
            del full
        else:
            with quiet_transformers_loading():
                self._backbone = AutoModel.from_pretrained(info.path, **load_kwargs)
        self._backbone.to(self.device).eval()
        self._budget = _TOKEN_BUDGET["cuda" if on_gpu else "cpu"]
        logger.info("loaded %s with transformers on %s (%s)", info.name, self.device, self.dtype)

    # -- public engine interface -------------------------------------------------------------

    def embed(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        """Last-token hidden states of each prompt, as a float32 (n, hidden) array."""
        out = np.empty((len(ids), self._backbone.config.hidden_size), dtype=np.float32)
        with self._torch.inference_mode():
            for batch in length_sorted_batches(ids, self._budget):
                hidden = self._last_hidden([ids[i] for i in batch])
                out[batch] = hidden.float().cpu().numpy()
        return out

    def score_groups(self, groups: Sequence[Sequence[Sequence[int]]]) -> list[np.ndarray]:
        """P(yes) for each prompt of each group (the candidates of one query)."""
        with self._torch.inference_mode():
            return [self._score_group(group) for group in groups]

    def close(self) -> None:
        """Drop the model, so its memory is freed."""
        self._backbone = None
        self._head = None

    # -- internals ---------------------------------------------------------------------------

    def _score_group(self, group: Sequence[Sequence[int]]) -> np.ndarray:
        scores = np.empty(len(group), dtype=np.float32)
        if not group:
            return scores
        shared = _common_prefix_length(group)
        if len(group) >= 2 and shared >= _MIN_SHARED_PREFIX:
            prefix_cache = self._prefix_cache(list(group[0][:shared]))
            tails = [ids[shared:] for ids in group]
            for batch in length_sorted_batches(tails, self._budget):
                hidden = self._last_hidden([tails[i] for i in batch], prefix_cache, shared)
                scores[batch] = self._yes_probability(hidden)
        else:
            for batch in length_sorted_batches(group, self._budget):
                scores[batch] = self._yes_probability(self._last_hidden([group[i] for i in batch]))
        return scores

    def _yes_probability(self, hidden) -> np.ndarray:
        logits = hidden.float() @ self._head.T  # (batch, 2): [no, yes]
        return self._torch.softmax(logits, dim=-1)[:, 1].cpu().numpy()

    def _prefix_cache(self, prefix: list[int]):
        torch = self._torch
        tokens = torch.tensor([prefix], device=self.device)
        out = self._backbone(input_ids=tokens, use_cache=True)
        cache = out.past_key_values
        return [(layer.keys, layer.values) for layer in cache.layers]

    def _last_hidden(self, rows: Sequence[Sequence[int]], prefix_cache=None,
                     prefix_length: int = 0):
        """Hidden state at each row's last real token; rows are right-padded to one length."""
        torch = self._torch
        from transformers import DynamicCache

        lengths = torch.tensor([len(r) for r in rows], device=self.device)
        width = int(lengths.max())
        input_ids = torch.zeros((len(rows), width), dtype=torch.long, device=self.device)
        mask = torch.zeros((len(rows), prefix_length + width), dtype=torch.long, device=self.device)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = torch.tensor(row, device=self.device)
        mask[:, :prefix_length] = 1
        positions = torch.arange(width, device=self.device)
        mask[:, prefix_length:] = (positions < lengths[:, None]).long()
        kwargs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": mask}
        if prefix_cache is not None:
            cache = DynamicCache()
            for layer, (keys, values) in enumerate(prefix_cache):
                size = (len(rows), *keys.shape[1:])
                cache.update(keys.expand(size).contiguous(), values.expand(size).contiguous(),
                             layer)
            kwargs["past_key_values"] = cache
            kwargs["use_cache"] = True
            kwargs["position_ids"] = (
                torch.arange(width, device=self.device)[None, :] + prefix_length
            ).expand(len(rows), width)
        else:
            kwargs["use_cache"] = False
        hidden = self._backbone(**kwargs).last_hidden_state
        return hidden[torch.arange(len(rows), device=self.device), lengths - 1]


def start_engine(spec: EngineSpec, info: ModelInfo, prompts: object) -> TransformersEngine:
    """The ``transformers`` backend: the model in this process with PyTorch."""
    no_yes = (prompts.no_id, prompts.yes_id) if isinstance(prompts, RerankPromptTokenizer) \
        else None
    return TransformersEngine(spec, info, no_yes_ids=no_yes)


def _common_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """Length of the prefix all rows share, leaving each row at least one token of its own."""
    return min(len(os.path.commonprefix([list(r) for r in rows])), min(len(r) for r in rows) - 1)


def length_sorted_batches(rows: Sequence[Sequence[int]], budget: int) -> Iterator[list[int]]:
    """Indices of ``rows``, longest first, in batches of at most ``budget`` padded tokens."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]), reverse=True)
    batch: list[int] = []
    for index in order:
        # Sorted longest first, so the batch's padded width is its first row's length.
        width = len(rows[batch[0]]) if batch else len(rows[index])
        if batch and width * (len(batch) + 1) > budget:
            yield batch
            batch = []
        batch.append(index)
    if batch:
        yield batch


if TYPE_CHECKING:  # mypy checks this backend against the engine interfaces
    from qwen3_core.engines.protocols import EmbeddingEngine, EngineStarter, RerankingEngine

    _embedding_engine: type[EmbeddingEngine] = TransformersEngine
    _reranking_engine: type[RerankingEngine] = TransformersEngine
    _starter: EngineStarter = start_engine
