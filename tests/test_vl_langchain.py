"""Qwen3VLEmbeddings and Qwen3VLRerank on LangChain: the reference's numbers, end to end on Chroma.

Every vector and score is compared with ``tests/reference.py`` (the official scripts written
out), never with the core's own output.
"""

from __future__ import annotations

import base64
import copy

import numpy as np
import pytest
import reference
from chromadb.config import Settings
from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_core.runnables import RunnableLambda
from PIL import Image

from langchain_qwen3 import Qwen3VLEmbeddings, Qwen3VLRerank, rerank_retriever

TOLERANCE = 1e-5
ENGINE = {"backend": "transformers", "dtype": "float32"}
COLOURS = {"red": (220, 30, 30), "blue": (30, 60, 220), "green": (40, 200, 70)}
QUERY = "a red square"
TEXTS = ["A red square on a white page.", "Bread rises in a warm kitchen."]


@pytest.fixture(scope="module")
def vl_models(tiny_vl_models):
    """The tiny random-weight Qwen3-VL embedding and reranker models (the session's)."""
    return tiny_vl_models


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, str]:
    """Small PNGs of different colours: name -> path."""
    folder = tmp_path_factory.mktemp("images")
    paths = {}
    for name, colour in COLOURS.items():
        path = folder / f"{name}.png"
        Image.new("RGB", (40, 60), colour).save(path)
        paths[name] = str(path)
    return paths


@pytest.fixture(scope="module")
def embeddings(vl_models):
    """A float32 Qwen3VLEmbeddings on transformers."""
    with Qwen3VLEmbeddings(model=vl_models.embedding, **ENGINE) as wrapper:
        yield wrapper


@pytest.fixture(scope="module")
def reranker(vl_models):
    """A float32 Qwen3VLRerank on transformers, returning every document."""
    with Qwen3VLRerank(model=vl_models.reranker, top_n=None, **ENGINE) as wrapper:
        yield wrapper


def _b64(path: str) -> str:
    with open(path, "rb") as handle:
        return base64.b64encode(handle.read()).decode()


def _close(actual, expected) -> None:
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), atol=TOLERANCE, rtol=0)


# -- embeddings -------------------------------------------------------------------------------


def test_texts_queries_and_images_embed_as_the_reference(embeddings, vl_models, images):
    """Texts, queries, image paths and data: URLs embed as the reference does."""
    path = vl_models.embedding
    _close(embeddings.embed_documents(TEXTS), [reference.vl_embed(path, text=t) for t in TEXTS])
    _close(embeddings.embed_query(QUERY), reference.vl_embed_query(path, text=QUERY))
    uris = [images["red"], images["blue"]]
    vectors = embeddings.embed_image(uris)
    assert all(isinstance(v, float) for v in vectors[0])
    _close(vectors, [reference.vl_embed(path, image=uri) for uri in uris])
    # A data: URL is an image as well (what a store may hold instead of a path).
    _close(embeddings.embed_image([f"data:image/png;base64,{_b64(images['red'])}"]), vectors[:1])


async def test_async_twins_match(embeddings, images):
    """The async methods return what the sync ones do."""
    _close(await embeddings.aembed_documents(TEXTS), embeddings.embed_documents(TEXTS))
    _close(await embeddings.aembed_query(QUERY), embeddings.embed_query(QUERY))
    uris = [images["green"]]
    _close(await embeddings.aembed_image(uris), embeddings.embed_image(uris))


def test_dimensions_and_the_query_instruction(vl_models):
    """Matryoshka dimensions and the instruction (fixed, then per call) reach the vector."""
    with Qwen3VLEmbeddings(model=vl_models.embedding, dimensions=32, instruction="Find colours.",
                           **ENGINE) as wrapper:
        _close(wrapper.embed_query(QUERY),
               reference.vl_embed(vl_models.embedding, text=QUERY, instruction="Find colours.",
                                  dimensions=32))
        _close(wrapper.embed_query(QUERY, instruction="Other."),
               reference.vl_embed(vl_models.embedding, text=QUERY, instruction="Other.",
                                  dimensions=32))


# -- reranking --------------------------------------------------------------------------------


def _mixed_documents(images) -> tuple[list[Document], list[dict]]:
    """Documents of every form the reranker reads, and what the reference reads of each."""
    red, blue, green = images["red"], images["blue"], images["green"]
    documents = [
        Document(page_content=TEXTS[0]),
        Document(page_content="", metadata={"image": red}),
        Document(page_content="A blue card.", metadata={"image": blue}),
        Document(page_content=_b64(green)),  # Chroma.add_images without metadata
        Document(page_content=_b64(blue), metadata={"image": blue, "source": "x"}),  # with it
        Document(page_content=TEXTS[1], metadata={"image": f"data:image/png;base64,{_b64(green)}"}),
    ]
    read = [{"text": TEXTS[0]}, {"image": red}, {"text": "A blue card.", "image": blue},
            {"image": green}, {"image": blue}, {"text": TEXTS[1], "image": green}]
    return documents, read


