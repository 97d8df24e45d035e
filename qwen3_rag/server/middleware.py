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
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from qwen3_core.validation import check_dimensions
from qwen3_core.windows import Span, WindowedPrompts
from qwen3_rag.server.asgi import (
    ASGIApp,
    BodyTooLarge,
    ClientChannel,
    Message,
    Receive,
    RequestError,
    Scope,
    Send,
    call_route,
    declared_length,
    error_body,
    replayed,
    send_body,
    send_json,
)
from qwen3_rag.server.auth import KeyCheck, server_keys
from qwen3_rag.server.embeddings import EmbeddingJob, input_count, parse_embeddings
from qwen3_rag.server.engine_calls import encode_prompts
from qwen3_rag.server.instance import INSTANCE_HEADER, INSTANCE_VARIABLE
from qwen3_rag.server.limits import Limits
from qwen3_rag.server.scoring import (
    RerankJob,
    ScoringJob,
    parse_rerank,
    parse_score,
    rerank_answer,
    score_answer,
)
from qwen3_rag.server.vision_requests import (
    VisionEmbeddingJob,
    VisionRerankJob,
    embeddings_answer,
    parse_vision_embeddings,
    parse_vision_rerank,
    vision_rerank_answer,
)

__all__ = ["Qwen3Routes"]

logger = logging.getLogger("qwen3_rag.server")

#: Rerank routes and the Cohere API version their answers name.
_RERANK_ROUTES = {"/rerank": "1", "/v1/rerank": "1", "/v2/rerank": "2"}
_SCORE_ROUTES = frozenset({"/score", "/v1/score"})
_EMBEDDING_ROUTE = "/v1/embeddings"
#: Pairs tokenised at a time: between two such steps a departed client is noticed.
_TOKENISE_PAIRS = 256
#: Methods whose body the size limit checks before vLLM reads it.
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


@dataclass(frozen=True)
class _ServedModel:
    """What the routes need to know about the model the server runs."""

    kind: str  # "reranker" or "embedding"
    prompts: Any  # RerankPromptTokenizer or EmbeddingPromptTokenizer
    default_name: str
    #: Counts the tokens of user text (control-token strings as plain text, as in prompts).
    plain: Any
    #: Tokens of one engine step (vLLM's max_num_batched_tokens): a rerank is sent to the
    #: engine in parts about this size, so a departed client costs at most about one step.
    step_tokens: int
    #: Qwen3-VL: the prompts of requests with images (``VisionRequestPrompts``); None for text.
    vision: Any = None
    #: Every name the model is served under (vLLM's ``--served-model-name``).
    names: tuple[str, ...] = ()


def _load_served_model(state: Any) -> _ServedModel:
    """The served model's kind and prompt tokenizer, from vLLM's app state."""
    from qwen3_core.models import resolve_model
    from qwen3_core.tokenization import (
        EmbeddingPromptTokenizer,
        RerankPromptTokenizer,
        load_tokenizers,
    )

    config = state.vllm_config.model_config
    architectures = getattr(config.hf_config, "architectures", None) or []
    is_reranker = any(a.endswith("ForSequenceClassification") for a in architectures)
    info = resolve_model(config.tokenizer or config.model, weights=False)
    model_dir = info.path
    max_length = config.max_model_len
    vision = None
    prompts: Any
    if info.model_type == "qwen3_vl":
        from qwen3_core.vision import VisionRequestPrompts

        prompts = vision = VisionRequestPrompts(model_dir, max_length)
    else:
        prompts = (RerankPromptTokenizer if is_reranker else EmbeddingPromptTokenizer)(
            model_dir, max_length)
    names = config.served_model_name
    name = names[0] if isinstance(names, list | tuple) else (names or config.model)
    kind = "reranker" if is_reranker else "embedding"
    scheduler = getattr(state.vllm_config, "scheduler_config", None)
    step_tokens = int(getattr(scheduler, "max_num_batched_tokens", 0) or max_length)
    logger.info("qwen3-rag routes: %s prompts for %s (max %d tokens, %d a step)", kind, name,
                max_length, step_tokens)
    return _ServedModel(kind=kind, prompts=prompts, default_name=name,
                        plain=load_tokenizers(model_dir)[1], step_tokens=step_tokens,
                        vision=vision,
                        names=tuple(names) if isinstance(names, list | tuple) else (name,))


