"""The residual network family and the training options it brought to the shared loop:
an EMA of the weights, test-time views, a warm-up with linear decay, a BatchNorm learning
rate, identity initialisation, erasing matched to the run's length."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch.optim.optimizer import (
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
)

from automl_fashion import families
from automl_fashion.data import Split
from automl_fashion.families._schedule import ema_decay, linear_schedule
from automl_fashion.families.resnet import ERASE_FROM_EPOCHS, BasicBlock
from automl_fashion.onnx_export import onnx_predict_proba, onnx_session, to_onnx
from tests.families.test_contract import quick_params


def resnet(**changes: object) -> families.Family:
    """A small resnet: one epoch of few, large batches (below the space's ranges)."""
    params = {**quick_params("resnet"), "width": 16, "epochs": 1, "batch_size": 512, **changes}
    return families.get("resnet")(params, seed=0, threads=1, device="cpu")


def test_the_ema_model_holds_the_running_average_of_the_trained_weights(
    tiny_split: Split,
) -> None:
    initial: list[torch.Tensor] = []
    after_steps: list[list[torch.Tensor]] = []

    def before(opt: torch.optim.Optimizer, args: object, kwargs: object) -> None:
        if not initial:
            initial.extend(p.detach().clone() for g in opt.param_groups for p in g["params"])

    def after(opt: torch.optim.Optimizer, args: object, kwargs: object) -> None:
        after_steps.append([p.detach().clone() for g in opt.param_groups for p in g["params"]])

    hooks = [
        register_optimizer_step_pre_hook(before),
        register_optimizer_step_post_hook(after),
    ]
    try:
        model = resnet(ema=0.9).fit(tiny_split)
    finally:
        for hook in hooks:
            hook.remove()

    assert len(after_steps) == 6  # 3,000 images in batches of 512
    expected = [t.double() for t in initial]
    for t, weights in enumerate(after_steps):
        d = ema_decay(0.9, t)
        expected = [d * e + (1 - d) * w.double() for e, w in zip(expected, weights, strict=True)]
    averaged = list(model.model_.parameters())  # type: ignore[attr-defined]
    assert len(averaged) == len(expected)
    for a, e in zip(averaged, expected, strict=True):
        torch.testing.assert_close(a.detach().double(), e, atol=1e-6, rtol=1e-5)
    # the average is what is evaluated and exported, and it is not the last weights
    assert any(not torch.allclose(a, w) for a, w in zip(averaged, after_steps[-1], strict=True))


def test_ema_decay_ramps_up_to_the_chosen_decay() -> None:
    assert ema_decay(0.99, 0) == pytest.approx(0.1)
    assert ema_decay(0.99, 10_000) == 0.99


def moved(X: np.ndarray, dy: int) -> np.ndarray:
    """Images moved down by ``dy`` rows (up if negative), uncovered rows black."""
    out = np.zeros_like(X)
    if dy > 0:
        out[:, dy:] = X[:, :-dy]
    elif dy < 0:
        out[:, :dy] = X[:, -dy:]
    else:
        out[:] = X
    return out


def test_a_tta_prediction_is_the_mean_of_the_flipped_and_shifted_passes(
    tiny_split: Split,
) -> None:
    model = resnet(flip=True, tta_shift=True).fit(tiny_split)
    single = copy.deepcopy(model)
    single.params.update(flip=False, tta_shift=False)  # one pass per image, same weights
    X = tiny_split.X_val[:64]
    views = [moved(X, dy) for dy in (0, 1, -1)]
    views += [np.ascontiguousarray(v[:, :, ::-1]) for v in views]
    expected = np.mean([single.predict_proba(v) for v in views], axis=0)

    np.testing.assert_allclose(model.predict_proba(X), expected, atol=1e-5)
    with torch.no_grad():  # so do the module that export traces, and its ONNX graph
        deployed = model.deploy_module()(torch.from_numpy(X.astype(np.float32)))
    np.testing.assert_allclose(deployed.double().numpy(), expected, atol=1e-5)
    session = onnx_session(to_onnx(model).SerializeToString())
    np.testing.assert_allclose(onnx_predict_proba(session, X), expected, atol=1e-4)
    assert not np.allclose(single.predict_proba(X), expected, atol=1e-4)


def test_linear_schedule_warms_up_then_decays_to_zero() -> None:
    factor = linear_schedule(100, warmup=0.1)
    assert factor(0) == pytest.approx(0.1)
    assert factor(9) == factor(10) == 1.0
    decay = [factor(s) for s in range(10, 100)]
    assert decay == sorted(decay, reverse=True) and 0 < decay[-1] < 0.02
    assert factor(100) == 0.0
    assert linear_schedule(50, warmup=0.0)(0) == 1.0


def test_batchnorm_parameters_get_their_own_learning_rate() -> None:
    model = resnet(bn_lr=8.0, optimizer="sgd", momentum=0.9)
    net = model.build_network()  # type: ignore[attr-defined]
    opt = model._optimizer(net, 0.1, 1e-3)  # type: ignore[attr-defined]
    other, bn = opt.param_groups
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert {id(p) for p in bn["params"]} == {id(p) for m in norms for p in m.parameters()}
    assert len(other["params"]) + len(bn["params"]) == len(list(net.parameters()))
    assert (bn["lr"], other["lr"]) == (pytest.approx(0.8), 0.1)
    assert bn["weight_decay"] == pytest.approx(1e-3 / 8)
    # without the factor, one group as before
    assert len(resnet()._optimizer(net, 0.1, 1e-3).param_groups) == 1  # type: ignore[attr-defined]


def test_identity_init_makes_each_block_start_as_the_identity() -> None:
    x = torch.rand(2, 8, 6, 6)  # non-negative, as after a ReLU
    assert torch.equal(BasicBlock(8, 8, 1, identity_init=True).eval()(x), x)
    assert not torch.equal(BasicBlock(8, 8, 1, identity_init=False).eval()(x), x)


def test_random_erasing_is_kept_for_long_runs() -> None:
    model = resnet(erase=0.3, flip=True, shift=2)
    assert model.augmentation(ERASE_FROM_EPOCHS - 1) == (True, 2, 0.0)  # type: ignore[attr-defined]
    assert model.augmentation(ERASE_FROM_EPOCHS) == (True, 2, 0.3)  # type: ignore[attr-defined]
