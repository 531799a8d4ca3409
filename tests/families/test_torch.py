"""The shared torch training loop (families/_torch.py): settings that must reach the optimizer."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
import torch

from automl_fashion import families
from automl_fashion.data import Split
from tests.families.test_contract import quick_params


@pytest.mark.parametrize(("optimizer", "cycles"), [("sgd", False), ("adamw", True)])
def test_onecycle_keeps_the_tuned_sgd_momentum(
    optimizer: str, cycles: bool, tiny_split: Split, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[torch.optim.Optimizer, bool]] = []
    original = torch.optim.lr_scheduler.OneCycleLR

    def spy(opt: torch.optim.Optimizer, **kwargs: object) -> object:
        seen.append((opt, bool(kwargs.get("cycle_momentum", True))))
        return original(opt, **kwargs)

    monkeypatch.setattr(torch.optim.lr_scheduler, "OneCycleLR", spy)
    params = {
        **quick_params("mlp"),
        "optimizer": optimizer,
        "schedule": "onecycle",
        "epochs": 5,
    }
    if optimizer == "sgd":
        params["momentum"] = 0.83
    model = families.create("mlp", params, seed=0, threads=1, device="cpu")
    model.fit(tiny_split, lambda step, acc: None)
    assert seen, "the onecycle schedule was not built"
    opt, cycle = seen[-1]
    assert cycle is cycles
    if optimizer == "sgd":
        assert all(group["momentum"] == 0.83 for group in opt.param_groups)


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_deploying_leaves_the_trained_network_untouched(name: str, tiny_split: Split) -> None:
    """deploy_module() must copy: .cpu() and .eval() in place would move a network trained
    on a GPU to the CPU, and every later predict_proba would then fail."""
    params = {**quick_params(name), "epochs": 1, "flip": True}  # below the space's range
    model = families.get(name)(params, seed=0, threads=1, device="cpu").fit(tiny_split)
    before = model.predict_proba(tiny_split.X_val[:16])
    network = model.model_
    network.train()
    state = {k: v.clone() for k, v in network.state_dict().items()}
    tensors = {
        k: (p.data_ptr(), p.device, p.dtype, p.requires_grad) for k, p in network.named_parameters()
    }

    deployed = model.deploy_module()

    assert model.model_ is network and network.training
    assert {
        k: (p.data_ptr(), p.device, p.dtype, p.requires_grad) for k, p in network.named_parameters()
    } == tensors
    assert all(torch.equal(v, state[k]) for k, v in network.state_dict().items())
    assert not {p.data_ptr() for p in deployed.parameters()} & {v[0] for v in tensors.values()}
    assert not deployed.training
    assert all(p.device.type == "cpu" for p in deployed.parameters())
    torch.testing.assert_close(model.predict_proba(tiny_split.X_val[:16]), before)
    x = torch.from_numpy(tiny_split.X_val[:16].astype("float32"))
    torch.testing.assert_close(deployed(x).detach().double().numpy(), before, atol=1e-5, rtol=1e-4)


def test_the_cpu_prediction_time_is_timed_on_a_copy_for_all_the_views(
    tiny_split: Split, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A network trained on a GPU keeps time for its ONNX graph's check on the CPU after its
    last epoch: timed on a CPU copy (the network in training stays as it is), every test-time
    view in it, scaled from the images timed to the ones to predict."""
    params = {**quick_params("cnn"), "epochs": 1, "flip": True}
    model = families.get("cnn")(params, seed=0, threads=1, device="cpu").fit(tiny_split)
    network = model.model_
    network.train()
    state = {k: v.clone() for k, v in network.state_dict().items()}
    calls: list[int] = []
    deploy = type(model).deploy_module

    def counted(self: object) -> object:
        module = deploy(self)  # type: ignore[arg-type]
        forward = module.forward

        def spy(x: torch.Tensor) -> torch.Tensor:
            calls.append(len(x))
            return forward(x)

        module.forward = spy  # type: ignore[method-assign]
        return module

    monkeypatch.setattr(type(model), "deploy_module", counted)
    seconds = model.cpu_prediction_seconds(10_000, sample=16)
    assert seconds > 0 and calls == [2, 16]  # a warm-up, then the timed images
    assert model.model_ is network and network.training
    assert all(torch.equal(v, state[k]) for k, v in network.state_dict().items())
    assert len(model.tta_views) == 2  # the copy averages the flipped view: in the time


