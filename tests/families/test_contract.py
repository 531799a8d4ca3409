"""Contract tests run over every registered family and every test data set: a new family is
tested by joining. The data sets: a Fashion-MNIST subset (``fashion``) and 3 classes of
20 x 24 colour pictures (``rgb``, see conftest.py)."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest

from automl_fashion import families
from automl_fashion.data import Split
from automl_fashion.search_space import load_space

FAMILIES = families.names()
DATASETS = ("fashion", "rgb")
SPLITS = {"fashion": "tiny_split", "rgb": "rgb_split"}


def quick_params(name: str) -> dict:
    """The family's init configuration, shrunk so that a fit takes seconds."""
    space = load_space(name)
    params = dict(space.init)
    shrink = {"epochs": 3, "max_epochs": 3, "n_rounds": 30, "max_iter": 3}
    lows = {p.name: p.low for p in space.params if p.low is not None}
    for key, value in shrink.items():
        if key in params:
            params[key] = max(int(lows.get(key) or 0), min(params[key], value))
    return space.validate(params)


@pytest.fixture(scope="module", params=DATASETS)
def data(request: pytest.FixtureRequest) -> Split:
    split: Split = request.getfixturevalue(SPLITS[request.param])
    return split


@pytest.fixture(scope="module", params=FAMILIES)
def fitted(request: pytest.FixtureRequest, data: Split):
    name = request.param
    model = families.create(name, quick_params(name), seed=0, threads=1, device="cpu")
    reports: list[tuple[int, float]] = []
    thread_checks: list[tuple[int, int | None]] = []

    def report(step: int, acc: float) -> None:
        from threadpoolctl import threadpool_info

        reports.append((step, acc))
        blas = max((p["num_threads"] for p in threadpool_info()), default=1)
        torch = sys.modules.get("torch")
        thread_checks.append((blas, torch.get_num_threads() if torch else None))

    model.fit(data, report)
    return name, model, reports, thread_checks


def test_reports_arrive_in_order_with_sane_accuracy(fitted) -> None:
    name, _, reports, _ = fitted
    assert len(reports) >= 2, f"{name} reported {len(reports)} rung(s)"
    steps = [s for s, _ in reports]
    assert steps == sorted(set(steps))
    assert all(0.0 <= a <= 1.0 for _, a in reports)
    # 300 (fashion) or 400 (rgb) images per class: every family beats chance by far
    assert max(a for _, a in reports) > 0.5


def test_probabilities_have_right_shape_and_sum_to_one(fitted, data: Split) -> None:
    _, model, _, _ = fitted
    proba = model.predict_proba(data.X_val)
    assert proba.shape == (len(data.X_val), data.info.n_classes)
    assert np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-4)
    acc = float(np.mean(proba.argmax(1) == data.y_val))
    assert acc == pytest.approx(fitted[2][-1][1], abs=0.05)


def test_the_fitted_model_keeps_its_data_set_and_checks_inputs_against_it(
    fitted, data: Split
) -> None:
    from automl_fashion.errors import ConfigError

    _, model, _, _ = fitted
    assert model.info_ == data.info
    X = data.X_val[:20]
    c, h, w = data.info.shape
    channels_first = X.reshape(20, 1, h, w) if c == 1 else X.transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(model.predict_proba(channels_first), model.predict_proba(X))
    other = np.zeros((20, 28, 28) if (h, w) != (28, 28) else (20, 20, 24, 3), np.uint8)
    with pytest.raises(ConfigError, match=rf"X: expected images .* N x {h} x {w}.*got shape"):
        model.predict_proba(other)


def test_a_model_loaded_back_still_predicts_on_its_data_set(fitted, data: Split) -> None:
    """The data set travels with the model (``info_``): a deep copy predicts the same and
    deploys for the same input shape."""
    import copy

    _, model, _, _ = fitted
    again = copy.deepcopy(model)
    assert again.info == data.info
    X = data.X_val[:20]  # (equal up to BLAS rounding: the copy's arrays lie elsewhere)
    np.testing.assert_allclose(again.predict_proba(X), model.predict_proba(X), atol=1e-7)


