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
import math
import re
import unicodedata
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import AddedToken
from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

if TYPE_CHECKING:
    from PIL import Image

# The Qwen3-VL section imports Pillow and transformers' Qwen3-VL classes where it uses them:
# `make test-oldest` runs the text models' tests on transformers 4.56, which has neither.

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



# =============================================================================================
# Qwen3-VL-Embedding and Qwen3-VL-Reranker
# =============================================================================================
#
# Written out from the official reference scripts of QwenLM/Qwen3-VL-Embedding
# (src/models/qwen3_vl_embedding.py, src/models/qwen3_vl_reranker.py) and the image loading of
# qwen_vl_utils (fetch_image, smart_resize), one input at a time, float32. The scripts render
# the chat template, let Qwen3VLProcessor expand each <|image_pad|> to the image's token count
# and tokenise the whole string; here the same ids are built piecewise, with the one deliberate
# difference of the text part above: user text (instructions, queries, documents) is tokenised
# with split_special_tokens=True, so that control-token strings in it stay plain characters.
# Only the template's own control tokens become control tokens. Videos are not covered.

VL_IMAGE_FACTOR = 32  # patch size 16 x spatial merge 2
VL_MIN_PIXELS = 4 * VL_IMAGE_FACTOR * VL_IMAGE_FACTOR
VL_MAX_PIXELS = 1800 * VL_IMAGE_FACTOR * VL_IMAGE_FACTOR
VL_MAX_RATIO = 200
VL_EMBED_MAX_LENGTH = 8192
VL_RERANK_MAX_LENGTH = 10240

VL_EMBED_INSTRUCTION = "Represent the user's input."
VL_QUERY_INSTRUCTION = "Retrieve images or text relevant to the user's query."
VL_RERANK_SYSTEM = (
    "Judge whether the Document meets the requirements based on the Query and the Instruct "
    'provided. Note that the answer can only be "yes" or "no".'
)
VL_RERANK_INSTRUCTION = "Given a search query, retrieve relevant candidates that answer the query."

# What the chat template renders around the parts.
_VL_IMAGE = "<|vision_start|><|image_pad|><|vision_end|>"
_VL_CONTROL = ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|image_pad|>",
               "<|vision_end|>")
_VL_RERANK_KEEP_LAST = 5  # <|im_end|> \n <|im_start|> assistant \n


def vl_smart_resize(height: int, width: int, factor: int = VL_IMAGE_FACTOR,
                    min_pixels: int = VL_MIN_PIXELS,
                    max_pixels: int = VL_MAX_PIXELS) -> tuple[int, int]:
    """qwen_vl_utils' smart_resize: sides that are multiples of ``factor``, pixels in bounds.

    Returns:
        ``(height, width)`` of the resized image.
    """
    if max(height, width) / min(height, width) > VL_MAX_RATIO:
        raise ValueError(f"aspect ratio over {VL_MAX_RATIO}: {width}x{height}")
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def _vl_open_image(image) -> Image.Image:
    from PIL import Image

    if isinstance(image, Image.Image):
        return image
    path = str(image)
    if path.startswith("file://"):
        path = path[len("file://"):]
    with Image.open(path) as opened:
        opened.load()
        return opened.copy()


def vl_prepare_image(image, min_pixels: int = VL_MIN_PIXELS,
                     max_pixels: int = VL_MAX_PIXELS) -> Image.Image:
    """qwen_vl_utils' fetch_image: an RGB image resized by :func:`vl_smart_resize`.

    Args:
        image: A PIL image or the path of one (``file://`` allowed).
        min_pixels: Lower pixel bound of the resized image.
        max_pixels: Upper pixel bound of the resized image.

    Returns:
        The RGB image (RGBA composited on white), resized with bicubic resampling.
    """
    from PIL import Image

    image = _vl_open_image(image)
    if image.mode == "RGBA":
        rgb = Image.new("RGB", image.size, (255, 255, 255))
        rgb.paste(image, mask=image.split()[3])
    else:
        rgb = image.convert("RGB")
    width, height = rgb.size
    new_height, new_width = vl_smart_resize(height, width, min_pixels=min_pixels,
                                            max_pixels=max_pixels)
    return rgb.resize((new_width, new_height), Image.Resampling.BICUBIC)


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


