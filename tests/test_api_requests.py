"""Request parsing, answer shapes and the key check of the server routes, without a server.

Expected values are written out by hand from vLLM's and Cohere's API shapes.
"""

from __future__ import annotations

import pytest

from qwen3_core.formats import DEFAULT_INSTRUCTION
from qwen3_rag.server.asgi import RequestError
from qwen3_rag.server.auth import KeyCheck, server_keys
from qwen3_rag.server.embeddings import parse_embeddings
from qwen3_rag.server.scoring import parse_rerank, parse_score, rerank_answer, score_answer


def test_rerank_defaults():
    job = parse_rerank({"query": "q", "documents": ["a", {"text": "b"}]})
    assert job.pairs == [("q", "a"), ("q", "b")]
    assert job.instruction == DEFAULT_INSTRUCTION
    assert (job.top_n, job.return_documents, job.max_length, job.model) == (None, True, None, None)


def test_rerank_options():
    job = parse_rerank({"query": "q", "documents": ["a"], "top_n": 0, "instruction": "I",
                        "truncate_prompt_tokens": 100, "return_documents": False,
                        "max_tokens_per_doc": 7, "model": "m"})
    assert (job.top_n, job.instruction, job.max_length, job.return_documents) == \
        (None, "I", 100, False)
    assert (job.max_tokens_per_doc, job.model) == (7, "m")
    # vLLM: chat_template_kwargs' instruction wins over the field; -1 means the model's limit.
    job = parse_rerank({"query": "q", "documents": ["a"], "instruction": "I",
                        "chat_template_kwargs": {"instruction": "J"},
                        "truncate_prompt_tokens": -1})
    assert (job.instruction, job.max_length) == ("J", None)


@pytest.mark.parametrize("body,param", [
    ({"documents": ["a"]}, "query"),
    ({"query": "q"}, "documents"),
    ({"query": "q", "documents": ["a", 3]}, "documents[1]"),
    ({"query": {"image": "x"}, "documents": ["a"]}, "query"),
    ({"query": "q", "documents": ["a"], "top_n": -1}, "top_n"),
    ({"query": "q", "documents": ["a"], "top_n": True}, "top_n"),
    ({"query": "q", "documents": ["a"], "return_documents": "yes"}, "return_documents"),
    ({"query": "q", "documents": ["a"], "instruction": 5}, "instruction"),
])
def test_rerank_errors_name_the_field(body, param):
    with pytest.raises(RequestError) as raised:
        parse_rerank(body)
    assert raised.value.param == param


def test_score_pairings():
    for first, second in [("text_1", "text_2"), ("queries", "documents"),
                          ("queries", "items"), ("data_1", "data_2")]:
        assert parse_score({first: "q", second: ["a", "b"]}).pairs == [("q", "a"), ("q", "b")]
    assert parse_score({"text_1": ["q"], "text_2": ["a", "b"]}).pairs == [("q", "a"), ("q", "b")]
    assert parse_score({"text_1": ["p", "q"], "text_2": ["a", "b"]}).pairs == [("p", "a"),
                                                                              ("q", "b")]
    with pytest.raises(RequestError, match="text_1 has 2 texts and text_2 3"):
        parse_score({"text_1": ["p", "q"], "text_2": ["a", "b", "c"]})
    with pytest.raises(RequestError, match="field pairs"):
        parse_score({"query": "q", "documents": ["a"]})
    with pytest.raises(RequestError, match="must not be empty"):
        parse_score({"text_1": "q", "text_2": []})


def test_rerank_answer_is_best_first_with_cohere_meta():
    job = parse_rerank({"query": "q", "documents": ["a", "b", "c"], "top_n": 2})
    answer = rerank_answer(job, "m", [0.2, 0.9, 0.5], 30, "2")
    assert [(r["index"], r["relevance_score"], r["document"]["text"])
            for r in answer["results"]] == [(1, 0.9, "b"), (2, 0.5, "c")]
    assert answer["model"] == "m"
    assert answer["usage"] == {"prompt_tokens": 30, "total_tokens": 30}
    assert answer["meta"]["api_version"] == {"version": "2"}
    job = parse_rerank({"query": "q", "documents": ["a"], "return_documents": False})
    assert rerank_answer(job, "m", [0.3], 3, "1")["results"] == [{"index": 0,
                                                                  "relevance_score": 0.3}]


def test_score_answer_keeps_input_order():
    answer = score_answer("m", [0.2, 0.9], 12)
    assert answer["object"] == "list"
    assert answer["data"] == [{"index": 0, "object": "score", "score": 0.2},
                              {"index": 1, "object": "score", "score": 0.9}]
    assert answer["usage"] == {"prompt_tokens": 12, "total_tokens": 12, "completion_tokens": 0}


def test_embeddings_text_is_taken_token_ids_pass_through():
    job = parse_embeddings({"input": "hi", "model": "m", "dimensions": 8})
    assert (job.texts, job.instruction, job.body["dimensions"]) == (["hi"], None, 8)
    job = parse_embeddings({"input": ["a", "b"], "instruction": "I", "truncate_prompt_tokens": 9})
    assert (job.texts, job.instruction, job.max_length) == (["a", "b"], "I", 9)
    assert "instruction" not in job.body  # vLLM does not know the field
    assert parse_embeddings({"input": [1, 2, 3]}) is None
    assert parse_embeddings({"input": [[1, 2], [3]]}) is None
    assert parse_embeddings({"messages": [{"role": "user", "content": "x"}]}) is None
    with pytest.raises(RequestError, match="text input"):
        parse_embeddings({"input": [[1, 2]], "instruction": "I"})


def test_key_check():
    check = KeyCheck(["k1", "k2"])
    assert check.accepts("Bearer k1") and check.accepts("bearer k2")
    assert not check.accepts("Bearer k3") and not check.accepts("k1") and not check.accepts(None)
    assert check.needs_key("POST", "/classify") and check.needs_key("POST", "/v1/rerank")
    assert not check.needs_key("GET", "/health")
    # Only a CORS preflight is exempt among OPTIONS requests; a bare OPTIONS needs the key.
    preflight = {b"origin": b"https://app.example", b"access-control-request-method": b"POST"}
    assert not check.needs_key("OPTIONS", "/score", preflight)
    assert check.needs_key("OPTIONS", "/metrics") and check.needs_key("OPTIONS", "/metrics", {})
    assert not KeyCheck([]).needs_key("POST", "/classify")


def test_server_keys_follow_vllms_precedence(monkeypatch):
    monkeypatch.setenv("VLLM_API_KEY", "from-env")
    assert server_keys(["from-flag"]) == ["from-flag"]
    assert server_keys(None) == ["from-env"]
    monkeypatch.delenv("VLLM_API_KEY")
    assert server_keys(None) == []
