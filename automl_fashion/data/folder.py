"""A folder of labelled pictures as a data set (``--data DIR``).

Layout: ``DIR/train/<class>/*.png|jpg|jpeg|bmp|gif|webp`` and optionally
``DIR/test/<class>/*``; the class names are the folder names (sorted). Without ``test/``,
a seeded, stratified 20% of ``train/`` is held out as the test part. Every picture is
read by :func:`read_picture` to one shape (``size`` x ``size``, gray or RGB), in parallel,
and the arrays are cached under ``cache_dir()/folders``, keyed by every file's relative
path, size and modification time and by the reading (size, colour).
"""

from __future__ import annotations

import hashlib
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from automl_fashion.data.files import cache_dir, write_atomic
from automl_fashion.data.info import MAX_CLASSES, MAX_SIDE, DatasetInfo, unprintable
from automl_fashion.data.pictures import EXTENSIONS, read_picture, read_pictures
from automl_fashion.data.spec import COLORS
from automl_fashion.errors import ConfigError, DataError

__all__ = ["FolderDataset", "open_folder", "read_picture", "scan_folder"]

MIN_PER_CLASS = 5
HELD_OUT = 0.2
CACHE_VERSION = 1
PROGRESS_FROM = 2_000  # pictures: fewer are read without a progress bar
_LISTED = ", ".join(EXTENSIONS)


@dataclass(frozen=True)
class Picture:
    path: str  # relative to the folder, with "/"
    label: int
    size: int  # bytes
    mtime_ns: int


@dataclass(frozen=True)
class FolderScan:
    """What a folder holds, checked: classes, and the pictures of train/ and test/."""

    root: Path
    classes: tuple[str, ...]
    train: tuple[Picture, ...]
    test: tuple[Picture, ...] | None  # None: no test/ folder
    ignored: int  # files that are not pictures (by their extension), or hidden

    def fingerprint(self) -> str:
        """SHA-256 of every picture's relative path and size: the same folder, copied
        elsewhere, has the same fingerprint."""
        digest = hashlib.sha256()
        for picture in self.pictures:
            digest.update(f"{picture.path}\0{picture.size}\n".encode())
        return digest.hexdigest()

    def cache_key(self, size: int, color: str) -> str:
        digest = hashlib.sha256(f"v{CACHE_VERSION} {size} {color}\n".encode())
        for picture in self.pictures:
            digest.update(f"{picture.path}\0{picture.size}\0{picture.mtime_ns}\n".encode())
        return digest.hexdigest()

    @property
    def pictures(self) -> tuple[Picture, ...]:
        return self.train + (self.test or ())


def _problem(root: Path, what: str) -> DataError:
    return DataError(f"--data {root}: {what}")


def _check_name(root: Path, shown: str, name: str) -> None:
    """Class and picture names go into the study, the model card and the ONNX metadata,
    which hold UTF-8 text: a name that is not UTF-8 (bytes from another system's encoding,
    which Python carries as surrogates) or holds control characters is refused."""
    if unprintable(name):
        raise _problem(root, f"{shown} is not a UTF-8 name without control characters; rename it")


def _listing(
    root: Path, part: str, classes: dict[str, int] | None
) -> tuple[list[Picture], int, dict[str, int]]:
    """The pictures of ``root/part/<class>/``, how many files were ignored, and the classes
    (names to labels): ``classes``, or for train/ (None) its folders, sorted."""
    folder = root / part
    found: dict[str, list[os.DirEntry[str]]] = {}
    ignored = 0
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise _problem(root, f"cannot list {part}/ ({exc.strerror})") from None
    for entry in entries:
        if entry.name.startswith("."):
            ignored += 1
        elif not entry.is_dir():
            raise _problem(
                root,
                f"{part}/{entry.name} is a file directly in {part}/ (mixed nesting); "
                f"expected only class folders: {part}/<class>/<picture>",
            )
        else:
            _check_name(root, f"{part}/{entry.name!r}", entry.name)
            found[entry.name] = []
            try:
                inner = sorted(os.scandir(entry.path), key=lambda e: e.name)
            except OSError as exc:
                raise _problem(root, f"cannot list {part}/{entry.name}/ ({exc.strerror})") from None
            for item in inner:
                if item.name.startswith("."):
                    ignored += 1
                elif item.is_dir():
                    raise _problem(
                        root,
                        f"{part}/{entry.name}/{item.name} is a folder inside a class folder "
                        f"(mixed nesting); expected pictures only: {part}/<class>/<picture>",
                    )
                elif item.name.lower().endswith(EXTENSIONS):
                    _check_name(root, f"{part}/{entry.name}/{item.name!r}", item.name)
                    found[entry.name].append(item)
                else:
                    ignored += 1
    if classes is None:
        classes = {name: label for label, name in enumerate(sorted(found))}
    for name in found:
        if name not in classes:
            raise _problem(
                root,
                f"{part}/{name} is not a class of train/ (its classes: "
                f"{', '.join(list(classes)[:20])})",
            )
    pictures = []
    for name, items in found.items():
        for item in items:
            try:
                stat = item.stat()
            except OSError as exc:
                what = f"cannot read {part}/{name}/{item.name} ({exc.strerror})"
                raise _problem(root, what) from None
            pictures.append(
                Picture(f"{part}/{name}/{item.name}", classes[name], stat.st_size, stat.st_mtime_ns)
            )
    return pictures, ignored, classes