@functools.lru_cache(maxsize=4)
def _vl_processing(path: str):
    """The tokenizer (all added tokens special, as :func:`_load_tokenizer`), image processor."""
    from transformers import Qwen2VLImageProcessorPil

    tokenizer = _load_tokenizer(path)
    image_processor = Qwen2VLImageProcessorPil.from_pretrained(path)
    return tokenizer, image_processor


@functools.lru_cache(maxsize=4)
def _vl_embedder(path: str):
    from transformers import Qwen3VLModel

    return Qwen3VLModel.from_pretrained(path, dtype=torch.float32).eval()


@functools.lru_cache(maxsize=4)
def _vl_reranker(path: str):
    from transformers import Qwen3VLForConditionalGeneration

    return Qwen3VLForConditionalGeneration.from_pretrained(path, dtype=torch.float32).eval()


def _vl_user_parts(texts: list, images: list, empty: str = "NULL") -> list[dict]:
    """The scripts' order: images first, then texts; "NULL" when there is neither."""
    if not texts and not images:
        return [{"type": "text", "text": empty}]
    return ([{"type": "image", "image": img} for img in images]
            + [{"type": "text", "text": t} for t in texts])


def vl_embedding_conversation(text=None, image=None, instruction=None) -> list[dict]:
    """The embedding script's conversation for one input (texts and images as lists or one)."""
    if instruction:
        instruction = instruction.strip()
        if instruction and not unicodedata.category(instruction[-1]).startswith("P"):
            instruction += "."
    return [
        {"role": "system",
         "content": [{"type": "text", "text": instruction or VL_EMBED_INSTRUCTION}]},
        {"role": "user", "content": _vl_user_parts(_as_list(text), _as_list(image))},
    ]


def vl_rerank_conversation(query: dict, document: dict, instruction=None) -> list[dict]:
    """The reranker script's conversation for one pair (dicts with "text" and/or "image")."""
    parts = [{"type": "text", "text": "<Instruct>: " + (instruction or VL_RERANK_INSTRUCTION)},
             {"type": "text", "text": "<Query>:"}]
    parts += _vl_user_parts(_as_list(query.get("text")), _as_list(query.get("image")))
    parts.append({"type": "text", "text": "\n<Document>:"})
    parts += _vl_user_parts(_as_list(document.get("text")), _as_list(document.get("image")))
    return [
        {"role": "system", "content": [{"type": "text", "text": VL_RERANK_SYSTEM}]},
        {"role": "user", "content": parts},
    ]


def _vl_segments(conversation: list[dict]) -> list[tuple[str, bool]]:
    """The rendered prompt as ``(string, from_template)`` pieces, in order."""
    segments = []
    for message in conversation:
        segments.append((f"<|im_start|>{message['role']}\n", True))
        for part in message["content"]:
            if part["type"] == "image":
                segments.append((_VL_IMAGE, True))
            else:
                segments.append((part["text"], False))
        segments.append(("<|im_end|>\n", True))
    segments.append(("<|im_start|>assistant\n", True))
    return segments


