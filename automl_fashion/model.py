"""Use an exported model: load it, evaluate it on the test set, predict real pictures.

Loading reads ``model.onnx`` with onnxruntime and ``model_card.json``; nothing is unpickled.
Everything in the folder is untrusted: the card is checked field by field, the graph's
output against the classes, and a picture is decoded only when its size is bounded.
"""

from __future__ import annotations

import json
import math
import os
import stat
import unicodedata
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from automl_fashion.data import CLASSES
from automl_fashion.errors import AutoMLFashionError, DataError

#: A model card is a few kB; a bigger file is not one (and is not read into memory).
MAX_CARD_BYTES = 16 * 2**20
#: The memory :func:`read_image` may use, and what it costs per pixel of each mode (measured
#: with Pillow 13: the decoded picture, its grayscale copy and float arrays of it, plus the
#: white background and composite for transparent and palette pictures), with some margin.
#: Bigger JPEGs are decoded at 1/2, 1/4 or 1/8 scale; other bigger pictures are refused.
MAX_IMAGE_MEMORY = 512 * 2**20
BYTES_PER_PIXEL = {"1": 11, "L": 11, "RGB": 15}
OTHER_MODES_BYTES_PER_PIXEL = 25
#: Formats read_image opens (no EPS, which Pillow decodes by running Ghostscript).
IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")
#: A picture whose grey levels all lie within this range of each other shows no object.
BLANK_RANGE = 8


class ModelError(AutoMLFashionError):
    """A model folder is missing, incomplete or corrupted."""


class NoObjectFound(DataError):
    """A picture of one flat colour (blank, all white, all black): there is nothing to
    classify, and a model would still name a class with confidence."""


def printable(text: object) -> str:
    """``text`` with control and format characters (ANSI escapes, bidi overrides) written as
    escapes, for printing anything read from a file or a study to a terminal."""
    return "".join(
        c.encode("unicode_escape").decode("ascii") if unicodedata.category(c) in ("Cc", "Cf") else c
        for c in str(text)
    )


class ExportedModel:
    """An exported model folder, run with onnxruntime alone."""

    def __init__(self, directory: str | os.PathLike[str], threads: int | None = None) -> None:
        from automl_fashion.onnx_export import onnx_session

        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise ModelError(f"{self.directory} is not a folder")
        onnx_path, card_path = self.directory / "model.onnx", self.directory / "model_card.json"
        missing = [p.name for p in (onnx_path, card_path) if not p.is_file()]
        if missing:
            raise ModelError(
                f"{self.directory} is not an exported model: {', '.join(missing)} missing "
                "(make one with: automl-fashion export --out DIR)"
            )
        self.card: dict[str, Any] = read_card(card_path)
        try:
            self.session = onnx_session(onnx_path, threads)
        except Exception as exc:  # onnxruntime raises its own exception types
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            raise ModelError(f"{onnx_path}: cannot load the ONNX model ({first})") from None
        self.classes: list[str] = list(self.card.get("classes", CLASSES))
        check_graph(self.session, onnx_path, len(self.classes))

    def predict_proba(self, images: Any) -> np.ndarray:
        """Probabilities (N x 10) for pixel arrays (N x 28 x 28 or N x 1 x 28 x 28, 0..255)
        or image files; arrays go to the graph as the N x 1 x 28 x 28 it declares."""
        from automl_fashion.onnx_export import onnx_predict_proba

        pixels = as_pixels(images)
        proba = onnx_predict_proba(self.session, pixels)
        if proba.ndim != 2 or proba.shape != (len(pixels), len(self.classes)):
            raise ModelError(
                f"{self.directory / 'model.onnx'}: returned probabilities of shape "
                f"{proba.shape} for {len(pixels)} images; expected "
                f"({len(pixels)}, {len(self.classes)})"
            )
        return proba

    def predict(self, images: Any) -> np.ndarray:
        """Class indices; ``self.classes[i]`` names them."""
        return self.predict_proba(images).argmax(axis=1)


