"""The few seconds of measurement a plan starts from (real timings, loose bounds only)."""

from __future__ import annotations

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
