"""The demo's and ``search``'s tables fit the terminal: 80 columns, 200 columns, CJK text."""

from __future__ import annotations

import io

import pytest
from rich.cells import cell_len
from rich.console import Console

from qwen3_rag.common.render import SIDE_BY_SIDE_WIDTH, results_table, stages
from qwen3_rag.retrieval.store import Hit
from qwen3_rag.retrieval.two_stage import Reranked, TwoStageResult

_TEXTS = [
    ("Glaciers carve U-shaped valleys as moving ice scrapes and plucks the bedrock beneath it, "
    "leaving cirques, moraines and hanging valleys behind when the ice finally retreats."),
    "冰川在移动时会侵蚀谷底，把 V 形河谷改造成 U 形谷，并在退缩后留下冰碛和冰斗等地貌。" * 2,
    "A sourdough starter is a culture of wild yeast and lactic acid bacteria.",
]


def _result() -> TwoStageResult:
    hits = tuple(Hit(id=str(i), text=t, cosine=0.9 - i / 10,
                     metadata={"source": f"notes/冰川-{i}.md", "chunk": i})
                 for i, t in enumerate(_TEXTS))
    reranked = tuple(Reranked(hit=hits[i], score=s, recall_rank=i + 1)
                     for i, s in [(1, 0.97), (0, 0.88), (2, 0.01)])
    return TwoStageResult(query="冰川如何塑造山谷？", candidates=hits, reranked=reranked,
                          recall_seconds=0.012, rerank_seconds=0.345)


def _render(renderable, width: int) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, legacy_windows=False).print(renderable)
    return out.getvalue().splitlines()


@pytest.mark.parametrize("width", [80, 100, SIDE_BY_SIDE_WIDTH - 1])
def test_narrow_terminals_stack_the_stages(width):
    lines = _render(stages(_result(), width), width)
    assert max(cell_len(line) for line in lines) <= width
    recall = next(i for i, line in enumerate(lines) if "Stage 1" in line)
    rerank = next(i for i, line in enumerate(lines) if "Stage 2" in line)
    assert rerank > recall + len(_TEXTS)  # one under the other, stage 1 complete first
    assert "Stage 2" not in lines[recall]
    # Every row is there, each table closed (its bottom border drawn).
    assert sum(line.startswith("└") for line in lines) == 2
    assert sum("冰川" in line for line in lines) == 2


def test_wide_terminals_show_the_stages_side_by_side():
    lines = _render(stages(_result(), 200), 200)
    assert max(cell_len(line) for line in lines) <= 200
    title = next(line for line in lines if "Stage 1" in line)
    assert "Stage 2" in title
    assert sum(line.count("└") for line in lines) == 2


@pytest.mark.parametrize("width", [80, 200])
def test_search_results_fit(width):
    lines = _render(results_table(_result()), width)
    assert max(cell_len(line) for line in lines) <= width
    assert any("0.9700" in line for line in lines)
