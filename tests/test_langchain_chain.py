"""The reranker in LangChain compositions: an LCEL RAG chain, ContextualCompressionRetriever."""

from __future__ import annotations

import pytest
from chromadb.config import Settings
from langchain_chroma import Chroma
try:  # LangChain 1.x
    from langchain_classic.retrievers import ContextualCompressionRetriever
except ImportError:  # LangChain 0.3, the oldest the package supports (`make test-oldest`)
    from langchain.retrievers import ContextualCompressionRetriever  # type: ignore[no-redef]
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough

import reference
from langchain_qwen3 import Qwen3Embeddings, Qwen3Rerank, RerankingRetriever, rerank_retriever

QUESTION = "How do bees tell each other where flowers are?"
CORPUS = [
    "Honeybees perform a waggle dance that points nestmates toward food.",
    "Bumblebees can fly in colder weather than honeybees.",
    "Flowers reflect ultraviolet patterns that guide pollinators.",
    "Bread dough should rest before it is shaped.",
    "Ants leave pheromone trails between the nest and food.",
    "The dance's length encodes the distance to the flowers.",
    "蜜蜂通过摇摆舞传递花蜜的位置。",
    "A violin bow is strung with horsehair.",
    "Wasps build nests from chewed wood pulp.",
    "Hives keep a steady temperature near 35 degrees Celsius.",
    "The Moon has no atmosphere to speak of.",
    "Butterflies taste with their feet.",
]
ANSWER = "They dance."
SETTINGS = {"backend": "transformers", "dtype": "float32"}
PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", "Answer from the context only."),
        ("human", "Context:\n{context}\n\nQuestion: {question}"),
    ]
)


def _join(documents: list[Document]) -> str:
    return "\n\n".join(doc.page_content for doc in documents)


def _expected_human_message(texts: list[str]) -> str:
    return "Context:\n" + "\n\n".join(texts) + f"\n\nQuestion: {QUESTION}"


class PromptRecorder(BaseCallbackHandler):
    """Keeps the messages each chat model call received."""

    def __init__(self) -> None:
        self.prompts: list[list[str]] = []

    def on_chat_model_start(self, serialized, messages, **kwargs) -> None:
        self.prompts.append([message.content for message in messages[0]])


@pytest.fixture(scope="module")
def retriever(tiny_models, tmp_path_factory):
    """A stock Chroma retriever (k=10) over the corpus, filled through Qwen3Embeddings."""
    with Qwen3Embeddings(model=tiny_models.embedding, **SETTINGS) as embeddings:
        store = Chroma(
            collection_name="bees",
            embedding_function=embeddings,
            persist_directory=str(tmp_path_factory.mktemp("chroma")),
            client_settings=Settings(anonymized_telemetry=False, is_persistent=True),
        )
        store.add_texts(CORPUS, ids=[f"b{i}" for i in range(len(CORPUS))])
        yield store.as_retriever(search_kwargs={"k": 10})


@pytest.fixture
def rerank(tiny_models):
    with Qwen3Rerank(model=tiny_models.reranker, top_n=3, **SETTINGS) as wrapper:
        yield wrapper


@pytest.fixture
def expected_context(retriever, tiny_models) -> list[str]:
    """The top three of the retriever's candidates by the model card's scores, best first."""
    candidates = [doc.page_content for doc in retriever.invoke(QUESTION)]
    scores = reference.rerank_scores(tiny_models.reranker, QUESTION, candidates)
    best = [candidates[i] for i in sorted(range(len(candidates)), key=lambda i: -scores[i])[:3]]
    assert best != candidates[:3], "the corpus must make reranking change the order"
    return best


def _rag_chain(context_retriever):
    model = GenericFakeChatModel(messages=iter([ANSWER, ANSWER]))
    return (
        {"context": context_retriever | _join, "question": RunnablePassthrough()}
        | PROMPT
        | model
        | StrOutputParser()
    )


async def test_rag_chain_prompt_holds_reranked_context_in_order(
    retriever, rerank, expected_context
):
    chain = _rag_chain(rerank_retriever(retriever, rerank))
    recorder = PromptRecorder()
    assert chain.invoke(QUESTION, {"callbacks": [recorder]}) == ANSWER
    assert await chain.ainvoke(QUESTION, {"callbacks": [recorder]}) == ANSWER
    expected = ["Answer from the context only.", _expected_human_message(expected_context)]
    assert recorder.prompts == [expected, expected]


async def test_reranking_retriever_returns_scored_documents(retriever, rerank, expected_context):
    composed = rerank_retriever(retriever, rerank)
    assert isinstance(composed, RerankingRetriever)
    for documents in (composed.invoke(QUESTION), await composed.ainvoke(QUESTION)):
        assert [d.page_content for d in documents] == expected_context
        scores = [d.metadata["relevance_score"] for d in documents]
        assert scores == sorted(scores, reverse=True)


async def test_contextual_compression_retriever(retriever, rerank, expected_context):
    compression = ContextualCompressionRetriever(base_compressor=rerank, base_retriever=retriever)
    assert [d.page_content for d in compression.invoke(QUESTION)] == expected_context
    assert [d.page_content for d in await compression.ainvoke(QUESTION)] == expected_context


async def test_chat_keeps_answering_during_a_reranker_outage(retriever, tiny_models, monkeypatch):
    def fail(*args, **kwargs):
        raise TimeoutError("reranker timed out")

    async def afail(*args, **kwargs):
        fail()

    with Qwen3Rerank(model=tiny_models.reranker, on_error="passthrough", **SETTINGS) as rerank:
        monkeypatch.setattr(rerank.reranker, "rerank", fail)
        monkeypatch.setattr(rerank.reranker, "arerank", afail)
        chain = _rag_chain(rerank_retriever(retriever, rerank))
        recorder = PromptRecorder()
        assert chain.invoke(QUESTION, {"callbacks": [recorder]}) == ANSWER
        assert await chain.ainvoke(QUESTION, {"callbacks": [recorder]}) == ANSWER
    retrieval_order = [d.page_content for d in retriever.invoke(QUESTION)][:3]
    expected = ["Answer from the context only.", _expected_human_message(retrieval_order)]
    assert recorder.prompts == [expected, expected]


async def test_nothing_retrieved_means_nothing_to_rerank(rerank, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the model must not run without candidates")

    monkeypatch.setattr(rerank.reranker, "rerank", fail)
    nothing = RunnableLambda(lambda query: [])
    composed = rerank_retriever(nothing, rerank)
    assert composed.invoke(QUESTION) == []
    assert await composed.ainvoke(QUESTION) == []
