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
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any

import numpy as np

from automl_fashion.data.info import FASHION_MNIST, DatasetInfo
from automl_fashion.data.zalando import NoObjectFound, read_image
from automl_fashion.errors import AutoMLFashionError, DataError

#: A model card is a few kB; a bigger file is not one (and is not read into memory).
MAX_CARD_BYTES = 16 * 2**20
#: Pictures classified per graph call by ``predict_files``.
PREDICT_BATCH = 256


class ModelError(AutoMLFashionError):
    """A model folder is missing, incomplete or corrupted."""


def printable(text: object) -> str:
    """``text`` with control and format characters (ANSI escapes, bidi overrides) written as
    escapes, for printing anything read from a file or a study to a terminal."""
    return "".join(
        c.encode("unicode_escape").decode("ascii") if unicodedata.category(c) in ("Cc", "Cf") else c
        for c in str(text)
    )


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (from a library, about a file: untrusted),
    escaped and cut to 200 characters, for a one-line error."""
    text = str(exc).strip()
    return printable(text.splitlines()[0][:200] if text else type(exc).__name__)


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
            raise ModelError(
                f"{onnx_path}: cannot load the ONNX model ({first_line(exc)})"
            ) from None
        self.classes: list[str] = list(self.card.get("classes", self.info.classes))
        check_graph(self.session, onnx_path, len(self.classes), self.info.input_shape)

    def predict_proba(self, images: Any) -> np.ndarray:
        """Probabilities (N x number of classes) for pixel arrays of the model's data set
        (0..255; N x H x W or N x 1 x H x W for one channel, N x H x W x C or N x C x H x W
        for colour; 28 x 28 for Fashion-MNIST) or picture files, read the way the data set
        was read (:func:`read_input`)."""
        from automl_fashion.onnx_export import onnx_predict_proba

        pixels = as_pixels(images, self.info)
        try:
            proba = onnx_predict_proba(self.session, pixels, shape=self.info.input_shape)
        except ValueError:
            raise  # the images' shape, in one line
        except Exception as exc:  # a graph that loads can still fail to run
            raise ModelError(
                f"{self.directory / 'model.onnx'}: the ONNX model failed to run ({first_line(exc)})"
            ) from None
        if proba.dtype.kind != "f":
            raise ModelError(
                f"{self.directory / 'model.onnx'}: returned {proba.dtype} values; expected "
                "probabilities (floats)"
            )
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
    types = {i.name: i.type for i in [*session.get_inputs(), *session.get_outputs()]}
    for name in (INPUT, OUTPUT):
        if types[name] != "tensor(float)":
            raise ModelError(
                f"{path}: '{name}' is {printable(types[name])}; expected tensor(float)"
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
    from automl_fashion.data.pictures import read_picture  # checks the file as read_image does

    color = "rgb" if info.channels == 3 else "gray"
    pixels = np.asarray(read_picture(path, size=info.size, color=color), dtype=np.float32)
    if pixels.shape != info.array_shape:
        raise DataError(f"{path}: read as shape {pixels.shape}; expected {info.array_shape}")
    return pixels


__all__ = [
    "ExportedModel",
    "FilePrediction",
    "ModelError",
    "NoObjectFound",
    "load_model",
    "printable",
    "read_image",
    "read_input",
]
