"""The framework retrievers over a collection ``qwen3-rag index`` built, and the stock compositions.

Expected orders are worked out here: the dense list from the model card's embedding formula
(``reference``), the BM25 list from the lexical index, their fusion by the RRF formula, and the
reranked order from the reranker's formula.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import reference

from qwen3_core.lexical import LexicalIndex, StaleLexicalIndex, default_lexical_dir
from qwen3_rag.cli import main
from qwen3_rag.retrieval.store import open_client

PASSAGES = {
    "starter": "Feed the sourdough starter once a day with flour and water.",
    "tea": "Green tea is brewed with water at about eighty degrees.",
    "tyre": "自行车内胎被扎破后，可以用补胎片修补。",
    "moon": "月相变化大约每二十九天半重复一次。",
    "fog": "Fog forms when moist air cools to its dew point.",
    "rice": "Rinse the rice in cold water until the water runs clear.",
}
QUERY = "how warm should the water be for green tea"
K = 4
COLLECTION = "hybrid-frameworks"


@pytest.fixture(scope="module")
def chroma_dir(tiny_models, tmp_path_factory):
    root = tmp_path_factory.mktemp("hybrid-frameworks")
    corpus = root / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": k, "text": v}, ensure_ascii=False) + "\n"
                              for k, v in PASSAGES.items()), encoding="utf-8")
    assert main(["index", str(corpus), "--chroma-dir", str(root / "chroma"), "--collection",
                 COLLECTION, "--embedding-model", str(tiny_models.embedding), "--backend",
                 "transformers", "--dtype", "float32"]) == 0
    return root / "chroma"


def _settings(path) -> dict:
    return {"model": str(path), "backend": "transformers", "dtype": "float32"}


def _dense_order(tiny_models, query):
    vector = reference.embed_query(tiny_models.embedding, query)
    cosine = {pid: float(reference.embed(tiny_models.embedding, text) @ vector)
              for pid, text in PASSAGES.items()}
    return sorted(PASSAGES, key=lambda pid: -cosine[pid])


def _bm25_order(chroma_dir, query, k=K):
    with LexicalIndex.open(default_lexical_dir(chroma_dir, COLLECTION)) as index:
        return [hit.id for hit in index.search(query, k)]


def _rrf_by_hand(dense, bm25, k=K, weights=(1.0, 1.0)):
    scores: dict[str, float] = {}
    for ranking, weight in ((dense, weights[0]), (bm25, weights[1])):
        for rank, pid in enumerate(ranking, 1):
            scores[pid] = scores.get(pid, 0.0) + weight / (60 + rank)
    return sorted(scores, key=lambda pid: -scores[pid])[:k], scores


def _rerank_order(tiny_models, query, ids):
    scores = reference.rerank_scores(tiny_models.reranker, query, [PASSAGES[p] for p in ids])
    return [ids[i] for i in np.argsort(-np.asarray(scores), kind="stable")]


def test_langchain_hybrid_retriever_sync_async_and_with_the_reranker(tiny_models, chroma_dir):
    from langchain_classic.retrievers import ContextualCompressionRetriever

    from langchain_qwen3 import Qwen3Embeddings, Qwen3HybridRetriever, Qwen3Rerank

    expected, scores = _rrf_by_hand(_dense_order(tiny_models, QUERY)[:K],
                                    _bm25_order(chroma_dir, QUERY))
    with Qwen3Embeddings(**_settings(tiny_models.embedding)) as embeddings, \
            Qwen3Rerank(**_settings(tiny_models.reranker), top_n=2) as reranker:
        recall = Qwen3HybridRetriever.from_persisted(
            chroma_dir=chroma_dir, collection_name=COLLECTION, embeddings=embeddings, k=K)
        documents = recall.invoke(QUERY)
        assert [d.id for d in documents] == expected
        assert [d.metadata["rrf_score"] for d in documents] == \
            pytest.approx([scores[pid] for pid in expected])
        assert documents[0].page_content == PASSAGES[expected[0]]

        import asyncio

        assert [d.id for d in asyncio.run(recall.ainvoke(QUERY))] == expected

        both = ContextualCompressionRetriever(base_retriever=recall, base_compressor=reranker)
        reranked = both.invoke(QUERY)
        assert [d.id for d in reranked] == _rerank_order(tiny_models, QUERY, expected)[:2]


def test_langchain_bm25_mode_needs_no_embeddings_and_a_stale_index_is_refused(
        tiny_models, chroma_dir, tmp_path):
    import shutil

    from langchain_qwen3 import Qwen3HybridRetriever

    recall = Qwen3HybridRetriever.from_persisted(chroma_dir=chroma_dir,
                                                 collection_name=COLLECTION, mode="bm25", k=K)
    assert [d.id for d in recall.invoke("内胎扎破了")] == ["tyre"]
    copy = tmp_path / "chroma"
    shutil.copytree(chroma_dir, copy)
    collection = open_client(copy).get_collection(COLLECTION)
    collection.delete(ids=["fog"])
    with pytest.raises(StaleLexicalIndex, match="holds 6 passages, the collection 5"):
        Qwen3HybridRetriever.from_persisted(chroma_dir=copy, collection_name=COLLECTION,
                                            mode="bm25")
    with pytest.raises(ValueError, match="'dense', 'bm25' or 'hybrid'"):
        Qwen3HybridRetriever.from_persisted(chroma_dir=chroma_dir, collection_name=COLLECTION,
                                            mode="sparse")
    with pytest.raises(ValueError, match="mode 'hybrid' embeds the query: pass embeddings="):
        Qwen3HybridRetriever.from_persisted(chroma_dir=chroma_dir, collection_name=COLLECTION)


def test_llama_index_hybrid_retriever_sync_async_and_with_the_reranker(tiny_models,
                                                                       chroma_dir):
    import asyncio

    from llama_index.core.schema import QueryBundle

    from llama_index_qwen3 import Qwen3Embedding, Qwen3HybridRetriever, Qwen3Rerank

    expected, scores = _rrf_by_hand(_dense_order(tiny_models, QUERY)[:K],
                                    _bm25_order(chroma_dir, QUERY))
    settings = _settings(tiny_models.embedding)
    with Qwen3Embedding(settings.pop("model"), **settings) as embedding, \
            Qwen3Rerank(model=str(tiny_models.reranker), backend="transformers",
                        dtype="float32", top_n=2) as reranker:
        recall = Qwen3HybridRetriever.from_persisted(
            chroma_dir=chroma_dir, collection_name=COLLECTION, embed_model=embedding,
            similarity_top_k=K)
        nodes = recall.retrieve(QUERY)
        assert [n.node.node_id for n in nodes] == expected
        assert [n.score for n in nodes] == pytest.approx([scores[p] for p in expected])
        assert [n.node.node_id for n in asyncio.run(recall.aretrieve(QUERY))] == expected
        reranked = reranker.postprocess_nodes(nodes, QueryBundle(QUERY))
        assert [n.node.node_id for n in reranked] == \
            _rerank_order(tiny_models, QUERY, expected)[:2]


def test_stock_langchain_ensemble_with_your_own_bm25(tiny_models, chroma_dir):
    """EnsembleRetriever (weighted RRF, c=60) over Chroma and LangChain's in-memory BM25."""
    from langchain_chroma import Chroma
    from langchain_classic.retrievers import EnsembleRetriever
    from langchain_community.retrievers import BM25Retriever

    from langchain_qwen3 import Qwen3Embeddings, Qwen3Rerank, rerank_retriever
    from qwen3_core.lexical import BilingualTokenizer

    with Qwen3Embeddings(**_settings(tiny_models.embedding)) as embeddings, \
            Qwen3Rerank(**_settings(tiny_models.reranker), top_n=2) as reranker:
        dense = Chroma(collection_name=COLLECTION, embedding_function=embeddings,
                       client=open_client(chroma_dir)).as_retriever(search_kwargs={"k": K})
        # Rebuilt in memory at every start; our tokenizer makes it work on Chinese too.
        bm25 = BM25Retriever.from_texts(list(PASSAGES.values()), k=K,
                                        metadatas=[{"record_id": pid} for pid in PASSAGES],
                                        preprocess_func=BilingualTokenizer())
        # `qwen3-rag index` stores each record's own id as `record_id`: the key both lists share.
        ensemble = EnsembleRetriever(retrievers=[dense, bm25], weights=[0.5, 0.5],
                                     id_key="record_id")
        found = ensemble.invoke(QUERY)
        dense_ids = [d.metadata["record_id"] for d in dense.invoke(QUERY)]
        bm25_ids = [d.metadata["record_id"] for d in bm25.invoke(QUERY)]
        expected, _ = _rrf_by_hand(dense_ids, bm25_ids, k=len(found), weights=(0.5, 0.5))
        assert [d.metadata["record_id"] for d in found] == expected
        reranked = rerank_retriever(ensemble, reranker).invoke(QUERY)
        assert [d.metadata["record_id"] for d in reranked] == \
            _rerank_order(tiny_models, QUERY, expected)[:2]


