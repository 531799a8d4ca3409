"""Zalando's conversion: a product picture of any size and colour mode turned into a
Fashion-MNIST image, as the data set was made (the steps in the Fashion-MNIST README).

``predict`` reads pictures this way for models of MNIST-format data sets (``reading``
"fashion-mnist"); a folder data set's pictures are read by
:func:`automl_fashion.data.pictures.read_picture` instead.
"""

from __future__ import annotations

import math
import os

import numpy as np

from automl_fashion.data.pictures import open_image, open_regular
from automl_fashion.errors import DataError

#: A picture whose grey levels all lie within this range of each other shows no object.
BLANK_RANGE = 8
#: Zalando trimmed edges within 5% of the maximum intensity of the corner colour.
TRIM_DISTANCE = 13
#: Zalando sharpened with a Gaussian of radius and standard deviation 1.0 after resizing:
#: an unsharp mask (radius, percent, threshold), its strength measured on re-rendered
#: test images (benchmarks/renderings.py); percent 0 turns it off.
SHARPEN = (1, 50, 2)


class NoObjectFound(DataError):
    """A picture of one flat colour (blank, all white, all black): there is nothing to
    classify, and a model would still name a class with confidence."""


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """A picture of any size and colour mode, turned into a Fashion-MNIST image (28 x 28,
    0..255, a light object on black) by Zalando's own conversion (see :func:`convert`).

    Transparent parts count as white (a cut-out product on a page). Only regular files are
    read, and only pictures whose decoding fits in ``MAX_IMAGE_MEMORY`` (bigger JPEGs are
    decoded at a reduced scale): anything else is a :class:`DataError`, and a picture of
    one flat colour is :class:`NoObjectFound`.
    """
    from PIL import Image, ImageOps

    with open_regular(path) as f, open_image(f, path) as opened:
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
