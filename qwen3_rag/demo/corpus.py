"""The bilingual sample corpus that ``qwen3-rag demo`` searches, and its sample queries."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

__all__ = ["SAMPLE_QUERIES", "SamplePassage", "load_sample_corpus"]

#: Asked by the demo before the interactive prompt: one in English, one in Chinese, each with
#: an answer in the other language too, so both stages have something to sort out.
SAMPLE_QUERIES = (
    "Which river is the longest in Asia?",
    "重排序模型在检索中起什么作用？",
)


@dataclass(frozen=True)
class SamplePassage:
    """One passage of the sample corpus."""

    text: str
    topic: str
    language: str


def load_sample_corpus() -> list[SamplePassage]:
    """Read the passages shipped in ``qwen3_rag/demo/sample_corpus.jsonl``.

    Returns:
        The passages in file order (geography, physics, AI, programming, history, technology;
        English and Chinese).
    """
    source = resources.files("qwen3_rag.demo").joinpath("sample_corpus.jsonl")
    passages = []
    for line in source.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            passages.append(SamplePassage(record["text"], record["topic"], record["lang"]))
    return passages
