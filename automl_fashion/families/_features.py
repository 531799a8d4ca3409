"""Feature maps shared by the classical families: scaled pixels and HOG.

HOG (histograms of oriented gradients, Dalal & Triggs 2005) + SVM is a published 92.6% on
Fashion-MNIST. scikit-image's ``hog`` works one image at a time (~1 ms each, over a minute
for 70,000 images on this machine's cores); this version computes the same descriptor for a
whole batch with numpy in a couple of seconds: centred gradients, unsigned orientations with
linear interpolation between bins, cells summed by reshaping, 2x2-cell blocks with L2-Hys
normalisation.

Images of any size and colour (uint8 N x H x W, or N x H x W x C):

- **Pixels** keep every channel (flattened in the arrays' H, W, C order).
- **HOG** is computed on the luminance of colour images (ITU-R BT.601 weights, what PIL's
  ``convert("L")`` uses), as HOG usually is.
- **HOG cell size follows the image size** (:func:`cell_size`): the searched ``hog_cell``
  is meant for a 28-pixel side (7 x 7 cells at 4, 4 x 4 at 7) and is scaled with the
  image's shorter side, rounded, so that a grid of cells covers any picture as it covers
  Fashion-MNIST (and the descriptor keeps about its length, so PCA sizes and timings tuned
  on Fashion-MNIST still fit); at least 1 pixel, at most half the shorter side (2 x 2
  cells make one block). Rows and columns left over after the last whole cell are left
  out evenly at both edges (a centred crop of the gradient histograms; scikit-image's
  ``hog`` leaves them out at the bottom and right). On 28 x 28 images the cell is the
  searched one and nothing is cropped: Fashion-MNIST's features are unchanged.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np

from automl_fashion.threads import map_threads

FEATURE_SETS = ("pixels", "hog", "hog+pixels")
#: The side the searched ``hog_cell`` values are meant for (Fashion-MNIST's).
REFERENCE_SIDE = 28
#: Luminance of R, G, B (ITU-R BT.601).
LUMA = (0.299, 0.587, 0.114)

#: HOG of the same images is asked for by every classical trial a worker runs (6-7 s for
#: 60,000 images on one thread, the same again per trial): a worker keeps the latest results,
#: keyed by the images' bytes, up to this many bytes. Small batches are not kept.
CACHE_BYTES = 1 << 30
CACHE_MIN_IMAGES = 2000
_cache: OrderedDict[tuple[str, int, int], np.ndarray] = OrderedDict()


def pixels(X: np.ndarray) -> np.ndarray:
    """Flattened pixels scaled to [0, 1], float32."""
    return X.reshape(len(X), -1).astype(np.float32) / np.float32(255.0)


def cell_size(hog_cell: int, height: int, width: int) -> int:
    """The HOG cell in pixels for images of ``height`` x ``width`` (see the module notes):
    ``hog_cell`` scaled by the shorter side / 28, rounded half up, within [1, side // 2]."""
    side = min(height, width)
    scaled = int(np.floor(hog_cell * side / REFERENCE_SIDE + 0.5))
    return max(1, min(side // 2, scaled))


def grid(cell: int, height: int, width: int) -> tuple[int, int, int, int]:
    """``(rows, cols, top, left)``: the cells along each side, and where the centred grid
    starts."""
    rows, cols = height // cell, width // cell
    return rows, cols, (height - rows * cell) // 2, (width - cols * cell) // 2


def luminance(X: np.ndarray) -> np.ndarray:
    """uint8 N x H x W x 3 -> float32 N x H x W on the 0..255 scale (term by term, as the
    exported graph computes it)."""
    img = X.astype(np.float32)
    r, g, b = (np.float32(v) for v in LUMA)
    out: np.ndarray = img[..., 0] * r + img[..., 1] * g + img[..., 2] * b
    return out


def hog_size(height: int, width: int, *, cell: int = 4, bins: int = 9) -> int:
    """The length of one HOG descriptor (cell in pixels)."""
    rows, cols, _, _ = grid(cell, height, width)
    return (rows - 1) * (cols - 1) * 4 * bins


def hog(
    X: np.ndarray, *, cell: int = 4, bins: int = 9, chunk: int = 4096, threads: int = 1
) -> np.ndarray:
    """HOG descriptors (float32, N x D; read-only when cached) for uint8 images N x H x W,
    or N x H x W x 3 (on their luminance); ``cell`` in pixels, at most half the shorter
    side (:func:`cell_size` picks it from the searched one). Chunks of ``chunk`` images are
    computed on up to ``threads`` threads (numpy releases the GIL in its loops: 60,000
    images took 4.3 s on two threads here, 7.9 s on one)."""
    height, width = X.shape[1], X.shape[2]
    if not 1 <= cell <= min(height, width) // 2:
        raise ValueError(
            f"cell must be 1 to {min(height, width) // 2} pixels for {height} x {width} "
            f"images (2 x 2 cells make a block); got {cell}"
        )
    key = None
    if len(X) >= CACHE_MIN_IMAGES:
        X = np.ascontiguousarray(X)
        digest = hashlib.blake2b(X.reshape(-1).view(np.uint8).data, digest_size=16)
        digest.update(f"{X.shape}{X.dtype}".encode())
        key = (digest.hexdigest(), cell, bins)
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    chunks = [X[i : i + chunk] for i in range(0, len(X), chunk)]
    parts = map_threads(lambda part: _hog_chunk(part, cell, bins), chunks, threads)
    if not parts:
        return np.zeros((0, hog_size(height, width, cell=cell, bins=bins)), np.float32)
    out = np.concatenate(parts)
    if key is not None and out.nbytes <= CACHE_BYTES:
        out.flags.writeable = False  # shared by later calls: nobody may change it
        _cache[key] = out
        while sum(a.nbytes for a in _cache.values()) > CACHE_BYTES:
            _cache.popitem(last=False)
    return out


def _hog_chunk(X: np.ndarray, cell: int, bins: int) -> np.ndarray:
    gray = X if X.ndim == 3 else luminance(X)
    img = gray.astype(np.float32) / np.float32(255.0)
    gx = np.zeros_like(img)
    gy = np.zeros_like(img)
    gx[:, :, 1:-1] = img[:, :, 2:] - img[:, :, :-2]
    gy[:, 1:-1, :] = img[:, 2:, :] - img[:, :-2, :]
    mag = np.hypot(gx, gy)
    angle = np.rad2deg(np.arctan2(gy, gx)) % 180.0
    pos = angle / (180.0 / bins) - 0.5
    lo = np.floor(pos).astype(np.int64)
    frac = (pos - lo).astype(np.float32)
    lo %= bins
    hi = (lo + 1) % bins
    n, h, w = img.shape
    w_lo = mag * (1.0 - frac)
    w_hi = mag * frac
    hist = np.empty((n, h, w, bins), np.float32)
    for b in range(bins):
        hist[..., b] = np.where(lo == b, w_lo, 0.0) + np.where(hi == b, w_hi, 0.0)
    rows, cols, top, left = grid(cell, h, w)
    if (rows * cell, cols * cell) != (h, w):
        hist = hist[:, top : top + rows * cell, left : left + cols * cell]
    cells = hist.reshape(n, rows, cell, cols, cell, bins).sum(axis=(2, 4))
    blocks = np.concatenate(
        [
            cells[:, :-1, :-1],
            cells[:, 1:, :-1],
            cells[:, :-1, 1:],
            cells[:, 1:, 1:],
        ],
        axis=-1,
    )  # n x (rows-1) x (cols-1) x 4*bins
    eps = np.float32(1e-6)
    blocks /= np.sqrt((blocks**2).sum(-1, keepdims=True) + eps)
    np.minimum(blocks, 0.2, out=blocks)
    blocks /= np.sqrt((blocks**2).sum(-1, keepdims=True) + eps)
    return blocks.reshape(n, -1)


def featurize(X: np.ndarray, kind: str, *, hog_cell: int = 4, threads: int = 1) -> np.ndarray:
    """Features of the given kind (one of ``FEATURE_SETS``) for uint8 images N x H x W or
    N x H x W x C; ``hog_cell`` is the searched cell (meant for 28 x 28, see
    :func:`cell_size`); HOG on up to ``threads`` threads."""
    if kind == "pixels":
        return pixels(X)
    cell = cell_size(hog_cell, X.shape[1], X.shape[2])
    if kind == "hog":
        return hog(X, cell=cell, threads=threads)
    if kind == "hog+pixels":
        return np.hstack([hog(X, cell=cell, threads=threads), pixels(X)])
    raise ValueError(f"features must be one of {FEATURE_SETS}; got {kind!r}")
