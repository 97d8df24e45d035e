"""What the sub-commands share: model and store options, loading that fails with one message."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from qwen3_core import (
    DEFAULT_EMBEDDING_MODEL,
    DEFAULT_MAX_LENGTH,
    DEFAULT_RERANKER_MODEL,
    Qwen3Embedder,
    Qwen3Reranker,
)
from qwen3_core.engines.backends import AUTO_ORDER, backend_choices
from qwen3_core.engines.devices import VALID_DEVICES, check_device
from qwen3_core.engines.dtypes import VALID_DTYPES
from qwen3_rag.common.quiet import held_back_output
from qwen3_rag.retrieval.store import (
    DEFAULT_COLLECTION,
    VectorStore,
    check_collection_name,
    default_chroma_dir,
    open_client,
)

__all__ = [
    "API_KEY_VARIABLE",
    "DEFAULT_EMBEDDING_MODEL",
    "DEFAULT_MAX_LENGTH",
    "DEFAULT_RERANKER_MODEL",
    "INTERACTIVE_COMMANDS",
    "SMALL_CORPUS_BYTES",
    "AppError",
    "add_collection_argument",
    "add_model_arguments",
    "add_store_arguments",
    "command_backend",
    "directory",
    "is_vl_model",
    "load_embedder",
    "load_reranker",
    "load_vl_embedder",
    "load_vl_reranker",
    "non_negative_int",
    "open_database",
    "open_store",
    "port_number",
    "positive_int",
    "quiet_engine_logs",
    "server_url",
    "valid_collection",
]


#: The environment variable holding the servers' key, the one vLLM's server reads as well.
API_KEY_VARIABLE = "VLLM_API_KEY"


class AppError(Exception):
    """A failure the user can fix; the command prints the message (no traceback) and exits 1."""


def _engine_kwargs(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object, e.g. '{\"enforce_eager\": true}'")
    return value


def _device(text: str) -> str | None:
    try:
        return check_device(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _whole_number(text: str, low: int, high: int | None = None) -> int:
    valid = f"a whole number from {low}" + (f" to {high}" if high is not None else " up")
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {valid}") from None
    if value < low or (high is not None and value > high):
        raise argparse.ArgumentTypeError(f"{value} is out of range: use {valid}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    return _whole_number(text, 1)


def non_negative_int(text: str) -> int:
    """An argparse type: a whole number of at least 0."""
    return _whole_number(text, 0)


def port_number(text: str) -> int:
    """An argparse type: a TCP port a server can listen on, 1 to 65535."""
    return _whole_number(text, 1, 65535)


def valid_collection(text: str) -> str:
    """An argparse type: a name Chroma accepts for a collection (checked without Chroma)."""
    try:
        return check_collection_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def server_url(text: str) -> str:
    """An argparse type: an ``http(s)://host[:port]`` URL, returned as given."""
    from urllib.parse import urlsplit

    url = urlsplit(text)
    try:
        url.port  # noqa: B018 - raises ValueError on a port that is not a number or too large
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} has a bad port: use http(s)://HOST:PORT with PORT from 1 to 65535"
        ) from None
    if url.scheme not in ("http", "https") or not url.hostname:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a server URL: use http://HOST:PORT or https://HOST:PORT")
    return text


def directory(text: str) -> str:
    """An argparse type: a directory, which may not exist yet but must not be a file."""
    path = os.path.expanduser(text)
    if os.path.exists(path) and not os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"{text!r} is a file: give a directory (existing or "
                                         "not yet)")
    return text


