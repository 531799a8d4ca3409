"""A VGG-style CNN sized for CPUs: stages of (conv-BN-ReLU) x k, then pooling.

Searchable: width (channels of the first stage, doubled per stage), stages (2 or 3),
convs per stage, dropout before the classifier (the tuned dropout), and everything the
shared training loop reads (optimizer, OneCycle/cosine, label smoothing, flip, shift,
random erasing). The first convolution takes the data set's channels; each stage pools
by 2 while both sides are at least 2 pixels; the classifier gives one logit per class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from automl_fashion.families._torch import TorchFamily

if TYPE_CHECKING:
    from torch import nn


#: Random erasing only in schedules of at least this many epochs (TorchFamily.augmentation).
#: Measured on the EPYC, 2026-11-28 (benchmarks/results/erase-short-epyc.json: the long
#: configuration alone on two threads to a 450-s deadline, as the 10-minute search trains
#: it, seeds 1-3): with its erasing (0.3), 15-16 epochs, 94.04 / 94.27 / 93.99% validation,
#: 93.37 / 93.57 / 93.47% test; without, 15-16 epochs, 94.53 / 94.25 / 94.35% validation,
#: 93.65 / 93.64 / 93.84% test (+0.28 and +0.24 points on average). The searches' long
#: networks that erased and won trained 22 to 40 epochs; where between 16 and 22 erasing
#: starts to pay is not measured. The 16-channel init (16 epochs, its erasing 0.15) lost
#: nothing without it: 93.57 / 93.51% validation with, 93.63 / 93.50% without; test 92.87 /
#: 92.89% with, 93.09 / 93.16% without (seeds 1-2, the same file).
ERASE_FROM_EPOCHS = 20


class CNNFamily(TorchFamily):
    name = "cnn"
    channels_last = True
    erase_from_epochs = ERASE_FROM_EPOCHS

    def build_network(self) -> nn.Module:
        from torch import nn

        from automl_fashion.families._dropout import Dropout

        width, stages = int(self.params["width"]), int(self.params["stages"])
        convs = int(self.params["convs_per_stage"])
        dropout = float(self.params["dropout"])
        layers: list[nn.Module] = []
        c_in, (h, w) = self.info.channels, self.info.size
        for s in range(stages):
            c_out = width * 2**s
            for _ in range(convs):
                layers += [
                    nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                    nn.BatchNorm2d(c_out),
                    nn.ReLU(inplace=True),
                ]
                c_in = c_out
            if min(h, w) >= 2:  # small pictures keep their last pixel
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
        layers += [
            nn.AdaptiveAvgPool2d(1) if self.params.get("global_pool", False) else nn.Identity(),
            nn.Flatten(),
            Dropout(dropout),
        ]
        features = c_in if self.params.get("global_pool", False) else c_in * h * w
        hidden = int(self.params.get("hidden", 0))
        if hidden:
            layers += [nn.Linear(features, hidden), nn.ReLU(inplace=True), Dropout(dropout)]
            features = hidden
        layers.append(nn.Linear(features, self.info.n_classes))
        return nn.Sequential(*layers)
