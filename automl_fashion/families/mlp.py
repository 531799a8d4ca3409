"""Multi-layer perceptron on normalised pixels: depth, width, dropout, batch norm."""

from __future__ import annotations

from typing import TYPE_CHECKING

from automl_fashion.families._torch import TorchFamily

if TYPE_CHECKING:
    from torch import nn


class MLPFamily(TorchFamily):
    name = "mlp"

    def build_network(self) -> nn.Module:
        from torch import nn

        width, depth = int(self.params["width"]), int(self.params["depth"])
        dropout = float(self.params["dropout"])
        layers: list[nn.Module] = [nn.Flatten()]
        fan_in = 28 * 28
        for _ in range(depth):
            layers += [nn.Linear(fan_in, width)]
            if self.params.get("batch_norm", False):
                layers += [nn.BatchNorm1d(width)]
            layers += [nn.ReLU(inplace=True), nn.Dropout(dropout)]
            fan_in = width
        layers.append(nn.Linear(fan_in, 10))
        return nn.Sequential(*layers)
