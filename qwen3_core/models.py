"""Find a model's files: a local directory as given, or a Hugging Face id through the hub cache."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ModelInfo", "ModelLoadError", "resolve_model"]

#: The official checkpoints; any other id or directory with the same architecture works too.
OFFICIAL_MODELS = {
    "embedding": tuple(f"Qwen/Qwen3-Embedding-{s}" for s in ("0.6B", "4B", "8B")),
    "reranker": tuple(f"Qwen/Qwen3-Reranker-{s}" for s in ("0.6B", "4B", "8B")),
}


class ModelLoadError(RuntimeError):
    """A model could not be found or loaded; the message says which and what to do."""


@dataclass(frozen=True)
class ModelInfo:
    """A model directory and the parts of its config the core needs."""

    name: str
    path: Path
    hidden_size: int
    num_hidden_layers: int
    num_key_value_heads: int
    head_dim: int
    max_position_embeddings: int
    weight_bytes: int
    #: The config's ``model_type``: ``"qwen3"`` for the text models, ``"qwen3_vl"`` for Qwen3-VL.
    model_type: str = "qwen3"


def _looks_like_path(model: str) -> bool:
    if model.startswith(("/", ".", "~")) or os.sep in model.replace("/", "") or "\\" in model:
        return True
    return model.count("/") != 1


def _download(model: str, weights: bool) -> Path:
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:  # pragma: no cover - huggingface_hub comes with tokenizers
        raise ImportError("loading a model by hub id needs huggingface_hub") from exc
    try:
        patterns = ["*.json", "*.txt", "*.model", "*.py"] + (["*.safetensors"] if weights else [])
        return Path(snapshot_download(model, allow_patterns=patterns))
    except Exception as exc:
        raise ModelLoadError(
            f"could not get model {model!r} from the Hugging Face Hub ({type(exc).__name__}: "
            f"{exc}). Check the id and your network, or download the model where the hub is "
            "reachable and pass its local directory instead."
        ) from exc


def _weight_bytes(path: Path, config: dict) -> int:
    """Size of the weights: their files, else their index, else counted from the config.

    The last two let a command size memory from the config alone (``serve --dry-run``
    fetches no weights).
    """
    on_disk = sum(f.stat().st_size for f in path.glob("*.safetensors")) or sum(
        f.stat().st_size for f in path.glob("*.bin"))
    if on_disk:
        return on_disk
    index = path / "model.safetensors.index.json"
    if index.is_file():
        total = json.loads(index.read_text()).get("metadata", {}).get("total_size")
        if total:
            return int(total)
    dtype = str(config.get("torch_dtype") or config.get("dtype") or "bfloat16")
    return _parameter_count(config) * _BYTES_PER_VALUE.get(dtype, 2)


_BYTES_PER_VALUE = {"float32": 4, "float16": 2, "bfloat16": 2}


def _parameter_count(config: dict) -> int:
    """Parameters of a Qwen3 decoder with this config (attention, MLP, norms, embeddings)."""
    hidden, layers = config["hidden_size"], config["num_hidden_layers"]
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads", heads)
    head_dim = config.get("head_dim") or hidden // heads
    attention = hidden * head_dim * (2 * heads + 2 * kv_heads) + 2 * head_dim
    mlp = 3 * hidden * config["intermediate_size"]
    per_layer = attention + mlp + 2 * hidden
    embeddings = config["vocab_size"] * hidden * (1 if config.get("tie_word_embeddings") else 2)
    return layers * per_layer + embeddings + hidden


def resolve_model(model: str | os.PathLike[str], *, weights: bool = True) -> ModelInfo:
    """Return the local directory and config facts of ``model`` (a directory or a hub id).

    Args:
        model: A local model directory or a Hugging Face id.
        weights: Fetch the weights of a hub model too; the http backend needs only the tokenizer
            and config, since the server holds the weights.
    """
    name = os.fspath(model)
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"model must be a Hugging Face id or a directory, got {model!r}")
    candidate = Path(name).expanduser()
    if candidate.is_dir():
        path = candidate.resolve()
    elif candidate.exists():
        raise ModelLoadError(f"model path {name!r} is a file; pass the model's directory")
    elif _looks_like_path(name):
        raise FileNotFoundError(f"model path {name!r} does not exist")
    else:
        path = _download(name, weights)
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelLoadError(f"{path} has no config.json, so it is not a model directory")
    outer = json.loads(config_file.read_text())
    # Qwen3-VL keeps the language model's settings in text_config.
    config = {**outer, **outer.get("text_config", {})}
    heads = config["num_attention_heads"]
    return ModelInfo(
        name=name,
        path=path,
        hidden_size=config["hidden_size"],
        num_hidden_layers=config["num_hidden_layers"],
        num_key_value_heads=config.get("num_key_value_heads", heads),
        head_dim=config.get("head_dim") or config["hidden_size"] // heads,
        max_position_embeddings=config.get("max_position_embeddings", 32768),
        weight_bytes=_weight_bytes(path, config),
        model_type=str(outer.get("model_type", "qwen3")),
    )