def add_model_arguments(parser: argparse.ArgumentParser, *, embedding: bool = True,
                        reranker: bool = True) -> Any:
    """Add the options that choose the models and where they run.

    Args:
        parser: The sub-command's parser.
        embedding: Add ``--embedding-model``.
        reranker: Add ``--reranker-model``.

    Returns:
        The "models" argument group, for a command's own model options.
    """
    group = parser.add_argument_group("models")
    if embedding:
        group.add_argument("--embedding-model", default=None, metavar="ID_OR_PATH",
                           help=f"Qwen3-Embedding id or local directory "
                                f"(default {DEFAULT_EMBEDDING_MODEL}; 4B and 8B work too)")
    if reranker:
        group.add_argument("--reranker-model", default=None, metavar="ID_OR_PATH",
                           help=f"Qwen3-Reranker id or local directory "
                                f"(default {DEFAULT_RERANKER_MODEL}; 4B and 8B work too)")
    # The backends registered when the parser is built, those registered at run time included.
    auto = " when it can, else ".join(AUTO_ORDER)
    group.add_argument("--backend", default="auto", choices=backend_choices(),
                       help=f"where the models run (default auto: {auto}; demo, search, ui, "
                            f"eval, and index of a corpus under "
                            f"{SMALL_CORPUS_BYTES // 1_000_000} MB, on a machine without a GPU: "
                            "transformers, which starts in seconds; http with --base-url)")
    group.add_argument("--base-url", type=server_url, default=None, metavar="URL",
                       help="URL serving every model named here, e.g. a gateway that routes by "
                            "model name (selects http)")
    wanted = {"embedding": embedding, "reranker": reranker}
    for kind, port in (("embedding", 8000), ("reranker", 8001)):
        if wanted[kind]:
            group.add_argument(f"--{kind}-base-url", type=server_url, default=None,
                               metavar="URL",
                               help=f"URL of the {kind} model's `qwen3-rag serve {kind}` server, "
                                    f"e.g. http://localhost:{port} (selects http)")
    group.add_argument("--api-key", default=None, metavar="KEY",
                       help=f"bearer token of servers started with `serve --api-key` (default: "
                            f"${API_KEY_VARIABLE}, which vLLM's server reads too; the variable "
                            "keeps the key out of the process list)")
    group.add_argument("--dtype", default="auto", choices=VALID_DTYPES, metavar="DTYPE",
                       help=f"one of {', '.join(VALID_DTYPES)} (default auto: bf16 where the "
                            "device computes it natively, else float32)")
    group.add_argument("--max-length", type=positive_int, default=DEFAULT_MAX_LENGTH,
                       metavar="TOKENS",
                       help=f"longest prompt in tokens; longer texts are cut as the model cards "
                            f"say (default {DEFAULT_MAX_LENGTH}; with servers: at most their "
                            f"`serve --max-length`)")
    group.add_argument("--device", type=_device, default=None, metavar="DEVICE",
                       help=f"where the models run: {', '.join(VALID_DEVICES)} (default: the "
                            "backend's choice)")
    group.add_argument("--engine-kwargs", type=_engine_kwargs, default=None, metavar="JSON",
                       help="advanced: JSON object passed to the engine (vllm.LLM or "
                            "from_pretrained), e.g. '{\"gpu_memory_utilization\": 0.5}'")
    return group


def _hint(kind: str, model: str, exc: BaseException) -> str:
    """What the user can do about a load failure of this kind."""
    option = f"--{kind}-model"
    text = str(exc).lower()
    if isinstance(exc, MemoryError) or "out of memory" in text or "can't allocate" in text:
        return ("Not enough memory: try the 0.6B model, --dtype bfloat16, or a machine with "
                "more memory.")
    if isinstance(exc, ImportError):
        return ("A package is missing: install qwen3-rag[cpu], qwen3-rag[gpu] or "
                "qwen3-rag[transformers].")
    if isinstance(exc, FileNotFoundError):
        return f"Check the path, or pass the directory of a downloaded model with {option}."
    hub_id = model if model.count("/") == 1 and not model.startswith((".", "/", "~")) else \
        (DEFAULT_EMBEDDING_MODEL if kind == "embedding" else DEFAULT_RERANKER_MODEL)
    return (f"Pass the local directory of a downloaded model with {option} (download it where "
            f"the Hugging Face Hub is reachable: `hf download {hub_id}`), or try another "
            f"--backend.")


def quiet_engine_logs() -> None:
    """Send vLLM's logs to stderr, warnings only, unless the user's environment says otherwise.

    vLLM logs every engine start to stdout at INFO level, which would bury the commands' tables
    and break their ``--json`` output. Must run before vLLM is imported (engines start later).
    """
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")


