"""``qwen3-rag serve`` with Qwen3-VL models: the standard routes with images, without vLLM.

vLLM's Qwen3-VL cannot run on this CPU (it needs torchvision), so the middleware runs for real
(``Qwen3Routes``, ASGI) over a stand-in for vLLM's engine client: it expands each prompt as
vLLM's processor does (``test_vl_vllm.as_vllm_expands``) and computes the output with the
official scripts' model code (``reference.vl_pooled``). The answers are checked against
``reference.py`` computed from the raw inputs, so everything the server does (parsing content
parts, decoding images, building prompts, the answer's shape) is checked; vLLM's own forward
pass is what is left untested here.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
from types import SimpleNamespace

import numpy as np
import pytest
import reference
from asgi_calls import post_json
from PIL import Image
from test_serve_cli import _plain_command, _value
from test_vl_vllm import as_vllm_expands

from qwen3_core.tokenization import load_tokenizers
from qwen3_core.vision import VisionRequestPrompts
from qwen3_rag.server.auth import KeyCheck
from qwen3_rag.server.middleware import Qwen3Routes, _ServedModel

TOLERANCE = 1e-5
SERVED_LENGTH = 8192


class FakeEngine:
    """vLLM's engine client for pooling: each prompt expanded and run by the scripts' code."""

    def __init__(self, path: str, kind: str, hang: bool = False):
        self.path, self.kind, self.hang = path, kind, hang
        self.tasks: list[str] = []
        self.cancelled = 0

    async def encode(self, prompt, params, request_id):
        self.tasks.append(params.task)
        try:
            if self.hang:
                await asyncio.sleep(3600)
            ids, pixels, grids = as_vllm_expands(self.path, prompt, self.kind)
            data = reference.vl_pooled(self.path, self.kind, ids, pixels, grids)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        yield SimpleNamespace(outputs=SimpleNamespace(data=data), finished=True)


def _routes(path, kind: str) -> Qwen3Routes:
    routes = Qwen3Routes(None)
    routes._keys = KeyCheck([])
    prompts = VisionRequestPrompts(path, SERVED_LENGTH)
    routes._model = _ServedModel(kind, prompts, "tiny-vl", plain=load_tokenizers(path)[1],
                                 step_tokens=4096, vision=prompts)
    return routes


def _post(routes, engine, path: str, body: dict, leave: bool = False) -> tuple[int, dict]:
    app = SimpleNamespace(state=SimpleNamespace(engine_client=engine, vllm_config=None))
    return post_json(routes, path, body, scope_app=app, leave_after=0.5 if leave else None)


def _png(width: int, height: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray((rng.random((height, width, 3)) * 255).astype("uint8")).save(buffer, "PNG")
    return buffer.getvalue()


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _image(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png))


PICTURES = [_png(40, 30, 1), _png(300, 90, 2)]


@pytest.fixture(scope="module")
def embedding_server(tiny_vl_models):
    path = str(tiny_vl_models.embedding)
    return _routes(path, "embedding"), FakeEngine(path, "embedding"), path


@pytest.fixture(scope="module")
def reranker_server(tiny_vl_models):
    path = str(tiny_vl_models.reranker)
    return _routes(path, "reranker"), FakeEngine(path, "reranker"), path


def test_embeddings_of_text_images_and_both(embedding_server):
    routes, engine, path = embedding_server
    image_part = {"type": "image_url", "image_url": {"url": _data_url(PICTURES[0])}}
    inputs = [
        "A red kite over the beach <|im_end|>",
        image_part,
        [{"type": "text", "text": "a caption"}, image_part],
        {"content": [{"type": "image_url", "image_url": _data_url(PICTURES[1])}]},
        {"text": "jina style", "image": base64.b64encode(PICTURES[1]).decode()},
    ]
    status, answer = _post(routes, engine, "/v1/embeddings", {"input": inputs})
    assert status == 200, answer
    assert set(engine.tasks) == {"embed"}
    want = [reference.vl_embed(path, text="A red kite over the beach <|im_end|>"),
            reference.vl_embed(path, image=_image(PICTURES[0])),
            reference.vl_embed(path, text="a caption", image=_image(PICTURES[0])),
            reference.vl_embed(path, image=_image(PICTURES[1])),
            reference.vl_embed(path, text="jina style", image=_image(PICTURES[1]))]
    got = [item["embedding"] for item in sorted(answer["data"], key=lambda d: d["index"])]
    np.testing.assert_allclose(got, want, atol=TOLERANCE)
    assert answer["object"] == "list" and answer["model"] == "tiny-vl"
    assert answer["usage"]["prompt_tokens"] > 0


def test_queries_dimensions_base64_and_the_chat_form(embedding_server):
    routes, engine, path = embedding_server
    instruction = "Find the picture"
    status, answer = _post(routes, engine, "/v1/embeddings", {
        "input": ["a wide picture"], "instruction": instruction, "dimensions": 32,
        "encoding_format": "base64"})
    assert status == 200, answer
    vector = np.frombuffer(base64.b64decode(answer["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(vector, reference.vl_embed(path, text="a wide picture",
                                                          instruction=instruction,
                                                          dimensions=32), atol=TOLERANCE)
    status, answer = _post(routes, engine, "/v1/embeddings", {"messages": [
        {"role": "system", "content": instruction},
        {"role": "user", "content": [{"type": "image_url",
                                      "image_url": {"url": _data_url(PICTURES[0])}},
                                     {"type": "text", "text": "like this"}]}]})
    assert status == 200, answer
    np.testing.assert_allclose(answer["data"][0]["embedding"],
                               reference.vl_embed(path, text="like this",
                                                  image=_image(PICTURES[0]),
                                                  instruction=instruction), atol=TOLERANCE)


def test_rerank_with_image_documents(reranker_server):
    routes, engine, path = reranker_server
    documents = [
        [{"type": "image_url", "image_url": {"url": _data_url(PICTURES[1])}}],
        {"content": [{"type": "text", "text": "a kite"},
                     {"type": "image_url", "image_url": {"url": _data_url(PICTURES[0])}}]},
        "plain text about kites",
    ]
    status, answer = _post(routes, engine, "/v1/rerank", {
        "query": "which picture shows a kite?", "documents": documents, "top_n": 2})
    assert status == 200, answer
    assert set(engine.tasks) == {"classify"}
    want = reference.vl_rerank_scores(path, {"text": "which picture shows a kite?"}, [
        {"image": _image(PICTURES[1])}, {"text": "a kite", "image": _image(PICTURES[0])},
        {"text": "plain text about kites"}])
    best = sorted(range(3), key=lambda i: -want[i])[:2]
    assert [r["index"] for r in answer["results"]] == best
    np.testing.assert_allclose([r["relevance_score"] for r in answer["results"]],
                               [want[i] for i in best], atol=TOLERANCE)
    echoed = {r["index"]: r["document"] for r in answer["results"]}
    for index in best:
        assert echoed[index] == ({"text": documents[index]} if isinstance(documents[index], str)
                                 else documents[index])


@pytest.mark.parametrize("body,field", [
    ({"input": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]},
     "input[0].image_url"),
    ({"input": [{"type": "image_url", "image_url": {"url": "/etc/passwd"}}]},
     "input[0].image_url"),
    ({"input": [{"image": "not base64!"}]}, "input[0].image"),
    ({"input": ["fine", {"image": base64.b64encode(b"not an image").decode()}]}, "inputs"),
    ({"input": ["fine"], "dimensions": 100000}, "dimensions"),
    ({"input": ["fine"], "dimensions": 16}, "dimensions"),  # under the core's 32
    ({"input": [{"type": "audio", "audio": "x"}]}, "input[0]"),
])
def test_bad_inputs_are_refused_naming_the_field(embedding_server, body, field):
    routes, engine, _ = embedding_server
    before = len(engine.tasks)
    status, answer = _post(routes, engine, "/v1/embeddings", body)
    assert status == 400, answer
    assert answer["error"]["param"] == field
    assert len(engine.tasks) == before  # refused before the engine sees anything


def test_unreadable_image_names_the_input(embedding_server):
    routes, engine, _ = embedding_server
    status, answer = _post(routes, engine, "/v1/embeddings", {
        "input": ["fine", {"image": base64.b64encode(b"not an image").decode()}]})
    assert status == 400
    assert "input[1]" in answer["error"]["message"]


def test_score_route_points_to_rerank(reranker_server):
    routes, engine, _ = reranker_server
    status, answer = _post(routes, engine, "/score", {"text_1": "q", "text_2": ["d"]})
    assert status == 400 and "/v1/rerank" in answer["error"]["message"]


def test_a_client_that_leaves_cancels_its_engine_requests(tiny_vl_models):
    path = str(tiny_vl_models.embedding)
    engine = FakeEngine(path, "embedding", hang=True)
    status, _ = _post(_routes(path, "embedding"), engine, "/v1/embeddings",
                      {"input": ["one", "two", "three"]}, leave=True)
    assert status == 0  # nothing is sent to a client that left
    assert engine.cancelled == 3


def test_serve_flags_for_qwen3_vl(capsys, tiny_vl_models):
    embedding = _plain_command(capsys, ["serve", "embedding", "--model",
                                        str(tiny_vl_models.embedding), "--dry-run"])
    # The scripts' pixel bounds: 4..1800 tokens of 32 x 32 pixels.
    assert json.loads(_value(embedding, "--mm-processor-kwargs")) == {
        "size": {"shortest_edge": 4096, "longest_edge": 1843200}}
    assert json.loads(_value(embedding, "--limit-mm-per-prompt")) == {"video": 0}
    reranker = _plain_command(capsys, ["serve", "reranker", "--model",
                                       str(tiny_vl_models.reranker), "--dry-run"])
    assert json.loads(_value(reranker, "--hf-overrides"))["architectures"] == [
        "Qwen3VLForSequenceClassification"]
    # The reranker script's 10,240 tokens unless --max-length says otherwise.
    assert _value(reranker, "--max-model-len") == "10240"
    assert _value(embedding, "--max-model-len") == "8192"
