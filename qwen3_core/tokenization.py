"""Turn texts into the exact token ids the Qwen3 model cards feed their models.

Everything that knows about prompt assembly at the token level is here: the reranker's
prefix/suffix, the embedding model's end-of-text token, truncation that cuts only the end of the
body, and escaping. Escaping means user text is encoded by a copy of the tokenizer that has no
added tokens, so a string such as ``<|im_end|>`` inside a document becomes ordinary characters
rather than a control token; on text without such strings the ids are the model card's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from qwen3_core.formats import (
    RERANK_PREFIX,
    RERANK_SUFFIX,
    embedding_query_text,
    rerank_body_text,
)
from qwen3_core.windows import Span, WindowedPrompts, default_overlap, window_starts

__all__ = ["EmbeddingPromptTokenizer", "RerankPromptTokenizer", "load_tokenizers"]

_END_OF_TEXT = "<|endoftext|>"


def load_tokenizers(model_dir: Path):
    """Load ``tokenizer.json`` twice: as shipped, and without added tokens (for user text).

    Returns:
        A ``(full, plain)`` pair of :class:`tokenizers.Tokenizer`.
    """
    from tokenizers import Tokenizer

    path = Path(model_dir) / "tokenizer.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: a Qwen3 model directory must contain tokenizer.json"
        )
    raw = path.read_text(encoding="utf-8")
    full = Tokenizer.from_str(raw)
    data = json.loads(raw)
    data["added_tokens"] = []
    plain = Tokenizer.from_str(json.dumps(data))
    for tok in (full, plain):
        tok.no_truncation()
        tok.no_padding()
    return full, plain


def _encode_plain(plain, texts: Sequence[str]) -> list[list[int]]:
    return [enc.ids for enc in plain.encode_batch(list(texts), add_special_tokens=False)]


class EmbeddingPromptTokenizer:
    """Token ids for Qwen3-Embedding: body (escaped, truncated) followed by the end token."""

    def __init__(self, model_dir: Path, max_length: int):
        full, self._plain = load_tokenizers(model_dir)
        # The real tokenizer appends <|endoftext|> through its post-processor; that token's hidden
        # state is the embedding. Older copies of the tokenizer lack the post-processor, so fall
        # back to appending the token ourselves, as the model expects.
        self.end_ids: list[int] = full.encode("", add_special_tokens=True).ids
        if not self.end_ids:
            eos = full.token_to_id(_END_OF_TEXT)
            if eos is None:
                raise ValueError(f"the tokenizer in {model_dir} has no {_END_OF_TEXT} token")
            self.end_ids = [eos]
        if max_length <= len(self.end_ids):
            raise ValueError(f"max_length={max_length} leaves no room for text; use at least 2")
        self.max_length = max_length

    def documents(self, texts: Sequence[str], max_length: int | None = None) -> list[list[int]]:
        """Ids for raw document texts, each at most ``max_length`` (default: the tokenizer's)."""
        keep = _limit(max_length, self.max_length, len(self.end_ids) + 1) - len(self.end_ids)
        return [ids[:keep] + self.end_ids for ids in _encode_plain(self._plain, texts)]

    def queries(self, texts: Sequence[str], instruction: str,
                max_length: int | None = None) -> list[list[int]]:
        r"""Ids for queries in the ``Instruct: ...\nQuery:...`` format."""
        return self.documents([embedding_query_text(instruction, q) for q in texts], max_length)


class RerankPromptTokenizer:
    """Token ids for Qwen3-Reranker: fixed prefix, escaped and truncated body, fixed suffix."""

    def __init__(self, model_dir: Path, max_length: int):
        full, self._plain = load_tokenizers(model_dir)
        # The fixed parts contain real control tokens, so they go through the full tokenizer,
        # once, exactly as the model card encodes them.
        self.prefix_ids: list[int] = full.encode(RERANK_PREFIX, add_special_tokens=False).ids
        self.suffix_ids: list[int] = full.encode(RERANK_SUFFIX, add_special_tokens=False).ids
        yes, no = full.token_to_id("yes"), full.token_to_id("no")
        if yes is None or no is None:
            raise ValueError(f"the tokenizer in {model_dir} lacks the single tokens 'yes'/'no'")
        self.yes_id, self.no_id = yes, no
        self.body_budget = max_length - len(self.prefix_ids) - len(self.suffix_ids)
        if self.body_budget <= 0:
            raise ValueError(
                f"max_length={max_length} is shorter than the reranker's fixed prompt "
                f"({len(self.prefix_ids) + len(self.suffix_ids)} tokens)"
            )
        self.max_length = max_length

    def pairs(self, instruction: str, query: str, documents: Sequence[str]) -> list[list[int]]:
        """Ids for each (query, document) pair, in input order."""
        return self.prompts(instruction, [(query, d) for d in documents])

    def prompts(self, instruction: str, pairs: Sequence[tuple[str, str]],
                max_length: int | None = None) -> list[list[int]]:
        """Ids for ``(query, document)`` pairs, each at most ``max_length`` tokens.

        ``max_length`` defaults to the tokenizer's; the body's end is cut so the fixed suffix
        survives.
        """
        bodies = _encode_plain(
            self._plain, [rerank_body_text(instruction, q, d) for q, d in pairs]
        )
        fixed = len(self.prefix_ids) + len(self.suffix_ids)
        keep = _limit(max_length, self.max_length, fixed + 1) - fixed
        return [self.prefix_ids + ids[:keep] + self.suffix_ids for ids in bodies]

    def windows(self, instruction: str, pairs: Sequence[tuple[str, str]],
                overlap: int | None = None, max_length: int | None = None) -> WindowedPrompts:
        """Ids for ``(query, document)`` pairs, each document read in windows that fit.

        Each pair's body is tokenised whole, as :meth:`prompts` does, then split where the
        document's first token starts (a token that straddles the boundary, such as the space
        after ``<Document>:`` joined to the first word, belongs to the document). The document's
        tokens are cut into windows of the largest length that fits ``max_length`` beside the
        fixed parts, the instruction and the query; every window's prompt is the model card's
        prompt with that slice as the document. A document that fits is one window whose prompt
        equals :meth:`prompts`'s. When the query alone leaves no room for a document, the pair
        gets :meth:`prompts`'s truncated prompt.

        Args:
            instruction: The task instruction.
            pairs: The ``(query, document)`` pairs.
            overlap: Tokens each window shares with the previous one; None for a quarter of
                the window.
            max_length: Longest prompt (default: the tokenizer's).

        Raises:
            ValueError: ``overlap`` is not smaller than some pair's window.
        """
        texts = [rerank_body_text(instruction, q, d) for q, d in pairs]
        fixed = len(self.prefix_ids) + len(self.suffix_ids)
        budget = _limit(max_length, self.max_length, fixed + 1) - fixed
        prompts: list[list[int]] = []
        owners: list[int] = []
        spans: list[Span] = []
        encodings = self._plain.encode_batch(texts, add_special_tokens=False)
        for owner, ((_, document), text, enc) in enumerate(zip(pairs, texts, encodings)):
            ids, offsets = enc.ids, enc.offsets
            start = len(text) - len(document)  # the document ends the body
            head = next((i for i, (_, end) in enumerate(offsets) if end > start), len(ids))
            window = budget - head
            if window <= 0:
                # The query fills the prompt: nothing to slide, so cut as truncate mode does.
                kept = ids[:budget]
                prompts.append(self.prefix_ids + kept + self.suffix_ids)
                owners.append(owner)
                spans.append(_span(offsets[head:len(kept)], start))
                continue
            step_overlap = default_overlap(window) if overlap is None else overlap
            if step_overlap >= window:
                raise ValueError(
                    f"overlap={overlap} is not valid: this query leaves a window of {window} "
                    f"tokens (max_length={budget + fixed} less the prompt's {fixed + head}); "
                    f"valid overlaps: 0..{window - 1}, or None for a quarter of the window")
            body_head = ids[:head]
            for first in window_starts(len(ids) - head, window, step_overlap):
                piece = slice(head + first, head + first + window)
                prompts.append(self.prefix_ids + body_head + ids[piece] + self.suffix_ids)
                owners.append(owner)
                spans.append(_span(offsets[piece], start))
        return WindowedPrompts(prompts, owners, spans, len(pairs))

    def widest_window(self, instruction: str, max_length: int | None = None) -> int:
        """The longest window any query leaves under ``instruction`` (the empty query's)."""
        text = rerank_body_text(instruction, "", "x")
        offsets = self._plain.encode(text, add_special_tokens=False).offsets
        # A document's first token takes the space before it when it can, so a one-letter
        # document shows the shortest head any document gets.
        head = sum(1 for _, end in offsets if end <= len(text) - 1)
        fixed = len(self.prefix_ids) + len(self.suffix_ids)
        return _limit(max_length, self.max_length, fixed + 1) - fixed - head

    def shorten(self, texts: Sequence[str], max_tokens: int) -> list[str]:
        """Each text cut after its first ``max_tokens`` tokens, at a character boundary."""
        shortened = []
        for text, enc in zip(texts, self._plain.encode_batch(list(texts),
                                                             add_special_tokens=False)):
            cut = len(enc.ids) > max_tokens
            shortened.append(text[: enc.offsets[max_tokens - 1][1]] if cut else text)
        return shortened


def _span(offsets: Sequence[tuple[int, int]], start: int) -> Span:
    """The document characters that tokens with these body ``offsets`` cover.

    ``start`` is where the document begins in the body; a first token reaching back before it
    (the space after ``<Document>:``) counts from the document's first character.
    """
    if not offsets:
        return (0, 0)
    return (max(offsets[0][0] - start, 0), max(offsets[-1][1] - start, 0))


def _limit(requested: int | None, ceiling: int, smallest: int) -> int:
    """A per-call length limit: ``ceiling`` when not given, never above it."""
    if requested is None:
        return ceiling
    if requested < smallest:
        raise ValueError(f"max_length={requested} leaves no room for text; use at least "
                         f"{smallest}")
    return min(requested, ceiling)
