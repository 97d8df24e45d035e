"""The images of a batch of inputs opened, checked and resized, with one error for all bad ones."""

from __future__ import annotations

from collections.abc import Sequence

from qwen3_core.vision.images import ImageError, describe_image, open_image
from qwen3_core.vision.inputs import Content
from qwen3_core.vision.pixels import ImageProcessing
from qwen3_core.vision.prompts import PreparedContent

__all__ = ["prepare_contents"]


def prepare_contents(contents: Sequence[Content], what: str, pixels: ImageProcessing, *,
                     allow_remote: bool, timeout: float,
                     max_pixels: int) -> list[PreparedContent]:
    """Open and resize every image of a batch, before any engine runs.

    Every image is tried, so one error lists every bad input of the batch (its place, e.g.
    ``documents[3]``, and why), and nothing is computed until all are good: drop those and
    send the rest again.

    Raises:
        ImageError: With ``failures``, the ``(place, reason)`` of each bad image, and
            ``positions``, their inputs' indices in the batch.
    """
    prepared, failures, positions = [], [], []
    for index, content in enumerate(contents):
        images = []
        for image in content.images:
            try:
                opened = open_image(image, allow_remote=allow_remote, timeout=timeout,
                                    max_pixels=max_pixels)
                images.append(pixels.prepare(opened, describe_image(image)))
            except ImageError as exc:
                failures.append((f"{what}[{index}]", str(exc)))
                positions.append(index)
        prepared.append(PreparedContent(content.text, tuple(images)))
    if failures:
        raise ImageError.of(failures, positions)
    return prepared
