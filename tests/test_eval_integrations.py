"""The Python API evaluates the chains users run: LangChain and LlamaIndex, reranker included.

Real parts: tiny models on the transformers backend, real Chroma. Expected orders come from the
model cards' formulas (``reference``), expected metrics are worked out here from those orders.
"""

from __future__ import annotations

import chromadb
import numpy as np
import pytest
import reference
from chromadb.config import Settings
from langchain_chroma import Chroma
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.documents import Document

from qwen3_rag.evaluation import TestSet, evaluate_retrievers

PASSAGES = {
    "tea-en": "Green tea tastes bitter when brewed with boiling water.",
    "tea-zh": "绿茶适合用八十度左右的水冲泡。",
    "bike": "Oil the bicycle chain every few hundred kilometres.",
    "moon": "The Moon's phases repeat about every 29.5 days.",
    "rice": "Rinse rice until the water runs clear.",
    "fog": "Fog forms when air cools to its dew point.",
}
QUERIES = {"q-tea": "How hot should the water be for green tea?", "q-moon": "月相多久循环一次？"}
QRELS = {"q-tea": {"tea-en": 1, "tea-zh": 1}, "q-moon": {"moon": 1}}
ALL = len(PASSAGES)


@pytest.fixture(scope="module")
def test_set() -> TestSet:
    return TestSet("tiny", PASSAGES, QUERIES, QRELS)


def _settings(path) -> dict:
    return {"model": str(path), "backend": "transformers", "dtype": "float32"}


def _recall_order(tiny_models, query: str) -> list[str]:
    """Every passage id, nearest first, by the model card's embedding formula."""
    vector = reference.embed_query(tiny_models.embedding, query)
    cosine = {pid: float(reference.embed(tiny_models.embedding, text) @ vector)
              for pid, text in PASSAGES.items()}
    return sorted(PASSAGES, key=lambda pid: -cosine[pid])


def _rerank_order(tiny_models, query: str, ids: list[str]) -> list[str]:
    """``ids`` best first by the model card's reranker formula."""
    scores = reference.rerank_scores(tiny_models.reranker, query, [PASSAGES[p] for p in ids])
    return [ids[i] for i in sorted(range(len(ids)), key=lambda i: -scores[i])]


def _mrr(order: list[str], relevant: dict[str, int]) -> float:
    """Reciprocal rank of the first relevant id in the first ten, written out."""
    for rank, pid in enumerate(order[:10], 1):
        if relevant.get(pid, 0) > 0:
            return 1 / rank
    return 0.0


def test_langchain_retriever_and_compression_retriever(tiny_models, tmp_path, test_set):
    from langchain_qwen3 import Qwen3Embeddings, Qwen3Rerank

    with Qwen3Embeddings(**_settings(tiny_models.embedding)) as embeddings, \
            Qwen3Rerank(**_settings(tiny_models.reranker), top_n=ALL) as reranker:
        chroma = Chroma(collection_name="eval", embedding_function=embeddings,
                        persist_directory=str(tmp_path),
                        client_settings=Settings(anonymized_telemetry=False, is_persistent=True),
                        collection_metadata={"hnsw:space": "cosine"})
        chroma.add_texts(list(PASSAGES.values()), metadatas=[{"id": p} for p in PASSAGES],
                         ids=[f"chroma-{p}" for p in PASSAGES])  # Chroma ids differ on purpose
        recall = chroma.as_retriever(search_kwargs={"k": ALL})
        both = ContextualCompressionRetriever(base_compressor=reranker, base_retriever=recall)
        report = evaluate_retrievers({"embedding": recall, "embedding + rerank": both},
                                     test_set)

    first, second = report.systems
    for query_id, query in QUERIES.items():
        recalled = _recall_order(tiny_models, query)
        reranked = _rerank_order(tiny_models, query, recalled)
        assert first.per_query[query_id]["mrr@10"] == pytest.approx(
            _mrr(recalled, QRELS[query_id]))
        assert second.per_query[query_id]["mrr@10"] == pytest.approx(
            _mrr(reranked, QRELS[query_id]))
        # All passages come back, so every relevant one is found by rank 100.
        assert first.per_query[query_id]["recall@100"] == 1.0
    assert [s["name"] for s in report.to_json()["systems"]] == ["embedding",
                                                                "embedding + rerank"]