def test_mixed_precision_is_bfloat16_where_the_chip_has_it_else_float16_on_a_gpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The dtype choice runs on CPU; only the kernels need the GPU. A CPU without native
    bfloat16 trains in float32."""
    import torch

    from automl_fashion.families import _device
    from automl_fashion.families._torch import amp_dtype

    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    assert amp_dtype(torch.device("cpu")) == torch.bfloat16
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert amp_dtype(torch.device("cpu")) is None
    monkeypatch.setattr(_device, "cpu_has_bf16", lambda: True)
    assert amp_dtype(torch.device("mps")) is None
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert amp_dtype(torch.device("cuda")) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert amp_dtype(torch.device("cuda:1")) == torch.float16


@pytest.mark.parametrize("amp", [torch.bfloat16, None])
def test_a_cpu_fit_trains_in_the_chosen_precision_and_predicts_in_float32(
    amp: torch.dtype | None, tiny_split: Split, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Training and the rungs' validation run under autocast in ``amp_dtype``'s choice
    (bfloat16 on a CPU with bfloat16 instructions: the rungs' validation in half the time);
    the weights and predictions (the trial's value, the export) stay float32, so the
    exported graph computes what the trial measured."""
    from automl_fashion.families import _torch

    monkeypatch.setattr(_torch, "amp_dtype", lambda device: amp)
    seen: list[tuple[bool, torch.dtype]] = []
    model = families.get("cnn")({**quick_params("cnn"), "epochs": 1}, seed=0, device="cpu")
    build = model.build_network

    def spied() -> torch.nn.Module:
        net = build()
        net.register_forward_hook(lambda m, i, out: seen.append((m.training, out.dtype)))
        return net

    monkeypatch.setattr(model, "build_network", spied)
    model.fit(tiny_split, lambda step, acc: None)
    fitting, seen[:] = list(seen), []
    proba = model.predict_proba(tiny_split.X_val[:8])
    assert {dtype for training, dtype in fitting if training} == {amp or torch.float32}
    assert {dtype for training, dtype in fitting if not training} == {amp or torch.float32}
    assert seen and {dtype for training, dtype in seen} == {torch.float32}
    assert not any(training for training, dtype in seen)
    assert all(p.dtype == torch.float32 for p in model.model_.parameters())
    assert np.allclose(proba.sum(1), 1.0, atol=1e-5)


# -- any data set -----------------------------------------------------------------------
def test_fashion_mnist_pixels_are_normalised_and_shifted_exactly_as_before(
    tiny_split: Split,
) -> None:
    """The per-channel code keeps Fashion-MNIST's numbers bit for bit: the old formulas
    (one channel, the constants 0.2860 and 0.3530) written out here."""
    import torch.nn.functional as F

    from automl_fashion.families._torch import augment, shifted, to_tensor

    mean, std = 0.2860, 0.3530
    X = tiny_split.X_val[:64]
    x = to_tensor(X, torch.device("cpu"), tiny_split.info)
    old = ((torch.from_numpy(X).float().unsqueeze(1) / 255.0) - mean) / std
    assert torch.equal(x, old)

    def old_shift(x: torch.Tensor, gen: torch.Generator, shift: int) -> torch.Tensor:
        b, _, h, w = x.shape
        padded = F.pad(x, (shift, shift, shift, shift), value=-mean / std)
        dy = torch.randint(0, 2 * shift + 1, (b,), generator=gen)
        dx = torch.randint(0, 2 * shift + 1, (b,), generator=gen)
        rows = (dy[:, None] + torch.arange(h))[:, :, None]
        cols = (dx[:, None] + torch.arange(w))[:, None, :]
        return padded[torch.arange(b)[:, None, None], 0, rows, cols].unsqueeze(1)

    new = augment(x, torch.Generator().manual_seed(3), flip=False, shift=2, erase=0.0)
    assert torch.equal(new, old_shift(x, torch.Generator().manual_seed(3), 2))
    old_up = F.pad(x, (1, 1, 1, 1), value=-mean / std)[:, :, 2:30, 1:29]
    assert torch.equal(shifted(x, -1, 0), old_up)


