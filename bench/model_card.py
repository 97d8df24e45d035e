"""System (a): the Qwen3 model cards' transformers code, written out the way users copy it.

float32, left-padded batches of 16, and for the reranker the full-vocabulary logits at every
position of every prompt, of which the card then reads two values at the last one. The prompt
is the card's: a fixed prefix and suffix around ``<Instruct>/<Query>/<Document>``, the prefix
and suffix encoded once, the body tokenised per call.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

from qwen3_core.formats import (
    DEFAULT_INSTRUCTION,
    RERANK_PREFIX,
    RERANK_SUFFIX,
    embedding_query_text,
    rerank_body_text,
)

__all__ = ["CardEmbedder", "CardReranker"]

_BATCH_SIZE = 16
_MAX_LENGTH = 8192


def _device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


class CardReranker:
    """Qwen3-Reranker as its model card scores it.

    Args:
        path: The reranker model directory.
        last_position_only: Ask the model for the logits of the last position only
            (``logits_to_keep=1``) instead of every position; an ablation, not the card.
    """

    def __init__(self, path: str | Path, last_position_only: bool = False):
        self.tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        self.model = self.model.to(_device()).eval()
        self.yes_id = self.tokenizer.convert_tokens_to_ids("yes")
        self.no_id = self.tokenizer.convert_tokens_to_ids("no")
        self.prefix_ids = self.tokenizer.encode(RERANK_PREFIX, add_special_tokens=False)
        self.suffix_ids = self.tokenizer.encode(RERANK_SUFFIX, add_special_tokens=False)
        self.forward_kwargs = {"logits_to_keep": 1} if last_position_only else {}

    def _inputs(self, texts: Sequence[str]):
        body_budget = _MAX_LENGTH - len(self.prefix_ids) - len(self.suffix_ids)
        encoded = self.tokenizer(
            list(texts), padding=False, truncation="longest_first",
            return_attention_mask=False, max_length=body_budget,
        )
        encoded["input_ids"] = [
            self.prefix_ids + ids + self.suffix_ids for ids in encoded["input_ids"]
        ]
        padded = self.tokenizer.pad(
            encoded, padding=True, return_tensors="pt", max_length=_MAX_LENGTH
        )
        return {key: value.to(self.model.device) for key, value in padded.items()}

    @torch.no_grad()
    def _batch_scores(self, texts: Sequence[str]) -> list[float]:
        logits = self.model(**self._inputs(texts), **self.forward_kwargs).logits[:, -1, :]
        pair = torch.stack([logits[:, self.no_id], logits[:, self.yes_id]], dim=1)
        return torch.nn.functional.log_softmax(pair, dim=1)[:, 1].exp().tolist()

    def score(self, query: str, documents: Sequence[str]) -> list[float]:
        """P(yes) of each document, in input order."""
        texts = [rerank_body_text(DEFAULT_INSTRUCTION, query, doc) for doc in documents]
        scores: list[float] = []
        for start in range(0, len(texts), _BATCH_SIZE):
            scores.extend(self._batch_scores(texts[start : start + _BATCH_SIZE]))
        return scores

    def close(self) -> None:
        self.model = None


class CardEmbedder:
    """Qwen3-Embedding as its model card computes it: last-token pooling, L2-normalised."""

    def __init__(self, path: str | Path):
        self.tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
        self.model = AutoModel.from_pretrained(path, dtype=torch.float32).to(_device()).eval()

    @staticmethod
    def _last_token_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if bool(mask[:, -1].sum() == mask.shape[0]):  # left padding: the last column is real
            return hidden[:, -1]
        lengths = mask.sum(dim=1) - 1
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), lengths]

    @torch.no_grad()
    def _batch(self, texts: Sequence[str]) -> np.ndarray:
        batch = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=_MAX_LENGTH,
            return_tensors="pt",
        ).to(self.model.device)
        hidden = self.model(**batch).last_hidden_state
        pooled = self._last_token_pool(hidden, batch["attention_mask"])
        return F.normalize(pooled, p=2, dim=1).float().cpu().numpy()

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of raw texts, in batches of 16."""
        parts = [self._batch(texts[i : i + _BATCH_SIZE]) for i in range(0, len(texts), _BATCH_SIZE)]
        return np.concatenate(parts)

    def embed_query(self, query: str) -> np.ndarray:
        """Unit vector of a query in the card's ``Instruct: ...\\nQuery:...`` format."""
        return self._batch([embedding_query_text(DEFAULT_INSTRUCTION, query)])[0]

    def close(self) -> None:
        self.model = None
