"""The design card's RAG chain with the reranker unchanged: which forms compose, and why.

``retriever | reranker`` cannot be made to work soundly: LangChain's ``Runnable.__or__`` never
returns ``NotImplemented`` (so the reranker's ``__ror__`` is never asked) and hands the next step
only the retriever's output, the documents without their query. A reranker placed there could
only score against a guessed query, so it fails at composition instead, in one line naming the
two forms that work. The two forms that keep
the query, ``rerank_retriever(retriever, reranker)`` and ``ContextualCompressionRetriever``, run
the card's chain with ``invoke``, ``ainvoke`` and ``batch``; the scores are the model card's.
"""

from __future__ import annotations

import pytest
from langchain_core.prompts import PromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough
from langchain_core.vectorstores import InMemoryVectorStore

import reference
from langchain_qwen3 import Qwen3Embeddings, Qwen3Rerank, rerank_retriever

try:  # LangChain 1.x
    from langchain_classic.retrievers import ContextualCompressionRetriever
except ImportError:  # LangChain 0.3
    from langchain.retrievers import ContextualCompressionRetriever  # type: ignore[no-redef]

SETTINGS = {"backend": "transformers", "dtype": "float32"}
QUESTIONS = ["How do bees find flowers?", "Why does bread dough rest?"]
CORPUS = [
    "Honeybees perform a waggle dance that points nestmates toward food.",
    "Bread dough rests so the gluten relaxes before shaping.",
    "Flowers reflect ultraviolet patterns that guide pollinators.",
    "Ants leave pheromone trails between the nest and food.",
    "Yeast ferments sugars and the dough rises.",
    "A violin bow is strung with horsehair.",
]
PROMPT = PromptTemplate.from_template("Context:\n{context}\n\nQuestion: {question}")


def format_docs(documents) -> str:
    return "\n".join(document.page_content for document in documents)


@pytest.fixture(scope="module")
def retriever(tiny_models):
    with Qwen3Embeddings(model=tiny_models.embedding, **SETTINGS) as embeddings:
        store = InMemoryVectorStore(embeddings)
        store.add_texts(CORPUS)
        yield store.as_retriever(search_kwargs={"k": 4})


@pytest.fixture
def reranker(tiny_models):
    with Qwen3Rerank(model=tiny_models.reranker, top_n=2, **SETTINGS) as wrapper:
        yield wrapper


def _expected_prompt(retriever, tiny_models, question: str) -> str:
    candidates = [d.page_content for d in retriever.invoke(question)]
    scores = reference.rerank_scores(tiny_models.reranker, question, candidates)
    best = sorted(range(len(candidates)), key=lambda i: -scores[i])[:2]
    assert best != [0, 1], "the corpus must make reranking change what the prompt holds"
    return PROMPT.format(context="\n".join(candidates[i] for i in best), question=question)


class _PromptsSeen:
    """A stand-in LLM: records the prompt it is given and answers ``"the answer"``.

    A plain runnable, not LangChain's ``FakeListLLM``: on langchain-core 0.3.15 with pydantic
    2.11 (``make test-oldest``) no LLM class can be instantiated ("not fully defined").
    """

    def __init__(self) -> None:
        self.prompts: list[str] = []
        self.llm = RunnableLambda(self._answer)

    def _answer(self, prompt) -> str:
        self.prompts.append(prompt.to_string())
        return "the answer"


def _card_chain(context_retriever, llm):
    return {"context": context_retriever | format_docs,
            "question": RunnablePassthrough()} | PROMPT | llm


def test_retriever_pipe_reranker_fails_at_composition(retriever, reranker):
    # Never a chain that would score documents against a missing or guessed query.
    with pytest.raises(TypeError) as raised:
        retriever | reranker  # noqa: B018
    message = str(raised.value)
    assert "\n" not in message
    assert "rerank_retriever(retriever, reranker)" in message
    assert "ContextualCompressionRetriever(" in message
    with pytest.raises(TypeError, match="rerank_retriever"):  # nor as a step further on
        RunnableLambda(str.strip) | retriever | reranker  # noqa: B018


@pytest.mark.parametrize("form", ["rerank_retriever", "ContextualCompressionRetriever"])
async def test_the_card_chain_runs_with_the_forms_that_keep_the_query(
        form, retriever, reranker, tiny_models):
    composed = (rerank_retriever(retriever, reranker) if form == "rerank_retriever" else
                ContextualCompressionRetriever(base_compressor=reranker,
                                               base_retriever=retriever))
    seen = _PromptsSeen()
    chain = _card_chain(composed, seen.llm)
    expected = [_expected_prompt(retriever, tiny_models, q) for q in QUESTIONS]
    assert chain.invoke(QUESTIONS[0]) == "the answer"
    assert seen.prompts == expected[:1]
    assert await chain.ainvoke(QUESTIONS[1]) == "the answer"
    assert seen.prompts == expected
    assert chain.batch(QUESTIONS) == ["the answer"] * 2
    assert sorted(seen.prompts[2:]) == sorted(expected)  # a batch's calls may interleave
    assert await chain.abatch(QUESTIONS) == ["the answer"] * 2
    assert sorted(seen.prompts[4:]) == sorted(expected)