def test_llama_index_retriever_and_query_engine(tiny_models, tmp_path, test_set):
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.core.llms import MockLLM
    from llama_index.core.schema import TextNode
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from llama_index_qwen3 import Qwen3Embedding, Qwen3Rerank

    client = chromadb.PersistentClient(path=str(tmp_path),
                                       settings=Settings(anonymized_telemetry=False))
    store = ChromaVectorStore(chroma_collection=client.create_collection(
        "eval", metadata={"hnsw:space": "cosine"}))
    # The id is metadata for the evaluation, not text for the models.
    nodes = [TextNode(id_=f"node-{pid}", text=text, metadata={"passage_id": pid},
                      excluded_embed_metadata_keys=["passage_id"],
                      excluded_llm_metadata_keys=["passage_id"])
             for pid, text in PASSAGES.items()]
    settings = _settings(tiny_models.embedding)
    with Qwen3Embedding(settings.pop("model"), **settings) as embedding, \
            Qwen3Rerank(model=str(tiny_models.reranker), backend="transformers",
                        dtype="float32", top_n=ALL) as reranker:
        index = VectorStoreIndex(nodes, storage_context=StorageContext.from_defaults(
            vector_store=store), embed_model=embedding)
        retriever = index.as_retriever(similarity_top_k=ALL)
        engine = index.as_query_engine(similarity_top_k=ALL, node_postprocessors=[reranker],
                                       llm=MockLLM())
        report = evaluate_retrievers({"retriever": retriever, "query engine": engine},
                                     test_set, id_key="passage_id")

    first, second = report.systems
    for query_id, query in QUERIES.items():
        recalled = _recall_order(tiny_models, query)
        assert first.per_query[query_id]["mrr@10"] == pytest.approx(
            _mrr(recalled, QRELS[query_id]))
        assert second.per_query[query_id]["mrr@10"] == pytest.approx(
            _mrr(_rerank_order(tiny_models, query, recalled), QRELS[query_id]))
    assert report.to_json()["id_key"] == "passage_id"


def test_a_missing_id_field_is_explained(test_set):
    def retrieve(query):
        return [Document(page_content="x", metadata={"source": "a.md", "chunk": 0})]

    with pytest.raises(KeyError, match=r"no metadata field 'id'.*fields: chunk, source"):
        evaluate_retrievers({"plain": retrieve}, test_set)


def test_ids_that_are_no_passage_ids_are_refused(test_set):
    def retrieve(query):
        return [Document(page_content="x", metadata={"id": "chunk-17"})]

    with pytest.raises(ValueError, match=r"returned no passage id of test set 'tiny'"):
        evaluate_retrievers({"plain": retrieve}, test_set)


def test_chunks_of_one_passage_count_once(test_set):
    def retrieve(query):
        # Two chunks of a non-relevant passage, then the relevant one: rank 2, not 3.
        ids = ["bike", "bike", "moon"] if query == QUERIES["q-moon"] else ["tea-en"]
        return [Document(page_content="x", metadata={"id": pid}) for pid in ids]

    report = evaluate_retrievers({"chunks": retrieve}, test_set)
    assert report.systems[0].per_query["q-moon"]["mrr@10"] == pytest.approx(1 / 2)
    assert np.isclose(report.systems[0].per_query["q-tea"]["recall@5"], 1 / 2)


def test_an_unknown_kind_of_system_is_refused(test_set):
    with pytest.raises(TypeError, match="cannot evaluate a int"):
        evaluate_retrievers({"number": 3}, test_set)
