"""Use an exported model: load it, evaluate it on the test set, predict real pictures.

Loading reads ``model.onnx`` with onnxruntime and ``model_card.json``; nothing is unpickled.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from automl_fashion.data import CLASSES
from automl_fashion.errors import AutoMLFashionError, DataError


class ModelError(AutoMLFashionError):
    """A model folder is missing, incomplete or corrupted."""


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
        try:
            self.card: dict[str, Any] = json.loads(card_path.read_text())
        except (ValueError, OSError) as exc:
            raise ModelError(f"{card_path}: not a valid model card ({exc})") from None
        try:
            self.session = onnx_session(onnx_path, threads)
        except Exception as exc:  # onnxruntime raises its own exception types
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            raise ModelError(f"{onnx_path}: cannot load the ONNX model ({first})") from None
        self.classes: list[str] = list(self.card.get("classes", CLASSES))

    def predict_proba(self, images: Any) -> np.ndarray:
        """Probabilities (N x 10) for pixel arrays (N x 28 x 28, 0..255) or image files."""
        from automl_fashion.onnx_export import onnx_predict_proba

        return onnx_predict_proba(self.session, as_pixels(images))

    def predict(self, images: Any) -> np.ndarray:
        """Class indices; ``self.classes[i]`` names them."""
        return self.predict_proba(images).argmax(axis=1)


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
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            opened.load()
            img: Image.Image = ImageOps.exif_transpose(opened)
            if img.mode in ("RGBA", "LA", "P"):
                rgba = img.convert("RGBA")
                background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(background, rgba)  # transparent -> white
            gray = img.convert("L")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"{path}: not an image that can be decoded ({exc})") from None
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
