"""The ASGI middleware vLLM loads with ``--middleware qwen3_rag.server.Qwen3Routes``.

It answers the plain-text rerank, score and embeddings routes by building the Qwen3 prompts as
token ids and calling vLLM's token-id routes in the same process (``/classify`` for the
reranker, ``/v1/embeddings`` for the embedding model), the very routes this project's http
backend uses: scores and vectors are the same, and so is vLLM's prefix caching. It also puts
the server's key on every route. Everything else goes to vLLM untouched.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from qwen3_rag.server.asgi import (
    ASGIApp,
    Receive,
    RequestError,
    Scope,
    Send,
    call_route,
    error_body,
    forward,
    read_body,
    replayed,
    send_body,
    send_json,
)
from qwen3_rag.server.auth import KeyCheck, server_keys
from qwen3_rag.server.embeddings import parse_embeddings
from qwen3_rag.server.scoring import (
    RerankJob,
    ScoringJob,
    parse_rerank,
    parse_score,
    rerank_answer,
    score_answer,
)

__all__ = ["Qwen3Routes"]

logger = logging.getLogger("qwen3_rag.server")

#: Rerank routes and the Cohere API version their answers name.
_RERANK_ROUTES = {"/rerank": "1", "/v1/rerank": "1", "/v2/rerank": "2"}
_SCORE_ROUTES = frozenset({"/score", "/v1/score"})
_EMBEDDING_ROUTE = "/v1/embeddings"


@dataclass(frozen=True)
class _ServedModel:
    """What the routes need to know about the model the server runs."""

    kind: str  # "reranker" or "embedding"
    prompts: Any  # RerankPromptTokenizer or EmbeddingPromptTokenizer
    default_name: str


def _load_served_model(state: Any) -> _ServedModel:
    """The served model's kind and prompt tokenizer, from vLLM's app state."""
    from qwen3_core.models import resolve_model
    from qwen3_core.tokenization import EmbeddingPromptTokenizer, RerankPromptTokenizer

    config = state.vllm_config.model_config
    architectures = getattr(config.hf_config, "architectures", None) or []
    is_reranker = any(a.endswith("ForSequenceClassification") for a in architectures)
    model_dir = resolve_model(config.tokenizer or config.model, weights=False).path
    max_length = config.max_model_len
    prompts = (RerankPromptTokenizer if is_reranker else EmbeddingPromptTokenizer)(
        model_dir, max_length)
    names = config.served_model_name
    name = names[0] if isinstance(names, list | tuple) else (names or config.model)
    kind = "reranker" if is_reranker else "embedding"
    logger.info("qwen3-rag routes: %s prompts for %s (max %d tokens)", kind, name, max_length)
    return _ServedModel(kind=kind, prompts=prompts, default_name=name)


class Qwen3Routes:
    """Exact Qwen3 answers on vLLM's standard rerank/score/embeddings routes; a key on all."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self._keys: KeyCheck | None = None
        self._model: _ServedModel | None = None
        self._loading = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer our routes; pass everything else to vLLM's app unchanged."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope["path"].removeprefix(scope.get("root_path", ""))
        if not self._authorised(scope, path):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            else:
                await send_json(send, 401, error_body(
                    401, "a valid API key is required: send 'Authorization: Bearer <key>'"))
            return
        route = path.rstrip("/") or path
        if scope["type"] != "http" or scope.get("method") != "POST" or not (
                route in _RERANK_ROUTES or route in _SCORE_ROUTES or route == _EMBEDDING_ROUTE):
            await self.app(scope, receive, send)
            return
        model = await self._served_model(scope)
        if model is None or (model.kind == "embedding") != (route == _EMBEDDING_ROUTE):
            await self._replay(scope, receive, send, await read_body(receive))
            return
        body = await read_body(receive)
        try:
            request = json.loads(body)
        except ValueError as exc:
            await send_json(send, 400, error_body(400, f"the body is not valid JSON: {exc}"))
            return
        try:
            if route == _EMBEDDING_ROUTE:
                await self._embeddings(scope, receive, send, model, request, body)
            else:
                await self._scores(scope, receive, send, model, route, request)
        except RequestError as exc:
            await send_json(send, 400, error_body(400, str(exc), exc.param))

    # -- keys and model ----------------------------------------------------------------------

    def _authorised(self, scope: Scope, path: str) -> bool:
        if self._keys is None:
            args = getattr(getattr(scope.get("app"), "state", None), "args", None)
            self._keys = KeyCheck(server_keys(getattr(args, "api_key", None)))
        if not self._keys.needs_key(scope.get("method", "GET"), path):
            return True
        headers = dict(scope.get("headers", []))
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        return self._keys.accepts(authorization)

    async def _served_model(self, scope: Scope) -> _ServedModel | None:
        """The model, loaded once; None where the app state has no vLLM model (a bare app)."""
        if self._model is None:
            state = getattr(scope.get("app"), "state", None)
            if getattr(state, "vllm_config", None) is None:
                return None
            async with self._loading:
                if self._model is None:
                    self._model = await asyncio.to_thread(_load_served_model, state)
        return self._model

    async def _replay(self, scope: Scope, receive: Receive, send: Send, body: bytes) -> None:
        """Hand a request whose body was read on to vLLM unchanged."""
        await self.app(scope, replayed(body, receive), send)

    # -- routes ------------------------------------------------------------------------------

    async def _scores(self, scope: Scope, receive: Receive, send: Send, model: _ServedModel,
                      route: str, request: Any) -> None:
        job: ScoringJob
        job = (parse_rerank(request) if route in _RERANK_ROUTES else parse_score(request))
        ids = await asyncio.to_thread(_rerank_prompts, model, job)
        name = job.model or model.default_name
        scores: list[float] = []
        if ids:
            payload: dict[str, Any] = {"input": ids}
            if job.model is not None:
                payload["model"] = job.model
            if job.use_activation is not None:
                payload["use_activation"] = job.use_activation
            status, answer = await call_route(self.app, scope, receive, "/classify", payload)
            if status != 200:
                await send_body(send, status, answer)
                return
            data = json.loads(answer)
            name = data.get("model", name)
            scores = [item["probs"][0] for item in sorted(data["data"], key=lambda d: d["index"])]
        tokens = sum(map(len, ids))
        if isinstance(job, RerankJob):
            await send_json(send, 200, rerank_answer(job, name, scores, tokens,
                                                     _RERANK_ROUTES[route]))
        else:
            await send_json(send, 200, score_answer(name, scores, tokens))

    async def _embeddings(self, scope: Scope, receive: Receive, send: Send,
                          model: _ServedModel, request: Any, body: bytes) -> None:
        job = parse_embeddings(request)
        if job is None:  # token ids or chat messages: vLLM's own handling
            await self._replay(scope, receive, send, body)
            return
        prompts = model.prompts

        def tokenise() -> list[list[int]]:
            try:
                if job.instruction is None:
                    return prompts.documents(job.texts, job.max_length)
                return prompts.queries(job.texts, job.instruction, job.max_length)
            except ValueError as exc:
                raise RequestError(str(exc), "truncate_prompt_tokens") from exc

        ids = await asyncio.to_thread(tokenise)
        await forward(self.app, scope, receive, send, _EMBEDDING_ROUTE, {**job.body, "input": ids})


def _rerank_prompts(model: _ServedModel, job: ScoringJob) -> list[list[int]]:
    prompts = model.prompts
    pairs = job.pairs
    if job.max_tokens_per_doc:
        documents = prompts.shorten([d for _, d in pairs], job.max_tokens_per_doc)
        pairs = [(q, d) for (q, _), d in zip(pairs, documents)]
    try:
        return prompts.prompts(job.instruction, pairs, job.max_length)
    except ValueError as exc:
        raise RequestError(str(exc), "truncate_prompt_tokens") from exc
