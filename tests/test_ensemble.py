"""Ensemble selection, the models a search keeps per family, and the exported ensemble."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest

from automl_fashion import families, load_model
from automl_fashion.artifacts import KEEP_PER_FAMILY, drop_outside_top, save_if_top, saved_trials
from automl_fashion.data import Split, load_test
from automl_fashion.ensemble import build_ensemble, select
from automl_fashion.export import export_trial
from automl_fashion.search_space import load_space
from automl_fashion.storage import artifacts_dir, open_storage
from tests.families.test_contract import quick_params

CLI = [sys.executable, "-m", "automl_fashion"]


def _onehot(pred: np.ndarray, confidence: float = 0.6) -> np.ndarray:
    out = np.full((len(pred), 10), (1 - confidence) / 9)
    out[np.arange(len(pred)), pred] = confidence
    return out


def test_selection_combines_models_that_err_on_different_images() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 3000)
    probas = []
    for k in range(3):  # each model is wrong on its own third of the images
        pred = y.copy()
        wrong = np.arange(k * 1000, (k + 1) * 1000)
        pred[wrong] = (y[wrong] + 1) % 10
        probas.append(_onehot(pred))
    counts = select(probas, y)
    assert (counts > 0).all()  # any two of them out-vote the third everywhere
    avg = sum(c * p for c, p in zip(counts, probas, strict=True))
    assert np.mean(np.asarray(avg).argmax(1) == y) == 1.0


def test_selection_keeps_one_model_when_others_only_hurt() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 10, 2000)
    good = _onehot(y, 0.9)
    noise = [_onehot(rng.integers(0, 10, 2000), 0.9) for _ in range(3)]
    counts = select([*noise, good], y)
    assert counts.tolist() == [0, 0, 0, 1]


def test_selection_only_forms_ensembles_that_fit_the_limits() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 3000)
    probas = []
    for k in range(3):
        pred = y.copy()
        wrong = np.arange(k * 1000, (k + 1) * 1000)
        pred[wrong] = (y[wrong] + 1) % 10
        probas.append(_onehot(pred, 0.6 + 0.01 * k))
    # model 2 alone fits, and any pair without it: never the three together
    counts = select(probas, y, fits=lambda chosen: len(chosen) < 3)
    assert (counts > 0).sum() == 2
    assert select(probas, y, fits=lambda chosen: False).sum() == 0


def _new_study(name: str, folder: Path) -> optuna.Study:
    return optuna.create_study(
        study_name=name, storage=open_storage(None, name, folder), direction="maximize"
    )


def _fit_and_save(
    study: optuna.Study, family: str, params: dict, data: Split, root: Path, seed: int = 0
) -> tuple[int, float]:
    model = families.create(family, params, seed=seed, threads=1, device="cpu").fit(data)
    proba = model.predict_proba(data.X_val)
    value = float(np.mean(proba.argmax(1) == data.y_val))
    space = load_space(family)
    study.enqueue_trial({"family": family, **space.trial_params(params)})
    trial = study.ask()
    trial.suggest_categorical("family", families.names())
    space.suggest(trial)
    save_if_top(study, trial, model, value, proba, data, str(root))
    study.tell(trial, value)
    drop_outside_top(study, family, str(root))
    return trial.number, value


def _linear(epochs: int) -> dict:
    params = {**quick_params("linear"), "features": "pixels", "epochs": epochs}
    params.pop("hog_cell", None)
    return load_space("linear").validate(params)


def test_a_search_keeps_the_best_models_of_each_family_only(
    tiny_split: Split, tmp_path: Path
) -> None:
    study = _new_study("keep", tmp_path)
    root = artifacts_dir("keep", tmp_path)
    values = {}
    for seed, epochs in enumerate(([1, 2, 3] * KEEP_PER_FAMILY)[: KEEP_PER_FAMILY + 2]):
        number, value = _fit_and_save(study, "linear", _linear(epochs), tiny_split, root, seed)
        values[number] = value
    kept = saved_trials(root)
    assert len(kept) == KEEP_PER_FAMILY
    # the kept ones are a top of the family (ties may go either way)
    assert min(values[n] for n in kept) >= sorted(values.values())[-KEEP_PER_FAMILY]
    for number in kept:
        with np.load(root / f"trial-{number}" / "val.npz") as saved:
            assert saved["proba"].shape == (len(tiny_split.y_val), 10)
            assert np.array_equal(saved["labels"], tiny_split.y_val)


@pytest.fixture(scope="module")
def ensemble_study(tiny_split: Split, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    folder = tmp_path_factory.mktemp("ens")
    study = _new_study("ens", folder)
    root = artifacts_dir("ens", folder)
    for family in ("linear", "mlp", "boosting"):
        _fit_and_save(study, family, quick_params(family), tiny_split, root)
    return study, folder


def test_the_exported_ensemble_is_one_onnx_graph_that_matches_its_members(
    ensemble_study: tuple, tmp_path: Path
) -> None:
    from automl_fashion.export import export_ensemble

    study, folder = ensemble_study
    ens = build_ensemble(study, artifacts_dir("ens", folder))
    assert ens is not None and ens.members
    assert sum(m.weight for m in ens.members) == pytest.approx(1.0)
    assert 0.5 < ens.val_accuracy <= 1 and 0.5 < ens.best_single_val_accuracy <= 1
    result = export_ensemble(ens, tmp_path / "model", study="ens")
    assert result.family == "ensemble" and result.parity >= 0.999
    card = json.loads((tmp_path / "model" / "model_card.json").read_text())
    assert [m["trial"] for m in card["params"]["members"]] == [m.trial for m in ens.members]
    for name in card["files"]["native"]:
        assert (tmp_path / "model" / name).is_file()
    # it loads like any exported model, and onnxruntime alone runs it
    X, y = load_test()
    model = load_model(tmp_path / "model", threads=1)
    assert np.mean(model.predict(X[:2000]) == y[:2000]) > 0.7
    code = (
        "import sys, numpy as np, onnxruntime as ort; "
        "assert 'torch' not in sys.modules; "
        f"s = ort.InferenceSession({str(tmp_path / 'model' / 'model.onnx')!r}); "
        "p = s.run(None, {'pixels': np.zeros((3, 1, 28, 28), np.float32)})[0]; "
        "assert p.shape == (3, 10) and np.allclose(p.sum(1), 1, atol=1e-4)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_export_uses_the_ensemble_only_when_it_wins_out_of_sample(
    ensemble_study: tuple, tmp_path: Path
) -> None:
    study, folder = ensemble_study
    ens = build_ensemble(study, artifacts_dir("ens", folder))
    assert ens is not None
    result = export_trial(study, tmp_path / "auto", studies_dir=str(folder))
    expected = "ensemble" if ens.helps else study.best_trial.params["family"]
    assert result.family == expected
    single = export_trial(study, tmp_path / "single", studies_dir=str(folder), ensemble=False)
    assert single.family == study.best_trial.params["family"]
    assert single.trial == study.best_trial.number


def test_an_ensemble_needs_two_saved_models_on_the_same_validation_images(
    tiny_split: Split, tmp_path: Path
) -> None:
    study = _new_study("one", tmp_path)
    root = artifacts_dir("one", tmp_path)
    _fit_and_save(study, "linear", _linear(1), tiny_split, root)
    assert build_ensemble(study, root) is None
    other = Split(
        tiny_split.X_train, tiny_split.y_train, tiny_split.X_val[:-10], tiny_split.y_val[:-10]
    )
    _fit_and_save(study, "linear", _linear(2), other, root)  # another split (a resumed study)
    assert build_ensemble(study, root) is None


def test_the_leaderboard_reports_the_ensemble(ensemble_study: tuple) -> None:
    study, folder = ensemble_study
    ens = build_ensemble(study, artifacts_dir("ens", folder))
    assert ens is not None
    run = subprocess.run(
        [*CLI, "leaderboard", "--study", "ens", "--studies-dir", str(folder), "--by-family"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert run.returncode == 0, run.stderr
    out = " ".join(run.stdout.split())
    assert "Ensemble of the saved models" in out
    assert f"{ens.val_accuracy:.2%} on held-out validation halves" in out


def test_a_corrupt_saved_model_is_left_out_of_the_ensemble_with_a_message(
    ensemble_study: tuple, tmp_path: Path
) -> None:
    _, folder = ensemble_study
    shutil.copytree(folder, tmp_path / "copy")
    study = optuna.load_study(
        study_name="ens", storage=open_storage(None, "ens", tmp_path / "copy")
    )
    root = artifacts_dir("ens", tmp_path / "copy")
    victim = saved_trials(root)[0]
    native = json.loads((root / f"trial-{victim}" / "meta.json").read_text())["native"]
    weights = root / f"trial-{victim}" / native
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    messages: list[str] = []
    ens = build_ensemble(study, root, say=messages.append)
    assert messages == [
        f"trial {victim}: saved model is corrupt (sha256 mismatch on {weights.name}); "
        "left out of the ensemble"
    ]
    assert ens is None or victim not in [m.trial for m in ens.members]


def test_re_exporting_one_model_over_an_ensemble_leaves_no_member_files(
    ensemble_study: tuple, tmp_path: Path
) -> None:
    from automl_fashion.export import export_ensemble

    study, folder = ensemble_study
    ens = build_ensemble(study, artifacts_dir("ens", folder))
    assert ens is not None
    export_ensemble(ens, tmp_path / "model", study="ens")
    assert list((tmp_path / "model").glob("member-*"))
    export_trial(study, tmp_path / "model", studies_dir=str(folder), ensemble=False)
    assert not list((tmp_path / "model").glob("member-*"))
    card = json.loads((tmp_path / "model" / "model_card.json").read_text())
    assert sorted(card["written"]) == sorted(p.name for p in (tmp_path / "model").iterdir())


def test_selection_goes_past_a_round_that_does_not_improve() -> None:
    """Two correlated models whose 1:1 average is a little worse than the better one, and
    a weaker, different third: an early stop at the first round that does not improve
    returns the best model alone, the best round of all finds the mix that beats it."""
    from automl_fashion.ensemble import select

    rng = np.random.default_rng(243)
    n = 2000
    y = rng.integers(0, 10, n)
    shared = rng.normal(size=(n, 10))

    def model(strength: float, own: float, common: float) -> np.ndarray:
        z = np.eye(10)[y] * strength + shared * common + rng.normal(size=(n, 10)) * own
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    probas = [model(2.0, 0.5, 1.0), model(1.9, 0.5, 1.0), model(1.2, 1.2, 0.2)]

    def acc(p: np.ndarray) -> float:
        return float(np.mean(p.argmax(1) == y))

    best = acc(probas[0])
    # the premise: the first model is the best, and adding either other one 1:1 hurts
    assert best > max(acc(probas[1]), acc(probas[2]))
    assert acc((probas[0] + probas[1]) / 2) < best and acc((probas[0] + probas[2]) / 2) < best
    counts = select(probas, y)
    assert (counts > 0).sum() >= 2
    assert acc(sum(c * p for c, p in zip(counts, probas, strict=True)) / counts.sum()) > best


def test_a_model_that_diverged_never_joins_an_ensemble_to_soften_it() -> None:
    """Two seeds of an overconfident network (2% of answers differ) and a near-uniform model
    that completed after it diverged (right a quarter of the time): mixed in, it changes no
    answer and lowers the log loss, the selection's tie-break; it must get no weight (a
    2-hour search gave one 0.59)."""
    from automl_fashion.ensemble import usable_models

    rng = np.random.default_rng(25)
    n = 2000
    y = rng.integers(0, 10, n)
    pred = np.where(rng.random(n) < 0.9, y, (y + 1) % 10)
    other = pred.copy()
    differ = rng.random(n) < 0.02
    other[differ] = (pred[differ] + 2) % 10
    nets = [_onehot(pred, 0.99), _onehot(other, 0.99)]
    flat = np.full((n, 10), 0.1) + rng.normal(scale=1e-4, size=(n, 10))
    hits = rng.random(n) < 0.25
    flat[hits, y[hits]] += 1e-3
    flat /= flat.sum(1, keepdims=True)
    # the premise: a quarter of it mixed in keeps the answers and lowers the log loss
    mixed = (3 * nets[0] + flat) / 4
    assert np.array_equal(mixed.argmax(1), nets[0].argmax(1))
    rows = np.arange(n)
    assert -np.log(mixed[rows, y]).mean() < -np.log(nets[0][rows, y]).mean()
    assert usable_models(np.stack([*nets, flat]), y) == [0, 1]
    counts = select([*nets, flat], y)
    assert counts[2] == 0 and counts[0] > 0


def test_the_export_says_which_saved_model_it_leaves_out_for_being_near_chance(
    ensemble_study: tuple, tiny_split: Split, tmp_path: Path
) -> None:
    """A saved model trained on shuffled labels (near chance on the validation images) is
    left out of the ensemble, in one line that names it."""
    import dataclasses

    _, folder = ensemble_study
    shutil.copytree(folder, tmp_path / "copy")
    study = optuna.load_study(
        study_name="ens", storage=open_storage(None, "ens", tmp_path / "copy")
    )
    root = artifacts_dir("ens", tmp_path / "copy")
    shuffled = np.random.default_rng(0).permutation(tiny_split.y_train)
    noise = dataclasses.replace(tiny_split, y_train=shuffled)
    trial, value = _fit_and_save(study, "mlp", quick_params("mlp"), noise, root, seed=1)
    assert trial in saved_trials(root) and value < 0.4  # the premise: saved, near chance
    messages: list[str] = []
    ens = build_ensemble(study, root, say=messages.append)
    assert messages == [
        f"trial {trial}: validation accuracy {value:.1%} is less than halfway from chance to "
        "the best model's; left out of the ensemble"
    ]
    assert ens is not None and trial not in [m.trial for m in ens.members]


def test_the_ensemble_is_judged_over_several_random_splits_not_one() -> None:
    """A stronger model and a weaker one whose blend is truly better (on 100,000 fresh images
    of the same kind): one random 2-fold split of these 3,000 validation images happens to
    score the ensemble below the best model and would throw it away (a 10-minute search
    exported its cnn alone so, 93.53% test where the ensemble scored 93.75%); averaged over
    HELD_OUT_REPEATS splits it wins."""
    from automl_fashion.ensemble import HELD_OUT_REPEATS, _held_out

    def draw(seed: int, n: int) -> tuple[np.ndarray, list[np.ndarray]]:
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 10, n)
        shared = rng.normal(size=(n, 10))  # mistakes the two models share

        def model(strength: float, own: float, common: float) -> np.ndarray:
            z = np.eye(10)[y] * strength + shared * common + rng.normal(size=(n, 10)) * own
            e = np.exp(z - z.max(1, keepdims=True))
            return e / e.sum(1, keepdims=True)

        return y, [model(2.0, 0.5, 1.0), model(1.2, 0.8, 0.6)]

    def acc(p: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(p.argmax(1) == y))

    y_big, big = draw(1013, 100_000)
    assert max(acc(0.8 * big[0] + 0.2 * big[1], y_big), acc(0.7 * big[0] + 0.3 * big[1], y_big)) > (
        acc(big[0], y_big) + 0.003
    )
    y, probas = draw(13, 3000)
    ensemble, single, _ = _held_out(probas, y, repeats=1)
    assert ensemble <= single  # the premise: one split alone rejects it
    assert HELD_OUT_REPEATS > 1
    ensemble, single, held_out = _held_out(probas, y)
    assert ensemble > single
    # every image's held-out probabilities are an average of out-of-sample ones: rows sum to 1
    assert np.allclose(held_out.sum(1), 1.0)
