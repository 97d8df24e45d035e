"""The image and text test set ``qwen3-rag eval --images`` makes itself: coloured shapes.

Four colours by three shapes give twelve PNG images, each with a caption written as a separate
text passage; the query ``"a red circle"`` is answered by the red circle's image and its
caption, and by nothing else. The judgements are known by construction, so no file is shipped
and nothing is downloaded. Drawn with Pillow, the same bytes on every machine.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from qwen3_rag.evaluation.test_set import TestSet

__all__ = ["COLOURS", "IMAGE_TEST_SET_NAME", "SHAPES", "ImageTestSet", "build_image_test_set"]

#: The name of the generated set (its collection and output directory are named for it).
IMAGE_TEST_SET_NAME = "qwen3-rag-shapes"
#: Colour name -> RGB.
COLOURS = {"red": (215, 35, 35), "green": (40, 155, 60), "blue": (40, 70, 215),
           "yellow": (240, 200, 30)}
SHAPES = ("circle", "square", "triangle")
_SIZE = 128


@dataclass(frozen=True)
class ImageTestSet(TestSet):
    """A :class:`TestSet` some of whose passages are images.

    Attributes:
        images: Passage id -> image file, for the passages that are images (their text in
            ``passages`` is the file name).
    """

    images: Any = field(default_factory=dict)

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "images", MappingProxyType(dict(self.images)))


def _draw(colour: tuple[int, int, int], shape: str) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (_SIZE, _SIZE), "white")
    draw = ImageDraw.Draw(image)
    margin = _SIZE // 8
    box = (margin, margin, _SIZE - margin, _SIZE - margin)
    if shape == "circle":
        draw.ellipse(box, fill=colour)
    elif shape == "square":
        draw.rectangle(box, fill=colour)
    else:
        draw.polygon([(_SIZE // 2, margin), (_SIZE - margin, _SIZE - margin),
                      (margin, _SIZE - margin)], fill=colour)
    data = io.BytesIO()
    image.save(data, format="PNG")
    return data.getvalue()


def build_image_test_set(directory: str | Path) -> ImageTestSet:
    """Draw the images into ``directory`` (only those missing or different) and the set.

    Returns:
        24 passages (12 images, 12 captions) and 12 queries, each with two relevant passages.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    passages: dict[str, str] = {}
    images: dict[str, str] = {}
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for colour, rgb in COLOURS.items():
        for shape in SHAPES:
            name = f"{colour}-{shape}"
            path = directory / f"{name}.png"
            data = _draw(rgb, shape)
            if not path.is_file() or path.read_bytes() != data:
                path.write_bytes(data)
            passages[f"image-{name}"] = path.name
            images[f"image-{name}"] = str(path.resolve())
            passages[f"caption-{name}"] = f"A picture of a {shape} drawn in {colour}."
            queries[f"query-{name}"] = f"a {colour} {shape}"
            qrels[f"query-{name}"] = {f"image-{name}": 1, f"caption-{name}": 1}
    return ImageTestSet(IMAGE_TEST_SET_NAME, passages, queries, qrels, images=images)
