"""Token ids of the Qwen3-VL prompts, with the images they carry.

A prompt is built from parts: fixed text, user text, control tokens and images. Runs of text
between control tokens are encoded whole, as the chat template's rendered string is, by the
tokenizer without its added tokens, so a ``<|im_end|>`` or ``<|image_pad|>`` typed in a query is
plain text; only an image puts image tokens in a prompt. An image stands as
``<|vision_start|>``, one ``<|image_pad|>`` per merged patch, ``<|vision_end|>``.

Too long a prompt loses text from its end, never a control or image token and never the closing
turn, as the official reranker script truncates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from qwen3_core.tokenization import load_tokenizers
from qwen3_core.vision.formats import (
    EMPTY_INPUT,
    VL_RERANK_SYSTEM,
    embedding_instruction,
)
from qwen3_core.vision.pixels import PreparedImage

__all__ = ["PreparedContent", "VisionPrompt", "VisionPromptBuilder"]

_CONTROL = ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>")
# The closing turn every prompt ends with: <|im_end|> \n <|im_start|> assistant \n.
_CLOSING_TOKENS = 5


@dataclass(frozen=True)
class PreparedContent:
    """An input whose images are opened and resized."""

    text: str | None
    images: tuple[PreparedImage, ...] = ()


@dataclass(frozen=True)
class VisionPrompt:
    """One prompt: its token ids and, in order, the images its ``<|image_pad|>`` runs stand for."""

    ids: tuple[int, ...]
    images: tuple[PreparedImage, ...]
    #: What it was built from, for a backend that sends inputs rather than token ids (http):
    #: ``("embedding", content, instruction)`` or ``("rerank", query, document, instruction)``.
    source: Any = field(default=None, compare=False, repr=False)


_Part = Union[str, int, PreparedImage]  # text, a control token's id, an image


class VisionPromptBuilder:
    """Builds the embedding and reranker prompts of one Qwen3-VL model directory."""

    def __init__(self, model_dir: Path, max_length: int):
        full, self._plain = load_tokenizers(model_dir)
        ids = {}
        for token in _CONTROL:
            found = full.token_to_id(token)
            if found is None:
                raise ValueError(f"{model_dir} has no {token} token: not a Qwen3-VL tokenizer")
            ids[token] = found
        self._ids = ids
        self._control = frozenset(ids.values())
        self.max_length = max_length
        vocab = full.get_vocab()
        self.yes_id, self.no_id = vocab["yes"], vocab["no"]
        self.image_token_id = ids["<|image_pad|>"]

    # -- the two formats ---------------------------------------------------------------------

    def embedding(self, content: PreparedContent, instruction: str) -> VisionPrompt:
        """The embedding prompt: instruction as system turn, images then text as user turn."""
        parts: list[_Part] = [
            self._ids["<|im_start|>"], "system\n", embedding_instruction(instruction),
            self._ids["<|im_end|>"], "\n", self._ids["<|im_start|>"], "user\n",
            *self._content_parts(content),
        ]
        return self._finish(parts, ("embedding", content, instruction))

    def rerank(self, query: PreparedContent, document: PreparedContent,
               instruction: str) -> VisionPrompt:
        """The reranker prompt for one query-document pair."""
        parts: list[_Part] = [
            self._ids["<|im_start|>"], "system\n", VL_RERANK_SYSTEM,
            self._ids["<|im_end|>"], "\n", self._ids["<|im_start|>"], "user\n",
            "<Instruct>: " + instruction, "<Query>:", *self._content_parts(query),
            "\n<Document>:", *self._content_parts(document),
        ]
        return self._finish(parts, ("rerank", query, document, instruction))

    # -- assembly ----------------------------------------------------------------------------

    @staticmethod
    def _content_parts(content: PreparedContent) -> list[_Part]:
        if content.text is None and not content.images:
            return [EMPTY_INPUT]
        parts: list[_Part] = list(content.images)
        if content.text is not None:
            parts.append(content.text)
        return parts

    def _finish(self, parts: list[_Part], source: Any) -> VisionPrompt:
        parts += [self._ids["<|im_end|>"], "\n", self._ids["<|im_start|>"], "assistant\n"]
        ids: list[int] = []
        images: list[PreparedImage] = []
        run: list[str] = []
        for part in parts:
            if isinstance(part, str):
                run.append(part)
                continue
            ids += self._encode("".join(run))
            run = []
            if isinstance(part, PreparedImage):
                images.append(part)
                ids += [self._ids["<|vision_start|>"], *[self.image_token_id] * part.tokens,
                        self._ids["<|vision_end|>"]]
            else:
                ids.append(part)
        ids += self._encode("".join(run))
        return VisionPrompt(tuple(self._truncate(ids)), tuple(images), source)

    def _encode(self, text: str) -> list[int]:
        if not text:
            return []
        return list(self._plain.encode(text, add_special_tokens=False).ids)

    def _truncate(self, ids: list[int]) -> list[int]:
        if len(ids) <= self.max_length:
            return ids
        body, closing = ids[:-_CLOSING_TOKENS], ids[-_CLOSING_TOKENS:]
        control = sum(1 for i in body if i in self._control)
        keep = self.max_length - _CLOSING_TOKENS - control
        if keep < 0:
            raise ValueError(f"the images of this input need {control + _CLOSING_TOKENS} tokens, "
                             f"more than max_length={self.max_length}; raise max_length or "
                             "send fewer or smaller images")
        kept: list[int] = []
        for token in body:
            if token in self._control:
                kept.append(token)
            elif keep > 0:
                kept.append(token)
                keep -= 1
        return kept + closing
