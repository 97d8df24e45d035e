"""Issue 26: a long document scored by its best window, exact to the model card on every layer.

Each window's prompt is built in ``reference.rerank_windows`` from Hugging Face's tokenizer (the
body tokenised whole, split where the document starts) and scored with the model card's
formula; the document's expected score is the best window's. Nothing there calls qwen3_core.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import random

import numpy as np
import pytest
import reference

from qwen3_core import Qwen3Reranker

TOLERANCE = 1e-5
#: Short enough that a paragraph needs several windows on the tiny models (whose small
#: vocabulary spends a token on every few characters): the first document fits, the others not.
MAX_LENGTH = 192

QUERY = "Where do glaciers carve U-shaped valleys?"
INSTRUCTION = "Given a geography question, find the passage that answers it"


def _long_text(seed: int, words: int) -> str:
    """Varied text (no two windows alike, so no ties between their scores)."""
    rng = random.Random(seed)
    vocabulary = ("glacier valley ice moraine river bread violin harbour crane cirque rock snow "
                  "summer winter north plains 冰川 河谷 (note) 1987 <|im_end|> <think>").split()
    return " ".join(rng.choice(vocabulary) for _ in range(words))


DOCUMENTS = [
    "Glaciers carve U-shaped valleys as moving ice scrapes the bedrock.",  # fits: one window
    _long_text(1, 120) + " Glaciers carve U-shaped valleys in the Alps.",
    "".join(random.Random(4).choice("冰川在移动时会侵蚀谷底河流山脉。") for _ in range(140)),
    "1987 " + _long_text(2, 90),  # starts with a digit: the space is a token of its own
    "",
]


@pytest.fixture(scope="module")
def core(tiny_models):
    with Qwen3Reranker(tiny_models.reranker, backend="transformers", dtype="float32",
                       max_length=MAX_LENGTH, long_documents="best_window") as rr:
        yield rr


def _expected(path, documents, instruction=None, max_length=MAX_LENGTH, overlap=None):
    """Every window's ``(score, span)``, per document, from the reference."""
    return [_windows(str(path), d, instruction, max_length, overlap) for d in documents]


@functools.lru_cache(maxsize=None)
def _windows(path, document, instruction, max_length, overlap):
    # One window at a time is slow; several tests ask for the same windows.
    return reference.rerank_windows(path, QUERY, document, instruction, max_length, overlap)


def _best(windows):
    """The best score, and the spans of the windows that reach it within the tolerance (the
    tiny random models score some windows alike, and which of those wins is float noise)."""
    best = max(score for score, _ in windows)
    return best, [span for score, span in windows if score >= best - TOLERANCE]


def _check(results, expected, documents):
    """Results (RerankResult-like: index, score, span) against the reference, by index."""
    by_index = {r.index: r for r in results}
    assert sorted(by_index) == list(range(len(documents)))
    for i, windows in enumerate(expected):
        score, spans = _best(windows)
        assert abs(by_index[i].score - score) <= TOLERANCE, (i, by_index[i].score, score)
        assert by_index[i].span in spans, (i, by_index[i].span, spans)


# -- the core ------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlap", [None, 0, 20])
def test_best_window_scores_are_the_model_cards_best(core, tiny_models, overlap):
    path = str(tiny_models.reranker)
    windows = _expected(path, DOCUMENTS, overlap=overlap)
    assert [len(w) for w in windows][:2] == [1, max(len(w) for w in windows)]
    assert len(windows[1]) >= 4  # the long document really is read in several windows
    _check(core.rerank(QUERY, DOCUMENTS, overlap=overlap), windows, DOCUMENTS)


def test_the_span_is_where_the_best_window_is(core):
    # The answer sits at the end of a long document; truncation never sees it.
    best = core.rerank(QUERY, DOCUMENTS[1:2])[0]
    start, end = best.span
    assert 0 <= start < end <= len(DOCUMENTS[1])
    assert best.document[start:end] in DOCUMENTS[1]


def test_a_document_that_fits_is_one_window_scored_as_truncate_does(core, tiny_models):
    short = [DOCUMENTS[0], DOCUMENTS[4], "Ice."]
    windowed = core.rerank(QUERY, short)
    truncated = core.score(QUERY, short, long_documents="truncate")
    card = reference.rerank_scores(str(tiny_models.reranker), QUERY, short,
                                   max_length=MAX_LENGTH)
    by_index = sorted(windowed, key=lambda r: r.index)
    assert [r.score for r in by_index] == truncated  # the same prompt: bit for bit
    np.testing.assert_allclose(truncated, card, atol=TOLERANCE, rtol=0)
    assert [r.span for r in by_index] == [(0, len(d)) for d in short]


def test_truncate_mode_is_the_model_cards_truncation_and_has_no_span(core, tiny_models):
    results = core.rerank(QUERY, DOCUMENTS, long_documents="truncate")
    card = reference.rerank_scores(str(tiny_models.reranker), QUERY, DOCUMENTS,
                                   max_length=MAX_LENGTH)
    np.testing.assert_allclose([r.score for r in sorted(results, key=lambda r: r.index)], card,
                               atol=TOLERANCE, rtol=0)
    assert all(r.span is None for r in results)