def read_card(path: Path) -> dict[str, Any]:
    """``model_card.json``, with the fields this package reads checked (``ModelError``)."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_CARD_BYTES + 1)
        if len(raw) > MAX_CARD_BYTES:
            raise ValueError(f"larger than {MAX_CARD_BYTES // 2**20} MB")
        card = json.loads(raw)
    except RecursionError:
        raise ModelError(f"{path}: not a valid model card (JSON nested too deeply)") from None
    except (ValueError, OSError) as exc:
        raise ModelError(f"{path}: not a valid model card ({exc})") from None
    if not isinstance(card, dict):
        raise ModelError(f"{path}: not a valid model card (expected a JSON object)")

    def bad(field: str, expected: str) -> ModelError:
        got = printable(repr(card.get(field)))
        got = got if len(got) <= 60 else got[:57] + "..."
        return ModelError(f"{path}: field '{field}' must be {expected}; got {got}")

    classes = card.get("classes", list(CLASSES))
    if (
        not isinstance(classes, list)
        or len(classes) != len(CLASSES)
        or not all(isinstance(c, str) and c.strip() and len(c) <= 100 for c in classes)
    ):
        raise bad("classes", f"a list of {len(CLASSES)} non-empty names of up to 100 characters")
    if any(printable(c) != c for c in classes):
        raise bad("classes", "names without control characters")
    for field in ("family", "study"):
        if card.get(field) is not None and not isinstance(card[field], str):
            raise bad(field, "a string")
    for field in ("test_accuracy", "validation_accuracy"):
        value = card.get(field)
        if value is not None and not (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and 0 <= value <= 1
        ):
            raise bad(field, "a number from 0 to 1 (or null)")
    return card


def check_graph(session: Any, path: Path, n_classes: int) -> None:
    """The graph takes ``pixels`` and returns ``probabilities`` of ``n_classes`` columns."""
    from automl_fashion.onnx_export import INPUT, OUTPUT

    inputs = [i.name for i in session.get_inputs()]
    outputs = {o.name: o.shape for o in session.get_outputs()}
    if INPUT not in inputs or OUTPUT not in outputs:
        raise ModelError(
            f"{path}: expected an input '{INPUT}' and an output '{OUTPUT}'; the graph has "
            f"inputs {printable(inputs)} and outputs {printable(list(outputs))}"
        )
    shape = outputs[OUTPUT]
    width = shape[-1] if shape else None
    if shape is not None and (len(shape) != 2 or (isinstance(width, int) and width != n_classes)):
        raise ModelError(
            f"{path}: output '{OUTPUT}' has shape {printable(shape)}; expected "
            f"[N, {n_classes}], one probability per class"
        )


def load_model(directory: str | os.PathLike[str], threads: int | None = None) -> ExportedModel:
    """Load an exported model folder (``automl-fashion export --out DIR``)."""
    return ExportedModel(directory, threads)


def as_pixels(images: Any) -> np.ndarray:
    """Arrays pass through; paths (or a list of them) are read with :func:`read_image`."""
    if isinstance(images, str | os.PathLike):
        images = [images]
    if isinstance(images, list | tuple) and images and isinstance(images[0], str | os.PathLike):
        return np.stack([read_image(p) for p in images])
    array = np.asarray(images, dtype=np.float32)
    if array.ndim == 2:
        array = array[None]
    if array.shape[-2:] != (28, 28):
        raise DataError(f"expected images of 28 x 28 pixels; got shape {array.shape}")
    return array


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """A picture of any size and colour mode, turned into a Fashion-MNIST-style 28 x 28 image.

    Grayscale; if the picture's border is light (a product photo on a white background) it
    is inverted, because Fashion-MNIST shows light objects on black; cropped to the object,
    its longer side scaled to 28 pixels and centred, as Zalando prepared the originals.

    Only regular files are read, and only pictures whose decoding fits in
    ``MAX_IMAGE_MEMORY`` (bigger JPEGs are decoded at a reduced scale): anything else is a
    :class:`DataError`, and a picture of one flat colour is :class:`NoObjectFound`.
    """
    from PIL import Image, ImageOps

    with _open_regular(path) as f, _open_image(f, path) as opened:
        try:
            opened.load()
            img: Image.Image = ImageOps.exif_transpose(opened)
            if img.mode in ("RGBA", "LA", "P"):
                rgba = img.convert("RGBA")
                background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(background, rgba)  # transparent -> white
            gray = img.convert("L")
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise DataError(f"{path}: not an image that can be decoded ({exc})") from None
    low, high = gray.getextrema()
    if high - low <= BLANK_RANGE:  # type: ignore[operator]
        raise NoObjectFound(
            f"{path}: no object found (a picture of one flat colour, grey levels {low}-{high})"
        )
    pixels = np.asarray(gray, dtype=np.float32)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    if border.mean() > 127:
        pixels = 255.0 - pixels
    mask = pixels > 0.1 * max(pixels.max(), 1.0)
    if mask.any():
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        pixels = pixels[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = pixels.shape
    scale = 28.0 / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(
        Image.fromarray(pixels.astype(np.uint8)).resize(size, Image.Resampling.LANCZOS),
        dtype=np.float32,
    )
    out = np.zeros((28, 28), np.float32)
    top, left = (28 - small.shape[0]) // 2, (28 - small.shape[1]) // 2
    out[top : top + small.shape[0], left : left + small.shape[1]] = small
    return out


def _open_regular(path: str | os.PathLike[str]) -> Any:
    """A binary file object for ``path`` if it is a regular file (a FIFO or a device would
    block or never end); the check is on the opened descriptor, so it cannot be swapped."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be opened ({exc.strerror or exc})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise DataError(f"{path}: not a regular file; expected a picture file (PNG, JPEG)")
    return os.fdopen(fd, "rb")


