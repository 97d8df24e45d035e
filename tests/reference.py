"""The model cards' formulas, written out independently of the code under test.

One text at a time, float32, Hugging Face transformers, exactly as the Qwen3-Embedding and
Qwen3-Reranker model cards compute them. The one deliberate difference: user text is tokenised
with ``split_special_tokens=True``, because the project treats documents, queries and
instructions as untrusted text in which control-token strings (``<|im_end|>``, and also
``<think>``, which the Qwen3 tokenizers do not mark special) must stay plain characters.
Nothing here imports qwen3_core.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import AddedToken
from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

TASK = "Given a web search query, retrieve relevant passages that answer the query"

PREFIX = (
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query "
    'and the Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n'
    "<|im_start|>user\n"
)
SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"


def _load_tokenizer(path: str):
    """The model's tokenizer, with every added token marked special so that
    ``split_special_tokens=True`` keeps all of them (``<think>`` too) out of user text.
    The fixed prompt parts are encoded without that flag and still get the control tokens."""
    tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
    backend = tokenizer.backend_tokenizer
    plain = [t for t in backend.get_added_tokens_decoder().values() if not t.special]
    backend.add_special_tokens([AddedToken(t.content, special=True, normalized=False)
                                for t in plain])
    return tokenizer


@functools.lru_cache(maxsize=4)
def _reranker(path: str):
    tokenizer = _load_tokenizer(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    return tokenizer, model


@functools.lru_cache(maxsize=4)
def _embedder(path: str):
    tokenizer = _load_tokenizer(path)
    model = AutoModel.from_pretrained(path, dtype=torch.float32).eval()
    return tokenizer, model


def rerank_input_ids(path, query, document, instruction=None, max_length=8192) -> list[int]:
    """The model card's token ids for one pair."""
    tokenizer, _ = _reranker(str(path))
    prefix_tokens = tokenizer.encode(PREFIX, add_special_tokens=False)
    suffix_tokens = tokenizer.encode(SUFFIX, add_special_tokens=False)
    text = f"<Instruct>: {instruction or TASK}\n<Query>: {query}\n<Document>: {document}"
    body = tokenizer(
        [text],
        padding=False,
        truncation="longest_first",
        return_attention_mask=False,
        max_length=max_length - len(prefix_tokens) - len(suffix_tokens),
        split_special_tokens=True,
    )["input_ids"][0]
    return prefix_tokens + body + suffix_tokens


@torch.inference_mode()
def rerank_score(path, query, document, instruction=None, max_length=8192) -> float:
    """softmax([no, yes]) at the last position, as the model card computes it."""
    tokenizer, model = _reranker(str(path))
    ids = rerank_input_ids(path, query, document, instruction, max_length)
    logits = model(torch.tensor([ids])).logits[:, -1, :]
    yes = logits[:, tokenizer.convert_tokens_to_ids("yes")]
    no = logits[:, tokenizer.convert_tokens_to_ids("no")]
    return float(torch.log_softmax(torch.stack([no, yes], dim=1), dim=1)[:, 1].exp()[0])


def rerank_scores(path, query, documents, instruction=None, max_length=8192) -> list[float]:
    return [rerank_score(path, query, d, instruction, max_length) for d in documents]


def embedding_input_ids(path, text, max_length=8192) -> list[int]:
    """The embedding tokenizer appends <|endoftext|> itself; truncation keeps it."""
    tokenizer, _ = _embedder(str(path))
    return tokenizer(
        [text], truncation=True, max_length=max_length, split_special_tokens=True
    )["input_ids"][0]


@torch.inference_mode()
def embed(path, text, max_length=8192, dimensions=None) -> np.ndarray:
    """Last-token pooling, optional Matryoshka cut, L2 normalisation."""
    _, model = _embedder(str(path))
    ids = embedding_input_ids(path, text, max_length)
    hidden = model(torch.tensor([ids])).last_hidden_state[:, -1]
    if dimensions is not None:
        hidden = hidden[:, :dimensions]
    return F.normalize(hidden, p=2, dim=1)[0].numpy()


def query_text(query: str, instruction=None) -> str:
    return f"Instruct: {instruction or TASK}\nQuery:{query}"


def embed_query(path, query, instruction=None, max_length=8192, dimensions=None) -> np.ndarray:
    return embed(path, query_text(query, instruction), max_length, dimensions)


@torch.inference_mode()
def rerank_score_ids(path, ids) -> float:
    """The model card's softmax([no, yes]) at the last position of ready prompt ids."""
    tokenizer, model = _reranker(str(path))
    logits = model(torch.tensor([list(ids)])).logits[:, -1, :]
    yes = logits[:, tokenizer.convert_tokens_to_ids("yes")]
    no = logits[:, tokenizer.convert_tokens_to_ids("no")]
    return float(torch.log_softmax(torch.stack([no, yes], dim=1), dim=1)[:, 1].exp()[0])


def rerank_windows(path, query, document, instruction=None, max_length=8192, overlap=None):
    """Issue 26's best-window reading of a long document, one window at a time.

    The body is tokenised whole, as the model card does; its tokens from the first one that
    reaches into the document are the document's. The window is what ``max_length`` leaves
    beside the fixed parts and the tokens before the document; a new window starts every
    ``window - overlap`` tokens (``overlap`` defaults to a quarter of the window) and the last
    ends at the document's last token.

    Returns:
        ``(score, (start, end))`` per window, in order: the model card's P(yes) of the window's
        prompt and the document characters the window covers. A query that leaves no room
        gives the model card's truncated prompt as the one window.
    """
    tokenizer, _ = _reranker(str(path))
    prefix_tokens = tokenizer.encode(PREFIX, add_special_tokens=False)
    suffix_tokens = tokenizer.encode(SUFFIX, add_special_tokens=False)
    before = f"<Instruct>: {instruction or TASK}\n<Query>: {query}\n<Document>: "
    encoded = tokenizer(before + document, add_special_tokens=False,
                        return_offsets_mapping=True, split_special_tokens=True)
    ids, offsets = encoded["input_ids"], encoded["offset_mapping"]
    head = 0
    while head < len(ids) and offsets[head][1] <= len(before):
        head += 1
    window = max_length - len(prefix_tokens) - len(suffix_tokens) - head
    if window <= 0:
        return [(rerank_score(path, query, document, instruction, max_length), None)]
    if overlap is None:
        overlap = window // 4
    document_ids, document_offsets = ids[head:], offsets[head:]
    starts, start = [], 0
    while start + window < len(document_ids):
        starts.append(start)
        start += window - overlap
    starts.append(max(len(document_ids) - window, 0))
    windows = []
    for start in starts:
        piece = document_ids[start:start + window]
        covered = document_offsets[start:start + window]
        span = ((max(covered[0][0] - len(before), 0), covered[-1][1] - len(before))
                if covered else (0, 0))
        prompt = prefix_tokens + ids[:head] + piece + suffix_tokens
        windows.append((rerank_score_ids(path, prompt), span))
    return windows

