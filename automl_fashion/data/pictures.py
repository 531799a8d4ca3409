"""Picture files to arrays: one at a time (:func:`read_picture`, also what ``predict`` uses
for a model trained on a folder), or many in parallel (:func:`read_pictures`).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

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


def read_picture(path: str | os.PathLike[str], size: tuple[int, int], color: str) -> np.ndarray:
    """One picture file as a uint8 array of ``size`` = (height, width): H x W for
    ``color`` "gray", H x W x 3 for "rgb".

    The reading: the EXIF orientation is applied, transparent parts are laid on white,
    the picture is brought to the colour mode, then resized (bilinear, antialiased) to
    exactly H x W, whatever its aspect ratio. A file that is not a readable picture is a
    :class:`DataError` naming it.
    """
    from PIL import Image

    if color not in COLOR_MODES:
        raise DataError(f"color: {color!r}; expected one of {list(COLOR_MODES)}")
    mode = COLOR_MODES[color]
    height, width = size
    try:
        with Image.open(path) as img:
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