def test_rerank_scores_and_order_are_the_references(reranker, vl_models, images):
    """Every Document form scores as the reference reads it, best first."""
    documents, read = _mixed_documents(images)
    expected = reference.vl_rerank_scores(vl_models.reranker, {"text": QUERY}, read)
    hits = reranker.rerank(documents, QUERY)
    order = sorted(range(len(expected)), key=lambda i: -expected[i])
    assert [hit["index"] for hit in hits] == order
    _close([hit["relevance_score"] for hit in hits], [expected[i] for i in order])


def test_compress_returns_scored_copies_and_leaves_the_documents(reranker, vl_models, images):
    """Scored copies come back, best first; the documents passed in stay as they were."""
    documents, read = _mixed_documents(images)
    before = copy.deepcopy(documents)
    expected = reference.vl_rerank_scores(vl_models.reranker, {"text": QUERY}, read)
    best = reranker.compress_documents(documents, QUERY)
    assert documents == before
    order = sorted(range(len(expected)), key=lambda i: -expected[i])
    assert [doc.page_content for doc in best] == [documents[i].page_content for i in order]
    _close([doc.metadata["relevance_score"] for doc in best], [expected[i] for i in order])
    for doc, i in zip(best, order):
        assert {k: v for k, v in doc.metadata.items() if k != "relevance_score"} \
            == documents[i].metadata
    # max_length is the official reranker script's 10,240 unless given.
    assert reranker.spec.max_length == reference.VL_RERANK_MAX_LENGTH
    with Qwen3VLRerank(model=vl_models.reranker, top_n=2, **ENGINE) as two:
        assert two.reranker.shares_engine_with(reranker.reranker)
        assert [d.page_content for d in two.compress_documents(documents, QUERY)] \
            == [d.page_content for d in best[:2]]


async def test_async_compress_matches_sync(reranker, images):
    """acompress_documents returns what compress_documents does."""
    documents, _ = _mixed_documents(images)
    before = copy.deepcopy(documents)
    sync = reranker.compress_documents(documents, QUERY)
    done = await reranker.acompress_documents(documents, QUERY)
    assert [d.page_content for d in done] == [d.page_content for d in sync]
    _close([d.metadata["relevance_score"] for d in done],
           [d.metadata["relevance_score"] for d in sync])
    assert documents == before


def test_another_image_key_and_the_instruction(vl_models, images):
    """image_key names the metadata key; a per-call instruction reaches the score."""
    documents = [Document(page_content="", metadata={"picture": images["blue"]}),
                 Document(page_content="", metadata={"picture": images["red"]})]
    with Qwen3VLRerank(model=vl_models.reranker, image_key="picture", top_n=None,
                       max_length=4096, **ENGINE) as wrapper:
        assert wrapper.spec.max_length == 4096
        hits = wrapper.rerank(documents, QUERY, instruction="Find the colour named.")
    expected = reference.vl_rerank_scores(
        vl_models.reranker, {"text": QUERY}, [{"image": images["blue"]}, {"image": images["red"]}],
        instruction="Find the colour named.")
    _close(sorted(hit["relevance_score"] for hit in hits), sorted(expected))


def test_remote_images_are_refused_unless_allowed(reranker):
    """An http(s) image is not fetched without allow_remote_images."""
    documents = [Document(page_content="", metadata={"image": "https://example.com/cat.png"})]
    with pytest.raises(ValueError, match="allow_remote_images=True"):
        reranker.compress_documents(documents, QUERY)


def test_nothing_to_rank_and_bad_queries(reranker):
    """No documents give []; an empty query raises."""
    assert reranker.compress_documents([], QUERY) == []
    with pytest.raises(ValueError):
        reranker.compress_documents([Document(page_content="x")], "  ")


def test_retriever_pipe_reranker_is_refused_when_composed(reranker):
    """`retriever | reranker` fails when composed, naming what works."""
    with pytest.raises(TypeError, match="rerank_retriever"):
        RunnableLambda(lambda query: [Document(page_content=query)]) | reranker


# -- a real local Chroma collection of images and texts ----------------------------------------