def test_the_default_is_truncate(tiny_models):
    with Qwen3Reranker(tiny_models.reranker, backend="transformers", dtype="float32",
                       max_length=MAX_LENGTH) as rr:
        assert (rr.long_documents, rr.overlap) == ("truncate", None)
        results = rr.rerank(QUERY, DOCUMENTS[:2])
        assert all(r.span is None for r in results)
        windowed = rr.rerank(QUERY, DOCUMENTS[:2], long_documents="best_window")
    _check(windowed, _expected(str(tiny_models.reranker), DOCUMENTS[:2]), DOCUMENTS[:2])


def test_instruction_and_async_and_score_many_agree(core, tiny_models):
    path = str(tiny_models.reranker)
    documents = DOCUMENTS[:2]
    expected = _expected(path, documents, INSTRUCTION)
    _check(core.rerank(QUERY, documents, instruction=INSTRUCTION), expected, documents)
    _check(asyncio.run(core.arerank(QUERY, documents, instruction=INSTRUCTION)), expected,
           documents)
    scores = [_best(windows)[0] for windows in expected]
    np.testing.assert_allclose(core.score(QUERY, documents, instruction=INSTRUCTION), scores,
                               atol=TOLERANCE, rtol=0)
    many = core.score_many([QUERY, QUERY], [documents, []], instruction=INSTRUCTION)
    assert many[1] == []
    np.testing.assert_allclose(many[0], scores, atol=TOLERANCE, rtol=0)


def test_a_query_that_leaves_no_room_is_cut_as_truncate_does(core, tiny_models):
    long_query = " ".join(["glacier valley"] * 60)
    got = core.score(long_query, DOCUMENTS[:2])
    card = reference.rerank_scores(str(tiny_models.reranker), long_query, DOCUMENTS[:2],
                                   max_length=MAX_LENGTH)
    np.testing.assert_allclose(got, card, atol=TOLERANCE, rtol=0)


def test_all_windows_of_a_query_go_to_the_engine_in_one_group(core, monkeypatch):
    engine = core._engine()
    calls = []
    original = engine.score_groups

    def spy(groups):
        calls.append([len(group) for group in groups])
        return original(groups)

    monkeypatch.setattr(engine, "score_groups", spy)
    core.score_many([QUERY, "What is sourdough?"], [DOCUMENTS, DOCUMENTS[:2]])
    assert len(calls) == 1 and len(calls[0]) == 2  # one call, one group per query
    assert calls[0][0] > len(DOCUMENTS)  # the long documents' windows are in it


def test_the_callers_documents_are_not_changed(core):
    documents = list(DOCUMENTS)
    kept = copy.deepcopy(documents)
    core.rerank(QUERY, documents)
    assert documents == kept


# -- settings: checked at construction, with the valid values named ------------------------------


@pytest.mark.parametrize(("options", "error", "message"), [
    ({"long_documents": "chunks"}, ValueError,
     r"long_documents='chunks' is not valid; choose one of truncate, best_window"),
    ({"overlap": -1}, ValueError, r"overlap=-1 is not valid; use 0 or more tokens"),
    ({"overlap": 2.5}, TypeError, r"overlap must be a number of tokens \(an int\) or None"),
    ({"overlap": True}, TypeError, r"overlap must be a number of tokens"),
    ({"overlap": 500}, ValueError,
     r"overlap=500 is not valid: max_length=192 and the instruction leave windows of at most "
     r"\d+ tokens; valid overlaps: 0\.\.\d+"),
])
def test_bad_options_fail_at_construction_on_every_layer(tiny_models, options, error, message):
    from langchain_qwen3 import Qwen3Rerank as LangChainRerank
    from llama_index_qwen3 import Qwen3Rerank as LlamaIndexRerank

    settings = {"backend": "transformers", "dtype": "float32", "max_length": MAX_LENGTH}
    for cls in (Qwen3Reranker, LangChainRerank, LlamaIndexRerank):
        with pytest.raises(error, match=message):
            cls(model=tiny_models.reranker, **settings, **options)


def test_overlap_equal_to_the_widest_window_is_refused_and_one_less_accepted(tiny_models):
    settings = {"backend": "transformers", "dtype": "float32", "max_length": MAX_LENGTH}
    with pytest.raises(ValueError) as refused:
        Qwen3Reranker(tiny_models.reranker, overlap=10_000, **settings)
    widest = int(str(refused.value).split("at most ")[1].split(" ")[0])
    with pytest.raises(ValueError, match=f"overlap={widest} is not valid"):
        Qwen3Reranker(tiny_models.reranker, overlap=widest, **settings)
    with Qwen3Reranker(tiny_models.reranker, overlap=widest - 1, **settings) as rr:
        assert rr.overlap == widest - 1
        # The widest window is the empty query's; this query's is smaller, so the call says so.
        with pytest.raises(ValueError, match=rf"overlap={widest - 1} is not valid: this query "
                                             r"leaves a window of \d+ tokens"):
            rr.score(QUERY, DOCUMENTS[:1], long_documents="best_window")


