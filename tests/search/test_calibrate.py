"""The few seconds of measurement a plan starts from (real timings, loose bounds only)."""

from __future__ import annotations

import pytest

from automl_fashion.search.calibrate import REFERENCE, measure_speeds, step_seconds


def test_networks_are_timed_and_the_others_scaled_from_the_reference() -> None:
    speeds = measure_speeds(["cnn", "svm"], n_train=5_000, cores=2)
    assert speeds.epochs == {"cnn": 16}  # the init's epochs, which a plan may shorten
    assert speeds.fit_seconds["cnn"] > 0
    # svm is not timed: its reference fit on 50,000 images, scaled to 5,000 and this machine
    ratio = speeds.fit_seconds["svm"] / (REFERENCE["svm"][0] / 10)
    assert 0.05 < ratio < 20
    assert 1.0 <= speeds.speedup <= 2.0
    assert set(speeds.predict_seconds) == {"cnn", "svm"}
    assert "measured" in speeds.source


def test_a_step_is_timed_on_the_device_it_names() -> None:
    seconds, batch = step_seconds("cnn", 1, device="cpu")
    assert seconds > 0 and batch == 128


@pytest.mark.parametrize("amp", ["bfloat16", None])
def test_a_step_is_timed_in_the_precision_the_family_trains_in(
    amp: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan sizes networks from these timings: a step timed in float32 where training
    runs in bfloat16 (1.4-1.5x faster on this machine) would make it cut epochs for nothing."""
    import torch

    from automl_fashion.families import _torch
    from automl_fashion.families.cnn import CNNFamily

    dtype = getattr(torch, amp) if amp else None
    monkeypatch.setattr(_torch, "amp_dtype", lambda device: dtype)
    seen: set[torch.dtype] = set()
    build = CNNFamily.build_network

    def spied(self: CNNFamily) -> torch.nn.Module:
        net = build(self)
        net.register_forward_hook(lambda m, i, out: seen.add(out.dtype))
        return net

    monkeypatch.setattr(CNNFamily, "build_network", spied)
    step_seconds("cnn", 1, device="cpu")
    assert seen == {dtype or torch.float32}