def test_colour_pixels_are_normalised_per_channel_and_padded_with_each_background(
    rgb_split: Split,
) -> None:
    from automl_fashion.families._torch import augment, background, shifted, to_tensor

    info = rgb_split.info
    X = rgb_split.X_val[:8]
    x = to_tensor(X, torch.device("cpu"), info)
    assert x.shape == (8, *info.shape)
    for c in range(3):
        expected = (X[..., c] / 255.0 - info.mean[c]) / info.std[c]
        np.testing.assert_allclose(x[:, c].numpy(), expected, atol=1e-5)
    fill = background(info)
    moved = shifted(x, 2, 0, fill)
    for c in range(3):  # the two uncovered rows hold a black pixel's normalised value
        torch.testing.assert_close(moved[:, c, :2], torch.full((8, 2, 24), fill[c]))
    assert torch.equal(moved[:, :, 2:], x[:, :, :-2])
    shifted_batch = augment(
        x, torch.Generator().manual_seed(0), flip=False, shift=3, erase=0.0, fill=fill
    )
    assert shifted_batch.shape == x.shape
    # every value is either a pixel of its own channel or that channel's background
    for c in range(3):
        values = shifted_batch[:, c]
        black = torch.tensor(fill[c], dtype=values.dtype)
        assert bool((torch.isin(values, x[:, c]) | (values == black)).all())
        assert bool((values == black).any())


@pytest.mark.parametrize("name", ["mlp", "cnn", "resnet"])
def test_networks_take_the_data_sets_channels_and_give_one_logit_per_class(
    name: str, rgb_split: Split
) -> None:
    model = families.create(name, quick_params(name), seed=0, threads=1)
    model.info_ = rgb_split.info  # what fit sets
    net = model.build_network()  # type: ignore[attr-defined]
    assert net(torch.zeros(2, 3, 20, 24)).shape == (2, 3)
    tiny = dataclasses.replace(rgb_split.info, shape=(3, 5, 7))  # pooled to 1 x 1 and kept
    model.info_ = tiny
    assert model.build_network()(torch.zeros(2, 3, 5, 7)).shape == (2, 3)  # type: ignore[attr-defined]


def test_fashion_mnist_networks_are_built_as_before() -> None:
    """Same layers, same sizes, so the same seed gives the same initial weights."""
    counts = {
        name: sum(p.numel() for p in families.create(name).build_network().parameters())  # type: ignore[attr-defined]
        for name in ("mlp", "cnn", "resnet")
    }
    assert counts == {"mlp": 671754, "cnn": 32154, "resnet": 174466}


