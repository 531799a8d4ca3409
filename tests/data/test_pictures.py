"""Picture files are untrusted: read_picture (folders, and predict for their models) opens
only regular files, only in the allowed formats, and only of bounded size."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from automl_fashion.data import pictures
from automl_fashion.data.pictures import read_picture
from automl_fashion.errors import DataError


def test_a_fifo_is_refused_at_once_instead_of_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "shirt.png"
    os.mkfifo(fifo)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            read_picture(fifo, (8, 8), "gray")
        except BaseException as exc:
            errors.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=20)
    if reader.is_alive():  # unblock the reader before failing
        with open(fifo, "wb"):
            pass
        pytest.fail("read_picture blocked on a FIFO")
    assert len(errors) == 1 and isinstance(errors[0], DataError)
    assert "not a regular file" in str(errors[0])


def test_only_the_allowed_formats_are_decoded(tmp_path: Path) -> None:
    eps = tmp_path / "shirt.png"  # PostScript inside: Pillow would run Ghostscript on it
    eps.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n")
    with pytest.raises(DataError, match="expected PNG, JPEG, GIF, BMP, TIFF, WEBP"):
        read_picture(eps, (8, 8), "gray")


def test_a_picture_too_large_to_decode_is_refused_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.png"
    Image.fromarray(np.zeros((200, 200), np.uint8)).save(path)
    assert read_picture(path, (8, 8), "gray").shape == (8, 8)
    monkeypatch.setattr(pictures, "MAX_IMAGE_MEMORY", 11 * 100 * 100)  # 10,000 gray pixels
    with pytest.raises(DataError, match="too large to read"):
        read_picture(path, (8, 8), "gray")
