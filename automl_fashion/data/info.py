"""What a data set is, as every other part of the tool sees it: :class:`DatasetInfo`.

The description travels from the data layer to the exported model. A :class:`Split` carries
it, the study stores it (``dataset`` user attr), every family reads its shape, classes and
pixel statistics from it, and export writes it into the model card, so that ``predict``
reads pictures the way the data set was read.

Image arrays follow one convention everywhere (``array_shape``): uint8, ``N x H x W`` for
one channel (as Fashion-MNIST always was) and ``N x H x W x C`` for colour (as pictures
are). Networks and the exported ONNX graph take ``N x C x H x W``.

Anything read back from a study or a model card is untrusted: :meth:`DatasetInfo.from_dict`
checks every field and raises :class:`DataError` naming the first bad one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from automl_fashion.errors import DataError

#: How ``predict`` turns a picture file into an input of the data set's shape.
#: ``fashion-mnist``: Zalando's conversion (trim, negate dark-on-light, longest edge to 28,
#: centre); ``resize``: the folder loader's (colour mode, then a plain resize to H x W).
READINGS = ("fashion-mnist", "resize")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/ -]{0,199}")
MAX_CLASSES = 1000
MAX_SIDE = 512
#: A folder data set's source is its absolute path (PATH_MAX on Linux is 4096).
MAX_SOURCE = 4096


def unprintable(text: str) -> bool:
    """Whether ``text`` holds control characters, or surrogates (bytes of a file name that
    are not UTF-8): such text is refused wherever it would reach a terminal, JSON or ONNX
    metadata."""
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in text)


@dataclass(frozen=True)
class DatasetInfo:
    """A data set's description: what it is, its classes, shape and pixel statistics."""

    name: str  # "fashion-mnist", "mnist", "kmnist", or "folder:<folder name>"
    classes: tuple[str, ...]
    shape: tuple[int, int, int]  # channels, height, width of one input
    mean: tuple[float, ...]  # per channel, of training pixels on the 0..1 scale
    std: tuple[float, ...]
    source: str  # where it came from: the official URL, or the folder
    #: file name -> SHA-256 (IDX sets), or the fingerprint of a folder's file list
    digests: dict[str, str] = field(default_factory=dict, compare=False)
    flips: bool = True  # whether a horizontal flip keeps the label (not for digits)
    reading: str = "fashion-mnist"  # see READINGS
    #: where the test images are: "official", "folder" (DIR/test) or "held out 20%, seed S"
    test: str = "official"

    def __post_init__(self) -> None:
        channels = self.shape[0]
        if len(self.mean) != channels or len(self.std) != channels:
            raise DataError(f"dataset {self.name}: mean and std need {channels} value(s) each")

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def channels(self) -> int:
        return self.shape[0]

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return self.shape[1], self.shape[2]

    @property
    def array_shape(self) -> tuple[int, ...]:
        """The shape of one image in the arrays: (H, W) for grayscale, (H, W, C) for colour."""
        c, h, w = self.shape
        return (h, w) if c == 1 else (h, w, c)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The shape of one input of a network or the ONNX graph: (C, H, W)."""
        return self.shape

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready; :meth:`from_dict` reads it back."""
        return {
            "name": self.name,
            "classes": list(self.classes),
            "shape": list(self.shape),
            "mean": list(self.mean),
            "std": list(self.std),
            "source": self.source,
            "digests": dict(self.digests),
            "flips": self.flips,
            "reading": self.reading,
            "test": self.test,
        }

    @classmethod
    def from_dict(cls, raw: Any, *, where: str = "dataset") -> DatasetInfo:
        """Checked: a dict written by :meth:`as_dict` (and possibly tampered with)."""

        def bad(key: str, expected: str) -> DataError:
            shown = repr(raw.get(key))[:60] if isinstance(raw, dict) else ""
            return DataError(f"{where}: '{key}' is {shown or 'missing'}; expected {expected}")

        if not isinstance(raw, dict):
            raise DataError(f"{where}: expected a JSON object describing the data set")
        name = raw.get("name")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise bad("name", "a name of 1-200 letters, digits and _.:/ -")
        classes = raw.get("classes")
        if (
            not isinstance(classes, list)
            or not 2 <= len(classes) <= MAX_CLASSES
            or not all(
                isinstance(c, str) and 0 < len(c) <= 100 and not unprintable(c) for c in classes
            )
            or len(set(classes)) != len(classes)
        ):
            raise bad("classes", f"2 to {MAX_CLASSES} distinct names of 1-100 printable characters")
        shape = raw.get("shape")
        if (
            not isinstance(shape, list)
            or len(shape) != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in shape)
            or shape[0] not in (1, 3)
            or not all(4 <= v <= MAX_SIDE for v in shape[1:])
        ):
            raise bad("shape", f"[channels (1 or 3), height, width (4 to {MAX_SIDE})]")
        stats = {}
        for key in ("mean", "std"):
            values = raw.get(key)
            if (
                not isinstance(values, list)
                or len(values) != shape[0]
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
                # compared, never converted first: NaN and inf fail the range, and so does a
                # 400-digit integer (math.isfinite would raise OverflowError on it)
                or not all(0 < v <= 1 if key == "std" else 0 <= v <= 1 for v in values)
            ):
                raise bad(key, f"{shape[0]} number(s) in (0, 1]")
            stats[key] = tuple(float(v) for v in values)
        source = raw.get("source")
        if not isinstance(source, str) or len(source) > MAX_SOURCE:
            raise bad("source", f"a string of up to {MAX_SOURCE} characters")
        digests = raw.get("digests", {})
        if not isinstance(digests, dict) or not all(
            isinstance(k, str)
            and len(k) <= 200
            and isinstance(v, str)
            and re.fullmatch(r"[0-9a-f]{16,64}", v)
            for k, v in digests.items()
        ):
            raise bad("digests", "file names mapped to hexadecimal digests")
        flips = raw.get("flips", True)
        if not isinstance(flips, bool):
            raise bad("flips", "true or false")
        reading = raw.get("reading", "fashion-mnist")
        if reading not in READINGS:
            raise bad("reading", f"one of {list(READINGS)}")
        test = raw.get("test", "official")
        if not isinstance(test, str) or len(test) > 100:
            raise bad("test", "a string of up to 100 characters")
        return cls(
            name=name,
            classes=tuple(classes),
            shape=(shape[0], shape[1], shape[2]),
            mean=stats["mean"],
            std=stats["std"],
            source=source,
            digests=dict(digests),
            flips=flips,
            reading=reading,
            test=test,
        )

    def same_data(self, other: DatasetInfo) -> bool:
        """Whether two descriptions are of the same data (name, classes, shape, files)."""
        return (
            self.name == other.name
            and self.classes == other.classes
            and self.shape == other.shape
            and (not self.digests or not other.digests or self.digests == other.digests)
        )


FASHION_MNIST = DatasetInfo(
    name="fashion-mnist",
    classes=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    shape=(1, 28, 28),
    mean=(0.2860,),
    std=(0.3530,),
    source="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    digests={
        "train-images-idx3-ubyte": (
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
        ),
        "train-labels-idx1-ubyte": (
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
        ),
        "t10k-images-idx3-ubyte": (
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
        ),
        "t10k-labels-idx1-ubyte": (
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
        ),
    },
    flips=True,
    reading="fashion-mnist",
    test="official",
)
