"""Family-specific behaviour of the classical families (linear, svm, boosting) on tiny data."""

from __future__ import annotations

import numpy as np
import pytest

from automl_fashion import families
from automl_fashion.data import Split
from automl_fashion.errors import ConfigError
from automl_fashion.families import TrainingDiverged
from automl_fashion.search_space import load_space


class Stop(Exception):
    """Stands in for optuna.TrialPruned / a budget stop raised by the report callback."""


def params(name: str, **overrides: object) -> dict:
    return load_space(name).validate({**load_space(name).init, **overrides})


# -- linear -----------------------------------------------------------------------------
def test_linear_reports_every_epoch_and_proba_agrees_with_decision(tiny_split: Split) -> None:
    model = families.create("linear", params("linear", epochs=4), threads=1)
    model.fit(tiny_split)
    assert [s for s, _ in model.history_] == [1, 2, 3, 4]
    proba = model.predict_proba(tiny_split.X_val)
    decision = model.model_.decision_function(model._features(tiny_split.X_val))
    # confident classes must not tie at probability 1.0 (float32 expit saturation)
    np.testing.assert_array_equal(proba.argmax(1), decision.argmax(1))
    assert model.history_[-1][1] == pytest.approx(np.mean(proba.argmax(1) == tiny_split.y_val))


def test_linear_absurd_learning_rate_raises_training_diverged(tiny_split: Split) -> None:
    p = params("linear", features="pixels", learning_rate="constant", eta0=0.1, epochs=3)
    p.update(eta0=1e300, alpha=1.0)  # outside the search space: construct directly
    model = families.get("linear")(p, threads=1)
    with pytest.raises(TrainingDiverged, match="linear"):
        model.fit(tiny_split)


def test_linear_report_exception_propagates(tiny_split: Split) -> None:
    def report(step: int, acc: float) -> None:
        if step == 2:
            raise Stop

    model = families.create("linear", params("linear", features="pixels", epochs=5), threads=1)
    with pytest.raises(Stop):
        model.fit(tiny_split, report)
    assert [s for s, _ in model.history_] == [1, 2]


# -- svm --------------------------------------------------------------------------------
def test_svm_rung_sizes_double_and_are_capped_by_the_data() -> None:
    from automl_fashion.families.svm import rung_sizes

    assert rung_sizes(50_000, 50_000) == [6250, 12500, 25000, 50000]
    assert rung_sizes(60_000, 50_000) == [6250, 12500, 25000, 50000]
    assert rung_sizes(20_000, 50_000) == [2500, 5000, 10000, 20000]
    assert rung_sizes(5000, 3000) == [750, 1500, 3000]
    assert rung_sizes(5000, 600) == [600]


def test_svm_balanced_order_keeps_class_proportions_in_every_prefix() -> None:
    from automl_fashion.families.svm import balanced_order

    y = np.repeat(np.arange(10), 100)
    order = balanced_order(y, np.random.default_rng(0))
    assert sorted(order) == list(range(1000))
    for n in (50, 250, 500):
        counts = np.bincount(y[order[:n]], minlength=10)
        assert counts.max() - counts.min() <= 1


def test_svm_rungs_are_increasing_train_sizes(tiny_split: Split) -> None:
    p = params("svm", features="pixels", pca_components=32, train_size=5000)
    model = families.create("svm", p, threads=1).fit(tiny_split)
    assert [s for s, _ in model.history_] == [750, 1500, 3000]
    assert model.model_.shape_fit_[0] == 3000
    proba = model.predict_proba(tiny_split.X_val)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    assert model.history_[-1][1] == pytest.approx(np.mean(proba.argmax(1) == tiny_split.y_val))


def test_svm_report_exception_stops_before_larger_rungs(tiny_split: Split) -> None:
    def report(step: int, acc: float) -> None:
        raise Stop

    p = params("svm", features="pixels", pca_components=32, train_size=5000)
    model = families.create("svm", p, threads=1)
    with pytest.raises(Stop):
        model.fit(tiny_split, report)
    assert model.model_.shape_fit_[0] == 750


# -- boosting ---------------------------------------------------------------------------
def quick_boosting(**overrides: object) -> dict:
    base = dict(features="hog", hog_cell=7, max_bin=16, max_depth=3, eta=0.5)
    return params("boosting", **{**base, **overrides})


