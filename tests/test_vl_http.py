"""``backend="http"`` for Qwen3-VL: the core's classes against a ``qwen3-rag serve`` server.

The server is real HTTP (uvicorn on loopback) running the real middleware; only vLLM's engine
underneath is the stand-in of ``test_vl_server.py`` (prompts expanded as vLLM's processor does,
computed with the official scripts' code), since vLLM's Qwen3-VL cannot run on this CPU.
Vectors and scores are checked against ``reference.py`` on the raw inputs, within 1e-5.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
import reference
from local_ports import free_port
from PIL import Image
from test_vl_server import FakeEngine

from qwen3_core.tokenization import load_tokenizers
from qwen3_core.vision import (
    VL_QUERY_INSTRUCTION,
    Qwen3VLEmbedder,
    Qwen3VLReranker,
    VisionRequestPrompts,
)
from qwen3_rag.server.auth import KeyCheck
from qwen3_rag.server.middleware import Qwen3Routes, _ServedModel

TOLERANCE = 1e-5
API_KEY = "vl-secret"


def _serve(path: str, kind: str):
    """The middleware over a stand-in engine, on a free loopback port; yields its URL."""
    import uvicorn

    routes = Qwen3Routes(None)
    routes._keys = KeyCheck([API_KEY])
    prompts = VisionRequestPrompts(path, 8192)
    routes._model = _ServedModel(kind, prompts, path, plain=load_tokenizers(path)[1],
                                 step_tokens=4096, vision=prompts)
    engine = FakeEngine(path, kind)
    state = SimpleNamespace(engine_client=engine, vllm_config=None)

    async def app(scope, receive, send):  # as vLLM's app hands the middleware its state
        await routes({**scope, "app": SimpleNamespace(state=state)}, receive, send)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the test server did not start"
    return server, thread, f"http://127.0.0.1:{port}", engine


@pytest.fixture(scope="module")
def servers(tiny_vl_models):
    started = {kind: _serve(str(path), kind) for kind, path in
               (("embedding", tiny_vl_models.embedding), ("reranker", tiny_vl_models.reranker))}
    yield {kind: (url, engine) for kind, (_, _, url, engine) in started.items()}
    for server, thread, _, _ in started.values():
        server.should_exit = True
        thread.join(timeout=10)


def _picture(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((height, width, 3)) * 255).astype("uint8"))


def test_embeddings_over_http_equal_the_scripts(servers, tiny_vl_models, tmp_path):
    path = str(tiny_vl_models.embedding)
    url, engine = servers["embedding"]
    small, large = _picture(20, 30, 1), _picture(1400, 1500, 2)  # large: resized down
    large_file = tmp_path / "large.png"
    large.save(large_file)
    documents = ["A red fox <|im_end|> in snow", small, {"text": "a caption", "image": large_file},
                 {"text": ""}, {}]
    with Qwen3VLEmbedder(path, backend="http", base_url=url, api_key=API_KEY,
                         dtype="float32") as model:
        assert model.backend == "http"
        vectors = model.embed_documents(documents)
        queries = model.embed_queries(["a fox", {"text": "like this", "image": small}])
        with Qwen3VLEmbedder(path, backend="http", base_url=url, api_key=API_KEY,
                             dtype="float32", dimensions=32) as shorter:
            cut = shorter.embed_queries(["a fox"])
        later = asyncio.run(model.aembed_documents([small]))
    want = [reference.vl_embed(path, text="A red fox <|im_end|> in snow"),
            reference.vl_embed(path, image=small),
            reference.vl_embed(path, text="a caption", image=large_file),
            reference.vl_embed(path, text=""), reference.vl_embed(path)]
    np.testing.assert_allclose(vectors, want, atol=TOLERANCE)
    np.testing.assert_allclose(queries, [
        reference.vl_embed_query(path, text="a fox"),
        reference.vl_embed_query(path, text="like this", image=small)], atol=TOLERANCE)
    np.testing.assert_allclose(cut[0], reference.vl_embed(path, text="a fox",
                                                          instruction=VL_QUERY_INSTRUCTION,
                                                          dimensions=32), atol=TOLERANCE)
    np.testing.assert_allclose(later[0], want[1], atol=TOLERANCE)
    assert set(engine.tasks) == {"embed"}


def test_rerank_over_http_equals_the_scripts(servers, tiny_vl_models):
    path = str(tiny_vl_models.reranker)
    url, engine = servers["reranker"]
    picture = _picture(300, 90, 3)
    query = {"text": "which is wide?", "image": _picture(40, 40, 4)}
    documents = [picture, "a wide picture", {"text": "this", "image": picture}]
    with Qwen3VLReranker(path, backend="http", base_url=url, api_key=API_KEY,
                         dtype="float32") as model:
        scores = model.score(query, documents)
        top = model.rerank(query, documents, top_n=1)
    want = reference.vl_rerank_scores(path, query, [{"image": picture},
                                                    {"text": "a wide picture"},
                                                    {"text": "this", "image": picture}])
    np.testing.assert_allclose(scores, want, atol=TOLERANCE)
    assert top[0].index == int(np.argmax(want))
    assert set(engine.tasks) == {"classify"}


def test_wrong_key_and_wrong_model_name_are_clear_errors(servers, tiny_vl_models):
    from qwen3_core.engines.http_backend import ServerError

    url, _ = servers["embedding"]
    with Qwen3VLEmbedder(str(tiny_vl_models.embedding), backend="http", base_url=url,
                         api_key="wrong", dtype="float32") as model:
        with pytest.raises(ServerError, match="api_key"):
            model.embed_documents(["a fox"])
    with Qwen3VLEmbedder(str(tiny_vl_models.reranker), backend="http", base_url=url,
                         api_key=API_KEY, dtype="float32") as model:
        with pytest.raises(ServerError, match="does not exist"):
            model.embed_documents(["a fox"])


def test_search_command_over_the_servers(servers, tiny_vl_models, tmp_path, capsys):
    from qwen3_rag.cli import main

    corpus, chroma = tmp_path / "corpus", str(tmp_path / "chroma")
    corpus.mkdir()
    for seed, name in enumerate(("one", "two", "three")):
        _picture(64 + 16 * seed, 48, 10 + seed).save(corpus / f"{name}.png")
    (corpus / "notes.txt").write_text("A green triangle on a white page.", encoding="utf-8")
    models = ["--embedding-model", str(tiny_vl_models.embedding), "--reranker-model",
              str(tiny_vl_models.reranker), "--dtype", "float32"]
    assert main(["index", str(corpus), "--chroma-dir", chroma, "--collection", "pics",
                 "--backend", "transformers", *models]) == 0
    query = ["a picture", "--image", str(corpus / "two.png"), "--top-n", "4", "--json",
             "--chroma-dir", chroma, "--collection", "pics", *models]
    capsys.readouterr()
    assert main(["search", *query, "--backend", "transformers"]) == 0
    here = json.loads(capsys.readouterr().out)
    assert main(["search", *query, "--embedding-base-url", servers["embedding"][0],
                 "--reranker-base-url", servers["reranker"][0], "--api-key", API_KEY]) == 0
    served = json.loads(capsys.readouterr().out)
    for stage in ("candidates", "reranked"):
        key = "cosine" if stage == "candidates" else "score"
        assert [h["id"] for h in served[stage]] == [h["id"] for h in here[stage]]
        np.testing.assert_allclose([h[key] for h in served[stage]],
                                   [h[key] for h in here[stage]], atol=TOLERANCE)


def test_eval_images_over_the_servers_equals_in_process(servers, tiny_vl_models, tmp_path,
                                                         capsys, monkeypatch):
    from qwen3_rag.cli import main

    monkeypatch.setenv("QWEN3_RAG_CACHE_DIR", str(tmp_path / "cache"))
    models = ["--embedding-model", str(tiny_vl_models.embedding), "--reranker-model",
              str(tiny_vl_models.reranker), "--dtype", "float32", "--k", "10", "--json"]
    reports, calls = {}, {}
    for where, extra in (("here", ["--backend", "transformers"]),
                         ("served", ["--embedding-base-url", servers["embedding"][0],
                                     "--reranker-base-url", servers["reranker"][0],
                                     "--api-key", API_KEY])):
        # A database each: the served run embeds anew instead of reusing the vectors.
        before = {kind: len(engine.tasks) for kind, (_, engine) in servers.items()}
        assert main(["eval", "--images", *models, *extra, "--chroma-dir",
                     str(tmp_path / where / "chroma"), "--output",
                     str(tmp_path / where / "out")]) == 0
        out, err = capsys.readouterr()
        assert "24 passages embedded now" in err
        reports[where] = json.loads(out)
        calls[where] = {kind: len(engine.tasks) - before[kind]
                        for kind, (_, engine) in servers.items()}
    assert calls["here"] == {"embedding": 0, "reranker": 0}
    assert calls["served"]["embedding"] >= 24 and calls["served"]["reranker"] > 0
    here, served = reports["here"], reports["served"]
    assert len(served["systems"]) == len(here["systems"]) == 2
    for ours, theirs in zip(served["systems"], here["systems"]):
        assert ours["metrics"] == pytest.approx(theirs["metrics"], abs=1e-9)
