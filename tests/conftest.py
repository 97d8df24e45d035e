"""Shared fixtures: tiny random-weight Qwen3 models built once per test session."""

from __future__ import annotations

import pytest

from qwen3_core.testing.tiny_models import build_tiny_models

#: vLLM's torch.compile warm-up adds ~40 s per engine on this CPU and changes no number, so the
#: suite runs vLLM eagerly. Every test uses these same kwargs, so engines are shared.
VLLM_KWARGS = {"enforce_eager": True}


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Paths of the tiny embedding and reranker models (``.embedding``, ``.reranker``)."""
    return build_tiny_models(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="session")
def tiny_vl_models(tmp_path_factory):
    """Paths of the tiny Qwen3-VL embedding and reranker models (``.embedding``, ``.reranker``)."""
    from qwen3_core.testing.tiny_vl_models import build_tiny_vl_models

    return build_tiny_vl_models(tmp_path_factory.mktemp("tiny-vl-models"))


def _open(cls, path, backend):
    kwargs = VLLM_KWARGS if backend == "vllm" else None
    return cls(path, backend=backend, dtype="float32", engine_kwargs=kwargs)


# Session fixtures hold one reference to each engine for the whole run, so a test (or an
# integration wrapper) that opens the same model with the same settings reuses the running
# engine instead of starting a new one.
@pytest.fixture(scope="session", params=["transformers", "vllm"])
def embedder(request, tiny_models):
    """A float32 Qwen3Embedder on each backend."""
    from qwen3_core import Qwen3Embedder

    with _open(Qwen3Embedder, tiny_models.embedding, request.param) as emb:
        yield emb


@pytest.fixture(scope="session", params=["transformers", "vllm"])
def reranker(request, tiny_models):
    """A float32 Qwen3Reranker on each backend."""
    from qwen3_core import Qwen3Reranker

    with _open(Qwen3Reranker, tiny_models.reranker, request.param) as rr:
        yield rr


@pytest.fixture(autouse=True)
def _vllm_vector_tolerance(request, monkeypatch):
    """In a module whose ``TOLERANCE`` checks the session embedder's vectors, vLLM's vectors
    get ``tolerances.VLLM_VECTORS`` (see there why)."""
    from tolerances import vector_tolerance

    if getattr(request.module, "TOLERANCE", None) is None or "embedder" not in \
            request.fixturenames:
        return
    backend = request.getfixturevalue("embedder").backend
    monkeypatch.setattr(request.module, "TOLERANCE", max(request.module.TOLERANCE,
                                                         vector_tolerance(backend)))


@pytest.fixture(scope="session")
def vllm_embedder(tiny_models):
    """The float32 vLLM embedder the whole session shares."""
    from qwen3_core import Qwen3Embedder

    with _open(Qwen3Embedder, tiny_models.embedding, "vllm") as emb:
        yield emb


@pytest.fixture(scope="session")
def vllm_reranker(tiny_models):
    """The float32 vLLM reranker the whole session shares."""
    from qwen3_core import Qwen3Reranker

    with _open(Qwen3Reranker, tiny_models.reranker, "vllm") as rr:
        yield rr


@pytest.fixture(scope="session")
def servers(tiny_models, tmp_path_factory):
    """Real ``qwen3-rag serve`` processes (see ``vllm_servers.py``), started together since
    start-up dominates, stopped at the end of the session."""
    from vllm_servers import API_KEY, start_server, wait_ready

    log_dir = tmp_path_factory.mktemp("vllm-servers")
    started = {}
    try:
        for name, kind, model, options in [
            ("embedding", "embedding", tiny_models.embedding, ["--api-key", API_KEY]),
            ("reranker", "reranker", tiny_models.reranker, ["--api-key", API_KEY]),
            ("doomed", "reranker", tiny_models.reranker, []),
        ]:
            started[name] = start_server(kind, model, log_dir, *options)
        for server in started.values():
            wait_ready(server)
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture()
def embedded_texts(monkeypatch):
    """The texts passed to ``Qwen3Embedder.embed_documents`` (still calling through)."""
    from qwen3_core import Qwen3Embedder

    texts: list[str] = []
    original = Qwen3Embedder.embed_documents

    def counting(self, documents):
        texts.extend(documents)
        return original(self, documents)

    monkeypatch.setattr(Qwen3Embedder, "embed_documents", counting)
    return texts


# -- the fast tier (`make test-fast`) ----------------------------------------------------------

#: Fixtures that start vLLM engines or servers.
_ENGINE_FIXTURES = frozenset({"vllm_embedder", "vllm_reranker", "servers"})
#: Modules whose every test starts engines or servers in other processes (commands, scripts,
#: notebooks, a browser) or a benchmark.
_SLOW_MODULES = frozenset({
    "test_api_routes", "test_bench_smoke", "test_cli_demo", "test_cli_doctor", "test_cli_quiet",
    "test_http_backend", "test_http_client", "test_notebooks", "test_plain_script",
    "test_ui_browser", "test_langchain_chain", "test_langchain_chroma",
    "test_llama_index_query_engine", "test_cli_index_search", "test_engine_reaper",
    "test_index_resume", "test_index_ray", "test_index_hardening",
    "test_eval_cli",
    "test_lexical_index_resume", "test_hybrid_search_cli", "test_hybrid_integrations",
    "test_hybrid_ui", "test_eval_hybrid", "test_vl_cli", "test_vl_ui",
    "test_vl_eval",
})


def pytest_addoption(parser):
    parser.addoption("--fast", action="store_true",
                     help="only the tests that start no vLLM engine, server or command process")


def _needs_engine_start(item) -> bool:
    if item.get_closest_marker("vllm") or item.module.__name__ in _SLOW_MODULES:
        return True
    if _ENGINE_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    params = getattr(getattr(item, "callspec", None), "params", {})
    return "vllm" in params.values()


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--fast"):
        return
    slow = [item for item in items if _needs_engine_start(item)]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not _needs_engine_start(item)]