def test_boosting_early_stopping_ends_before_n_rounds(tiny_split: Split) -> None:
    p = quick_boosting(n_rounds=300, early_stopping_rounds=5)
    model = families.create("boosting", p, threads=1).fit(tiny_split)
    assert model.rounds_trained_ < 300
    steps = [s for s, _ in model.history_]
    assert steps[-1] == model.rounds_trained_
    assert all(s % 10 == 0 for s in steps[:-1])
    # the booster is cut back to its best round
    assert model.booster_.num_boosted_rounds() <= model.rounds_trained_ - 5 + 1
    proba = model.predict_proba(tiny_split.X_val)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-5)


def test_boosting_reports_the_accuracy_of_the_model_it_keeps(tiny_split: Split) -> None:
    """Early stopping keeps the best round's booster; the last report must be its accuracy
    (the last round's was reported before: 0.800 here, for a kept model at 0.792)."""
    model = families.create(
        "boosting", quick_boosting(n_rounds=300, early_stopping_rounds=5), threads=1
    )
    model.fit(tiny_split)
    kept = model.booster_.num_boosted_rounds()
    assert kept < model.rounds_trained_  # the best round is not the last
    kept_accuracy = float(np.mean(model.predict(tiny_split.X_val) == tiny_split.y_val))
    assert model.history_[-1][1] == pytest.approx(kept_accuracy, abs=1 / len(tiny_split.y_val))
    # rungs after the best round report the kept model too, not the rounds after it
    after_best = [acc for step, acc in model.history_ if step >= kept]
    assert after_best == [model.history_[-1][1]] * len(after_best)


def test_boosting_report_exception_propagates_out_of_xgboost(tiny_split: Split) -> None:
    def report(step: int, acc: float) -> None:
        if step == 20:
            raise Stop

    model = families.create("boosting", quick_boosting(n_rounds=100), threads=1)
    with pytest.raises(Stop):
        model.fit(tiny_split, report)
    assert [s for s, _ in model.history_] == [10, 20]


def test_boosting_ends_before_the_deadline_with_the_trees_it_has(tiny_split: Split) -> None:
    """A booster that cannot train all its rounds in time keeps the ones it trained (as a
    network shortens its schedule) instead of being stopped at the deadline with nothing:
    the fit returns before the deadline, and ``n_rounds`` says how many rounds it had."""
    import time

    from automl_fashion.families.boosting import FINISH_SECONDS

    def slow(step: int, acc: float) -> None:
        time.sleep(0.2)  # 500 rounds need > 10 s; the deadline comes after ~3

    p = quick_boosting(n_rounds=500, early_stopping_rounds=50, eta=0.02)
    model = families.create("boosting", p, threads=1)
    deadline = time.time() + FINISH_SECONDS + 3.0
    model.fit(tiny_split, slow, deadline=deadline)
    assert time.time() < deadline
    trained = model.rounds_trained_
    assert 10 <= trained < 500
    assert model.params["n_rounds"] == trained  # recorded, as a network's shorter epochs
    assert model.history_[-1][0] == trained
    assert model.booster_.num_boosted_rounds() <= trained
    assert model.predict(tiny_split.X_val).shape == (len(tiny_split.y_val),)
    # early stopping is not a deadline: n_rounds stays what was asked for
    model = families.create("boosting", quick_boosting(n_rounds=300, early_stopping_rounds=5))
    model.fit(tiny_split, deadline=time.time() + 3600)
    assert model.rounds_trained_ < 300 and model.params["n_rounds"] == 300


def test_boosting_stops_where_one_more_round_would_end_too_close_to_the_deadline() -> None:
    from automl_fashion.families.boosting import FINISH_SECONDS, ends_past

    assert not ends_past(None, 1e12, 5.0)
    assert not ends_past(100.0, 0.0, 100.0 - FINISH_SECONDS - 1)
    assert ends_past(100.0, 0.0, 100.0 - FINISH_SECONDS + 1)
    assert ends_past(100.0, 95.0, 0.1)  # inside the finishing margin


# -- search spaces ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("linear", {"alpha": 1.0}),
        ("svm", {"C": 0.0}),
        ("boosting", {"max_bin": 100}),
    ],
)
def test_out_of_range_params_are_rejected_by_the_space(name: str, bad: dict) -> None:
    with pytest.raises(ConfigError, match=next(iter(bad))):
        families.create(name, {**load_space(name).init, **bad})