def test_chroma_images_and_texts_retrieved_then_reranked(embeddings, reranker, vl_models, images,
                                                         tmp_path):
    """A persisted Chroma collection of images and texts: recalled, reranked, as the reference."""
    store = Chroma(
        collection_name="pictures",
        embedding_function=embeddings,
        persist_directory=str(tmp_path / "chroma"),
        client_settings=Settings(anonymized_telemetry=False, is_persistent=True),
        collection_metadata={"hnsw:space": "cosine"},
    )
    # Two images with their path in metadata, one in add_images' bare form, and two texts.
    store.add_images([images["red"], images["blue"]],
                     metadatas=[{"image": images["red"]}, {"image": images["blue"]}],
                     ids=["red", "blue"])
    store.add_images([images["green"]], ids=["green"])
    store.add_texts(TEXTS, ids=["text0", "text1"])

    read = {"red": {"image": images["red"]}, "blue": {"image": images["blue"]},
            "green": {"image": images["green"]}, "text0": {"text": TEXTS[0]},
            "text1": {"text": TEXTS[1]}}
    query_vector = reference.vl_embed_query(vl_models.embedding, text=QUERY)
    similarity = {key: float(query_vector @ reference.vl_embed(vl_models.embedding, **value))
                  for key, value in read.items()}
    recalled = sorted(similarity, key=lambda key: -similarity[key])[:4]

    retriever = store.as_retriever(search_kwargs={"k": 4})
    found = retriever.invoke(QUERY)
    assert sorted(doc.id for doc in found) == sorted(recalled)

    chain = rerank_retriever(retriever, reranker)
    best = chain.invoke(QUERY)
    scores = dict(zip(recalled, reference.vl_rerank_scores(
        vl_models.reranker, {"text": QUERY}, [read[key] for key in recalled])))
    expected = sorted(recalled, key=lambda key: -scores[key])
    assert [doc.id for doc in best] == expected
    _close([doc.metadata["relevance_score"] for doc in best], [scores[k] for k in expected])
    # What came back of the store is the store's, unscored.
    assert all("relevance_score" not in doc.metadata for doc in retriever.invoke(QUERY))


# -- hybrid recall over a collection `qwen3-rag index` built ------------------------------------


def test_hybrid_retriever_and_reranker_over_images_and_text(vl_models, images, embeddings,
                                                            reranker, tmp_path):
    from langchain_qwen3 import Qwen3HybridRetriever
    from qwen3_rag.cli import main

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, path in images.items():
        (corpus / f"{name}-square.png").write_bytes(open(path, "rb").read())
    (corpus / "notes.txt").write_text(TEXTS[0], encoding="utf-8")
    chroma = tmp_path / "chroma"
    assert main(["index", str(corpus), "--chroma-dir", str(chroma), "--collection", "pics",
                 "--embedding-model", str(vl_models.embedding), "--reranker-model",
                 str(vl_models.reranker), "--backend", "transformers", "--dtype",
                 "float32"]) == 0
    documents = {str((corpus / f"{name}-square.png").resolve()):
                 {"image": corpus / f"{name}-square.png"} for name in images}
    documents[TEXTS[0]] = {"text": TEXTS[0]}

    def key(document: Document) -> str:
        return document.metadata.get("image", document.page_content)

    query = "red"  # in the note's words and in one file name
    bm25 = Qwen3HybridRetriever.from_persisted(collection_name="pics", chroma_dir=chroma,
                                               mode="bm25", k=4).invoke(query)
    assert {key(d) for d in bm25} == {TEXTS[0], str((corpus / "red-square.png").resolve())}
    query_vector = reference.vl_embed_query(vl_models.embedding, text=query)
    cosines = {k: float(query_vector @ reference.vl_embed(vl_models.embedding, **v))
               for k, v in documents.items()}
    dense_order = sorted(cosines, key=lambda k: -cosines[k])
    bm25_order = [key(d) for d in bm25]
    fused = {k: sum(1 / (60 + order.index(k) + 1) for order in (dense_order, bm25_order)
                    if k in order) for k in documents}

    found = Qwen3HybridRetriever.from_persisted(collection_name="pics", chroma_dir=chroma,
                                                embeddings=embeddings, k=4).invoke(query)
    assert [key(d) for d in found] == sorted(fused, key=lambda k: -fused[k])
    for document in found:
        assert document.metadata["rrf_score"] == pytest.approx(fused[key(document)])
        assert document.metadata["cosine"] == pytest.approx(cosines[key(document)], abs=1e-4)
    # The Qwen3-VL reranker reads each image hit's file from its metadata, beside its
    # page_content (here the file name, the words `index` gave the image).
    for document in reranker.compress_documents(found, query):
        content = {**documents[key(document)], "text": document.page_content}
        assert document.metadata["relevance_score"] == pytest.approx(
            reference.vl_rerank_score(vl_models.reranker, {"text": query}, content), abs=1e-4)