def test_no_flips_where_a_mirror_changes_the_label(
    digits_like_split: Split, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A digits-like data set: a network asked to flip trains without flips, predicts
    without flip TTA and says so in its params (which the model card shows)."""
    from automl_fashion.families import _torch

    seen: list[bool] = []
    original = _torch.augment

    def spy(x: torch.Tensor, gen: torch.Generator, **kwargs: object) -> torch.Tensor:
        seen.append(bool(kwargs["flip"]))
        return original(x, gen, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_torch, "augment", spy)
    params = {**quick_params("cnn"), "flip": True, "epochs": 1}
    model = families.get("cnn")(params, seed=0, threads=1, device="cpu").fit(digits_like_split)
    assert seen and not any(seen)
    assert model.params["flip"] is False and params["flip"] is True
    assert not model.flip_tta and model.tta_views == [(False, 0, 0)]  # type: ignore[attr-defined]


def test_erasing_follows_the_schedule_the_deadline_leaves(
    tiny_split: Split, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A network planned for more epochs than its family erases from (the 10-minute
    search's lone cnn: 40 planned, ~16 trained) erases in its first epoch only: cut after
    it, it trains the shorter run's augmentation; lengthened again past the threshold, it
    erases again."""
    from automl_fashion.families import _torch
    from automl_fashion.families._schedule import Pacer

    cnn = families.get("cnn")
    assert cnn.erase_from_epochs > 3
    erased: list[tuple[int, float]] = []
    original = _torch.augment
    epoch = 0

    def spy(x: torch.Tensor, gen: torch.Generator, **kwargs: object) -> torch.Tensor:
        erased.append((epoch, float(kwargs["erase"])))  # type: ignore[arg-type]
        return original(x, gen, **kwargs)  # type: ignore[arg-type]

    # cut to 3 after epoch 1, lengthened to the threshold after epoch 2, ended after 3
    lengths = {1: 3, 2: cnn.erase_from_epochs}

    def paced(self: Pacer, done: int, epochs: int, *args: object) -> int:
        nonlocal epoch
        epoch = done + 1
        return lengths.get(done, 3)

    monkeypatch.setattr(_torch, "augment", spy)
    monkeypatch.setattr(Pacer, "epochs_after", paced)
    params = {**quick_params("cnn"), "erase": 0.3, "epochs": 40}
    model = cnn(params, seed=0, threads=1, device="cpu")
    model.fit(tiny_split, deadline=time.time() + 3600)
    assert model.params["epochs"] == 3 and model.params["erase"] == 0.0  # as it ended
    by_epoch = {e: {r for k, r in erased if k == e} for e in (0, 2, 3)}
    assert by_epoch == {0: {0.3}, 2: {0.0}, 3: {0.3}}


# -- networks that stop learning ------------------------------------------------------------
@pytest.mark.parametrize(
    ("chance_epochs", "stops_at"),
    [
        ({2, 3}, 3),  # two epochs in a row at chance once STALL_STEPS are taken
        ({2, 4}, None),  # not in a row: a slow start is not a dead network
        ({1, 2}, None),  # epoch 1 comes before STALL_STEPS steps and does not count
        ({3, 4, 5, 6}, 4),
    ],
)
def test_a_network_at_chance_for_two_epochs_in_a_row_stops_there(
    chance_epochs: set[int],
    stops_at: int | None,
    tiny_split: Split,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Validation accuracy no better than the commonest class, two epochs in a row after
    STALL_STEPS steps, raises NotLearning at the second; anything else trains on. The
    validation logits are scripted: chance level (all zeros, so always class 0) in
    ``chance_epochs``, every answer right otherwise."""
    from automl_fashion.families import _torch

    params = {**quick_params("mlp"), "epochs": 6, "batch_size": 512}
    model = families.create("mlp", params, threads=1, device="cpu")
    steps_per_epoch = -(-len(tiny_split.y_train) // 512)
    monkeypatch.setattr(_torch, "STALL_STEPS", 2 * steps_per_epoch)  # from epoch 2 on
    right = torch.nn.functional.one_hot(torch.from_numpy(tiny_split.y_val), 10).float()
    calls: list[int] = []

    def scripted(X: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return torch.zeros(len(X), 10) if len(calls) in chance_epochs else right

    monkeypatch.setattr(model, "_logits", scripted)
    if stops_at is None:
        model.fit(tiny_split)
        assert len(model.history_) == 6
    else:
        with pytest.raises(families.NotLearning, match="no better than always answering"):
            model.fit(tiny_split)
        assert len(model.history_) == stops_at
    assert [acc for _, acc in model.history_] == pytest.approx(
        [0.1 if epoch in chance_epochs else 1.0 for epoch in range(1, len(model.history_) + 1)]
    )
