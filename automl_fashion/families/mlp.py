"""Multi-layer perceptron on normalised pixels (all C x H x W of them): depth, width,
dropout, batch norm."""

from __future__ import annotations

from typing import TYPE_CHECKING

from automl_fashion.families._torch import TorchFamily

if TYPE_CHECKING:
    from torch import nn


class MLPFamily(TorchFamily):
    name = "mlp"

    def build_network(self) -> nn.Module:
        from torch import nn

        from automl_fashion.families._dropout import Dropout

        width, depth = int(self.params["width"]), int(self.params["depth"])
        dropout = float(self.params["dropout"])
        layers: list[nn.Module] = [nn.Flatten()]
        c, h, w = self.info.shape
        fan_in = c * h * w
        for _ in range(depth):
            layers += [nn.Linear(fan_in, width)]
            if self.params.get("batch_norm", False):
                layers += [nn.BatchNorm1d(width)]
            layers += [nn.ReLU(inplace=True), Dropout(dropout)]
            fan_in = width
        layers.append(nn.Linear(fan_in, self.info.n_classes))
        return nn.Sequential(*layers)
