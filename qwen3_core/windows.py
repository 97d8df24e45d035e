"""Long documents scored by their best window: where the windows go, and which one wins.

In ``"best_window"`` mode a document longer than the prompt leaves room for is not cut at the
end (``"truncate"``, the model cards' behaviour) but read as overlapping windows of its tokens,
each scored in the model card's full prompt; the document's score is its best window's, and its
span says which characters that window covers. Cohere's rerank API and Elasticsearch's chunk
rescorer score long documents the same way. This module knows only the arithmetic; the token
ids come from :meth:`qwen3_core.tokenization.RerankPromptTokenizer.windows`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = [
    "LONG_DOCUMENT_MODES",
    "LongDocuments",
    "Span",
    "WindowedPrompts",
    "check_long_documents",
    "check_overlap",
    "default_overlap",
    "window_starts",
]

LongDocuments = Literal["truncate", "best_window"]
#: What a reranker does with a document longer than ``max_length`` leaves room for.
LONG_DOCUMENT_MODES: tuple[LongDocuments, ...] = ("truncate", "best_window")

#: ``(start, end)`` character offsets into a document: ``document[start:end]``.
Span = tuple[int, int]


def check_long_documents(mode: object) -> LongDocuments:
    """Return ``mode`` if it is one of :data:`LONG_DOCUMENT_MODES`.

    Raises:
        ValueError: Any other value, named with the valid ones.
    """
    if mode not in LONG_DOCUMENT_MODES or not isinstance(mode, str):
        raise ValueError(f"long_documents={mode!r} is not valid; choose one of "
                         f"{', '.join(LONG_DOCUMENT_MODES)}")
    return mode


def check_overlap(overlap: object) -> int | None:
    """Return ``overlap`` if it is None (a quarter of the window) or an int >= 0.

    Whether it is smaller than the window depends on the prompt; the reranker checks that.

    Raises:
        TypeError: Not an int (a bool is not one).
        ValueError: Negative.
    """
    if overlap is None:
        return None
    if isinstance(overlap, bool) or not isinstance(overlap, int):
        raise TypeError(f"overlap must be a number of tokens (an int) or None, got {overlap!r}")
    if overlap < 0:
        raise ValueError(f"overlap={overlap} is not valid; use 0 or more tokens, smaller than "
                         "the window, or None for a quarter of the window")
    return overlap


def default_overlap(window: int) -> int:
    """The overlap used when none is given: a quarter of the window, rounded down."""
    return window // 4


def window_starts(length: int, window: int, overlap: int) -> list[int]:
    """Where each window of a ``length``-token document starts.

    A new window starts every ``window - overlap`` tokens; the last one ends at the document's
    last token (so it may overlap its predecessor by more). A document that fits is one window.

    Raises:
        ValueError: ``overlap`` is not smaller than ``window``, so windows would not advance.
    """
    if not 0 <= overlap < window:
        raise ValueError(f"overlap={overlap} is not valid for a window of {window} tokens; "
                         f"valid overlaps: 0..{window - 1}")
    if length <= window:
        return [0]
    return [*range(0, length - window, window - overlap), length - window]


@dataclass(frozen=True)
class WindowedPrompts:
    """The prompts of several (query, document) pairs, one or more windows per pair.

    Attributes:
        prompts: Every window's full prompt as token ids, pair after pair.
        owners: For each prompt, the position of its pair.
        spans: For each prompt, the characters of its document that its window covers.
        pairs: How many pairs there are (each owns at least one prompt).
    """

    prompts: list[list[int]]
    owners: list[int]
    spans: list[Span]
    pairs: int

    def best(self, scores: Sequence[float] | np.ndarray) -> list[tuple[float, Span]]:
        """Each pair's best window score and span; on a tie the earlier window wins.

        Args:
            scores: One score per prompt, in the order of :attr:`prompts`.
        """
        if len(scores) != len(self.prompts):
            raise ValueError(f"{len(scores)} scores for {len(self.prompts)} windows")
        best: list[tuple[float, Span] | None] = [None] * self.pairs
        for owner, score, span in zip(self.owners, scores, self.spans):
            held = best[owner]
            if held is None or float(score) > held[0]:
                best[owner] = (float(score), span)
        if any(item is None for item in best):
            raise ValueError("every pair needs at least one window")
        return [item for item in best if item is not None]
