"""The lexical (BM25) index: which tokenizer, how fast it indexes, how much fusion adds.

Three measurements, printed as Markdown tables (the numbers in ``docs/hybrid.md`` come from it):

1. **Tokenizers** on the bilingual test set shipped with ``qwen3-rag eval`` (42 passages, 16
   queries, half Chinese): BM25 alone (bm25s, k1=1.5, b=0.75), nDCG@10 / MRR@10 / R@10 by ranx,
   and nDCG@10 over the Chinese and the English queries apart.
2. **Indexing**: ``--passages`` synthetic passages (``bench.synthetic_corpus``; ``--chinese``
   share of them in Chinese) written to the passage store in batches of 64, as ``qwen3-rag
   index`` writes them (tokenising included), then the bm25s build: passages per second and
   the size on disk.
3. **Fusion's added latency** over dense-only for a 50-candidate search: the BM25 query of the
   index just built plus the reciprocal-rank fusion with a 50-id dense list, per query (the
   dense recall and the reranker cost the same in both modes).

    python -m bench.lexical --passages 100000 --workdir /tmp/lexical-bench
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.synthetic_corpus import passage_text

__all__ = ["fusion_latency", "indexing_speed", "main", "tokenizer_quality"]

_CHINESE = dict(zip(
    "river mountain city language model vector search query passage index cluster memory batch "
    "worker engine actor record corpus embedding reranker table chroma stream resume crash disk "
    "network server laptop ocean forest desert library".split(),
    "河流 山脉 城市 语言 模型 向量 搜索 查询 段落 索引 集群 内存 批次 工人 引擎 演员 记录 语料 "
    "嵌入 重排 表格 色度 数据流 恢复 崩溃 磁盘 网络 服务器 笔记本 海洋 森林 沙漠 图书馆".split(),
    strict=True))


def _chinese_text(number: int) -> str:
    words = passage_text(number).split(": ", 1)[1].rstrip(".").split()
    return f"第{number}段：" + "".join(_CHINESE[word] for word in words) + "。"


def _variants() -> dict[str, Callable[[str], list[str]]]:
    import re

    from qwen3_core.lexical import BilingualTokenizer

    def by_character(text: str) -> list[str]:
        return [t for t in re.findall(r"[\u4e00-\u9fff]|[^\W_]+", text.lower())]

    return {
        "whitespace split, lower-case (LangChain BM25Retriever's default)":
            lambda text: text.lower().split(),
        "letters and digits, Han by character, nothing else": by_character,
        "Han bigrams, English stemmed, stop words": BilingualTokenizer("bigram"),
        "Han characters, English stemmed, stop words": BilingualTokenizer("char"),
        "jieba words, English stemmed, stop words": BilingualTokenizer("jieba"),
        "jieba words + characters, English not stemmed, stop words":
            BilingualTokenizer(stem=False),
        "jieba words + characters, English stemmed, no stop words":
            BilingualTokenizer(stop_words=False),
        "**jieba words + characters, English stemmed, stop words (default)**":
            BilingualTokenizer(),
    }


def _by_language(test_set) -> dict[str, list[str]]:
    import re

    han = re.compile(r"[\u4e00-\u9fff]")
    judged = list(test_set.qrels)
    chinese = [q for q in judged if han.search(test_set.queries[q])]
    return {"zh": chinese, "en": [q for q in judged if q not in chinese]}


def tokenizer_quality() -> list[tuple[str, dict[str, float]]]:
    """nDCG@10, MRR@10, R@10 of BM25 alone per tokenizer on the shipped test set."""
    import bm25s
    import numpy as np

    from qwen3_rag.evaluation.metrics import Ranking, score_rankings
    from qwen3_rag.evaluation.test_set import load_shipped

    test_set = load_shipped()
    ids = list(test_set.passages)
    results = []
    for name, tokenize in _variants().items():
        retriever = bm25s.BM25()
        retriever.index([tokenize(test_set.passages[pid]) for pid in ids], show_progress=False)
        ranked = {}
        for query_id, query in test_set.queries.items():
            token_ids = retriever.get_tokens_ids(tokenize(query))
            scores = retriever.get_scores_from_ids(token_ids) if token_ids \
                else np.zeros(len(ids))
            order = [i for i in np.argsort(-scores, kind="stable") if scores[i] > 0]
            ranked[query_id] = [ids[i] for i in order]
        ranking = Ranking(name, ranked, dict.fromkeys(ranked, 0.0))
        means = score_rankings(test_set.qrels, [ranking],
                               ("ndcg@10", "mrr@10", "recall@10"))[0].means
        for language, queries in _by_language(test_set).items():
            qrels = {q: test_set.qrels[q] for q in queries}
            part = Ranking(name, {q: ranked[q] for q in queries}, dict.fromkeys(queries, 0.0))
            found = any(ranked[q] for q in queries)  # ranx cannot score a run of nothing
            means[language] = score_rankings(qrels, [part], ("ndcg@10",))[0] \
                .means["ndcg@10"] if found else 0.0
        results.append((name, means))
    return results


def indexing_speed(passages: int, workdir: Path, chinese: float) -> dict[str, float]:
    """Write ``passages`` passages as ``qwen3-rag index`` does, build, and measure."""
    from qwen3_core.lexical import PassageStore, build_index

    directory = workdir / "lexical"
    shutil.rmtree(directory, ignore_errors=True)
    rng = random.Random(0)
    started = time.perf_counter()
    with PassageStore(directory) as store:
        for start in range(0, passages, 64):
            numbers = range(start, min(start + 64, passages))
            texts = [_chinese_text(n) if rng.random() < chinese else passage_text(n)
                     for n in numbers]
            store.upsert([f"doc-{n}" for n in numbers], texts, [f"h{n}" for n in numbers],
                         [{"source": "synthetic.jsonl"} for _ in numbers])
        stored = time.perf_counter()
        build_index(store, collection="bench", collection_id="bench")
        built = time.perf_counter()
    build_bytes = sum(f.stat().st_size for f in directory.glob("bm25-*/*"))
    store_bytes = sum(f.stat().st_size for f in directory.glob("passages.sqlite3*"))
    return {"passages": passages, "store_seconds": stored - started,
            "build_seconds": built - stored, "docs_per_second": passages / (built - started),
            "bm25_mib": build_bytes / 2**20, "store_mib": store_bytes / 2**20}


def fusion_latency(workdir: Path, queries: int = 200, candidates: int = 50
                   ) -> dict[str, float]:
    """Per-query ms of BM25 recall + RRF for a ``candidates``-long search (p50, p95)."""
    from qwen3_core.lexical import LexicalIndex, fuse
    from qwen3_core.lexical.hybrid import Candidate

    rng = random.Random(1)
    with LexicalIndex.open(workdir / "lexical") as index:
        size = len(index)
        index.search("warm-up river", candidates)
        timings = []
        for number in range(queries):
            words = passage_text(rng.randrange(size)).split(": ", 1)[1].split()[:4]
            query = " ".join(words) if number % 2 else "".join(_CHINESE[w.rstrip(".")]
                                                              for w in words)
            dense = [Candidate(f"doc-{rng.randrange(size)}", "", {}, cosine=0.5)
                     for _ in range(candidates)]
            started = time.perf_counter()
            found = index.search(query, candidates)
            fuse(dense, found, k=candidates)
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {"p50_ms": statistics.median(timings),
            "p95_ms": timings[int(0.95 * (len(timings) - 1))], "queries": queries}


def main(argv: list[str] | None = None) -> int:
    """Run the three measurements and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--chinese", type=float, default=0.5,
                        help="share of the synthetic passages in Chinese (default 0.5)")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    print("| tokenizer (BM25 alone, shipped test set) | nDCG@10 | MRR@10 | R@10 | "
          "nDCG@10 zh | nDCG@10 en |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, means in tokenizer_quality():
        print(f"| {name} | {means['ndcg@10']:.3f} | {means['mrr@10']:.3f} | "
              f"{means['recall@10']:.3f} | {means['zh']:.3f} | {means['en']:.3f} |")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="lexical-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    speed = indexing_speed(args.passages, workdir, args.chinese)
    print(f"\n| passages | store (tokenise + SQLite) | bm25s build | docs/s overall | "
          f"bm25s files | passage store |\n|---:|---:|---:|---:|---:|---:|\n"
          f"| {speed['passages']:,} | {speed['store_seconds']:.1f} s | "
          f"{speed['build_seconds']:.1f} s | {speed['docs_per_second']:,.0f} | "
          f"{speed['bm25_mib']:.1f} MiB | {speed['store_mib']:.1f} MiB |")
    latency = fusion_latency(workdir)
    print(f"\nBM25 recall + RRF of 50 candidates over {speed['passages']:,} passages, "
          f"added to dense-only: p50 {latency['p50_ms']:.2f} ms, p95 {latency['p95_ms']:.2f} ms "
          f"({latency['queries']} queries, half Chinese).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