def test_the_deployed_module_and_its_onnx_graph_agree_with_predict_proba(
    fitted, data: Split
) -> None:
    """What export turns into ONNX (raw pixels 0..255, N x C x H x W) predicts what the
    model does, on the data set's own shape."""
    import torch

    from automl_fashion.onnx_export import INPUT, onnx_session, to_onnx

    _, model, _, _ = fitted
    X = data.X_val[:100]
    expected = model.predict_proba(X)
    c = data.info.channels
    pixels = (X[:, None] if c == 1 else X.transpose(0, 3, 1, 2)).astype(np.float32)
    if not hasattr(model, "to_onnx"):  # trees have no torch module
        with torch.no_grad():
            deployed = model.deploy_module()(torch.from_numpy(pixels)).double().numpy()
        np.testing.assert_allclose(deployed, expected, atol=1e-4)
    session = onnx_session(to_onnx(model).SerializeToString())
    assert session.get_inputs()[0].shape == ["N", *data.info.shape]
    (onnx_proba,) = session.run(None, {INPUT: pixels})
    assert onnx_proba.shape == expected.shape
    np.testing.assert_allclose(onnx_proba, expected, atol=1e-3)
    assert np.mean(onnx_proba.argmax(1) == expected.argmax(1)) >= 0.99


def test_thread_limit_is_honoured(fitted) -> None:
    name, _, _, checks = fitted
    for blas, torch_threads in checks:
        assert blas == 1, f"{name}: BLAS ran with {blas} threads"
        assert torch_threads in (None, 1), f"{name}: torch ran with {torch_threads} threads"


def test_init_is_valid_for_every_family() -> None:
    for name in FAMILIES:
        space = load_space(name)
        assert space.validate(space.init) == space.init