def test_stock_llama_index_query_fusion_with_your_own_bm25(tiny_models, chroma_dir):
    """QueryFusionRetriever (reciprocal_rerank) over Chroma and LlamaIndex's BM25Retriever."""
    from llama_index.core import VectorStoreIndex
    from llama_index.core.llms import MockLLM
    from llama_index.core.retrievers import QueryFusionRetriever
    from llama_index.retrievers.bm25 import BM25Retriever
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from llama_index_qwen3 import Qwen3Embedding, Qwen3Rerank
    from qwen3_core.lexical import BilingualTokenizer

    settings = _settings(tiny_models.embedding)
    with Qwen3Embedding(settings.pop("model"), **settings) as embedding, \
            Qwen3Rerank(model=str(tiny_models.reranker), backend="transformers",
                        dtype="float32", top_n=2) as reranker:
        store = ChromaVectorStore(chroma_collection=open_client(chroma_dir).get_collection(
            COLLECTION))
        dense = VectorStoreIndex.from_vector_store(store, embed_model=embedding) \
            .as_retriever(similarity_top_k=K)
        # The BM25 side is built from the nodes Chroma holds, so both return the same ids.
        nodes = store.get_nodes(node_ids=list(PASSAGES))
        bm25 = BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=K, skip_stemming=True,
                                           tokenizer=BilingualTokenizer())
        # QueryFusionRetriever merges by node hash (text and metadata), and Chroma returns a
        # node's metadata keys in no fixed order: a passage both lists found may stay twice
        # until LlamaIndex drops repeated ids after the cut. A top_k of both lists together
        # keeps every candidate; Qwen3HybridRetriever fuses by id instead.
        fusion = QueryFusionRetriever([dense, bm25], mode="reciprocal_rerank", num_queries=1,
                                      similarity_top_k=2 * K, use_async=False, llm=MockLLM())
        found = fusion.retrieve(QUERY)
        dense_ids = [n.node.node_id for n in dense.retrieve(QUERY)]
        bm25_ids = [n.node.node_id for n in bm25.retrieve(QUERY)]
        ids = [n.node.node_id for n in found]
        assert len(ids) == len(set(ids)) and set(ids) == set(dense_ids) | set(bm25_ids)
        from llama_index.core.schema import MetadataMode, QueryBundle

        reranked = reranker.postprocess_nodes(found, QueryBundle(QUERY))
        # Stock nodes put their metadata (file, line, hash) in the text the reranker judges,
        # unless excluded_embed_metadata_keys says otherwise; Qwen3HybridRetriever excludes it.
        seen = [n.node.get_content(metadata_mode=MetadataMode.EMBED) for n in found]
        assert seen[0] != PASSAGES[ids[0]]
        scores = reference.rerank_scores(tiny_models.reranker, QUERY, seen)
        assert [n.node.node_id for n in reranked] == \
            [ids[i] for i in np.argsort(-np.asarray(scores), kind="stable")][:2]
