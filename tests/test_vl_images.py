"""Images for Qwen3-VL: each accepted form opens the same picture, each bad one is named.

Nothing reaches a model or the network first.
"""

from __future__ import annotations

import base64
import io
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from qwen3_core.vision import ImageError
from qwen3_core.vision.images import open_image
from qwen3_core.vision.inputs import to_content, to_contents


def _picture(width=40, height=30, seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((height, width, 3)) * 255).astype("uint8"))


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_every_accepted_form_gives_the_same_pixels(tmp_path):
    picture = _picture()
    data = _png_bytes(picture)
    path = tmp_path / "p.png"
    path.write_bytes(data)
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    forms = [picture, data, path, str(path), "file://" + str(path), url]
    for form in forms:
        opened = open_image(form).convert("RGB")
        np.testing.assert_array_equal(np.asarray(opened), np.asarray(picture))


def test_a_remote_url_is_refused_without_the_opt_in(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the network was reached")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    with pytest.raises(ImageError, match="remote URL.*allow_remote_images=True"):
        open_image("https://example.com/cat.png")


@pytest.mark.parametrize("make, match", [
    (lambda d: d / "missing.png", "does not exist"),
    (lambda d: d, "is a directory"),
    (lambda d: _write(d / "notes.png", b"plain text, not a picture"), "not an image Pillow"),
    (lambda d: _write(d / "cut.png", _png_bytes(_picture(200, 200))[:300]), "damaged or trunc"),
])
def test_unreadable_files_are_named(tmp_path, make, match):
    target = make(tmp_path)
    with pytest.raises(ImageError, match=match) as raised:
        open_image(target)
    assert str(target) in str(raised.value)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_an_unsupported_format_is_named_with_the_supported_ones():
    buffer = io.BytesIO()
    _picture().save(buffer, format="ICO")
    with pytest.raises(ImageError, match="ICO.*not supported.*PNG, JPEG, WEBP"):
        open_image(buffer.getvalue())


def test_an_animated_image_is_refused():
    buffer = io.BytesIO()
    frames = [_picture(seed=i) for i in range(3)]
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(ImageError, match="animated \\(3 frames\\)"):
        open_image(buffer.getvalue())


def test_a_huge_image_is_refused_before_it_is_decoded():
    # One colour: small files of 81 and 400 million pixels (the second is past Pillow's own
    # decompression-bomb limit, which then speaks first).
    for side, match in [(9_000, "9000x9000 = 81,000,000 pixels, over the limit of 64,000,000"),
                        (20_000, "too many pixels.*over the limit of 64,000,000")]:
        buffer = io.BytesIO()
        Image.new("1", (side, side)).save(buffer, format="PNG")
        with pytest.raises(ImageError, match=match):
            open_image(buffer.getvalue())
    with pytest.raises(ImageError, match="over the limit of 100"):
        open_image(_picture(), max_pixels=100)


@pytest.mark.parametrize("url, match", [
    ("data:image/png,abc", "without ;base64"),
    ("data:text/plain;base64,aGVsbG8=", "text/plain, not an image"),
    ("data:image/png;base64,@@@", "invalid base64"),
])
def test_bad_data_urls(url, match):
    with pytest.raises(ImageError, match=match):
        open_image(url)


def test_a_plain_string_is_text_and_an_image_key_is_an_image(tmp_path):
    assert to_content("photo.png", "q").text == "photo.png"
    both = to_content({"text": "a caption", "image": "photo.png"}, "q")
    assert both.text == "a caption" and both.images == ("photo.png",)
    assert to_content(tmp_path, "q").images == (tmp_path,)
    assert to_content({"image": ["a.png", "b.png"]}, "q").images == ("a.png", "b.png")
    with pytest.raises(ValueError, match="documents\\[1\\] has unknown key\\(s\\) 'img'"):
        to_contents(["x", {"img": "a.png"}], "documents")
    with pytest.raises(TypeError, match="documents must be a list"):
        to_contents("one string", "documents")
    with pytest.raises(TypeError, match="documents\\[0\\] must be a str"):
        to_contents([3.5], "documents")