def test_importing_the_package_does_not_import_heavy_libraries() -> None:
    import subprocess

    code = (
        "import sys, automl_fashion, automl_fashion.families, automl_fashion.cli;"
        "bad = [m for m in ('torch', 'xgboost', 'sklearn') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_flip_trained_networks_average_each_image_with_its_mirror(fitted, data: Split) -> None:  # type: ignore[no-untyped-def]
    """Test-time augmentation: a network trained with flips sees both orientations."""
    name, model, _, _ = fitted
    if not getattr(model, "flip_tta", False):
        pytest.skip(f"{name} is not a network trained with flips")
    X = data.X_val[:200]
    mirrored = model.predict_proba(np.ascontiguousarray(X[:, :, ::-1]))
    assert np.allclose(model.predict_proba(X), mirrored, atol=1e-5)


def test_epochs_within_a_deadline() -> None:
    from automl_fashion.families._schedule import MIN_EPOCHS, epochs_within

    assert epochs_within(100.0, 0.0, 10.0, planned=5) == 5  # all fit: unchanged
    assert epochs_within(100.0, 0.0, 10.0, planned=40) == 10  # 9 more, half an epoch kept
    assert epochs_within(100.0, 0.0, 19.0, planned=40) == 5
    assert epochs_within(100.0, 95.0, 10.0, planned=40) == MIN_EPOCHS  # never below
    # the time to finish kept: 20 s and a quarter epoch (22.5 s) leave 7 more epochs
    assert epochs_within(100.0, 0.0, 10.0, planned=40, finish=20.0) == 8
    assert epochs_within(100.0, 0.0, 10.0, planned=40, finish=1.0) == 10  # half an epoch
    # a long run keeps a share of the time left for later epochs slower than the first: of
    # 3,000 s, 90 s (not a quarter epoch and finish, 37.5 s), so 41 more epochs, not 42
    assert epochs_within(3000.0, 0.0, 70.0, planned=60, finish=20.0) == 42
    # after three epochs, three more than what fits in the time left, and one more at least
    assert epochs_within(100.0, 0.0, 10.0, planned=40, done=3) == 12
    assert epochs_within(100.0, 99.0, 10.0, planned=40, done=5) == 6


def test_a_network_paces_itself_again_after_its_first_slow_epoch() -> None:
    """The first epoch's pace cuts the schedule; the pace of the epochs after it, measured
    at RECHECK_EPOCH, lengthens it again, up to the planned epochs: an H200's resnet, its
    first epoch 9-10 s and the others ~2.5 s, ended at 266 s of its 420."""
    from automl_fashion.families._schedule import RECHECK_EPOCH, Pacer

    assert RECHECK_EPOCH == 2
    pacer = Pacer(deadline=420.0, planned=240)
    epochs = pacer.epochs_after(1, 240, started=0.0, now=10.0, finish=2.0)
    assert epochs == 1 + int((410.0 - 0.03 * 410.0) // 10.0) == 40  # cut at the first pace
    # at 2.5 s an epoch, 2 + (407.5 s less 3% of it) / 2.5 s
    epochs = pacer.epochs_after(2, epochs, started=10.0, now=12.5, finish=2.0)
    assert epochs == 2 + int((407.5 - 0.03 * 407.5) // 2.5) == 160
    # on pace: never shorter after a later epoch; in the first half of the schedule a few
    # epochs longer, as the 3% of the time left kept for slow epochs shrinks
    now, seen = 12.5, []
    for epoch in range(3, 100):
        started, now = now, now + 2.5
        epochs = pacer.epochs_after(epoch, epochs, started, now, finish=2.0)
        seen.append(epochs)
    assert seen == sorted(seen) and seen[0] >= 160 and seen[-1] <= 164
    # never past the planned epochs
    pacer = Pacer(deadline=420.0, planned=50)
    epochs = pacer.epochs_after(1, 50, started=0.0, now=10.0, finish=2.0)
    assert pacer.epochs_after(2, epochs, started=10.0, now=12.5, finish=2.0) == 50


def test_a_network_that_slows_down_shortens_its_schedule_again() -> None:
    """After RECHECK_EPOCH a network whose epochs slow down (the other worker starts a
    network beside it) shortens its schedule where it would end past the deadline, at the
    slower of its pace and the mean of its last three epochs."""
    from automl_fashion.families._schedule import RECENT_EPOCHS, Pacer

    assert RECENT_EPOCHS == 3
    pacer = Pacer(deadline=100.0, planned=40)
    assert pacer.epochs_after(1, 40, started=0.0, now=2.0, finish=1.0) == 40
    assert pacer.epochs_after(2, 40, started=2.0, now=4.0, finish=1.0) == 40  # 48 would fit
    assert pacer.epochs_after(3, 40, started=4.0, now=6.0, finish=1.0) == 40
    assert pacer.epochs_after(4, 40, started=6.0, now=8.0, finish=1.0) == 40
    # epoch 5 takes 4 s: the last three took 8 s, and 35 more at 8/3 s end past the
    # deadline; 88 s left less 3% of them, at 8/3 s, is 32 more
    assert pacer.epochs_after(5, 40, started=8.0, now=12.0, finish=1.0) == 5 + 32
    # one slow epoch where there is room for it changes nothing
    roomy = Pacer(deadline=200.0, planned=40)
    for epoch in range(1, 5):
        assert roomy.epochs_after(epoch, 40, 2.0 * (epoch - 1), 2.0 * epoch, 1.0) == 40
    assert roomy.epochs_after(5, 40, started=8.0, now=12.0, finish=1.0) == 40


def test_a_network_cut_by_one_slow_epoch_lengthens_its_schedule_again() -> None:
    """In the first half of a schedule shortened below the plan, a network whose slower
    pace (the mean since the first epoch, or of the last three) fits more epochs lengthens
    it again, up to the planned ones: one slow epoch no longer cuts it for good. In the
    second half it keeps the shorter schedule."""
    from automl_fashion.families._schedule import LENGTHEN_SHARE, Pacer

    assert LENGTHEN_SHARE == 0.5

    def cut_at_epoch_5() -> Pacer:
        # 2-s epochs, then a 4-s one: 40 planned, cut to 37 (the previous test)
        pacer = Pacer(deadline=100.0, planned=40)
        for epoch in range(1, 5):
            assert pacer.epochs_after(epoch, 40, 2.0 * (epoch - 1), 2.0 * epoch, 1.0) == 40
        assert pacer.epochs_after(5, 40, started=8.0, now=12.0, finish=1.0) == 37
        return pacer

    # three more 2-s epochs: the last three 2 s, since the first 2.29 s; 92 s left less
    # 3% at 2.29 s an epoch is 38 more: back to the 40 planned, and no more
    pacer = cut_at_epoch_5()
    now = 12.0
    for epoch in (6, 7):
        now += 2.0
        assert pacer.epochs_after(epoch, 37, now - 2.0, now, 1.0) == 37  # slower: 2.67 s
    assert pacer.epochs_after(8, 37, started=16.0, now=18.0, finish=1.0) == 40
    # a pace that fits one more than the schedule: that one
    pacer = cut_at_epoch_5()
    assert pacer.epochs_after(6, 37, started=12.0, now=14.0, finish=1.0) == 37
    assert pacer.epochs_after(7, 37, started=14.0, now=16.0, finish=1.0) == 37
    # 5-s epochs fit 19 of the 40 planned; past half of them, 1-s epochs change nothing
    late = Pacer(deadline=100.0, planned=40)
    for epoch in range(1, 11):
        assert late.epochs_after(epoch, 19, 5.0 * (epoch - 1), 5.0 * epoch, 1.0) == 19
    for epoch in range(11, 15):
        assert late.epochs_after(epoch, 19, 39.0 + epoch, 40.0 + epoch, 1.0) == 19


def test_a_network_a_little_behind_its_pace_keeps_its_schedule() -> None:
    """The time kept to finish is generous, so a projection less than half an epoch past the
    deadline keeps the schedule: a 10-minute search's 17-epoch cnn, cut to 16 on its last
    epochs' pace, ended 46 s early where 17 would have ended 19 s early."""
    from automl_fashion.families._schedule import OVERRUN_TOLERANCE, Pacer

    assert OVERRUN_TOLERANCE == 0.5
    # 17 epochs of 26 s and 20 s to finish fit 470 s with 8 s to spare; epoch 6 takes 27.8 s:
    # at the last three epochs' 26.6 s the rest would end 0.4 s past the deadline
    pacer = Pacer(deadline=470.0, planned=17)
    assert pacer.epochs_after(1, 17, started=0.0, now=26.0, finish=20.0) == 17
    for epoch in range(2, 6):
        started = 26.0 * (epoch - 1)
        assert pacer.epochs_after(epoch, 17, started, started + 26.0, 20.0) == 17
    assert pacer.epochs_after(6, 17, started=130.0, now=157.8, finish=20.0) == 17
    # epoch 6 in 34 s: at 28.7 s the rest would end 15 s past it, more than half an epoch
    late = Pacer(deadline=470.0, planned=17)
    for epoch in range(1, 6):
        started = 26.0 * (epoch - 1)
        assert late.epochs_after(epoch, 17, started, started + 26.0, 20.0) == 17
    assert late.epochs_after(6, 17, started=130.0, now=164.0, finish=20.0) == 15


def test_the_time_to_finish_grows_with_the_validation_and_the_views() -> None:
    from automl_fashion.families._schedule import FINISH_PASSES, FINISH_SECONDS, finish_seconds

    assert finish_seconds(0.0, 2) == FINISH_SECONDS
    assert finish_seconds(1.5, 2) == FINISH_SECONDS + 2 * 1.5 * FINISH_PASSES
    assert finish_seconds(1.5, 2) == finish_seconds(3.0, 1) > finish_seconds(1.5, 1)


def test_a_network_cut_by_the_deadline_keeps_time_to_predict(
    tiny_split: Split, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A network whose schedule the deadline shortens still has its validation
    prediction (all its test-time views) done by the deadline: a 1-hour search's last
    network kept half an epoch and ended 27 s into the search's reserve. Every forward pass
    over the images is slowed to 0.5 s, so that the prediction (two views, 1 s) takes longer
    than half an epoch plus the rounding of the epochs."""
    from automl_fashion.families._torch import TorchFamily

    forward = TorchFamily._logits

    def slow(self: TorchFamily, X: object) -> object:
        time.sleep(0.5)
        return forward(self, X)  # type: ignore[arg-type]

    # a first fit outside the clock: the process's first epoch is seconds slower, which
    # would leave the old half epoch enough room
    families.create("mlp", quick_params("mlp"), seed=0, threads=1, device="cpu").fit(tiny_split)
    monkeypatch.setattr(TorchFamily, "_logits", slow)
    model = families.create(
        "mlp", {**quick_params("mlp"), "epochs": 40}, seed=0, threads=1, device="cpu"
    )
    assert len(model.tta_views) == 2
    deadline = time.time() + 10.0
    model.fit(tiny_split, deadline=deadline)
    assert model.params["epochs"] < 40  # the deadline shortened it
    model.predict_proba(tiny_split.X_val)
    assert time.time() < deadline


def test_a_network_shortens_its_schedule_to_end_before_the_deadline(tiny_split: Split) -> None:
    """Rather than being stopped mid-schedule at a high learning rate, a network that
    cannot finish its epochs in time runs a whole, shorter schedule."""
    import time

    params = {**quick_params("mlp"), "epochs": 40}
    model = families.create("mlp", params, seed=0, threads=1, device="cpu")
    steps: list[int] = []

    def report(step: int, acc: float) -> None:
        steps.append(step)
        time.sleep(0.4)  # slow epochs: 40 of them take 16 s or more, and 3 fit in 10 s

    deadline = time.time() + 10.0
    model.fit(tiny_split, report, deadline=deadline)
    trained = model.params["epochs"]
    assert 3 <= trained < 40
    # rungs are shares of the schedule: epoch 1 of the 40 planned, then of the shorter one
    assert steps[0] == 25 and steps[-1] == 1000 and len(steps) == trained
    assert steps == sorted(steps)
    assert model.predict(tiny_split.X_val).shape == (len(tiny_split.y_val),)
    assert time.time() < deadline
    # without a deadline the planned schedule runs
    model = families.create("mlp", {**params, "epochs": 5}, seed=0, threads=1, device="cpu")
    model.fit(tiny_split, deadline=None)
    assert model.params["epochs"] == 5 and len(model.history_) == 5


def test_a_network_whose_first_epoch_was_slow_lengthens_its_schedule_again(
    tiny_split: Split, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first epoch slower than the rest (on a GPU: four times, the warm-up of four
    networks starting at once) cuts the schedule to 3 of 40 epochs; measured again after
    epoch 2, the later epochs' pace lengthens it to what fits, still ending in time, with
    every epoch reported at its share of the schedule it then had."""
    import automl_fashion.families._torch as torch_family

    augment = torch_family.augment
    calls = []

    def slow_start(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            time.sleep(3.0)  # the first batch of the first epoch
        return augment(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(torch_family, "augment", slow_start)
    params = {**quick_params("mlp"), "epochs": 40}
    model = families.create("mlp", params, seed=0, threads=1, device="cpu")
    steps: list[int] = []
    deadline = time.time() + 12.0  # the first epoch 3-6 s: 3 epochs fit at its pace
    model.fit(tiny_split, lambda step, acc: steps.append(step), deadline=deadline)
    trained = model.params["epochs"]
    assert trained >= 6, f"the schedule stayed at {trained} epochs"  # it was 3 before
    # one report per epoch, but for an epoch whose share of a schedule lengthened by half
    # or more is not past the last one reported (2/6, then 3/9: the pruner's steps rise)
    assert len(steps) <= trained and steps[0] == 25 and steps[-1] == 1000
    # epoch 1 at its share of the 40 planned; from epoch 2, of the longer schedule (not 2
    # of 3: the pruner would compare two epochs with networks two thirds through theirs).
    # Later epochs may shorten it a little (where all 40 fitted at epoch 2's pace, a later,
    # slower epoch cut it to 38: 2/40, 3/40, then 4/38...) or, in its first half, lengthen
    # it again (2/6, 3/7...): every step is its epoch's share of a schedule of 6 to 40
    assert steps == sorted(steps)
    shares = [
        any(1000 * e // n == s for n in range(max(e, 6), 41))
        for e, s in enumerate(steps[1:], start=2)
    ]
    assert all(shares), steps
    assert model.predict(tiny_split.X_val).shape == (len(tiny_split.y_val),)
    assert time.time() < deadline


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("name", FAMILIES)
def test_a_fit_past_its_deadline_stops_within_its_first_rung(
    name: str, dataset: str, request: pytest.FixtureRequest
) -> None:
    """Every family checks the clock inside its first rung or before its second, so a
    trial at the budget's end stops there instead of training to its last rung."""
    import time

    from automl_fashion.budget import BudgetExhausted

    data: Split = request.getfixturevalue(SPLITS[dataset])
    model = families.create(name, quick_params(name), seed=0, threads=1, device="cpu")
    reports: list[int] = []
    with pytest.raises(BudgetExhausted):
        model.fit(data, lambda step, acc: reports.append(step), deadline=time.time() - 1)
    assert len(reports) <= 1, f"{name} trained {len(reports)} rungs past its deadline"


def test_deploying_never_changes_the_trained_model(fitted, data: Split) -> None:  # type: ignore[no-untyped-def]
    """Export turns deploy_module() into ONNX and safe weights while the model stays in use
    (validation probabilities, the saved artifact): the module must hold copies."""
    import copy

    import torch

    name, model, _, _ = fitted
    model = copy.deepcopy(model)  # the fixture is shared: a failure must not corrupt it
    X = data.X_val[:50]
    before = model.predict_proba(X)
    try:
        deployed = model.deploy_module()
    except NotImplementedError:
        pytest.skip(f"{name} exports without a torch module")
    with torch.no_grad():
        for tensor in deployed.state_dict().values():
            tensor.add_(1)  # in place, as a careless caller could
    np.testing.assert_array_equal(model.predict_proba(X), before)


def test_a_schedule_changed_mid_run_goes_on_from_where_it_was(
    tiny_split: Split, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cosine schedule of 10 epochs cut to 6 after epoch 3 goes on at 3/6 of a cosine
    from the peak learning rate (half of it), not at 3/6 of a cosine from where the first
    schedule had brought it (torch's cosine steps from the current rate: 40% of the peak),
    and ends at zero."""
    import math

    import torch

    from automl_fashion.families._schedule import Pacer

    rates: list[tuple[int, float]] = []
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR

    class Recorded(cosine):  # type: ignore[misc, valid-type]
        def step(self, epoch: int | None = None) -> None:
            super().step(epoch)
            rates.append((id(self), self.optimizer.param_groups[0]["lr"]))

    monkeypatch.setattr(torch.optim.lr_scheduler, "CosineAnnealingLR", Recorded)
    monkeypatch.setattr(
        Pacer, "epochs_after", lambda self, epoch, epochs, *args: 6 if epoch == 3 else epochs
    )
    params = {**quick_params("mlp"), "schedule": "cosine", "epochs": 10}
    model = families.create("mlp", params, seed=0, threads=1, device="cpu")
    model.fit(tiny_split, deadline=time.time() + 3600)
    assert model.params["epochs"] == 6 and len(model.history_) == 6
    steps = math.ceil(len(tiny_split.y_train) / params["batch_size"])
    second = [lr for owner, lr in rates if owner == rates[-1][0]]
    peak = params["lr"]
    assert second[0] == pytest.approx(peak)  # the new schedule's step 0
    assert second[3 * steps] == pytest.approx(peak / 2)  # epoch 4's first step: 3/6 of it
    assert second[-1] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(("family", "epochs"), [("cnn", 4), ("mlp", 40)])
def test_a_one_cycle_schedule_of_a_few_steps_trains(
    family: str, epochs: int, tiny_split: Split, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four steps in all (a data set of one batch trained for four epochs; or two batches
    and a schedule the deadline cuts to three epochs) put OneCycle's warm-up end at step
    0, and it divided by zero."""
    import automl_fashion.families._schedule as schedule
    from automl_fashion.data import subsample

    params = {**quick_params(family), "schedule": "onecycle", "batch_size": 256}
    per_class = 25 if epochs == 4 else 50  # 250 images: one batch; 500: two
    data = subsample(tiny_split, train_per_class=per_class, val_per_class=10, seed=0)
    monkeypatch.setattr(schedule, "epochs_within", lambda *args, **kwargs: 3)
    model = families.create(family, {**params, "epochs": epochs}, seed=0, threads=1, device="cpu")
    model.fit(data, deadline=time.time() + 3600)
    assert model.params["epochs"] == min(epochs, 3)
    assert np.isfinite(model.predict_proba(data.X_val)).all()
