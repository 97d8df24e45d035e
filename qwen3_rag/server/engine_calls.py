"""Prompts handed straight to the engine of the vLLM server this middleware runs in.

For what vLLM's HTTP routes cannot carry: token ids together with images (Qwen3-VL). Each prompt
is one engine request; when the client leaves, the requests are cancelled, which aborts them
in the engine.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from qwen3_rag.server.asgi import ClientChannel, Scope

__all__ = ["encode_prompts"]


def _pooling_params(task: Literal["embed", "classify"], model_config: Any) -> Any:
    from vllm import PoolingParams  # this module runs inside vLLM's server

    params = PoolingParams(task=task)
    if model_config is not None and hasattr(params, "verify"):
        params.verify(model_config)
    return params


def _values(output: Any) -> np.ndarray:
    data = output.outputs.data
    return np.asarray(data.tolist() if hasattr(data, "tolist") else data, dtype=np.float32)


async def encode_prompts(scope: Scope, channel: ClientChannel, prompts: Sequence[dict[str, Any]],
                         task: Literal["embed", "classify"]) -> list[np.ndarray] | None:
    """The engine's pooled output for each prompt, in order; None if the client left first.

    Args:
        scope: The request's scope; its app's state holds vLLM's ``engine_client``.
        channel: The request's channel, whose ``gone`` ends the work.
        prompts: vLLM prompt dicts (token ids, images in ``multi_modal_data``).
        task: ``"embed"`` or ``"classify"``.
    """
    state = scope["app"].state
    config = getattr(getattr(state, "vllm_config", None), "model_config", None)
    params = _pooling_params(task, config)
    engine = state.engine_client
    batch = uuid.uuid4().hex

    async def one(index: int, prompt: dict[str, Any]) -> np.ndarray:
        last = None
        async for output in engine.encode(prompt, params, f"qwen3-vl-{batch}-{index}"):
            last = output
        if last is None:
            raise RuntimeError("the engine returned nothing for a prompt")
        return _values(last)

    work = asyncio.ensure_future(asyncio.gather(*(one(i, p) for i, p in enumerate(prompts))))
    gone = asyncio.ensure_future(channel.gone.wait())
    try:
        await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
        if not work.done():
            work.cancel()  # cancelling each encode() aborts its engine request
            await asyncio.gather(work, return_exceptions=True)
            return None
        return list(work.result())
    finally:
        gone.cancel()