@pytest.mark.parametrize("name", ["linear", "svm", "boosting"])
def test_hog_cell_exists_only_with_hog_features(name: str) -> None:
    space = load_space(name)
    init = {k: v for k, v in space.init.items() if k != "hog_cell"}
    assert "hog_cell" not in space.validate({**init, "features": "pixels"})
    with pytest.raises(ConfigError, match="hog_cell"):
        space.validate({**init, "features": "hog"})


def test_hog_of_the_same_images_is_computed_once_per_process(tiny_split: Split) -> None:
    from automl_fashion.families import _features

    X = tiny_split.X_train  # 3,000 images: above the smallest batch that is kept
    first = _features.hog(X, cell=7)
    again = _features.hog(X.copy(), cell=7)  # same bytes, another array
    assert again is first and not first.flags.writeable
    assert _features.hog(X, cell=4) is not first  # another cell size is another entry
    changed = X.copy()
    changed[0, 10, 10] ^= 0xFF
    other = _features.hog(changed, cell=7)
    assert other is not first and not np.array_equal(other[0], first[0])
    assert np.array_equal(other[1:], first[1:])
    small = _features.hog(X[:100], cell=7)  # below the threshold: computed, not kept
    assert small.flags.writeable and np.array_equal(small, first[:100])


# -- two classes ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["linear", "svm", "boosting"])
def test_two_classes_give_two_columns_that_the_deployed_model_reproduces(
    name: str, tiny_split: Split
) -> None:
    """sklearn fits one binary model for two classes (one decision value, not two): the
    probabilities still have a column per class, as in the exported graph."""
    import dataclasses

    import torch

    from automl_fashion.data import FASHION_MNIST

    info = dataclasses.replace(FASHION_MNIST, name="test:shirt-or-pullover", classes=("a", "b"))
    train, val = np.isin(tiny_split.y_train, (2, 6)), np.isin(tiny_split.y_val, (2, 6))
    split = Split(
        tiny_split.X_train[train],
        (tiny_split.y_train[train] == 6).astype(np.int64),
        tiny_split.X_val[val],
        (tiny_split.y_val[val] == 6).astype(np.int64),
        info,
    )
    overrides = {"svm": {"train_size": 5000, "pca_components": 32}, "boosting": {"n_rounds": 20}}
    model = families.create(name, params(name, **overrides.get(name, {})), threads=1).fit(split)
    proba = model.predict_proba(split.X_val)
    assert proba.shape == (len(split.y_val), 2)
    assert np.mean(proba.argmax(1) == split.y_val) > 0.6
    if name == "boosting":
        from automl_fashion.onnx_export import INPUT, onnx_session

        session = onnx_session(model.to_onnx().SerializeToString())  # type: ignore[attr-defined]
        (deployed,) = session.run(None, {INPUT: split.X_val[:, None].astype(np.float32)})
    else:
        with torch.no_grad():
            deployed = model.deploy_module()(torch.from_numpy(split.X_val.astype(np.float32)))
    np.testing.assert_allclose(np.asarray(deployed, np.float64), proba, atol=1e-4)


def test_svm_predictions_are_split_across_its_threads_and_unchanged(
    tiny_split: Split, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libsvm releases the GIL: the svm predicts its rows in one part per thread (10,000
    images in half the time on two threads here), the same predictions as in one part."""
    p = params("svm", features="hog", pca_components=32, train_size=5000)
    model = families.create("svm", p, threads=2).fit(tiny_split)
    X = np.concatenate([tiny_split.X_train[:2000], tiny_split.X_val])  # 2,500 rows
    decide = model.model_.decision_function
    rows: list[int] = []

    def spied(Z: np.ndarray) -> np.ndarray:
        rows.append(len(Z))
        return decide(Z)

    monkeypatch.setattr(model.model_, "decision_function", spied)
    two = model.predict_proba(X)
    assert sorted(rows) == [1250, 1250]
    rows.clear()
    model.threads = 1
    one = model.predict_proba(X)  # (PCA's float32 BLAS sums differ in the last bits)
    np.testing.assert_allclose(one, two, rtol=1e-5, atol=1e-7)
    assert (one.argmax(1) == two.argmax(1)).all() and rows == [2500]
    model.threads = 2
    model.predict_proba(X[:1500])  # fewer than two parts' worth (PARALLEL_ROWS each)
    assert rows[1:] == [1500]
