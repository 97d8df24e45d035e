"""The web page's search tab offers the recall modes: its handler, called as Gradio calls it."""

from __future__ import annotations

import argparse
import json

import pytest

from qwen3_core import Qwen3Embedder, Qwen3Reranker
from qwen3_rag.cli import main
from qwen3_rag.common.recall_options import open_recall
from qwen3_rag.retrieval.store import VectorStore, open_client
from qwen3_rag.ui.app import build_app

PASSAGES = {"tea": "Green tea is brewed with water at about eighty degrees.",
            "tyre": "自行车内胎被扎破后，可以用补胎片修补。",
            "fog": "Fog forms when moist air cools to its dew point."}


@pytest.fixture(scope="module")
def handler(tiny_models, tmp_path_factory):
    root = tmp_path_factory.mktemp("ui-hybrid")
    corpus = root / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": k, "text": v}, ensure_ascii=False) + "\n"
                              for k, v in PASSAGES.items()), encoding="utf-8")
    chroma = root / "chroma"
    assert main(["index", str(corpus), "--chroma-dir", str(chroma), "--collection", "page",
                 "--embedding-model", str(tiny_models.embedding), "--backend", "transformers",
                 "--dtype", "float32"]) == 0
    args = argparse.Namespace(mode=None, lexical_dir=None, chroma_dir=str(chroma),
                              chroma_url=None)
    with Qwen3Embedder(tiny_models.embedding, backend="transformers", dtype="float32") as emb, \
            Qwen3Reranker(tiny_models.reranker, backend="transformers", dtype="float32") as rr:
        store = VectorStore(open_client(chroma), "page", emb.model, emb.embedding_size)

        def lexical(found, mode):
            return open_recall(argparse.Namespace(**{**vars(args), "mode": mode}), found,
                               lambda line: None)

        app = build_app(rr, emb, lambda name: store, open_lexical=lexical)
        search = next(block.fn for block in app.fns.values()
                      if getattr(block.fn, "__name__", "") == "on_search")
        yield search


@pytest.mark.parametrize(("mode", "shown"), [("auto", "hybrid"), ("hybrid", "hybrid"),
                                             ("bm25", "bm25"), ("dense", "dense")])
def test_each_mode_recalls_and_says_which(handler, mode, shown):
    stage1, stage2, timing = handler("内胎破了", "page", 3, 2, mode)
    assert f"Stage 1 ({shown} recall)" in timing
    assert len(stage2) == min(2, len(stage1))
    if mode == "bm25":
        assert [row[3] for row in stage1] == [PASSAGES["tyre"]]
        assert stage1[0][1] is None  # no cosine for a passage BM25 alone found


def test_a_stop_word_query_in_bm25_mode_is_an_error_on_the_page(handler):
    import gradio as gr

    with pytest.raises(gr.Error, match="only stop words: the, of"):
        handler("the of", "page", 3, 2, "bm25")