def _kind_error(model: _ServedModel, route: str) -> str:
    """Why this server does not answer ``route``, and which server does."""
    wanted = "embedding" if route == _EMBEDDING_ROUTE else "reranker"
    return (f"{route} needs a {wanted} model; this server runs the {model.kind} model "
            f"{model.default_name!r} (start one with `qwen3-rag serve {wanted} --model ...`)")


class Qwen3Routes:
    """Exact Qwen3 answers on vLLM's standard rerank/score/embeddings routes; a key on all.

    A request's client is watched while it is answered: when it leaves, the work stops (see
    :class:`~qwen3_rag.server.asgi.ClientChannel`). Every request is held to the server's
    :class:`~qwen3_rag.server.limits.Limits`.
    """

    def __init__(self, app: ASGIApp):
        self.app = app
        self._keys: KeyCheck | None = None
        self._model: _ServedModel | None = None
        self._loading = asyncio.Lock()
        self.limits = Limits.from_environment()
        self._instance = os.environ.get(INSTANCE_VARIABLE, "").encode("latin-1")

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
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if path == "/health" and self._instance:
            await self.app(scope, receive, self._signed(send))
            return
        declared = declared_length(scope)
        if declared is not None and declared > self.limits.max_body_bytes \
                and scope.get("method") in _BODY_METHODS:
            await _refuse_body(send, BodyTooLarge(declared, self.limits.max_body_bytes,
                                                  declared=True))
            return
        route = path.rstrip("/") or path
        if scope.get("method") != "POST" or not (
                route in _RERANK_ROUTES or route in _SCORE_ROUTES or route == _EMBEDDING_ROUTE):
            await self.app(scope, receive, send)
            return
        channel = ClientChannel(receive)
        try:
            await self._answer(scope, channel, send, route)
        finally:
            channel.close()

    async def _answer(self, scope: Scope, channel: ClientChannel, send: Send,
                      route: str) -> None:
        try:
            body = await channel.read_body(self.limits.max_body_bytes)
        except BodyTooLarge as exc:
            await _refuse_body(send, exc)
            return
        if channel.gone.is_set():
            return
        channel.watch()
        model = await self._served_model(scope)
        if model is None:  # a bare app without a vLLM model: nothing of ours to do
            await self.app(scope, replayed(body, channel.inner_receive), send)
            return
        try:
            if (model.kind == "embedding") != (route == _EMBEDDING_ROUTE):
                raise RequestError(_kind_error(model, route), "model")
            try:
                request = json.loads(body)
            except (ValueError, RecursionError) as exc:
                # RecursionError: JSON nested deeper than the parser goes is still bad JSON.
                why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
                raise RequestError(f"the body is not valid JSON: {why}") from None
            if model.vision is not None:
                await self._vision(scope, channel, send, model, route, request)
            elif route == _EMBEDDING_ROUTE:
                await self._embeddings(scope, channel, send, model, request, body)
            else:
                await self._scores(scope, channel, send, model, route, request)
        except RequestError as exc:
            # A bad request is the client's business: one log line, no traceback.
            logger.info("qwen3-rag routes: 400 on %s: %s", route, exc)
            if not channel.gone.is_set():
                await send_json(send, 400, error_body(400, str(exc), exc.param))

    def _signed(self, send: Send) -> Send:
        """``send`` that puts this server's instance token on the answer (see ``instance``)."""

        async def signed(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []),
                           (INSTANCE_HEADER.encode(), self._instance)]
                message = {**message, "headers": headers}
            await send(message)

        return signed

    # -- keys and model ----------------------------------------------------------------------

    def _authorised(self, scope: Scope, path: str) -> bool:
        if self._keys is None:
            args = getattr(getattr(scope.get("app"), "state", None), "args", None)
            self._keys = KeyCheck(server_keys(getattr(args, "api_key", None)))
        headers = dict(scope.get("headers", []))
        if not self._keys.needs_key(scope.get("method", "GET"), path, headers):
            return True
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

    # -- routes ------------------------------------------------------------------------------

    def _check_size(self, model: _ServedModel, count: int, what: str,
                    texts: dict[str, str]) -> None:
        """Refuse a request over the per-request limits, naming the limit and the value."""
        if count > self.limits.max_documents:
            raise RequestError(f"this request has {count} {what}; this server takes at most "
                               f"{self.limits.max_documents} a request (--max-documents)",
                               what)
        limit = self.limits.max_document_tokens
        for field_name, text in texts.items():
            # A token is at least one UTF-8 byte: only longer texts need counting.
            if len(text) * 4 > limit and len(text.encode("utf-8")) > limit:
                tokens = len(model.plain.encode(text, add_special_tokens=False).ids)
                if tokens > limit:
                    raise RequestError(f"{field_name} has {tokens} tokens; this server takes at "
                                       f"most {limit} tokens a text (--max-document-tokens)",
                                       field_name)

    async def _scores(self, scope: Scope, channel: ClientChannel, send: Send,
                      model: _ServedModel, route: str, request: Any) -> None:
        job: ScoringJob
        job = (parse_rerank(request) if route in _RERANK_ROUTES else parse_score(request))
        what = "documents" if isinstance(job, RerankJob) else "pairs"
        texts = {f"{what}[{i}]": d for i, (_, d) in enumerate(job.pairs)}
        texts.update({f"queries[{i}]": q for i, (q, _) in enumerate(job.pairs)
                      if i == 0 or q is not job.pairs[i - 1][0]})
        await asyncio.to_thread(self._check_size, model, len(job.pairs), what, texts)
        name = job.model or model.default_name
        scores: list[float] = []
        # Under "best_window": each document's best window, as [start, end] in the answer.
        spans: list[Span] | None = [] if job.long_documents == "best_window" else None
        tokens = 0
        # Part by part, so a client that leaves stops the work within about one engine step:
        # between parts nothing more is sent, and vLLM aborts the part in flight itself.
        for start in range(0, len(job.pairs), _TOKENISE_PAIRS):
            pairs = job.pairs[start:start + _TOKENISE_PAIRS]
            plan = await asyncio.to_thread(_rerank_prompts, model, job, pairs)
            tokens += sum(map(len, plan.prompts))
            window_scores: list[float] = []
            for part in _engine_parts(plan.prompts, model.step_tokens):
                if channel.gone.is_set():
                    logger.info("qwen3-rag routes: client left %s; stopped after %d of %d "
                                "prompts", route, len(scores), len(job.pairs))
                    return
                payload: dict[str, Any] = {"input": part}
                if job.model is not None:
                    payload["model"] = job.model
                if job.use_activation is not None:
                    payload["use_activation"] = job.use_activation
                status, answer = await call_route(self.app, scope, channel.inner_receive,
                                                  "/classify", payload)
                if channel.gone.is_set():
                    logger.info("qwen3-rag routes: client left %s; stopped after %d of %d "
                                "prompts", route, len(scores), len(job.pairs))
                    return
                if status != 200:
                    await send_body(send, status, answer)
                    return
                data = json.loads(answer)
                name = data.get("model", name)
                window_scores += [item["probs"][0]
                                  for item in sorted(data["data"], key=lambda d: d["index"])]
            # One score per document: its best window's (its only prompt's when not windowed).
            for score, span in plan.best(window_scores):
                scores.append(score)
                if spans is not None:
                    spans.append(span)
        if isinstance(job, RerankJob):
            await send_json(send, 200, rerank_answer(job, name, scores, tokens,
                                                     _RERANK_ROUTES[route], spans))
        else:
            await send_json(send, 200, score_answer(name, scores, tokens, spans))

    async def _vision(self, scope: Scope, channel: ClientChannel, send: Send,
                      model: _ServedModel, route: str, request: Any) -> None:
        """Qwen3-VL: the core's prompts, images included, straight to the engine."""
        if route in _SCORE_ROUTES:
            raise RequestError(f"{route} takes text pairs; for Qwen3-VL use /v1/rerank (a query "
                               "and documents with images) or /v1/embeddings", "model")
        job: VisionEmbeddingJob | VisionRerankJob
        if route == _EMBEDDING_ROUTE:
            job = parse_vision_embeddings(request)
            what, count = "inputs", len(job.inputs)
            try:  # the core's Matryoshka range (32..hidden), as the embedder's own
                check_dimensions(job.dimensions, model.vision.hidden_size)
            except ValueError as exc:
                raise RequestError(str(exc), "dimensions") from None
        else:
            job = parse_vision_rerank(request)
            what, count = "documents", len(job.documents)
        if job.model is not None and job.model not in (model.names or (model.default_name,)):
            # As vLLM answers a request for a model it does not serve.
            await send_json(send, 404, error_body(
                404, f"The model `{job.model}` does not exist; this server serves "
                     f"{model.default_name!r}", "model"))
            return
        await asyncio.to_thread(self._check_size, model, count, what, job.texts)
        try:
            prompts = await asyncio.to_thread(_vision_prompts, model.vision, job)
        except (TypeError, ValueError) as exc:  # ImageError is a ValueError
            raise RequestError(str(exc), what) from exc
        outputs = await encode_prompts(scope, channel, model.vision.vllm_inputs(prompts),
                                       "embed" if isinstance(job, VisionEmbeddingJob)
                                       else "classify")
        if outputs is None:  # the client left
            logger.info("qwen3-rag routes: client left %s; its %d prompts were stopped", route,
                        len(prompts))
            return
        tokens = sum(len(p.ids) for p in prompts)
        name = job.model or model.default_name
        if isinstance(job, VisionEmbeddingJob):
            vectors = unit_rows(np.stack(outputs)[:, : job.dimensions])
            await send_json(send, 200, embeddings_answer(job, name, vectors, tokens))
        else:
            scores = [float(o[0]) for o in outputs]
            await send_json(send, 200, vision_rerank_answer(job, name, scores, tokens,
                                                            _RERANK_ROUTES[route]))

    async def _embeddings(self, scope: Scope, channel: ClientChannel, send: Send,
                          model: _ServedModel, request: Any, body: bytes) -> None:
        count = input_count(request)
        job = parse_embeddings(request)
        texts = {} if job is None else {
            (f"input[{i}]" if len(job.texts) > 1 else "input"): t for i, t in enumerate(job.texts)}
        await asyncio.to_thread(self._check_size, model, count, "inputs", texts)
        if job is None:
            ids = _token_ids(request)
            if ids is None:  # chat messages and the like: vLLM's own handling
                await self.app(scope, replayed(body, channel.inner_receive), send)
                return
            rest = dict(request)
        else:
            ids = []
            for start in range(0, len(job.texts), _TOKENISE_PAIRS):
                if channel.gone.is_set():
                    return
                ids += await asyncio.to_thread(_embedding_prompts, model, job,
                                               job.texts[start:start + _TOKENISE_PAIRS])
            rest = job.body
        # Part by part, as the scores: one big call would keep the engine busy long after its
        # client left (measured: 26 s after two abandoned 10,000-text requests).
        answers: list[dict[str, Any]] = []
        for part in _engine_parts(ids, model.step_tokens):
            if channel.gone.is_set():
                return
            status, answer = await call_route(self.app, scope, channel.inner_receive,
                                              _EMBEDDING_ROUTE, {**rest, "input": part})
            if channel.gone.is_set():
                return
            if status != 200:
                await send_body(send, status, answer)
                return
            answers.append(json.loads(answer))
        await send_json(send, 200, _merged_embeddings(answers))


