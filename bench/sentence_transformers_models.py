"""System (d): sentence-transformers' own Qwen3 support, on the benchmark's model directories.

The embedder is assembled from the modules the official Qwen3-Embedding checkpoint declares
(transformer with left padding, last-token pooling, normalisation), since the benchmark's
random-weight directory has no ``modules.json``. The reranker is a ``CrossEncoder`` on the causal
model, which scores ``sigmoid(logit(yes) - logit(no))`` at the last position, the card's P(yes).
The benchmark tokenizer has no chat template, so each pair is the card's prompt cut in two just
before ``<Document>:``, a point where tokenising the halves apart gives the card's exact ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from qwen3_core.formats import (
    DEFAULT_INSTRUCTION,
    RERANK_PREFIX,
    RERANK_SUFFIX,
    embedding_query_text,
    rerank_body_text,
)

__all__ = ["SentenceTransformersEmbedder", "SentenceTransformersReranker"]

_BATCH_SIZE = 16


class SentenceTransformersReranker:
    """``sentence_transformers.CrossEncoder`` on a Qwen3-Reranker directory, float32."""

    def __init__(self, path: str | Path):
        from sentence_transformers import CrossEncoder

        self.model = CrossEncoder(str(path), model_kwargs={"dtype": torch.float32})

    def score(self, query: str, documents: Sequence[str]) -> list[float]:
        """P(yes) of each document, in input order."""
        body = rerank_body_text(DEFAULT_INSTRUCTION, query, "")
        cut = body.rindex("<Document>")
        query_side = RERANK_PREFIX + body[:cut]
        pairs = [(query_side, body[cut:] + doc + RERANK_SUFFIX) for doc in documents]
        scores = self.model.predict(pairs, batch_size=_BATCH_SIZE, show_progress_bar=False)
        return [float(s) for s in np.asarray(scores).reshape(-1)]

    def close(self) -> None:
        self.model = None


class SentenceTransformersEmbedder:
    """``sentence_transformers.SentenceTransformer`` with Qwen3-Embedding's modules, float32."""

    def __init__(self, path: str | Path):
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.sentence_transformer import modules

        transformer = modules.Transformer(
            str(path), model_kwargs={"dtype": torch.float32},
            processor_kwargs={"padding_side": "left"},
        )
        size = transformer.get_embedding_dimension()
        pooling = modules.Pooling(size, pooling_mode="lasttoken")
        self.model = SentenceTransformer(modules=[transformer, pooling, modules.Normalize()])

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of raw texts."""
        return np.asarray(self.model.encode(list(texts), batch_size=_BATCH_SIZE,
                                            show_progress_bar=False), dtype=np.float32)

    def embed_query(self, query: str) -> np.ndarray:
        """Unit vector of a query in the card's instruction format."""
        text = embedding_query_text(DEFAULT_INSTRUCTION, query)
        return self.embed_documents([text])[0]

    def close(self) -> None:
        self.model = None
