"""The networks' dropout (families/_dropout.py): nn.Dropout's behaviour with a cheaper mask."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from automl_fashion import families
from automl_fashion.families._dropout import STEPS, Dropout, keep_mask, quantised


def test_the_mask_drops_at_the_rounded_probability_in_every_byte_position() -> None:
    torch.manual_seed(0)
    drop = quantised(0.13)
    assert drop == 17  # 0.1328
    keep = keep_mask(400_003, drop)
    assert keep.shape == (400_003,) and keep.dtype == torch.bool
    # each of a word's four bytes (the top one has 7 random bits) drops at drop / STEPS:
    # five standard deviations of 100,000 draws are 0.0054
    by_byte = keep[:400_000].view(-1, 4).float().mean(0)
    assert torch.allclose(by_byte, torch.full((4,), 1 - drop / STEPS), atol=0.005)


def test_it_scales_what_it_keeps_and_passes_gradients_through_the_mask() -> None:
    torch.manual_seed(1)
    layer = Dropout(0.3).train()
    x = (torch.rand(64, 500) + 1.0).requires_grad_()  # never 0: zeros are the dropped
    y = layer(x)
    kept = y != 0
    scale = STEPS / (STEPS - quantised(0.3))
    assert torch.allclose(y[kept], x[kept] * scale)
    assert 0.6 < kept.float().mean() < 0.8
    y.sum().backward()
    assert x.grad is not None
    assert torch.equal(x.grad, kept.float() * scale)


def test_it_follows_the_input_dtype_and_layout() -> None:
    x = torch.randn(8, 16, 7, 7).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    y = Dropout(0.5).train()(x)
    assert y.dtype == torch.bfloat16 and y.shape == x.shape


def test_it_is_the_identity_in_evaluation_and_at_zero() -> None:
    x = torch.randn(4, 10)
    assert Dropout(0.5).eval()(x) is x
    assert Dropout(0.001).train()(x) is x  # rounds to no drop at all
    assert torch.equal(Dropout(1.0).train()(x), torch.zeros_like(x))


def test_it_is_torch_dropout_where_the_cheap_mask_does_not_apply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[float] = []
    original = nn.Dropout.forward

    def spy(self: nn.Dropout, x: torch.Tensor) -> torch.Tensor:
        calls.append(self.p)
        return original(self, x)

    monkeypatch.setattr(nn.Dropout, "forward", spy)
    Dropout(0.2, inplace=True).train()(torch.randn(4, 10))
    assert calls == [0.2]
    Dropout(0.2).train()(torch.randn(4, 10))
    assert calls == [0.2]  # on the CPU: its own mask


@pytest.mark.parametrize("family", ["cnn", "mlp", "resnet"])
def test_the_networks_use_it_and_load_states_saved_with_torch_dropout(family: str) -> None:
    params = {"dropout": 0.2}
    net = families.create(family, {**families.create(family).params, **params}).build_network()  # type: ignore[attr-defined]
    layers = [m for m in net.modules() if isinstance(m, nn.Dropout)]
    assert layers and all(type(m) is Dropout for m in layers)
    # a model saved before (nn.Dropout) has the same state: dropout has none
    plain = {k: v.clone() for k, v in net.state_dict().items()}
    for i, m in enumerate(net):
        if isinstance(m, Dropout):
            net[i] = nn.Dropout(m.p)
    net.load_state_dict(plain)