def _vision_prompts(vision: Any, job: VisionEmbeddingJob | VisionRerankJob) -> list[Any]:
    if isinstance(job, VisionEmbeddingJob):
        return vision.embedding(job.inputs, job.instruction)
    return vision.rerank(job.query, job.documents, job.instruction)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to unit length (after a Matryoshka cut, as the model card does)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, np.finfo(np.float32).tiny)


def _token_ids(request: Any) -> list[list[int]] | None:
    """The prompts of a token-id embeddings request, None for any other kind."""
    value = request.get("input") if isinstance(request, dict) else None
    if isinstance(value, list) and value and all(isinstance(t, int) for t in value):
        return [value]
    if isinstance(value, list) and value and all(
            isinstance(p, list) and p and all(isinstance(t, int) for t in p) for p in value):
        return value
    return None


def _merged_embeddings(answers: list[dict[str, Any]]) -> dict[str, Any]:
    """vLLM's embeddings answers of consecutive parts as one answer, indices running on."""
    merged = dict(answers[0])
    data: list[dict[str, Any]] = []
    usage: dict[str, Any] = dict(answers[0].get("usage") or {})
    for answer in answers:
        for item in sorted(answer["data"], key=lambda d: d["index"]):
            data.append({**item, "index": len(data)})
    for answer in answers[1:]:
        for key, value in (answer.get("usage") or {}).items():
            if isinstance(value, int) and isinstance(usage.get(key), int):
                usage[key] += value
    merged["data"] = data
    if usage:
        merged["usage"] = usage
    return merged


