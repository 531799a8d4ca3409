"""A small residual network for small images, trained with the fast-training recipe.

A 3 x 3 stem convolution, then ``stages`` stages of ``blocks`` basic residual blocks
(conv-BN-ReLU-conv-BN plus a shortcut); every stage doubles the channels and halves the
resolution (the first stage only when ``first_stride`` is 2), then global average pooling
and one linear layer (one logit per class of the data set). ``identity_init`` zeroes the
last BatchNorm scale of every residual branch, so that each block starts as the identity.
Everything else the shared training loop reads (Nesterov SGD or AdamW, a warm-up with linear
decay to zero, label smoothing, an EMA of the weights, a BatchNorm learning-rate factor,
flip / shift TTA) is searched too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from automl_fashion.families._deploy import _nn
from automl_fashion.families._torch import TorchFamily

if TYPE_CHECKING:
    import torch
    from torch import nn

#: Augmentation matched to the run's length: flips and shifts always (as searched), random
#: erasing only from this many epochs. The published runs add erasing at 50 epochs, not at 5
#: or 20; where between short and long it starts to pay is a guess, not measured here.
ERASE_FROM_EPOCHS = 15


class BasicBlock(_nn()):  # type: ignore[misc]
    """conv-BN-ReLU-conv-BN plus a (projected when the shape changes) shortcut, then ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int, identity_init: bool) -> None:
        from torch import nn

        super().__init__()
        last = nn.BatchNorm2d(c_out)
        if identity_init:
            nn.init.zeros_(last.weight)
        self.branch = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            last,
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.branch(x) + self.shortcut(x))


class ResNetFamily(TorchFamily):
    name = "resnet"
    channels_last = True

    erase_from_epochs = ERASE_FROM_EPOCHS

    def build_network(self) -> nn.Module:
        from torch import nn

        from automl_fashion.families._dropout import Dropout

        width, stages = int(self.params["width"]), int(self.params["stages"])
        blocks = int(self.params["blocks"])
        identity = bool(self.params.get("identity_init", False))
        layers: list[nn.Module] = [
            nn.Conv2d(self.info.channels, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        ]
        c_in = width
        for s in range(stages):
            c_out = width * 2**s
            for b in range(blocks):
                stride = 1 if b > 0 else (int(self.params.get("first_stride", 1)) if s == 0 else 2)
                layers.append(BasicBlock(c_in, c_out, stride, identity))
                c_in = c_out
        layers += [
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            Dropout(float(self.params.get("dropout", 0.0))),
            nn.Linear(c_in, self.info.n_classes),
        ]
        return nn.Sequential(*layers)
