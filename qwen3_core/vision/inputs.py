"""What a query or a document may be for the Qwen3-VL models: text, an image, or both.

A plain ``str`` is always text. An image is a ``PIL.Image.Image``, encoded ``bytes`` or a path
object (``pathlib.Path``), or anything under the ``"image"`` key of a mapping, where a ``str``
is a path, a ``data:`` URL or (when allowed) an http(s) URL. ``{"text": ..., "image": ...}``
gives both; ``"image"`` may hold a list for several images.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

from qwen3_core.vision.images import ImageLike

__all__ = ["Content", "VisionInput", "to_content", "to_contents"]

#: One query or document.
VisionInput = Union[str, ImageLike, Mapping[str, Any]]

_KEYS = ("text", "image")


@dataclass(frozen=True)
class Content:
    """One input, normalised: its text (or None) and its images, in order."""

    text: str | None
    images: tuple[Any, ...] = ()


def _is_image_object(item: object) -> bool:
    if isinstance(item, (bytes, bytearray, os.PathLike)):
        return True
    return type(item).__module__.startswith("PIL.") and hasattr(item, "size")


def to_content(item: object, where: str) -> Content:
    """Normalise one input; ``where`` names it in errors (``"documents[3]"``).

    Raises:
        TypeError: Not a str, an image, or a mapping of ``text`` / ``image``.
        ValueError: A mapping with other keys.
    """
    if isinstance(item, str):
        return Content(item)
    if _is_image_object(item):
        return Content(None, (item,))
    if isinstance(item, Mapping):
        unknown = sorted(set(map(str, item)) - set(_KEYS))
        if unknown:
            raise ValueError(f"{where} has unknown key(s) {', '.join(map(repr, unknown))}; an "
                             f"input is a mapping of {', '.join(map(repr, _KEYS))}")
        text = item.get("text")
        if text is not None and not isinstance(text, str):
            raise TypeError(f"{where}['text'] must be a str, got {type(text).__name__}")
        images = item.get("image")
        if images is None:
            found: tuple[Any, ...] = ()
        elif isinstance(images, (list, tuple)):
            found = tuple(images)
        else:
            found = (images,)
        return Content(text, found)
    raise TypeError(f"{where} must be a str (text), an image (PIL.Image.Image, bytes, a Path) "
                    f"or a mapping with 'text' and/or 'image', got {type(item).__name__}")


def to_contents(items: object, what: str) -> list[Content]:
    """Normalise a batch (a list of inputs, not a single one)."""
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence):
        raise TypeError(f"{what} must be a list of inputs, got {type(items).__name__}")
    return [to_content(item, f"{what}[{i}]") for i, item in enumerate(items)]
