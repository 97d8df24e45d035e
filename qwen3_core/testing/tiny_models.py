"""Build tiny random-weight Qwen3 embedding and reranker checkpoints, offline.

They have the real architecture (Qwen3, grouped-query attention, tied embeddings) and tokenizers
that behave like the real ones (byte-level BPE, the Qwen control tokens, ``yes``/``no`` as single
tokens, an end-of-text token appended by the embedding tokenizer only), at a size that loads in
a second. The tests, ``qwen3-rag doctor`` and the benchmark use them: their scores check the
machinery, and the rankings they produce mean nothing.

Needs ``torch`` and ``transformers``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TinyModels", "TinyShape", "build_tiny_models"]

_FORMAT_VERSION = 1
_MARKER = "qwen3_rag_tiny_model.json"

# The pre-tokenisation pattern of the Qwen2/Qwen3 tokenizers.
_QWEN_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

_TRAINING_TEXT = """\
Judge whether the Document meets the requirements based on the Query and the Instruct provided.
Note that the answer can only be "yes" or "no".
yes
no
Instruct: Given a web search query, retrieve relevant passages that answer the query
Query: which river flows through the old town?
Document: The river bends twice before it reaches the harbour and the market square.
The speed of light in a vacuum is close to three hundred thousand kilometres per second.
A compiler translates source code into machine instructions before the program runs.
Vector databases store embeddings and answer nearest-neighbour questions quickly.
Rerankers read the query and the passage together and judge how well they match.
北京是中国的首都，也是一座历史悠久的城市。
量子力学描述微观粒子的行为。
机器学习模型通过数据学习规律。
"""


@dataclass(frozen=True)
class TinyShape:
    """The size of the generated models; the defaults load and run in well under a second."""

    hidden_size: int = 128
    intermediate_size: int = 256
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    num_key_value_heads: int = 1
    head_dim: int = 64
    max_position_embeddings: int = 8192
    vocab_size: int = 1024
    #: Standard deviation of the random weights. The tiny models' wide 0.2 spreads their
    #: scores; larger models want the architecture's own 0.02, or they become numerically
    #: chaotic (bf16 rounding then moves scores far more than it does in a trained model).
    initializer_range: float = 0.2
    #: Precision the weights are stored in; the official checkpoints are stored in bfloat16.
    weights_dtype: str = "float32"


@dataclass(frozen=True)
class TinyModels:
    """Paths of a generated embedding and reranker model directory."""

    embedding: Path
    reranker: Path


def _train_tokenizer(vocab_size: int, text: str = _TRAINING_TEXT):
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        trainers,
    )

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_QWEN_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 8,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([text] * 20, trainer)
    # As in the real tokenizers: the chat markers are special tokens, the thinking tags are
    # added tokens that are not special.
    tok.add_special_tokens(
        [AddedToken(t, special=True, normalized=False)
         for t in ("<|endoftext|>", "<|im_start|>", "<|im_end|>")]
    )
    tok.add_tokens(
        [AddedToken(t, special=False, normalized=False) for t in ("<think>", "</think>")]
    )
    for word in ("yes", "no"):
        if len(tok.encode(word, add_special_tokens=False).ids) != 1:
            raise RuntimeError(f"the tiny tokenizer did not learn {word!r} as one token")
    return tok


def _save_tokenizer(tok, directory: Path, *, append_end_of_text: bool) -> None:
    from tokenizers import processors
    from transformers import Qwen2TokenizerFast  # type: ignore[attr-defined]  # lazy in 5.x

    if append_end_of_text:
        eos_id = tok.token_to_id("<|endoftext|>")
        tok.post_processor = processors.TemplateProcessing(
            single="$A:0 <|endoftext|>:0",
            pair="$A:0 <|endoftext|>:0 $B:1 <|endoftext|>:1",
            special_tokens=[("<|endoftext|>", eos_id)],
        )
    wrapped = Qwen2TokenizerFast(
        tokenizer_object=tok,
        bos_token=None,
        eos_token="<|endoftext|>" if append_end_of_text else "<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        model_max_length=131072,
    )
    wrapped.save_pretrained(directory)


def _save_model(directory: Path, shape: TinyShape, vocab_size: int, seed: int) -> None:
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(
        vocab_size=vocab_size,
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_hidden_layers,
        num_attention_heads=shape.num_attention_heads,
        num_key_value_heads=shape.num_key_value_heads,
        head_dim=shape.head_dim,
        max_position_embeddings=shape.max_position_embeddings,
        tie_word_embeddings=True,
        initializer_range=shape.initializer_range,
        bos_token_id=None,
        eos_token_id=None,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config).to(getattr(torch, shape.weights_dtype)).eval()
    model.save_pretrained(directory, safe_serialization=True)


def _is_built(directory: Path, shape: TinyShape, seed: int) -> bool:
    marker = directory / _MARKER
    if not marker.is_file():
        return False
    try:
        meta = json.loads(marker.read_text())
    except ValueError:
        return False
    return meta == _marker_data(shape, seed, meta.get("kind"))


def _marker_data(shape: TinyShape, seed: int, kind: str | None) -> dict:
    return {"format": _FORMAT_VERSION, "kind": kind, "seed": seed, "shape": shape.__dict__}


def build_tiny_models(root: str | Path, *, shape: TinyShape | None = None,
                      seed: int = 0) -> TinyModels:
    """Build (or reuse, if already built with the same settings) the two tiny models.

    Args:
        root: Directory that receives ``embedding/`` and ``reranker/``.
        shape: Model size; :class:`TinyShape` defaults when omitted.
        seed: Seed of the random weights; each model gets its own derived seed.

    Returns:
        The two model directories.
    """
    shape = shape or TinyShape()
    root = Path(root)
    paths = TinyModels(embedding=root / "embedding", reranker=root / "reranker")
    for offset, (kind, directory) in enumerate(
        (("embedding", paths.embedding), ("reranker", paths.reranker))
    ):
        if _is_built(directory, shape, seed):
            continue
        directory.mkdir(parents=True, exist_ok=True)
        tok = _train_tokenizer(shape.vocab_size)
        _save_tokenizer(tok, directory, append_end_of_text=(kind == "embedding"))
        vocab = max(shape.vocab_size, tok.get_vocab_size())
        _save_model(directory, shape, vocab, seed + offset)
        (directory / _MARKER).write_text(json.dumps(_marker_data(shape, seed, kind)))
    return paths
