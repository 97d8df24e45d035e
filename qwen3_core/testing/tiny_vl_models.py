"""Build tiny random-weight Qwen3-VL embedding and reranker checkpoints, offline.

They have the real architecture (``Qwen3VLForConditionalGeneration``: a Qwen3-VL vision tower
with deepstack features, an interleaved multimodal-rope Qwen3 language model, tied embeddings),
a Qwen3-VL style chat template, an image-processor configuration like the real checkpoints'
and tokenizers that behave like the real ones (byte-level BPE, the Qwen control and vision
tokens as special tokens, ``yes``/``no`` as single tokens, no end-of-text token appended), at a
size that builds in a few seconds and loads in one. Their scores check the machinery; the
rankings they produce mean nothing.

Needs ``torch`` and ``transformers``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from qwen3_core.testing.tiny_models import _TRAINING_TEXT, _train_tokenizer

__all__ = ["CHAT_TEMPLATE", "TinyVLModels", "TinyVLShape", "build_tiny_vl_models"]

_FORMAT_VERSION = 1
_MARKER = "qwen3_rag_tiny_vl_model.json"

#: The vision tokens of the Qwen3 tokenizers, added as special tokens in this order.
VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")

# The chat roles and the VL models' instructions, so that "system", "user" and "assistant"
# are single tokens as they are in the real tokenizers (the reranker script keeps the last five
# tokens, ``<|im_end|>\n<|im_start|>assistant\n``, out of its truncation).
_VL_TRAINING_TEXT = _TRAINING_TEXT + """\
system
user
assistant
Represent the user's input.
Retrieve images or text relevant to the user's query.
Given a search query, retrieve relevant candidates that answer the query.
<Instruct>: <Query>: <Document>: NULL
A photo of a red square on a white background, and a picture of a blue circle.
"""

#: The Qwen3-VL chat template, reduced to what the embedding and reranker prompts use: the
#: system message's text parts; the other messages' parts in order, images as
#: ``<|vision_start|><|image_pad|><|vision_end|>`` (videos likewise), text parts as they are,
#: with no separator; the generation prompt without a thinking block.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message.role + '\\n' -}}"
    "{%- if message.content is string -%}"
    "{{- message.content -}}"
    "{%- else -%}"
    "{%- for content in message.content -%}"
    "{%- if message.role == 'system' -%}"
    "{%- if 'text' in content -%}{{- content.text -}}{%- endif -%}"
    "{%- elif content.type == 'image' or 'image' in content or 'image_url' in content -%}"
    "{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif content.type == 'video' or 'video' in content -%}"
    "{{- '<|vision_start|><|video_pad|><|vision_end|>' -}}"
    "{%- elif 'text' in content -%}"
    "{{- content.text -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- endif -%}"
)

#: ``preprocessor_config.json`` as the real Qwen3-VL checkpoints ship it (vLLM's pixel bounds).
PREPROCESSOR_CONFIG = {
    "image_processor_type": "Qwen2VLImageProcessor",
    "do_resize": True,
    "size": {"shortest_edge": 65536, "longest_edge": 16777216},
    "resample": 3,
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "do_normalize": True,
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
    "do_convert_rgb": True,
    "patch_size": 16,
    "temporal_patch_size": 2,
    "merge_size": 2,
}


@dataclass(frozen=True)
class TinyVLShape:
    """The size of the generated models."""

    hidden_size: int = 64
    intermediate_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    num_key_value_heads: int = 1
    head_dim: int = 32
    #: Splits head_dim / 2 rotary frequencies between time, height and width.
    mrope_section: tuple[int, int, int] = (6, 5, 5)
    max_position_embeddings: int = 32768
    vision_depth: int = 2
    vision_hidden_size: int = 32
    vision_num_heads: int = 2
    vision_intermediate_size: int = 64
    #: A square: the vision tower interpolates a grid of learned position embeddings.
    num_position_embeddings: int = 144
    deepstack_visual_indexes: tuple[int, ...] = (0,)
    #: Upper bound of the trained vocabulary; the model's vocabulary is the tokenizer's size.
    vocab_size: int = 1024
    #: Standard deviation of the random text weights; wide, as the text tiny models', so that
    #: scores spread.
    initializer_range: float = 0.2
    vision_initializer_range: float = 0.02


@dataclass(frozen=True)
class TinyVLModels:
    """Paths of a generated VL embedding and VL reranker model directory."""

    embedding: Path
    reranker: Path


def _vl_tokenizer(vocab_size: int):
    from tokenizers import AddedToken

    tok = _train_tokenizer(vocab_size, _VL_TRAINING_TEXT)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in VISION_TOKENS])
    for word in ("yes", "no", "system", "user", "assistant"):
        if len(tok.encode(word, add_special_tokens=False).ids) != 1:
            raise RuntimeError(f"the tiny VL tokenizer did not learn {word!r} as one token")
    return tok


def _save_tokenizer(tok, directory: Path) -> None:
    from transformers import Qwen2TokenizerFast  # type: ignore[attr-defined]  # lazy in 5.x

    wrapped = Qwen2TokenizerFast(
        tokenizer_object=tok,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        model_max_length=262144,
        # As the real tokenizers list them, so that ``all_special_ids`` holds the control and
        # vision tokens (the reference scripts' truncation keeps those).
        extra_special_tokens=["<|im_start|>", "<|im_end|>", *VISION_TOKENS],
        chat_template=CHAT_TEMPLATE,
    )
    wrapped.save_pretrained(directory)


def _config(shape: TinyVLShape, tok, vocab_size: int):
    from transformers import Qwen3VLConfig

    if sum(shape.mrope_section) * 2 != shape.head_dim:
        raise ValueError("mrope_section must sum to head_dim / 2")
    text = {
        "vocab_size": vocab_size,
        "hidden_size": shape.hidden_size,
        "intermediate_size": shape.intermediate_size,
        "num_hidden_layers": shape.num_hidden_layers,
        "num_attention_heads": shape.num_attention_heads,
        "num_key_value_heads": shape.num_key_value_heads,
        "head_dim": shape.head_dim,
        "max_position_embeddings": shape.max_position_embeddings,
        "initializer_range": shape.initializer_range,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 5000000.0,
            "mrope_section": list(shape.mrope_section),
            "mrope_interleaved": True,
        },
        "tie_word_embeddings": True,
    }
    vision = {
        "depth": shape.vision_depth,
        "hidden_size": shape.vision_hidden_size,
        "num_heads": shape.vision_num_heads,
        "intermediate_size": shape.vision_intermediate_size,
        "patch_size": 16,
        "temporal_patch_size": 2,
        "spatial_merge_size": 2,
        "out_hidden_size": shape.hidden_size,
        "num_position_embeddings": shape.num_position_embeddings,
        "deepstack_visual_indexes": list(shape.deepstack_visual_indexes),
        "initializer_range": shape.vision_initializer_range,
    }
    return Qwen3VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=tok.token_to_id("<|image_pad|>"),
        video_token_id=tok.token_to_id("<|video_pad|>"),
        vision_start_token_id=tok.token_to_id("<|vision_start|>"),
        vision_end_token_id=tok.token_to_id("<|vision_end|>"),
        tie_word_embeddings=True,
        architectures=["Qwen3VLForConditionalGeneration"],
    )


def _save_model(directory: Path, shape: TinyVLShape, tok, seed: int) -> None:
    import torch
    from transformers import Qwen3VLForConditionalGeneration

    config = _config(shape, tok, tok.get_vocab_size())
    torch.manual_seed(seed)
    model = Qwen3VLForConditionalGeneration(config).to(torch.float32).eval()
    model.save_pretrained(directory, safe_serialization=True)


def _marker_data(shape: TinyVLShape, seed: int, kind: str | None) -> dict:
    shape_data = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(shape).items()}
    return {"format": _FORMAT_VERSION, "kind": kind, "seed": seed, "shape": shape_data}


def _is_built(directory: Path, shape: TinyVLShape, seed: int, kind: str) -> bool:
    marker = directory / _MARKER
    if not marker.is_file():
        return False
    try:
        meta = json.loads(marker.read_text())
    except ValueError:
        return False
    return meta == _marker_data(shape, seed, kind)


def build_tiny_vl_models(root: str | Path, *, shape: TinyVLShape | None = None,
                         seed: int = 0) -> TinyVLModels:
    """Build (or reuse, if already built with the same settings) the two tiny VL models.

    Args:
        root: Directory that receives ``vl-embedding/`` and ``vl-reranker/``.
        shape: Model size; :class:`TinyVLShape` defaults when omitted.
        seed: Seed of the random weights; each model gets its own derived seed.

    Returns:
        The two model directories.
    """
    shape = shape or TinyVLShape()
    root = Path(root)
    paths = TinyVLModels(embedding=root / "vl-embedding", reranker=root / "vl-reranker")
    for offset, (kind, directory) in enumerate(
        (("vl-embedding", paths.embedding), ("vl-reranker", paths.reranker))
    ):
        if _is_built(directory, shape, seed, kind):
            continue
        directory.mkdir(parents=True, exist_ok=True)
        (directory / _MARKER).unlink(missing_ok=True)
        tok = _vl_tokenizer(shape.vocab_size)
        _save_tokenizer(tok, directory)
        (directory / "preprocessor_config.json").write_text(
            json.dumps(PREPROCESSOR_CONFIG, indent=2) + "\n"
        )
        _save_model(directory, shape, tok, seed + offset)
        (directory / _MARKER).write_text(json.dumps(_marker_data(shape, seed, kind)))
    return paths
