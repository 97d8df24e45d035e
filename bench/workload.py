"""The benchmark's inputs: seeded synthetic queries and passages of chosen token lengths.

The model has random weights, so what the texts say does not matter; their token counts do,
because they set the work per call. Lengths are counted with the benchmark model's own tokenizer.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "SMOKE_SIZES", "Sizes", "Workload", "build_workload", "load_workload", "save_workload",
]

_WORDS = (
    "river harbour market bridge station library garden tower museum valley forest island "
    "engine signal voltage circuit battery sensor network protocol server client request "
    "protein enzyme membrane molecule genome cell tissue vaccine fever doctor patient clinic "
    "treaty senate election budget policy court ruling tariff export import currency bank "
    "glacier volcano desert monsoon rainfall drought harvest wheat rice orchard cattle "
    "theorem proof matrix vector integral series prime lattice graph node edge weight "
    "novel poem chapter author reader archive letter diary painting statue concert opera "
    "quickly slowly often rarely never always measured reported built opened closed moved "
    "the a of in on for with from by between under over after before during across"
).split()

_QUESTION_STARTS = ("what", "how", "why", "when", "where", "which", "who")


@dataclass(frozen=True)
class Sizes:
    """How many texts of how many tokens each workload has."""

    short_docs: int = 64
    short_tokens: int = 45
    long_docs: int = 16
    long_tokens: int = 265
    passages: int = 128
    passage_tokens: int = 60
    latency_docs: int = 20
    latency_repeats: int = 5
    #: Short candidates of the warm-up call (plus a quarter as many long ones): as much work
    #: as the measured calls, so one-time costs that appear only with full-size batches (vLLM's
    #: first batch of its full token budget, say) stay out of every measured call.
    warmup_docs: int = 64


#: The sizes of the smoke mode: seconds on the tiny test model, nothing measured for real.
SMOKE_SIZES = Sizes(
    short_docs=6, short_tokens=20, long_docs=3, long_tokens=60, passages=8, passage_tokens=20,
    latency_docs=4, latency_repeats=1, warmup_docs=2,
)


@dataclass(frozen=True)
class Workload:
    """All texts of one benchmark run; the warm-up texts differ from the measured ones."""

    sizes: Sizes
    warmup_query: str
    warmup_docs: list[str]
    short_query: str
    short_docs: list[str]
    long_query: str
    long_docs: list[str]
    embed_query: str
    passages: list[str]
    latency_queries: list[str]
    latency_docs: list[str]


class _TextMaker:
    """Seeded sentences grown word by word until they reach a token count."""

    def __init__(self, tokenizer_file: Path, seed: int):
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._random = random.Random(seed)

    def _count(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def passage(self, tokens: int) -> str:
        words: list[str] = []
        text = ""
        while self._count(text) < tokens:
            word = self._random.choice(_WORDS)
            # A full stop every dozen words or so keeps the text sentence-shaped.
            if words and self._random.random() < 0.08:
                words[-1] += "."
                word = word.capitalize()
            words.append(word)
            text = " ".join(words)
        return text

    def query(self) -> str:
        start = self._random.choice(_QUESTION_STARTS)
        return f"{start} {' '.join(self._random.sample(_WORDS, 5))}?"

    def passages(self, count: int, tokens: int) -> list[str]:
        return [self.passage(tokens) for _ in range(count)]


def build_workload(tokenizer_file: Path, sizes: Sizes, seed: int = 7) -> Workload:
    """Make every text of a run with the tokenizer at ``tokenizer_file``."""
    maker = _TextMaker(tokenizer_file, seed)
    return Workload(
        sizes=sizes,
        warmup_query=maker.query(),
        warmup_docs=maker.passages(sizes.warmup_docs, sizes.short_tokens)
        + maker.passages(max(1, sizes.warmup_docs // 4), sizes.long_tokens),
        short_query=maker.query(),
        short_docs=maker.passages(sizes.short_docs, sizes.short_tokens),
        long_query=maker.query(),
        long_docs=maker.passages(sizes.long_docs, sizes.long_tokens),
        embed_query=maker.query(),
        passages=maker.passages(sizes.passages, sizes.passage_tokens),
        # A new query per repeat, so no repeat finds the previous one's prompts cached.
        latency_queries=[maker.query() for _ in range(sizes.latency_repeats)],
        latency_docs=maker.passages(sizes.latency_docs, sizes.short_tokens),
    )


def save_workload(workload: Workload, path: Path) -> None:
    """Write ``workload`` as JSON for the worker processes."""
    path.write_text(json.dumps(asdict(workload)), encoding="utf-8")


def load_workload(path: Path) -> Workload:
    """Read a workload written by :func:`save_workload`."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    data["sizes"] = Sizes(**data["sizes"])
    return Workload(**data)