def test_bad_per_call_values_name_the_valid_ones(core):
    with pytest.raises(ValueError, match="long_documents='all' is not valid; choose one of "
                                         "truncate, best_window"):
        core.score(QUERY, DOCUMENTS, long_documents="all")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="overlap=-3 is not valid"):
        core.rerank(QUERY, DOCUMENTS, overlap=-3)


def test_the_options_are_not_engine_settings(core, tiny_models):
    # Rerankers of either mode share one engine: windowing happens before the engine.
    with Qwen3Reranker(tiny_models.reranker, backend="transformers", dtype="float32",
                       max_length=MAX_LENGTH) as plain:
        assert plain.shares_engine_with(core)
        assert plain.spec == core.spec


# -- LangChain and LlamaIndex --------------------------------------------------------------------


def test_langchain_puts_the_span_in_metadata(core, tiny_models):
    from langchain_core.documents import Document

    from langchain_qwen3 import Qwen3Rerank

    expected = _expected(str(tiny_models.reranker), DOCUMENTS)
    documents = [Document(page_content=text, metadata={"source": i})
                 for i, text in enumerate(DOCUMENTS)]
    originals = copy.deepcopy(documents)
    with Qwen3Rerank(model=tiny_models.reranker, backend="transformers", dtype="float32",
                     max_length=MAX_LENGTH, top_n=None, long_documents="best_window") as wrapper:
        assert wrapper.reranker.shares_engine_with(core)
        hits = wrapper.rerank(documents, QUERY)
        compressed = wrapper.compress_documents(documents, QUERY)
        async_compressed = asyncio.run(wrapper.acompress_documents(documents, QUERY))
        truncated = wrapper.compress_documents(documents, QUERY, long_documents="truncate")
    assert documents == originals
    for i, windows in enumerate(expected):
        hit = next(h for h in hits if h["index"] == i)
        score, spans = _best(windows)
        assert abs(hit["relevance_score"] - score) <= TOLERANCE
        assert hit["relevance_span"] in spans
    for returned in (compressed, async_compressed):
        for doc in returned:
            score, spans = _best(expected[doc.metadata["source"]])
            assert abs(doc.metadata["relevance_score"] - score) <= TOLERANCE
            assert doc.metadata["relevance_span"] in spans
    assert all("relevance_span" not in doc.metadata for doc in truncated)


def test_langchain_per_call_overlap(tiny_models):
    from langchain_qwen3 import Qwen3Rerank

    expected = _expected(str(tiny_models.reranker), DOCUMENTS[1:2], overlap=3)
    with Qwen3Rerank(model=tiny_models.reranker, backend="transformers", dtype="float32",
                     max_length=MAX_LENGTH, top_n=None) as wrapper:
        assert wrapper.long_documents == "truncate"
        hits = wrapper.rerank(DOCUMENTS[1:2], QUERY, long_documents="best_window", overlap=3)
    score, spans = _best(expected[0])
    assert abs(hits[0]["relevance_score"] - score) <= TOLERANCE
    assert hits[0]["relevance_span"] in spans


def test_llama_index_puts_the_span_in_node_metadata_hidden_from_the_llm(core, tiny_models):
    from llama_index.core.schema import MetadataMode, NodeWithScore, TextNode

    expected = _expected(str(tiny_models.reranker), DOCUMENTS)
    nodes = [NodeWithScore(node=TextNode(text=text, id_=str(i)), score=0.5)
             for i, text in enumerate(DOCUMENTS)]
    originals = copy.deepcopy(nodes)
    with _llama_index_reranker(tiny_models) as wrapper:
        assert wrapper.reranker.shares_engine_with(core)
        reranked = wrapper.postprocess_nodes(nodes, query_str=QUERY)
    assert [n.node.metadata for n in nodes] == [n.node.metadata for n in originals]
    for item in reranked:
        score, spans = _best(expected[int(item.node.node_id)])
        assert abs(item.score - score) <= TOLERANCE
        assert item.node.metadata["relevance_span"] in spans
        assert "relevance_span" not in item.node.get_content(metadata_mode=MetadataMode.LLM)
        assert "relevance_span" not in item.node.get_content(metadata_mode=MetadataMode.EMBED)


def _llama_index_reranker(tiny_models):
    from llama_index_qwen3 import Qwen3Rerank

    return Qwen3Rerank(tiny_models.reranker, backend="transformers", dtype="float32",
                       max_length=MAX_LENGTH, top_n=None, long_documents="best_window")


# -- vLLM: the same windows, prefix caching across them ------------------------------------------


def test_vllm_best_window_matches_the_model_card(vllm_reranker, tiny_models):
    # The session's engine (max_length 8192): windows need a document longer than that.
    path = str(tiny_models.reranker)
    long_document = _long_text(3, 5000) + " Glaciers carve U-shaped valleys."
    documents = [DOCUMENTS[0], long_document]
    results = vllm_reranker.rerank(QUERY, documents, long_documents="best_window", overlap=512)
    expected = [reference.rerank_windows(path, QUERY, d, overlap=512) for d in documents]
    assert len(expected[1]) >= 2
    _check(results, expected, documents)
