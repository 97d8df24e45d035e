"""Open the images users give (paths, images, bytes, ``data:`` URLs); no network unless asked.

Every failure is an :class:`ImageError` naming the input (its position in the batch and what it
was), so one bad file in a folder of thousands says which.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = [
    "DEFAULT_MAX_INPUT_PIXELS",
    "IMAGE_FORMATS",
    "ImageError",
    "ImageLike",
    "describe_image",
    "open_image",
]

#: What an image may be given as. A plain ``str`` is an image only where an image is expected
#: (the ``"image"`` key of an input): a path, a ``data:`` URL, or an http(s) URL when allowed.
ImageLike = Union[str, "os.PathLike[str]", bytes, "Image"]

#: The formats read (Pillow's names); others are refused by name.
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
#: Largest decoded image accepted, in pixels: bigger ones are refused before they are decoded
#: (a 40,000 x 40,000 PNG is a few kilobytes and 4.8 GB of pixels).
DEFAULT_MAX_INPUT_PIXELS = 64_000_000
_DATA_URL = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^,;]*)*?)(?P<b64>;base64)?,", re.IGNORECASE)
_REMOTE_PREFIXES = ("http://", "https://")


class ImageError(ValueError):
    """An image could not be used; the message names the input and why.

    Raised by a batch call, ``failures`` holds the ``(place, reason)`` of every bad image of the
    batch (``("documents[3]", "image 'a.gif' is animated ...")``) and ``positions`` the index
    in the batch of each of those inputs, in the same order.
    """

    def __init__(self, message: str, failures: tuple[tuple[str, str], ...] = (),
                 positions: tuple[int, ...] = ()):
        super().__init__(message)
        self.failures = failures
        self.positions = positions

    @classmethod
    def of(cls, failures: list[tuple[str, str]], positions: list[int]) -> ImageError:
        """One error for the bad images of a batch, each on its own line."""
        if len(failures) == 1:
            message = f"{failures[0][0]}: {failures[0][1]}"
        else:
            lines = "\n".join(f"  {place}: {reason}" for place, reason in failures)
            message = (f"{len(failures)} images cannot be used; fix or drop them and send the "
                       f"batch again:\n{lines}")
        return cls(message, tuple(failures), tuple(positions))


def describe_image(image: object) -> str:
    """A short, safe name for an image input, for messages (never a whole data URL)."""
    if isinstance(image, str):
        return repr(image if len(image) <= 80 else image[:60] + "...")
    if isinstance(image, os.PathLike):
        return repr(os.fspath(image))
    if isinstance(image, (bytes, bytearray)):
        return f"<{len(image)} bytes>"
    size = getattr(image, "size", None)
    return f"<{type(image).__name__} {size[0]}x{size[1]}>" if size else f"<{type(image).__name__}>"


def open_image(image: object, *, allow_remote: bool = False, timeout: float = 30.0,
               max_pixels: int = DEFAULT_MAX_INPUT_PIXELS) -> Image:
    """Read ``image`` fully into memory, checked; returns a ``PIL.Image`` (not yet converted).

    Args:
        image: A path (``str`` or ``PathLike``), ``PIL.Image.Image``, encoded bytes, a
            ``data:image/...;base64,...`` URL, or (with ``allow_remote``) an http(s) URL.
        allow_remote: Fetch http(s) URLs; off by default, so nothing reaches the network.
        timeout: Seconds for a remote fetch.
        max_pixels: Refuse images with more pixels than this (checked from the header).

    Raises:
        ImageError: Unreadable, truncated, animated, too large, of an unsupported format, or a
            remote URL without ``allow_remote``; the message names the input.
        TypeError: ``image`` is none of the accepted types.
    """
    from PIL import Image as PILImage

    name = describe_image(image)
    if isinstance(image, PILImage.Image):
        _check_pixels(image, name, max_pixels)
        _check_still(image, name)
        return image
    data = _read_bytes(image, name, allow_remote=allow_remote, timeout=timeout)
    try:
        opened = PILImage.open(io.BytesIO(data))
    except PILImage.DecompressionBombError as exc:
        raise ImageError(f"image {name} has too many pixels to decode safely, over the limit "
                         f"of {max_pixels:,} (max_image_pixels): {exc}") from exc
    except Exception as exc:  # Pillow raises UnidentifiedImageError, OSError, SyntaxError...
        raise ImageError(f"image {name} is not an image Pillow can read "
                         f"({type(exc).__name__}: {exc}); formats read: "
                         f"{', '.join(IMAGE_FORMATS)}") from exc
    if opened.format not in IMAGE_FORMATS:
        raise ImageError(f"image {name} is {opened.format or 'of an unknown format'}, which is "
                         f"not supported; use one of {', '.join(IMAGE_FORMATS)}")
    _check_pixels(opened, name, max_pixels)
    _check_still(opened, name)
    try:
        opened.load()
    except Exception as exc:
        raise ImageError(f"image {name} is damaged or truncated ({type(exc).__name__}: "
                         f"{exc})") from exc
    return opened


def _read_bytes(image: object, name: str, *, allow_remote: bool, timeout: float) -> bytes:
    if isinstance(image, (bytes, bytearray)):
        return bytes(image)
    if isinstance(image, os.PathLike):
        image = os.fspath(image)
    if not isinstance(image, str):
        raise TypeError(f"an image must be a path, PIL.Image.Image, bytes or a data: URL, got "
                        f"{type(image).__name__}")
    if image.startswith("data:"):
        return _decode_data_url(image, name)
    if image.lower().startswith(_REMOTE_PREFIXES):
        if not allow_remote:
            raise ImageError(f"image {name} is a remote URL; nothing is fetched from the network "
                             "unless you pass allow_remote_images=True (or download it first)")
        return _fetch(image, name, timeout)
    if image.lower().startswith("file://"):
        image = image[len("file://"):]
    path = os.path.expanduser(image)
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError as exc:
        raise ImageError(f"image {name} does not exist") from exc
    except IsADirectoryError as exc:
        raise ImageError(f"image {name} is a directory, not an image file") from exc
    except OSError as exc:
        raise ImageError(f"image {name} cannot be read ({exc.strerror or exc})") from exc


def _decode_data_url(url: str, name: str) -> bytes:
    match = _DATA_URL.match(url)
    if match is None:
        raise ImageError(f"image {name} is not a valid data: URL (expected "
                         "data:image/<type>;base64,<data>)")
    mime = (match.group("mime") or "").lower()
    if mime and not mime.startswith("image/"):
        raise ImageError(f"image {name} is a data: URL of {mime}, not an image")
    if not match.group("b64"):
        raise ImageError(f"image {name} is a data: URL without ;base64; images must be base64")
    try:
        return base64.b64decode(url[match.end():], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageError(f"image {name} has invalid base64 data ({exc})") from exc


def _fetch(url: str, name: str, timeout: float) -> bytes:
    import httpx

    try:
        answer = httpx.get(url, timeout=timeout, follow_redirects=True)
        answer.raise_for_status()
    except httpx.HTTPError as exc:
        raise ImageError(f"image {name} could not be fetched ({type(exc).__name__}: "
                         f"{exc})") from exc
    return answer.content


def _check_pixels(image: Any, name: str, max_pixels: int) -> None:
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageError(f"image {name} is empty ({width}x{height})")
    if width * height > max_pixels:
        raise ImageError(f"image {name} has {width}x{height} = {width * height:,} pixels, over "
                         f"the limit of {max_pixels:,} (max_image_pixels); shrink it first")


def _check_still(image: Any, name: str) -> None:
    if getattr(image, "is_animated", False) and getattr(image, "n_frames", 1) > 1:
        raise ImageError(f"image {name} is animated ({image.n_frames} frames); the models read "
                         "still images: save the frame you mean as PNG or JPEG")