def scan_folder(folder: str | os.PathLike[str]) -> FolderScan:
    """List and check a folder data set; a :class:`DataError` names the first problem."""
    root = Path(folder).expanduser().absolute()
    if unprintable(str(root)):
        raise DataError(
            f"--data {str(root)!r}: not a UTF-8 path without control characters; rename it"
        )
    if not root.is_dir():
        raise _problem(root, "no such folder" if not root.exists() else "not a folder")
    layout = f"expected {root}/train/<class>/*.png (or {_LISTED}), optionally test/<class>/*"
    if not (root / "train").is_dir():
        raise _problem(root, f"no train/ folder; {layout}")
    train, ignored, labels = _listing(root, "train", None)
    classes = tuple(labels)
    if not train:
        raise _problem(root, f"train/ holds no pictures; {layout}")
    if len(classes) < 2:
        raise _problem(
            root, f"only one class ({classes[0]}) in train/; expected at least 2 class folders"
        )
    if len(classes) > MAX_CLASSES:
        raise _problem(root, f"{len(classes)} classes in train/; at most {MAX_CLASSES}")
    counts = np.bincount([p.label for p in train], minlength=len(classes))
    for name, count in zip(classes, counts, strict=True):
        if len(name) > 100:
            raise _problem(root, f"class folder name {name[:40]!r}... is over 100 characters")
        if count < MIN_PER_CLASS:
            raise _problem(
                root,
                f"class '{name}' has {count} picture(s) in train/; expected at least "
                f"{MIN_PER_CLASS}",
            )
    test: tuple[Picture, ...] | None = None
    if (root / "test").exists():
        if not (root / "test").is_dir():
            raise _problem(root, "test is not a folder; expected test/<class>/<picture>")
        listed, more, _ = _listing(root, "test", labels)
        if not listed:
            raise _problem(root, "test/ holds no pictures; remove it to hold out 20% of train/")
        test, ignored = tuple(listed), ignored + more
    return FolderScan(root, classes, tuple(train), test, ignored)


@dataclass
class FolderDataset:
    """An opened folder data set: its description and its train and test arrays."""

    info: DatasetInfo
    scan: FolderScan
    images: np.ndarray  # every picture, in scan order (train/, then test/)
    labels: np.ndarray
    train_index: np.ndarray
    test_index: np.ndarray
    from_cache: bool

    def train(self) -> tuple[np.ndarray, np.ndarray]:
        return self.images[self.train_index], self.labels[self.train_index]

    def test(self) -> tuple[np.ndarray, np.ndarray]:
        return self.images[self.test_index], self.labels[self.test_index]

    def counts(self) -> dict[str, list[int]]:
        """Pictures per class (in ``info.classes`` order) of the train and test parts."""
        n = self.info.n_classes
        return {
            "train": np.bincount(self.labels[self.train_index], minlength=n).tolist(),
            "test": np.bincount(self.labels[self.test_index], minlength=n).tolist(),
        }


