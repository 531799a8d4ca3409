"""Picture files to arrays: one at a time (:func:`read_picture`, also what ``predict`` uses
for a model trained on a folder), or many in parallel (:func:`read_pictures`).
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import multiprocessing
import os
import stat
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from automl_fashion.errors import DataError

if TYPE_CHECKING:
    from PIL.Image import Image as Picture

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
COLOR_MODES = {"gray": "L", "rgb": "RGB"}
#: Refused before decoding: PIL itself only refuses pictures of over 178 megapixels, and
#: a smaller one can still take gigabytes once decoded.
MAX_PIXELS = 50_000_000
#: Pictures per task of a parallel read, and the fewest worth starting worker processes
#: for (one decodes about 13,000 small PNGs a second; starting a worker takes ~0.5 s).
CHUNK = 256
PARALLEL_FROM = 8_192
_ORIENTATION = 0x0112
#: The memory a picture's decoding may use (here and in Zalando's conversion,
#: :mod:`automl_fashion.data.zalando`), and what it costs per pixel of each mode (measured
#: with Pillow 13: the decoded picture, its grayscale copy and float arrays of it, plus the
#: white background and composite for transparent and palette pictures), with some margin.
#: Bigger JPEGs are decoded at 1/2, 1/4 or 1/8 scale; other bigger pictures are refused.
MAX_IMAGE_MEMORY = 512 * 2**20
BYTES_PER_PIXEL = {"1": 11, "L": 11, "RGB": 15}
OTHER_MODES_BYTES_PER_PIXEL = 25
#: Formats pictures are opened in (no EPS, which Pillow decodes by running Ghostscript).
IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")


def read_picture(path: str | os.PathLike[str], size: tuple[int, int], color: str) -> np.ndarray:
    """One picture file as a uint8 array of ``size`` = (height, width): H x W for
    ``color`` "gray", H x W x 3 for "rgb".

    Pictures are untrusted: only regular files in ``IMAGE_FORMATS`` whose decoding fits in
    ``MAX_IMAGE_MEMORY`` are read. The reading: the EXIF orientation is applied,
    transparent parts are laid on white, the picture is brought to the colour mode, then
    resized (bilinear, antialiased) to exactly H x W, whatever its aspect ratio. A file
    that is not a readable picture is a :class:`DataError` naming it.
    """
    from PIL import Image

    if color not in COLOR_MODES:
        raise DataError(f"color: {color!r}; expected one of {list(COLOR_MODES)}")
    mode = COLOR_MODES[color]
    height, width = size
    try:
        # only regular files (a FIFO would block), in the formats allowed, of bounded size
        with open_regular(path) as f, open_image(f, path) as img:
            if img.width * img.height > MAX_PIXELS:
                raise DataError(
                    f"{path}: {img.width} x {img.height} pixels is too large a picture "
                    f"(at most {MAX_PIXELS // 1_000_000} megapixels)"
                )
            img.draft(mode, (width, height))  # JPEG: decode at a smaller scale, >= the size
            picture = _in_mode(_upright(img), mode)
            picture = picture.resize((width, height), Image.Resampling.BILINEAR)
            array = np.asarray(picture, dtype=np.uint8)
    except DataError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        reason = str(exc).split("\n")[0][:200] or type(exc).__name__
        raise DataError(f"{path}: not a readable picture ({reason})") from None
    expected = (height, width) if mode == "L" else (height, width, 3)
    if array.shape != expected:  # pragma: no cover - PIL guarantees the mode and size
        raise DataError(f"{path}: read as {array.shape}, expected {expected}")
    return array


def _upright(img: Picture) -> Picture:
    """The picture turned as its EXIF orientation says (phone photos)."""
    from PIL import ImageOps

    try:
        orientation = img.getexif().get(_ORIENTATION, 1)
    except (OSError, ValueError, SyntaxError):
        return img  # unreadable EXIF: take the pixels as they are
    return ImageOps.exif_transpose(img) if orientation not in (1, None) else img


def _in_mode(img: Picture, mode: str) -> Picture:
    from PIL import Image

    if img.mode in ("I", "I;16", "I;16B", "I;16L"):  # 16-bit PNG: keep the top 8 bits
        values = np.asarray(img, dtype=np.uint32) // 257
        img = Image.fromarray(values.clip(0, 255).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return img if img.mode == mode else img.convert(mode)


def _read_chunk(
    paths: Sequence[str | os.PathLike[str]], size: tuple[int, int], color: str
) -> np.ndarray:
    return np.stack([read_picture(path, size, color) for path in paths])


def read_pictures(
    paths: Sequence[str | os.PathLike[str]],
    size: tuple[int, int],
    color: str,
    *,
    workers: int | None = None,
    executor: str = "processes",
    progress: Callable[[int], object] | None = None,
) -> np.ndarray:
    """Every picture of ``paths`` read by :func:`read_picture`, stacked in order.

    Large reads (``PARALLEL_FROM`` pictures or more) are decoded in parallel, ``workers``
    defaulting to the cores this process may use, by ``executor`` "processes" (measured:
    decoding a small picture is mostly Python work that holds the GIL, so threads were
    slower than one thread) or "threads". ``progress(n)`` is called as pictures are done.
    """
    from automl_fashion.threads import available_cores

    shape = size if color == "gray" else (*size, 3)
    out = np.empty((len(paths), *shape), dtype=np.uint8)
    if workers is None:
        workers = available_cores() if len(paths) >= PARALLEL_FROM else 1
    if workers < 2:
        for start in range(0, len(paths), CHUNK):
            chunk = paths[start : start + CHUNK]
            out[start : start + len(chunk)] = _read_chunk(chunk, size, color)
            if progress:
                progress(len(chunk))
        return out
    pool: cf.Executor
    if executor == "threads":
        pool = cf.ThreadPoolExecutor(workers)
    elif executor == "processes":
        # spawn, not fork: the parent may hold threads (a progress bar, a study's heartbeat)
        pool = cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    else:
        raise ValueError(f"executor: {executor!r}; expected 'processes' or 'threads'")
    with pool:
        jobs = {
            pool.submit(_read_chunk, paths[start : start + CHUNK], size, color): start
            for start in range(0, len(paths), CHUNK)
        }
        try:
            for job in cf.as_completed(jobs):
                block = job.result()
                start = jobs[job]
                out[start : start + len(block)] = block
                if progress:
                    progress(len(block))
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return out


def open_regular(path: str | os.PathLike[str]) -> Any:
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


def pixel_limit(mode: str) -> int:
    return MAX_IMAGE_MEMORY // BYTES_PER_PIXEL.get(mode, OTHER_MODES_BYTES_PER_PIXEL)


def open_image(f: Any, path: str | os.PathLike[str]) -> Any:
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
            f"{pixel_limit('L') / 1e6:.0f} megapixels"
        ) from None
    except UnidentifiedImageError:
        raise DataError(
            f"{path}: not an image that can be decoded; expected {', '.join(IMAGE_FORMATS)}"
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise DataError(f"{path}: not an image that can be decoded ({exc})") from None
    w, h = img.size
    if w * h > pixel_limit(img.mode):
        # a JPEG decodes directly at 1/2, 1/4 or 1/8 scale (and colour ones as grayscale);
        # draft() does nothing for other formats
        drafted = "L" if img.mode == "RGB" else img.mode
        for scale in (2, 4, 8):
            if math.ceil(w / scale) * math.ceil(h / scale) <= pixel_limit(drafted):
                img.draft("L", (w // scale, h // scale))
                break
    if img.width * img.height > pixel_limit(img.mode):
        limit = pixel_limit(img.mode) / 1e6
        img.close()
        raise DataError(
            f"{path}: {w} x {h} pixels is too large to read; expected at most "
            f"{limit:.0f} megapixels for a picture in mode {img.mode} (a JPEG may be larger: "
            "it is read at a reduced scale)"
        )
    return img
