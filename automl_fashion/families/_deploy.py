"""Torch modules that reproduce a trained model from raw pixels to probabilities.

Export turns these into ONNX graphs with all preprocessing inside, so that a model runs with
onnxruntime alone. The classical families' feature maps (scaled pixels, HOG) are rebuilt here
operation for operation from ``_features.py``; their learned arrays are module buffers, which
is also what ``model.safetensors`` holds.

Every module takes what the exported graph takes: float pixel values 0..255 in N x C x H x W
(the data set's ``info.shape``; any N-first layout of the same numbers works too, so
N x H x W for one channel), and gives N x n_classes probabilities.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from automl_fashion.data.info import FASHION_MNIST
from automl_fashion.families._features import LUMA, cell_size, grid

if TYPE_CHECKING:
    import torch
    from torch import nn


def _nn() -> type[nn.Module]:
    from torch import nn

    return nn.Module


def cpu_seconds(module: nn.Module, shape: tuple[int, ...], n: int, sample: int) -> float:
    """Seconds a deployed ``module`` takes on the CPU for ``n`` images of ``shape``, timed on
    ``sample`` of them after a warm-up pass on two."""
    import time

    import torch

    x = torch.zeros(sample, *shape)
    with torch.inference_mode():
        module(x[:2])
        start = time.perf_counter()
        module(x)
        seconds = time.perf_counter() - start
    return seconds * n / sample


def buffer(module: nn.Module, name: str, array: np.ndarray) -> None:
    """A copy of ``array`` as a float32 buffer: the fitted model's own arrays (often float32
    already, which ``as_tensor`` would share) must not change with the module."""
    import torch

    module.register_buffer(name, torch.tensor(np.asarray(array, dtype=np.float32)))


def _mod(x: torch.Tensor, m: float) -> torch.Tensor:
    """Python-style modulo (result in [0, m)), spelled out: ONNX's Mod on floats truncates."""
    import torch

    return x - torch.floor(x / m) * m


def luminance(img: torch.Tensor) -> torch.Tensor:
    """``_features.luminance``: N x H x W x 3 -> N x H x W, term by term in the same order."""
    r, g, b = LUMA
    return img[..., 0] * r + img[..., 1] * g + img[..., 2] * b


class Pixels(_nn()):  # type: ignore[misc]
    """Raw pixels N x C x H x W (or any N-first layout: N x H x W, N x C*H*W) -> the
    arrays' layout of ``_features``: N x H x W for one channel, N x H x W x C for colour."""

    def __init__(self, shape: tuple[int, int, int] = FASHION_MNIST.shape) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c, h, w = self.shape
        if c == 1:
            return x.reshape(-1, h, w).float()
        return x.reshape(-1, c, h, w).permute(0, 2, 3, 1).float()