def open_folder(
    folder: str | os.PathLike[str],
    *,
    size: int = 28,
    color: str = "gray",
    seed: int = 0,
    use_cache: bool = True,
    executor: str = "processes",
    expect: DatasetInfo | None = None,
) -> FolderDataset:
    """Scan, check and read a folder of pictures (or take its arrays from the cache):
    ``size`` x ``size`` pictures, ``color`` "gray" or "rgb"; ``seed`` chooses the held-out
    test part when there is no test/ folder. ``expect``: the description a study or model
    card recorded; a folder with other pictures or classes is refused before any picture
    is decoded (a crafted card could name any folder)."""
    if isinstance(size, bool) or not isinstance(size, int) or not 4 <= size <= MAX_SIDE:
        raise ConfigError(f"--image-size: {size!r}; expected an integer 4 to {MAX_SIDE}")
    if color not in COLORS:
        raise ConfigError(f"--color: {color!r}; expected one of {list(COLORS)}")
    scan = scan_folder(folder)
    recorded = expect.digests.get("files") if expect is not None else None
    if expect is not None and (scan.classes != expect.classes or recorded != scan.fingerprint()):
        raise _problem(
            scan.root,
            f"not the pictures recorded for {expect.name} ({expect.n_classes} "
            "classes): other classes or files",
        )
    images, labels, from_cache = _arrays(scan, size, color, use_cache, executor)
    if scan.test is None:
        from sklearn.model_selection import train_test_split

        train_index, test_index = train_test_split(
            np.arange(len(labels)), test_size=HELD_OUT, stratify=labels, random_state=seed
        )
        train_index.sort()
        test_index.sort()
        test = f"held out {HELD_OUT:.0%}, seed {seed}"
    else:
        train_index = np.arange(len(scan.train))
        test_index = np.arange(len(scan.train), len(labels))
        test = "folder"
    channels = 1 if color == "gray" else 3
    mean, std = _pixel_stats(images[train_index], channels)
    info = DatasetInfo(
        name="folder:" + (re.sub(r"[^A-Za-z0-9_. -]", "-", scan.root.name)[:190] or "-"),
        classes=scan.classes,
        shape=(channels, size, size),
        mean=mean,
        std=std,
        source=str(scan.root),
        digests={"files": scan.fingerprint()},
        flips=True,
        reading="resize",
        test=test,
    )
    return FolderDataset(info, scan, images, labels, train_index, test_index, from_cache)


def _arrays(
    scan: FolderScan, size: int, color: str, use_cache: bool, executor: str
) -> tuple[np.ndarray, np.ndarray, bool]:
    labels = np.array([p.label for p in scan.pictures], dtype=np.int64)
    shape = (len(labels), size, size) if color == "gray" else (len(labels), size, size, 3)
    path = cache_dir() / "folders" / f"{scan.cache_key(size, color)}.npz"
    if use_cache and (images := _from_cache(path, shape, labels)) is not None:
        return images, labels, True
    paths = [scan.root / p.path for p in scan.pictures]
    if len(paths) >= PROGRESS_FROM:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        with Progress(
            "{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as bar:
            task = bar.add_task(f"reading {scan.root.name}", total=len(paths))
            images = read_pictures(
                paths,
                (size, size),
                color,
                executor=executor,
                progress=lambda n: bar.advance(task, n),
            )
    else:
        images = read_pictures(paths, (size, size), color, executor=executor)
    if use_cache:
        write_atomic(path, lambda fh: np.savez(fh, images=images, labels=labels))
    return images, labels, False


def _from_cache(path: Path, shape: tuple[int, ...], labels: np.ndarray) -> np.ndarray | None:
    """The cached images, or None when there are none or they do not fit (then they are
    read again and the entry rewritten)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            images, cached_labels = saved["images"], saved["labels"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if images.dtype != np.uint8 or images.shape != shape:
        return None
    if not np.array_equal(cached_labels, labels):
        return None
    return images


def _pixel_stats(images: np.ndarray, channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std on the 0..1 scale, exact, from histograms of the uint8
    values (counted in blocks: no float or int copy of every pixel)."""
    counts = np.zeros((channels, 256), dtype=np.int64)
    for start in range(0, len(images), 4096):
        block = images[start : start + 4096].reshape(-1, channels)
        for c in range(channels):
            counts[c] += np.bincount(block[:, c], minlength=256)
    values = np.arange(256) / 255
    n = np.maximum(counts.sum(axis=1), 1)
    mean = counts @ values / n
    std = np.sqrt(np.maximum(counts @ values**2 / n - mean**2, 0))
    # a std of 0 (every picture one colour) would divide by zero when normalising
    return (
        tuple(round(float(m), 4) for m in mean),
        tuple(max(round(float(s), 4), 0.0039) for s in std),
    )
