"""Use an exported model: load it, evaluate it on the test set, predict real pictures.

Loading reads ``model.onnx`` with onnxruntime and ``model_card.json``; nothing is unpickled.
Everything in the folder is untrusted: the card is checked field by field (its ``dataset``
too: the data set's input shape, classes and how its pictures were read), the graph's input
and output against them, and a picture is decoded only when its size is bounded. Cards
from before data sets were recorded describe Fashion-MNIST models.
"""

from __future__ import annotations

import json
import math
import os
import stat
import unicodedata
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any

import numpy as np

from automl_fashion.data.info import FASHION_MNIST, DatasetInfo
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
#: Pictures classified per graph call by ``predict_files``.
PREDICT_BATCH = 256
#: A picture whose grey levels all lie within this range of each other shows no object.
BLANK_RANGE = 8
#: Zalando trimmed edges within 5% of the maximum intensity of the corner colour.
TRIM_DISTANCE = 13
#: Zalando sharpened with a Gaussian of radius and standard deviation 1.0 after resizing:
#: an unsharp mask (radius, percent, threshold), its strength measured on re-rendered
#: test images (benchmarks/renderings.py); percent 0 turns it off.
SHARPEN = (1, 50, 2)


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
        #: The data set the model was trained on: its input shape and how to read pictures.
        self.info: DatasetInfo = card_dataset(self.card, card_path)
        try:
            self.session = onnx_session(onnx_path, threads)
        except Exception as exc:  # onnxruntime raises its own exception types
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            raise ModelError(f"{onnx_path}: cannot load the ONNX model ({first})") from None
        self.classes: list[str] = list(self.card.get("classes", self.info.classes))
        check_graph(self.session, onnx_path, len(self.classes), self.info.input_shape)

    def predict_proba(self, images: Any) -> np.ndarray:
        """Probabilities (N x number of classes) for pixel arrays of the model's data set
        (0..255; N x H x W or N x 1 x H x W for one channel, N x H x W x C or N x C x H x W
        for colour; 28 x 28 for Fashion-MNIST) or picture files, read the way the data set
        was read (:func:`read_input`)."""
        from automl_fashion.onnx_export import onnx_predict_proba

        pixels = as_pixels(images, self.info)
        proba = onnx_predict_proba(self.session, pixels, shape=self.info.input_shape)
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

    def predict_files(
        self, paths: Iterable[str | os.PathLike[str]], batch: int = PREDICT_BATCH
    ) -> Iterator[FilePrediction]:
        """Each picture's probabilities, in order, or why it has none: pictures are read
        one at a time (each within ``MAX_IMAGE_MEMORY``) and classified ``batch`` at a time,
        so that a bad picture costs one line and many pictures one graph call per batch."""
        pending: list[FilePrediction] = []

        def flush() -> Iterator[FilePrediction]:
            readable = [(p, p.pixels) for p in pending if p.pixels is not None]
            if readable:
                proba = self.predict_proba(np.stack([pixels for _, pixels in readable]))
                for (p, _), row in zip(readable, proba, strict=True):
                    p.proba, p.pixels = row, None
            yield from pending
            pending.clear()

        for path in paths:
            try:
                pending.append(FilePrediction(path, pixels=read_input(path, self.info)))
            except DataError as exc:  # NoObjectFound included
                pending.append(FilePrediction(path, error=exc))
            if len(pending) >= batch:
                yield from flush()
        yield from flush()


@dataclass
class FilePrediction:
    """A picture file's class probabilities, or the error that kept it from having any
    (``NoObjectFound`` for a blank picture)."""

    path: str | os.PathLike[str]
    proba: np.ndarray | None = None
    error: DataError | None = None
    pixels: np.ndarray | None = dataclass_field(default=None, repr=False)


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

    info = card_dataset(card, path)
    classes = card.get("classes", list(info.classes))
    n = info.n_classes
    if (
        not isinstance(classes, list)
        or len(classes) != n
        or not all(isinstance(c, str) and c.strip() and len(c) <= 100 for c in classes)
    ):
        raise bad("classes", f"a list of {n} non-empty names of up to 100 characters")
    if any(printable(c) != c for c in classes):
        raise bad("classes", "names without control characters")
    if "dataset" in card and tuple(classes) != info.classes:
        raise bad("classes", "the classes of its 'dataset', in the same order")
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


def card_dataset(card: dict[str, Any], path: Path) -> DatasetInfo:
    """The data set a card's model was trained on (its ``dataset``, checked: ModelError);
    Fashion-MNIST for cards written before cards recorded one."""
    raw = card.get("dataset")
    if raw is None:
        return FASHION_MNIST
    try:
        info = DatasetInfo.from_dict(raw, where=f"{path}: field 'dataset'")
    except DataError as exc:
        raise ModelError(printable(str(exc))) from None
    if any(printable(c) != c for c in info.classes):
        raise ModelError(f"{path}: field 'dataset' has class names with control characters")
    if info.reading == "fashion-mnist" and info.input_shape != FASHION_MNIST.input_shape:
        raise ModelError(
            f"{path}: field 'dataset' has shape {list(info.shape)} but reads pictures the "
            "Fashion-MNIST way, which makes 1 x 28 x 28 inputs; expected 'reading': 'resize'"
        )
    return info