class HOG(_nn()):  # type: ignore[misc]
    """The HOG descriptor of ``_features.hog`` for grayscale pixel values 0..255,
    N x H x W (``size``), ``cell`` in pixels."""

    def __init__(
        self, cell: int = 4, bins: int = 9, size: tuple[int, int] = FASHION_MNIST.size
    ) -> None:
        super().__init__()
        self.cell, self.bins = cell, bins
        self.size = tuple(size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        img = x / 255.0
        gx = F.pad(img[:, :, 2:] - img[:, :, :-2], (1, 1, 0, 0))
        gy = F.pad(img[:, 2:, :] - img[:, :-2, :], (0, 0, 1, 1))
        mag = torch.sqrt(gx * gx + gy * gy)
        # Unsigned orientation: atan2 mod 180 equals atan(gy / gx) mod 180, since tan has a
        # period of 180 degrees. Exporters turn atan2 into Atan(y / x), which is NaN at
        # 0 / 0 (every flat background pixel); a tiny divisor gives numpy's values instead.
        safe_gx = torch.where(gx == 0, torch.full_like(gx, 1e-30), gx)
        angle = _mod(torch.atan(gy / safe_gx) * (180.0 / np.pi), 180.0)
        pos = angle / (180.0 / self.bins) - 0.5
        lo = torch.floor(pos)
        frac = pos - lo
        lo = _mod(lo, float(self.bins))
        hi = _mod(lo + 1.0, float(self.bins))
        w_lo, w_hi = mag * (1.0 - frac), mag * frac
        hist = torch.stack(
            [(lo == b).float() * w_lo + (hi == b).float() * w_hi for b in range(self.bins)], -1
        )
        cell = self.cell
        rows, cols, top, left = grid(cell, *self.size)
        if (rows * cell, cols * cell) != self.size:
            hist = hist[:, top : top + rows * cell, left : left + cols * cell]
        cells = hist.reshape(-1, rows, cell, cols, cell, self.bins).sum(dim=(2, 4))
        blocks = torch.cat(
            [cells[:, :-1, :-1], cells[:, 1:, :-1], cells[:, :-1, 1:], cells[:, 1:, 1:]], -1
        )
        blocks = blocks / torch.sqrt((blocks * blocks).sum(-1, keepdim=True) + 1e-6)
        blocks = torch.clamp(blocks, max=0.2)
        blocks = blocks / torch.sqrt((blocks * blocks).sum(-1, keepdim=True) + 1e-6)
        return blocks.reshape(blocks.shape[0], -1)


class Features(_nn()):  # type: ignore[misc]
    """``_features.featurize`` in torch: pixels, hog or hog+pixels, for images of
    ``shape`` (C, H, W); ``hog_cell`` is the searched cell, sized as ``featurize`` does."""

    def __init__(
        self, kind: str, hog_cell: int = 4, shape: tuple[int, int, int] = FASHION_MNIST.shape
    ) -> None:
        super().__init__()
        self.kind = kind
        self.pixels = Pixels(shape)
        c, h, w = shape
        self.hog = HOG(cell_size(hog_cell, h, w), size=(h, w))
        self.colour = c > 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch

        img = self.pixels(x)
        flat = img.reshape(img.shape[0], -1) / 255.0
        if self.kind == "pixels":
            return flat
        gray = luminance(img) if self.colour else img
        if self.kind == "hog":
            return self.hog(gray)
        return torch.cat([self.hog(gray), flat], 1)


class Standardize(_nn()):  # type: ignore[misc]
    """(x - mean) / scale, as a fitted StandardScaler does."""

    def __init__(self, mean: np.ndarray, scale: np.ndarray) -> None:
        super().__init__()
        buffer(self, "mean", mean)
        buffer(self, "scale", scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.scale


class Affine(_nn()):  # type: ignore[misc]
    """x @ weight.T + bias (a linear model's logits, or a PCA projection with bias -mean@W.T)."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray) -> None:
        super().__init__()
        buffer(self, "weight", weight)
        buffer(self, "bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.T + self.bias


class Softmax(_nn()):  # type: ignore[misc]
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.softmax(dim=1)


class FlipAverage(_nn()):  # type: ignore[misc]
    """The mean of a module's outputs for an N x C x H x W batch and its mirror image."""

    def __init__(self, inner: nn.Module, width: int = FASHION_MNIST.size[1]) -> None:
        import torch

        super().__init__()
        self.inner = inner
        self.reverse: torch.Tensor
        # a Gather with reversed indices: exported to ONNX everywhere, unlike aten::flip
        self.register_buffer("reverse", torch.arange(width - 1, -1, -1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.inner(x) + self.inner(x.index_select(3, self.reverse))) / 2


class RBFOneVsRest(_nn()):  # type: ignore[misc]
    """A fitted sklearn SVC (RBF, one-vs-one inside) and its ``ovr`` decision values.

    Rebuilds libsvm's pairwise decision functions from the support vectors and dual
    coefficients, then sklearn's ``_ovr_decision_function``: votes plus confidences squashed
    into (-1/3, 1/3).
    """

    def __init__(self, svc: object, n_classes: int) -> None:
        super().__init__()
        sv = np.asarray(svc.support_vectors_)  # type: ignore[attr-defined]
        dual = np.asarray(svc.dual_coef_)  # type: ignore[attr-defined]
        counts = np.asarray(svc.n_support_)  # type: ignore[attr-defined]
        classes = np.asarray(svc.classes_)  # type: ignore[attr-defined]
        intercept = np.asarray(svc.intercept_)  # type: ignore[attr-defined]
        starts = np.concatenate([[0], np.cumsum(counts)])
        k = len(classes)
        if k == 2:  # sklearn flips a binary model's signs (> 0: the second class): undo it
            dual, intercept = -dual, -intercept
        pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
        # coefficient of each support vector in each pairwise decision function
        coef = np.zeros((len(sv), len(pairs)))
        for p, (i, j) in enumerate(pairs):
            si, sj = slice(starts[i], starts[i + 1]), slice(starts[j], starts[j + 1])
            coef[si, p] = dual[j - 1, si]
            coef[sj, p] = dual[i, sj]
        lose = np.zeros((len(pairs), n_classes))  # class i of the pair
        win = np.zeros((len(pairs), n_classes))  # class j of the pair
        for p, (i, j) in enumerate(pairs):
            lose[p, classes[i]] = 1.0
            win[p, classes[j]] = 1.0
        buffer(self, "sv", sv)
        buffer(self, "sv_sq", (sv**2).sum(1))
        buffer(self, "coef", coef)
        buffer(self, "intercept", intercept)
        buffer(self, "lose", lose)
        buffer(self, "win", win)
        buffer(self, "unseen", np.isin(np.arange(n_classes), classes, invert=True) * -1e9)
        self.gamma = float(svc._gamma)  # type: ignore[attr-defined]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        import torch

        sq = (z * z).sum(1, keepdim=True) - 2.0 * z @ self.sv.T + self.sv_sq
        kernel = torch.exp(-self.gamma * torch.clamp(sq, min=0.0))
        dec = kernel @ self.coef + self.intercept  # n x pairs, libsvm's sign: > 0 -> class i
        first = (dec > 0).float()
        votes = first @ self.lose + (1.0 - first) @ self.win
        conf = dec @ self.lose - dec @ self.win
        return votes + conf / (3.0 * (torch.abs(conf) + 1.0)) + self.unseen
