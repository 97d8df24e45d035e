"""Issue 26 on the server routes: ``long_documents``/``overlap`` asked, ``span`` answered.

The middleware runs for real (``Qwen3Routes``, ASGI); only vLLM underneath is replaced by an
app that answers ``/classify`` as vLLM's does, each prompt's probability computed with the model
card's formula on the token ids it receives (``reference.rerank_score_ids``). So this checks
everything the middleware does (parsing, the windows, the best of them, the answer) without
starting vLLM; ``test_api_routes.py`` and ``test_http_backend.py`` do the same on real servers.
"""

from __future__ import annotations

import json

import pytest
import reference
from asgi_calls import post_json
from test_long_documents import DOCUMENTS, MAX_LENGTH, QUERY, TOLERANCE, _best, _windows

from qwen3_core.tokenization import RerankPromptTokenizer, load_tokenizers
from qwen3_rag.server.asgi import read_body, send_json
from qwen3_rag.server.auth import KeyCheck
from qwen3_rag.server.middleware import Qwen3Routes, _ServedModel

#: The served model's context in these tests; requests may ask for less (``MAX_LENGTH``).
SERVED_LENGTH = 256
#: vLLM's tokens per engine step: the middleware sends a rerank's prompts in parts this size.
STEP_TOKENS = 1024


class FakeVllm:
    """vLLM's ``/classify`` on token ids, scored by the model card's formula; counts calls."""

    def __init__(self, path: str):
        self.path = path
        self.calls: list[int] = []
        self._known: dict[tuple[int, ...], float] = {}

    def _score(self, ids: tuple[int, ...]) -> float:
        if ids not in self._known:  # the tests ask for the same windows again
            self._known[ids] = reference.rerank_score_ids(self.path, ids)
        return self._known[ids]

    async def __call__(self, scope, receive, send):
        assert scope["path"] == "/classify"
        prompts = json.loads(await read_body(receive))["input"]
        self.calls.append(len(prompts))
        data = [{"index": i, "probs": [self._score(tuple(ids))]} for i, ids in enumerate(prompts)]
        await send_json(send, 200, {"model": "tiny", "data": data})


@pytest.fixture(scope="module")
def served(tiny_models):
    vllm = FakeVllm(str(tiny_models.reranker))
    routes = Qwen3Routes(vllm)
    routes._keys = KeyCheck([])
    routes._model = _ServedModel("reranker", RerankPromptTokenizer(tiny_models.reranker,
                                                                   SERVED_LENGTH), "tiny",
                                 plain=load_tokenizers(tiny_models.reranker)[1],
                                 step_tokens=STEP_TOKENS)
    return routes, vllm


def _post(routes, path: str, body: dict) -> tuple[int, dict]:
    return post_json(routes, path, body)


@pytest.mark.parametrize("route", ["/v1/rerank", "/v2/rerank"])
def test_rerank_best_window_gives_the_model_cards_best_and_its_span(served, tiny_models, route):
    routes, vllm = served
    path = str(tiny_models.reranker)
    expected = [_windows(path, d, None, SERVED_LENGTH, 5) for d in DOCUMENTS]
    vllm.calls.clear()
    status, answer = _post(routes, route, {"query": QUERY, "documents": DOCUMENTS,
                                           "long_documents": "best_window", "overlap": 5})
    assert status == 200, answer
    # Every window goes to vLLM, in engine-step parts (so a client that leaves stops the work).
    assert sum(vllm.calls) == sum(map(len, expected)) and len(vllm.calls) > 1
    assert len(answer["results"]) == len(DOCUMENTS)
    for result in answer["results"]:
        score, spans = _best(expected[result["index"]])
        assert abs(result["relevance_score"] - score) <= TOLERANCE
        assert tuple(result["span"]) in spans
        assert result["document"]["text"] == DOCUMENTS[result["index"]]
    scores = [r["relevance_score"] for r in answer["results"]]
    assert scores == sorted(scores, reverse=True)


def test_the_request_limit_sets_the_window_and_top_n_applies(served, tiny_models):
    routes, _ = served
    path = str(tiny_models.reranker)
    documents = DOCUMENTS[:4]
    expected = [_windows(path, d, None, MAX_LENGTH, None) for d in documents]
    best_first = sorted(range(len(documents)), key=lambda i: -_best(expected[i])[0])
    status, answer = _post(routes, "/rerank", {"query": QUERY, "documents": documents,
                                               "long_documents": "best_window",
                                               "truncate_prompt_tokens": MAX_LENGTH,
                                               "top_n": 2})
    assert status == 200, answer
    assert [r["index"] for r in answer["results"]] == best_first[:2]
    for result in answer["results"]:
        assert abs(result["relevance_score"] - _best(expected[result["index"]])[0]) <= TOLERANCE


def test_score_route_best_window(served, tiny_models):
    routes, _ = served
    path = str(tiny_models.reranker)
    status, answer = _post(routes, "/v1/score", {"text_1": QUERY, "text_2": DOCUMENTS[:2],
                                                 "long_documents": "best_window"})
    assert status == 200, answer
    for item, document in zip(answer["data"], DOCUMENTS[:2]):
        score, spans = _best(_windows(path, document, None, SERVED_LENGTH, None))
        assert abs(item["score"] - score) <= TOLERANCE
        assert tuple(item["span"]) in spans


def test_truncate_is_the_default_and_has_no_span(served, tiny_models):
    routes, _ = served
    card = reference.rerank_scores(str(tiny_models.reranker), QUERY, DOCUMENTS[:2],
                                   max_length=SERVED_LENGTH)
    status, answer = _post(routes, "/v1/rerank", {"query": QUERY, "documents": DOCUMENTS[:2]})
    assert status == 200, answer
    for result in answer["results"]:
        assert "span" not in result
        assert abs(result["relevance_score"] - card[result["index"]]) <= TOLERANCE


@pytest.mark.parametrize(("fields", "param", "message"), [
    ({"long_documents": "chunks"}, "long_documents",
     "long_documents must be one of truncate, best_window, got 'chunks'"),
    ({"long_documents": "best_window", "overlap": -1}, "overlap",
     "overlap must be an integer >= 0, got -1"),
    ({"long_documents": "best_window", "overlap": 4000}, "overlap",
     "overlap=4000 is not valid: this query leaves a window of"),
])
def test_bad_fields_are_400_naming_the_field(served, fields, param, message):
    routes, _ = served
    status, answer = _post(routes, "/v1/rerank", {"query": QUERY, "documents": DOCUMENTS,
                                                  **fields})
    assert status == 400
    assert answer["error"]["param"] == param
    assert message in answer["error"]["message"]


def test_parsed_fields():
    from qwen3_rag.server.scoring import parse_rerank, parse_score

    job = parse_rerank({"query": "q", "documents": ["a"]})
    assert (job.long_documents, job.overlap) == ("truncate", None)
    job = parse_rerank({"query": "q", "documents": ["a"], "long_documents": "best_window",
                        "overlap": 0})
    assert (job.long_documents, job.overlap) == ("best_window", 0)
    job = parse_score({"text_1": "q", "text_2": ["a"], "long_documents": "best_window"})
    assert job.long_documents == "best_window"