def _vl_prompt_ids(tokenizer, conversation: list[dict]) -> list[int]:
    """Token ids of the rendered conversation, before the image pads are expanded.

    The template's control tokens are ids of their own; every run of text between them (user
    text and the template's plain text together, as the whole-string tokenisation sees it) is
    tokenised with ``split_special_tokens=True``.
    """
    segments = _vl_segments(conversation)
    rendered = tokenizer.apply_chat_template(conversation, tokenize=False,
                                             add_generation_prompt=True)
    if "".join(s for s, _ in segments) != rendered:
        raise AssertionError(f"the chat template renders {rendered!r}, not the reference's")
    pattern = re.compile("(" + "|".join(re.escape(t) for t in _VL_CONTROL) + ")")
    ids: list[int] = []
    run = ""

    def flush():
        nonlocal run
        if run:
            ids.extend(tokenizer(run, add_special_tokens=False,
                                 split_special_tokens=True)["input_ids"])
        run = ""

    for string, from_template in segments:
        if not from_template:
            run += string
            continue
        for piece in pattern.split(string):
            if piece in _VL_CONTROL:
                flush()
                ids.append(tokenizer.convert_tokens_to_ids(piece))
            else:
                run += piece
    flush()
    return ids


def _vl_inputs(path, conversation: list[dict]) -> dict:
    """Expanded ids, pixel values and grids of one conversation (images prepared here)."""
    tokenizer, image_processor = _vl_processing(str(path))
    ids = _vl_prompt_ids(tokenizer, conversation)
    images = [vl_prepare_image(part["image"]) for message in conversation
              for part in message["content"] if part["type"] == "image"]
    pixel_values = grid_thw = None
    if images:
        processed = image_processor(images=images, do_resize=False, return_tensors="pt")
        pixel_values, grid_thw = processed["pixel_values"], processed["image_grid_thw"]
    image_pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    merge = image_processor.merge_size
    counts = iter([] if grid_thw is None else
                  [int(t * h * w) // merge**2 for t, h, w in grid_thw.tolist()])
    expanded: list[int] = []
    for token in ids:
        expanded.extend([image_pad] * next(counts) if token == image_pad else [token])
    if next(counts, None) is not None:
        raise AssertionError("more images than <|image_pad|> tokens")
    return {"input_ids": expanded, "pixel_values": pixel_values, "image_grid_thw": grid_thw}


def _vl_forward(model, inputs: dict) -> torch.Tensor:
    """The base model's last hidden state at the last position."""
    ids = torch.tensor([inputs["input_ids"]])
    kwargs = {}
    if inputs["pixel_values"] is not None:
        # transformers 5 asks for the processor's modality types (1 marks image tokens) to
        # place the multimodal rope positions.
        kwargs = {"pixel_values": inputs["pixel_values"],
                  "image_grid_thw": inputs["image_grid_thw"],
                  "mm_token_type_ids": (ids == model.config.image_token_id).long()}
    out = model(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs)
    return out.last_hidden_state[0, -1]


def vl_embedding_inputs(path, text=None, image=None, instruction=None,
                        max_length=VL_EMBED_MAX_LENGTH) -> dict:
    """The embedding script's model inputs for one input.

    Returns:
        ``input_ids`` (a list, image pads expanded), ``pixel_values`` and ``image_grid_thw``
        (tensors, or None without an image).
    """
    inputs = _vl_inputs(path, vl_embedding_conversation(text, image, instruction))
    # The script's processor truncates on the right (truncation=True, max_length).
    inputs["input_ids"] = inputs["input_ids"][:max_length]
    return inputs


def vl_embedding_input_ids(path, text=None, image=None, instruction=None,
                           max_length=VL_EMBED_MAX_LENGTH) -> list[int]:
    """The embedding script's token ids for one input, image pads expanded."""
    return vl_embedding_inputs(path, text, image, instruction, max_length)["input_ids"]


@torch.inference_mode()
def vl_embed(path, text=None, image=None, instruction=None, dimensions=None,
             max_length=VL_EMBED_MAX_LENGTH) -> np.ndarray:
    """Last-token pooling of the base model, optional Matryoshka cut, L2 normalisation."""
    model = _vl_embedder(str(path))
    hidden = _vl_forward(model, vl_embedding_inputs(path, text, image, instruction, max_length))
    if dimensions is not None:
        hidden = hidden[:dimensions]
    return F.normalize(hidden, p=2, dim=0).numpy()


def vl_embed_query(path, text=None, image=None, instruction=VL_QUERY_INSTRUCTION,
                   dimensions=None) -> np.ndarray:
    """A query's embedding: :func:`vl_embed` with the retrieval instruction."""
    return vl_embed(path, text, image, instruction, dimensions)


def vl_rerank_inputs(path, query: dict, document: dict, instruction=None,
                     max_length=VL_RERANK_MAX_LENGTH) -> dict:
    """The reranker script's model inputs for one pair, truncated as the script does.

    All tokens but the last five are cut to ``max_length`` keeping every special token (the
    image pads among them), and the last five are appended.
    """
    tokenizer, _ = _vl_processing(str(path))
    inputs = _vl_inputs(path, vl_rerank_conversation(query, document, instruction))
    ids = inputs["input_ids"]
    head, tail = ids[:-_VL_RERANK_KEEP_LAST], ids[-_VL_RERANK_KEEP_LAST:]
    if len(head) > max_length:
        special = set(tokenizer.all_special_ids)
        budget = max_length - sum(1 for t in head if t in special)
        kept = []
        for token in head:
            if token in special:
                kept.append(token)
            elif budget > 0:
                kept.append(token)
                budget -= 1
        head = kept
    inputs["input_ids"] = head + tail
    return inputs


def vl_rerank_input_ids(path, query: dict, document: dict, instruction=None,
                        max_length=VL_RERANK_MAX_LENGTH) -> list[int]:
    """The reranker script's token ids for one pair, image pads expanded."""
    return vl_rerank_inputs(path, query, document, instruction, max_length)["input_ids"]


@torch.inference_mode()
def vl_rerank_score(path, query: dict, document: dict, instruction=None,
                    max_length=VL_RERANK_MAX_LENGTH) -> float:
    """sigmoid((w_yes - w_no) . h) at the last position, as the reranker script computes it.

    Args:
        path: The model directory.
        query: ``{"text": ..., "image": ...}``, either optional; an image is a PIL image or a
            path, and either may be a list.
        document: Likewise.
        instruction: The task; the script's default when None or empty.
        max_length: The script's truncation length.
    """
    model = _vl_reranker(str(path))
    tokenizer, _ = _vl_processing(str(path))
    hidden = _vl_forward(model.model,
                         vl_rerank_inputs(path, query, document, instruction, max_length))
    weight = model.lm_head.weight
    yes, no = tokenizer.convert_tokens_to_ids("yes"), tokenizer.convert_tokens_to_ids("no")
    return float(torch.sigmoid((weight[yes] - weight[no]) @ hidden))


@torch.inference_mode()
def vl_pooled(path, kind: str, input_ids: list[int], pixel_values=None,
              image_grid_thw=None) -> np.ndarray:
    """What the scripts compute from model inputs already built (image pads expanded).

    ``kind="embedding"``: the L2-normalised last hidden state; ``"reranker"``: ``[P(yes)]``.
    """
    inputs = {"input_ids": list(input_ids),
              "pixel_values": None if pixel_values is None else torch.as_tensor(pixel_values),
              "image_grid_thw": None if image_grid_thw is None
              else torch.as_tensor(image_grid_thw)}
    if kind == "embedding":
        return F.normalize(_vl_forward(_vl_embedder(str(path)), inputs), p=2, dim=0).numpy()
    model = _vl_reranker(str(path))
    tokenizer, _ = _vl_processing(str(path))
    hidden = _vl_forward(model.model, inputs)
    weight = model.lm_head.weight
    yes, no = tokenizer.convert_tokens_to_ids("yes"), tokenizer.convert_tokens_to_ids("no")
    return np.array([float(torch.sigmoid((weight[yes] - weight[no]) @ hidden))])


def vl_rerank_scores(path, query: dict, documents: list[dict], instruction=None,
                     max_length=VL_RERANK_MAX_LENGTH) -> list[float]:
    """:func:`vl_rerank_score` of each document, one at a time."""
    return [vl_rerank_score(path, query, d, instruction, max_length) for d in documents]