async def _refuse_body(send: Send, exc: BodyTooLarge) -> None:
    logger.info("qwen3-rag routes: 413: %s", exc)
    await send_json(send, 413, error_body(413, str(exc), "body"))


def _engine_parts(ids: list[list[int]], step_tokens: int) -> list[list[list[int]]]:
    """``ids`` in consecutive parts of about ``step_tokens`` tokens, at least one prompt each."""
    parts: list[list[list[int]]] = []
    part: list[list[int]] = []
    size = 0
    for prompt in ids:
        if part and size + len(prompt) > step_tokens:
            parts.append(part)
            part, size = [], 0
        part.append(prompt)
        size += len(prompt)
    if part:
        parts.append(part)
    return parts


def _embedding_prompts(model: _ServedModel, job: EmbeddingJob,
                       texts: list[str]) -> list[list[int]]:
    try:
        if job.instruction is None:
            return model.prompts.documents(texts, job.max_length)
        return model.prompts.queries(texts, job.instruction, job.max_length)
    except ValueError as exc:
        raise RequestError(str(exc), "truncate_prompt_tokens") from exc


def _rerank_prompts(model: _ServedModel, job: ScoringJob,
                    pairs: list[tuple[str, str]]) -> WindowedPrompts:
    """The prompts of ``pairs``: one each, or every window of each under ``"best_window"``."""
    prompts = model.prompts
    if job.max_tokens_per_doc:
        documents = prompts.shorten([d for _, d in pairs], job.max_tokens_per_doc)
        pairs = [(q, d) for (q, _), d in zip(pairs, documents)]
    try:
        if job.long_documents == "best_window":
            return prompts.windows(job.instruction, pairs, job.overlap, job.max_length)
        ids = prompts.prompts(job.instruction, pairs, job.max_length)
    except ValueError as exc:
        field = "overlap" if str(exc).startswith("overlap=") else "truncate_prompt_tokens"
        raise RequestError(str(exc), field) from exc
    return WindowedPrompts(ids, list(range(len(ids))), [(0, 0)] * len(ids), len(ids))