#: Commands a person sits and waits on. Without a GPU they start the transformers backend, a
#: few seconds per model, rather than vLLM, a minute or more per model on a CPU (torch.compile,
#: engine start); a handful of candidates per query needs no more throughput than it gives.
#: `eval` too: its shipped test set is a few dozen passages. Library code keeps vLLM, and so
#: does `index` past :data:`SMALL_CORPUS_BYTES`: there throughput pays for the start.
INTERACTIVE_COMMANDS = frozenset({"demo", "search", "ui", "eval"})

#: Without a GPU, `index` of files totalling less than this (about 5,000 passages of the
#: default 1,000 characters) uses transformers, as `search` does: vLLM's minute-long start on
#: a CPU pays off only past a few thousand passages. Embedding time follows the amount of
#: text, so the corpus's size on disk is the measure (Parquet's, compressed, underestimates).
SMALL_CORPUS_BYTES = 5_000_000


def _starts_light(args: argparse.Namespace) -> bool:
    """Whether the command, without a GPU, should start transformers rather than vLLM."""
    command = getattr(args, "command", None)
    if command == "index":
        corpus_bytes = getattr(args, "corpus_bytes", None)
        return corpus_bytes is not None and corpus_bytes < SMALL_CORPUS_BYTES
    return command in INTERACTIVE_COMMANDS


def command_backend(args: argparse.Namespace, base_url: Any) -> str:
    """The backend a command opens: ``--backend`` as given, or for ``auto`` the choice above.

    ``index`` sets ``args.corpus_bytes`` (the size of its files) before loading the model.
    """
    import importlib.util

    from qwen3_core.hardware import has_nvidia_gpu

    if args.backend != "auto" or base_url or args.engine_kwargs or not _starts_light(args):
        return args.backend
    has_transformers = all(importlib.util.find_spec(m) for m in ("torch", "transformers"))
    return "transformers" if has_transformers and not has_nvidia_gpu() else "auto"


def _open(cls: type, kind: str, model: str, args: argparse.Namespace, **extra: Any) -> Any:
    quiet_engine_logs()
    base_url = getattr(args, f"{kind}_base_url", None) or args.base_url
    options: dict[str, Any] = {"backend": command_backend(args, base_url), "dtype": args.dtype,
                               "max_length": args.max_length, "device": args.device,
                               "engine_kwargs": args.engine_kwargs, **extra}
    if base_url:
        options["base_url"] = base_url
        options["api_key"] = getattr(args, "api_key", None) or os.environ.get(API_KEY_VARIABLE)
    held = None
    try:
        with held_back_output() as held:
            return cls(model, **options)
    except KeyboardInterrupt:
        raise
    # Any failure here (hub unreachable, bad path, OOM, an engine that will not start) ends
    # the command with one message naming the model, never a traceback.
    except Exception as exc:
        message = f"could not load the {kind} model {model!r}: {exc}"
        printed = _last_lines(held.text if held else "")
        if printed:
            message += f"\nThe libraries printed, while loading (last lines):\n{printed}"
        raise AppError(f"{message}\n{_hint(kind, model, exc)}") from exc


def _last_lines(text: str, count: int = 30) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-count:])


def load_embedder(args: argparse.Namespace, model: str | None = None) -> Qwen3Embedder:
    """Open the embedding model the options name (or ``model``).

    Raises:
        AppError: The model could not be loaded; the message names it and says what to do.
    """
    name = model or args.embedding_model or DEFAULT_EMBEDDING_MODEL
    return _open(Qwen3Embedder, "embedding", str(name), args)


def load_reranker(args: argparse.Namespace, model: str | None = None) -> Qwen3Reranker:
    """Open the reranker the options name (or ``model``).

    Raises:
        AppError: The model could not be loaded; the message names it and says what to do.
    """
    name = model or args.reranker_model or DEFAULT_RERANKER_MODEL
    return _open(Qwen3Reranker, "reranker", str(name), args)


def is_vl_model(model: str) -> bool:
    """Whether ``model`` is a Qwen3-VL model (its config's ``model_type`` is ``qwen3_vl``).

    The official ids are known by name; another id or a directory is read (a hub id fetches
    its config only). A model that cannot be read is taken for a text model: loading it then
    says what is wrong.
    """
    from qwen3_core.models import resolve_model

    name = str(model)
    if name.startswith("Qwen/Qwen3-VL-"):
        return True
    if name.startswith(("Qwen/Qwen3-Embedding-", "Qwen/Qwen3-Reranker-")):
        return False
    try:
        return resolve_model(name, weights=False).model_type == "qwen3_vl"
    except Exception:
        return False


