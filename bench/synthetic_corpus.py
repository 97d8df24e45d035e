"""Synthetic corpora of short passages with ids, for the indexing benchmarks and tests."""

from __future__ import annotations

import json
import random
from pathlib import Path

__all__ = ["passage_text", "write_jsonl"]

_WORDS = ("river mountain city language model vector search query passage index cluster "
          "memory batch worker engine actor record corpus embedding reranker table chroma "
          "stream resume crash disk network server laptop ocean forest desert library").split()


def passage_text(number: int, words: int = 24) -> str:
    """A deterministic passage of about ``words`` words (its number makes it unique)."""
    rng = random.Random(number)
    return f"Passage {number}: " + " ".join(rng.choice(_WORDS) for _ in range(words)) + "."


def write_jsonl(path: str | Path, count: int, *, words: int = 24) -> Path:
    """Write ``count`` records ``{"id", "text", "topic"}`` to ``path``, one a line."""
    path = Path(path)
    with path.open("w", encoding="utf-8") as out:
        for number in range(count):
            record = {"id": f"doc-{number}", "text": passage_text(number, words),
                      "topic": _WORDS[number % len(_WORDS)]}
            out.write(json.dumps(record) + "\n")
    return path