def check_graph(
    session: Any, path: Path, n_classes: int, shape: tuple[int, int, int] | None = None
) -> None:
    """The graph takes ``pixels`` (of ``shape``, C x H x W, where it declares one) and
    returns ``probabilities`` of ``n_classes`` columns."""
    from automl_fashion.onnx_export import INPUT, OUTPUT

    inputs = {i.name: i.shape for i in session.get_inputs()}
    outputs = {o.name: o.shape for o in session.get_outputs()}
    if INPUT not in inputs or OUTPUT not in outputs:
        raise ModelError(
            f"{path}: expected an input '{INPUT}' and an output '{OUTPUT}'; the graph has "
            f"inputs {printable(list(inputs))} and outputs {printable(list(outputs))}"
        )
    declared = inputs[INPUT]
    if shape is not None and isinstance(declared, list) and declared:
        fixed = [d if isinstance(d, int) else None for d in declared[1:]]
        if len(fixed) != 3 or any(
            d is not None and d != s for d, s in zip(fixed, shape, strict=True)
        ):
            raise ModelError(
                f"{path}: input '{INPUT}' has shape {printable(declared)}; expected "
                f"[N, {', '.join(map(str, shape))}], the shape of its card's data set"
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


def as_pixels(images: Any, info: DatasetInfo = FASHION_MNIST) -> np.ndarray:
    """Images of ``info``'s data set as float32: arrays of its shape (one image or N, in
    its arrays' layout, N x ``info.array_shape``, or the graph's, N x C x H x W) pass
    through; paths (or a list of them) are read with :func:`read_input`. Any other shape
    is a DataError that says which shapes the data set's images have."""
    if isinstance(images, str | os.PathLike):
        images = [images]
    if isinstance(images, list | tuple) and images and isinstance(images[0], str | os.PathLike):
        return np.stack([read_input(p, info) for p in images])
    array = np.asarray(images, dtype=np.float32)
    one, chw = info.array_shape, info.input_shape
    if array.shape in (one, chw):
        array = array[None]
    if array.shape[1:] not in (one, chw):
        c, h, w = chw
        layouts = " or ".join(f"N x {' x '.join(map(str, s))}" for s in dict.fromkeys((one, chw)))
        colour = "" if c == 1 else f" in {c} channels"
        raise DataError(
            f"expected images of {h} x {w} pixels{colour}, the shape of the model's data set "
            f"{info.name} ({layouts}); got shape {array.shape}"
        )
    return array


def read_input(path: str | os.PathLike[str], info: DatasetInfo = FASHION_MNIST) -> np.ndarray:
    """A picture file as one input of ``info``'s data set (float32 0..255, its
    ``array_shape``), read the way the data set's own pictures were read: Zalando's
    conversion (:func:`read_image`) for Fashion-MNIST-style sets, the folder loader's
    colour conversion and resize for folders of pictures (``reading`` "resize")."""
    if info.reading == "fashion-mnist":
        return read_image(path)
    from automl_fashion.data.folder import read_picture

    with _open_regular(path) as f, _open_image(f, path):
        pass  # a regular file, in a format read_image allows, that decodes in bounded memory
    color = "rgb" if info.channels == 3 else "gray"
    pixels = np.asarray(read_picture(path, size=info.size, color=color), dtype=np.float32)
    if pixels.shape != info.array_shape:
        raise DataError(f"{path}: read as shape {pixels.shape}; expected {info.array_shape}")
    return pixels


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """A picture of any size and colour mode, turned into a Fashion-MNIST image (28 x 28,
    0..255, a light object on black) by Zalando's own conversion (see :func:`convert`).

    Transparent parts count as white (a cut-out product on a page). Only regular files are
    read, and only pictures whose decoding fits in ``MAX_IMAGE_MEMORY`` (bigger JPEGs are
    decoded at a reduced scale): anything else is a :class:`DataError`, and a picture of
    one flat colour is :class:`NoObjectFound`.
    """
    from PIL import Image, ImageOps

    with _open_regular(path) as f, _open_image(f, path) as opened:
        try:
            opened.load()
            img: Image.Image = ImageOps.exif_transpose(opened)
            if img.mode in ("RGBA", "LA", "PA", "P") or "transparency" in img.info:
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
    pixels = convert(np.asarray(gray))
    if not pixels.any():
        raise NoObjectFound(f"{path}: no object found (too small to see at 28 x 28 pixels)")
    return pixels


def convert(gray: np.ndarray) -> np.ndarray:
    """Zalando's conversion of a product picture into a Fashion-MNIST image (the steps in
    the Fashion-MNIST README), for an 8-bit grayscale picture; float32 28 x 28 of integers.

    1. trim the edges within ``TRIM_DISTANCE`` of the background colour (the median of the
       border, more robust than one corner);
    2. negate when the object is dark on a light background, so the object is light on
       black (Zalando negated last; the order does not matter); the background level is
       mapped to 0;
    3. resize the longest edge to 28 (antialiased, where Zalando skipped rows and columns),
       rounded to 8-bit grey levels;
    4. extend the shorter edge to 28, the object centred by whole pixels (see below);
    5. sharpen (``SHARPEN``, an unsharp mask of radius 1).

    A 28 x 28 picture is already at Fashion-MNIST's size, so it was converted already:
    steps 1 to 4 are skipped and a genuine Fashion-MNIST image (light on black) passes
    through unchanged, bit for bit; a dark-on-light one is only negated.
    """
    from PIL import Image, ImageFilter

    gray = np.asarray(gray, dtype=np.uint8)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = int(np.median(border))
    dark_on_light = background > 127
    if gray.shape == (28, 28):
        out = 255 - gray if dark_on_light else gray
        return out.astype(np.float32)
    # comparisons on the 8-bit picture: no full-size float copy of a large picture
    low, high = max(0, background - TRIM_DISTANCE), min(255, background + TRIM_DISTANCE)
    near = (gray >= low) & (gray <= high)
    rows, cols = np.flatnonzero(~near.all(1)), np.flatnonzero(~near.all(0))
    del near
    if not rows.size:
        rows, cols = np.arange(gray.shape[0]), np.arange(gray.shape[1])
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    h, w = r1 - r0, c1 - c0
    step = max(h, w) / 28  # picture pixels per Fashion-MNIST pixel
    pad = math.ceil(2 * step) + 2  # room for the spare cells around the object
    padded = np.zeros((h + 2 * pad, w + 2 * pad), np.float32)
    pixels = padded[pad : pad + h, pad : pad + w]  # a view: the operations below are in place
    pixels[...] = gray[r0:r1, c0:c1]
    if dark_on_light:
        np.subtract(255.0, pixels, out=pixels)
        background = 255 - background
    if background:  # the background to black, the full 0..255 range kept
        pixels -= background
        pixels *= 255.0 / (255 - background)
        np.clip(pixels, 0.0, 255.0, out=pixels)
    # Resample onto one lattice of cells, anchored at the start of the longest edge, with a
    # cell to spare around the object; then centre the result by whole cells (no half-cell
    # shift to blur it) as Zalando centred it, the odd cell after the object.
    anchor = r0 if h >= w else c0

    def lattice(start: int, end: int) -> tuple[float, int]:
        first = math.floor((start - anchor) / step + 1e-6) - 1
        last = math.ceil((end - anchor) / step - 1e-6) + 1
        return anchor + first * step, last - first

    (y0, n_rows), (x0, n_cols) = lattice(r0, r1), lattice(c0, c1)
    left, top = x0 - c0 + pad, y0 - r0 + pad
    box = (left, top, left + n_cols * step, top + n_rows * step)
    part = Image.fromarray(padded).resize((n_cols, n_rows), Image.Resampling.LANCZOS, box=box)
    cells = np.clip(np.rint(np.asarray(part)), 0, 255).astype(np.uint8)
    seen = cells > TRIM_DISTANCE  # the object's extent, as trimmed
    if not seen.any():
        seen = cells > 0
    out = np.zeros((28, 28), np.uint8)
    if not seen.any():  # the object vanished at 28 x 28: nothing to see
        return out.astype(np.float32)
    rows, cols = np.flatnonzero(seen.any(1)), np.flatnonzero(seen.any(0))
    # where cell (0, 0) goes: the object's extent centred, the odd cell after it
    shift_r = (29 - (rows[-1] + 1 - rows[0])) // 2 - rows[0]
    shift_c = (29 - (cols[-1] + 1 - cols[0])) // 2 - cols[0]
    src_r, src_c = max(0, -shift_r), max(0, -shift_c)
    dst_r, dst_c = max(0, shift_r), max(0, shift_c)
    n_r = min(cells.shape[0] - src_r, 28 - dst_r)
    n_c = min(cells.shape[1] - src_c, 28 - dst_c)
    out[dst_r : dst_r + n_r, dst_c : dst_c + n_c] = cells[src_r : src_r + n_r, src_c : src_c + n_c]
    out8 = Image.fromarray(out)
    radius, percent, threshold = SHARPEN
    if percent:
        out8 = out8.filter(ImageFilter.UnsharpMask(int(radius), int(percent), int(threshold)))
    return np.asarray(out8, dtype=np.float32)


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