def _pixel_limit(mode: str) -> int:
    return MAX_IMAGE_MEMORY // BYTES_PER_PIXEL.get(mode, OTHER_MODES_BYTES_PER_PIXEL)


def _open_image(f: Any, path: str | os.PathLike[str]) -> Any:
    """``Image.open`` of a picture whose decoding fits in ``MAX_IMAGE_MEMORY`` (not loaded);
    a JPEG too big for it is set to decode at the largest reduced scale that fits."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # our own limit is lower than Pillow's warning threshold
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(f, formats=IMAGE_FORMATS)
    except Image.DecompressionBombError as exc:
        raise DataError(
            f"{path}: too large to read ({exc}); expected at most "
            f"{_pixel_limit('L') / 1e6:.0f} megapixels"
        ) from None
    except UnidentifiedImageError:
        raise DataError(
            f"{path}: not an image that can be decoded; expected {', '.join(IMAGE_FORMATS)}"
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise DataError(f"{path}: not an image that can be decoded ({exc})") from None
    w, h = img.size
    if w * h > _pixel_limit(img.mode):
        # a JPEG decodes directly at 1/2, 1/4 or 1/8 scale (and colour ones as grayscale);
        # draft() does nothing for other formats
        drafted = "L" if img.mode == "RGB" else img.mode
        for scale in (2, 4, 8):
            if math.ceil(w / scale) * math.ceil(h / scale) <= _pixel_limit(drafted):
                img.draft("L", (w // scale, h // scale))
                break
    if img.width * img.height > _pixel_limit(img.mode):
        limit = _pixel_limit(img.mode) / 1e6
        img.close()
        raise DataError(
            f"{path}: {w} x {h} pixels is too large to read; expected at most "
            f"{limit:.0f} megapixels for a picture in mode {img.mode} (a JPEG may be larger: "
            "it is read at a reduced scale)"
        )
    return img