def load_vl_embedder(args: argparse.Namespace, model: str | None = None) -> Any:
    """Open the Qwen3-VL embedding model ``model`` (else the options' or the default one).

    Raises:
        AppError: The model could not be loaded; the message names it and says what to do.
    """
    from qwen3_core.vision import DEFAULT_VL_EMBEDDING_MODEL, Qwen3VLEmbedder

    name = model or args.embedding_model or DEFAULT_VL_EMBEDDING_MODEL
    return _open(Qwen3VLEmbedder, "embedding", str(name), args)


def load_vl_reranker(args: argparse.Namespace, model: str | None = None) -> Any:
    """Open the Qwen3-VL reranker ``model`` (else the options' or the default one).

    ``--max-length`` left at its default gives the reranker script's 10,240 tokens.

    Raises:
        AppError: The model could not be loaded; the message names it and says what to do.
    """
    from qwen3_core.vision import DEFAULT_VL_RERANKER_MODEL, VL_RERANK_MAX_LENGTH, Qwen3VLReranker

    name = model or args.reranker_model or DEFAULT_VL_RERANKER_MODEL
    max_length = VL_RERANK_MAX_LENGTH if args.max_length == DEFAULT_MAX_LENGTH \
        else args.max_length
    return _open(Qwen3VLReranker, "reranker", str(name), args, max_length=max_length)


def add_collection_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--collection NAME``, checked against Chroma's naming rule while parsing."""
    parser.add_argument("--collection", type=valid_collection, default=DEFAULT_COLLECTION,
                        metavar="NAME",
                        help=f"Chroma collection (default {DEFAULT_COLLECTION})")


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options that choose the Chroma database."""
    group = parser.add_argument_group("vector store")
    where = group.add_mutually_exclusive_group()
    where.add_argument("--chroma-dir", type=directory, default=None, metavar="DIR",
                       help=f"embedded Chroma directory (default {default_chroma_dir()}, "
                            "or $QWEN3_RAG_CACHE_DIR/chroma)")
    where.add_argument("--chroma-url", type=server_url, default=None, metavar="URL",
                       help="a Chroma server instead, e.g. http://localhost:8000")


def open_database(args: argparse.Namespace) -> Any:
    """The Chroma client the options name; commands open it before any model loads.

    Raises:
        AppError: Chroma is missing, or the database cannot be opened or reached.
    """
    try:
        return open_client(args.chroma_dir, args.chroma_url)
    except ImportError as exc:
        raise AppError(f"Chroma is not installed ({exc}); pip install chromadb") from exc
    except ValueError as exc:
        raise AppError(str(exc)) from exc
    except Exception as exc:
        raise _unreachable_database(args, exc) from exc


def _unreachable_database(args: argparse.Namespace, exc: Exception) -> AppError:
    """The one-line error for a Chroma database that cannot be opened or reached."""
    where = args.chroma_url or args.chroma_dir or default_chroma_dir()
    return AppError(f"could not open the Chroma database at {where}: "
                    f"{type(exc).__name__}: {exc}")


def open_store(args: argparse.Namespace, name: str, embedder: Any, *,
               create: bool = True, client: Any = None) -> VectorStore:
    """Open the collection ``name`` for ``embedder``'s vectors where the options say.

    Args:
        args: The command's options (``--chroma-dir``, ``--chroma-url``).
        name: The collection.
        embedder: The model whose vectors the collection holds.
        create: Create the collection when missing.
        client: A client from :func:`open_database`; opened here when None.

    Raises:
        AppError: Chroma is missing or unreachable, or the collection does not fit.
    """
    if client is None:
        client = open_database(args)
    try:
        return VectorStore(client, name, embedder.model, embedder.embedding_size, create=create)
    except ValueError as exc:
        raise AppError(str(exc)) from exc
    except Exception as exc:
        raise _unreachable_database(args, exc) from exc
