"""Contract tests run over every registered family: a new family is tested by joining."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from automl_fashion import families
from automl_fashion.data import Split
from automl_fashion.search_space import load_space

FAMILIES = families.names()


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


@pytest.fixture(scope="module", params=FAMILIES)
def fitted(request: pytest.FixtureRequest, tiny_split: Split):
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

    model.fit(tiny_split, report)
    return name, model, reports, thread_checks


def test_reports_arrive_in_order_with_sane_accuracy(fitted) -> None:
    name, _, reports, _ = fitted
    assert len(reports) >= 2, f"{name} reported {len(reports)} rung(s)"
    steps = [s for s, _ in reports]
    assert steps == sorted(set(steps))
    assert all(0.0 <= a <= 1.0 for _, a in reports)
    # 300 images per class is enough for every family to beat chance by far
    assert max(a for _, a in reports) > 0.5


def test_probabilities_have_right_shape_and_sum_to_one(fitted, tiny_split: Split) -> None:
    _, model, _, _ = fitted
    proba = model.predict_proba(tiny_split.X_val)
    assert proba.shape == (len(tiny_split.X_val), 10)
    assert np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-4)
    acc = float(np.mean(proba.argmax(1) == tiny_split.y_val))
    assert acc == pytest.approx(fitted[2][-1][1], abs=0.05)


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


def test_flip_trained_networks_average_each_image_with_its_mirror(
    fitted, tiny_split: Split
) -> None:  # type: ignore[no-untyped-def]
    """Test-time augmentation: a network trained with flips sees both orientations."""
    name, model, _, _ = fitted
    if not getattr(model, "flip_tta", False):
        pytest.skip(f"{name} is not a network trained with flips")
    X = tiny_split.X_val[:200]
    mirrored = model.predict_proba(np.ascontiguousarray(X[:, :, ::-1]))
    assert np.allclose(model.predict_proba(X), mirrored, atol=1e-5)


def test_epochs_within_a_deadline() -> None:
    from automl_fashion.families._torch import MIN_EPOCHS, epochs_within

    assert epochs_within(100.0, 0.0, 10.0, planned=5) == 5  # all fit: unchanged
    assert epochs_within(100.0, 0.0, 10.0, planned=40) == 10  # 9 more, half an epoch kept
    assert epochs_within(100.0, 0.0, 19.0, planned=40) == 5
    assert epochs_within(100.0, 95.0, 10.0, planned=40) == MIN_EPOCHS  # never below


def test_a_network_shortens_its_schedule_to_end_before_the_deadline(tiny_split: Split) -> None:
    """Rather than being stopped mid-schedule at a high learning rate, a network that
    cannot finish its epochs in time runs a whole, shorter schedule."""
    import time

    params = {**quick_params("mlp"), "epochs": 40}
    model = families.create("mlp", params, seed=0, threads=1, device="cpu")
    steps: list[int] = []

    def report(step: int, acc: float) -> None:
        steps.append(step)
        if step == 1:  # a slow first epoch: the plan then fits 3 of 40 epochs in 10 s,
            time.sleep(2.0)  # with seconds to spare however loaded the machine is

    model.fit(tiny_split, report, deadline=time.time() + 10.0)
    trained = model.params["epochs"]
    assert 3 <= trained < 40 and steps == list(range(1, trained + 1))
    assert model.predict(tiny_split.X_val).shape == (len(tiny_split.y_val),)
    # without a deadline the planned schedule runs
    model = families.create("mlp", {**params, "epochs": 5}, seed=0, threads=1, device="cpu")
    model.fit(tiny_split, deadline=None)
    assert model.params["epochs"] == 5 and len(model.history_) == 5


@pytest.mark.parametrize("name", FAMILIES)
def test_a_fit_past_its_deadline_stops_within_its_first_rung(name: str, tiny_split: Split) -> None:
    """Every family checks the clock inside its first rung or before its second, so a
    trial at the budget's end stops there instead of training to its last rung."""
    import time

    from automl_fashion.budget import BudgetExhausted

    model = families.create(name, quick_params(name), seed=0, threads=1, device="cpu")
    reports: list[int] = []
    with pytest.raises(BudgetExhausted):
        model.fit(tiny_split, lambda step, acc: reports.append(step), deadline=time.time() - 1)
    assert len(reports) <= 1, f"{name} trained {len(reports)} rungs past its deadline"


def test_deploying_never_changes_the_trained_model(fitted, tiny_split: Split) -> None:  # type: ignore[no-untyped-def]
    """Export turns deploy_module() into ONNX and safe weights while the model stays in use
    (validation probabilities, the saved artifact): the module must hold copies."""
    import copy

    import torch

    name, model, _, _ = fitted
    model = copy.deepcopy(model)  # the fixture is shared: a failure must not corrupt it
    X = tiny_split.X_val[:50]
    before = model.predict_proba(X)
    try:
        deployed = model.deploy_module()
    except NotImplementedError:
        pytest.skip(f"{name} exports without a torch module")
    with torch.no_grad():
        for tensor in deployed.state_dict().values():
            tensor.add_(1)  # in place, as a careless caller could
    np.testing.assert_array_equal(model.predict_proba(X), before)
