"""Batches of images as the torch families see them, on any data set (``info``): pixels
normalised with the data set's per-channel mean and std, whole-batch augmentation (flip,
translation padded with each channel's background, random erasing), and the test-time
views (flips and shifts) that the exported graph averages too.

Importing this module never imports torch; its functions do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from automl_fashion.data.info import FASHION_MNIST, DatasetInfo

if TYPE_CHECKING:
    from collections.abc import Sequence

    import torch
    from torch import nn


def normalize(x: torch.Tensor, info: DatasetInfo) -> torch.Tensor:
    """Float pixels N x C x H x W on the 0..1 scale, standardised channel by channel."""
    import torch

    if info.channels == 1:  # Python scalars: Fashion-MNIST's numbers, exactly as ever
        return (x - info.mean[0]) / info.std[0]
    mean = torch.tensor(info.mean, dtype=x.dtype, device=x.device).reshape(1, -1, 1, 1)
    std = torch.tensor(info.std, dtype=x.dtype, device=x.device).reshape(1, -1, 1, 1)
    return (x - mean) / std


def background(info: DatasetInfo) -> tuple[float, ...]:
    """Each channel's normalised value of a black pixel: what shifted images are padded with."""
    return tuple(-m / s for m, s in zip(info.mean, info.std, strict=True))


def to_tensor(
    X: np.ndarray, device: torch.device, info: DatasetInfo = FASHION_MNIST
) -> torch.Tensor:
    """uint8 N x H x W (one channel) or N x H x W x C -> normalised float32 N x C x H x W
    on ``device``."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(X)).to(device).float() / 255.0
    x = t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2).contiguous()
    return normalize(x, info)


def pad(x: torch.Tensor, m: int, fill: Sequence[float]) -> torch.Tensor:
    """N x C x H x W padded by ``m`` pixels on every side, channel c with ``fill[c]``."""
    import torch
    import torch.nn.functional as F

    if len(fill) == 1:
        return F.pad(x, (m, m, m, m), value=fill[0])
    return torch.cat([F.pad(x[:, c : c + 1], (m, m, m, m), value=v) for c, v in enumerate(fill)], 1)


def augment(
    x: torch.Tensor,
    gen: torch.Generator,
    *,
    flip: bool,
    shift: int,
    erase: float,
    fill: Sequence[float] = background(FASHION_MNIST),
) -> torch.Tensor:
    """Random horizontal flip, translation by up to ``shift`` pixels (the uncovered border
    filled with ``fill``, per channel), random erasing."""
    import torch

    b, c, h, w = x.shape
    dev = x.device
    if flip:
        mask = torch.rand(b, 1, 1, 1, generator=gen, device=dev) < 0.5
        x = torch.where(mask, x.flip(3), x)
    if shift:
        # pad with the background value, then gather a shifted H x W window per image
        padded = pad(x, shift, fill)
        dy = torch.randint(0, 2 * shift + 1, (b,), generator=gen, device=dev)
        dx = torch.randint(0, 2 * shift + 1, (b,), generator=gen, device=dev)
        rows = (dy[:, None] + torch.arange(h, device=dev))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=dev))[:, None, None, :]
        images = torch.arange(b, device=dev)[:, None, None, None]
        x = padded[images, torch.arange(c, device=dev)[None, :, None, None], rows, cols]
    if erase > 0:
        # random erasing (Zhong et al. 2017): one rectangle, 2%-25% of the image, set to 0
        area = torch.empty(b, device=dev).uniform_(0.02, 0.25, generator=gen) * h * w
        ratio = torch.exp(torch.empty(b, device=dev).uniform_(-1.2, 1.2, generator=gen))
        eh = (area * ratio).sqrt().clamp(1, h).long()
        ew = (area / ratio).sqrt().clamp(1, w).long()
        y0 = (torch.rand(b, generator=gen, device=dev) * (h - eh + 1)).long()
        x0 = (torch.rand(b, generator=gen, device=dev) * (w - ew + 1)).long()
        yy = torch.arange(h, device=dev)[None, :, None]
        xx = torch.arange(w, device=dev)[None, None, :]
        box = (
            (yy >= y0[:, None, None])
            & (yy < (y0 + eh)[:, None, None])
            & (xx >= x0[:, None, None])
            & (xx < (x0 + ew)[:, None, None])
        )
        apply = torch.rand(b, generator=gen, device=dev) < erase
        x = x.masked_fill((box & apply[:, None, None]).unsqueeze(1), 0.0)  # every channel
    return x


def shifted(
    x: torch.Tensor, dy: int, dx: int, fill: Sequence[float] = background(FASHION_MNIST)
) -> torch.Tensor:
    """Images moved by ``dy`` rows and ``dx`` columns (normalised N x C x H x W), the
    uncovered border filled with each channel's background ``fill``, as the training
    translation does. Pad and slice: both export to ONNX."""
    if dy == 0 and dx == 0:
        return x
    h, w = x.shape[-2], x.shape[-1]
    m = max(abs(dy), abs(dx))
    return pad(x, m, fill)[:, :, m - dy : m - dy + h, m - dx : m - dx + w]


def view_average(
    inner: nn.Module, views: list[tuple[bool, int, int]], info: DatasetInfo = FASHION_MNIST
) -> nn.Module:
    """A module averaging ``inner``'s outputs over test-time views ``(flip, dy, dx)`` of a
    normalised batch: the exported graph computes what ``_predict_proba`` does. (Defined
    here, not in ``_deploy``, so that importing this module never imports torch.)"""
    import torch
    from torch import nn

    class _ViewAverage(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = inner
            self.views = views
            # a Gather with reversed indices: exported to ONNX everywhere, unlike aten::flip
            self.reverse: torch.Tensor
            self.register_buffer(
                "reverse", torch.arange(info.size[1] - 1, -1, -1), persistent=False
            )
            self.fill = background(info)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            outs = []
            for flip, dy, dx in self.views:
                v = shifted(x, dy, dx, self.fill)
                outs.append(self.inner(v.index_select(3, self.reverse) if flip else v))
            return torch.stack(outs).mean(0)

    return _ViewAverage()
