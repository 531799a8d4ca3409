"""Deployment limits (issue 15, item 3): --max-predict-ms and --max-size narrow the choice to
the saved models that meet them, and a limit nothing meets is a one-line error."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from automl_fashion.cli import main
from automl_fashion.data import Split
from automl_fashion.errors import ConfigError
from automl_fashion.export import LimitError, Limits, export_trial
from automl_fashion.export import limits as limits_module
from automl_fashion.export.limits import MB, Candidate, Cost, best_within, nothing_fits
from automl_fashion.search_space import load_space
from automl_fashion.storage import artifacts_dir
from tests.test_ensemble import _fit_and_save, _linear, _new_study


# -- the decisions, on made-up numbers -----------------------------------------------------
@pytest.mark.parametrize("value", [0, -1.0, float("nan"), float("inf")])
def test_a_limit_must_be_a_positive_number(value: float) -> None:
    with pytest.raises(ConfigError, match="--max-predict-ms must be a positive number"):
        Limits(max_predict_ms=value)
    with pytest.raises(ConfigError, match="--max-size must be a positive number of megabytes"):
        Limits(max_size_mb=value)


CANDIDATES = [
    Candidate(1, "svm", 0.90, Cost(1000.0, 40.0)),
    Candidate(2, "cnn", 0.92, Cost(300.0, 2.0)),
    Candidate(3, "linear", 0.84, Cost(2.0, 0.03)),
]


def test_the_most_accurate_candidate_within_the_limits_is_chosen() -> None:
    assert best_within(CANDIDATES, Limits()).trial == 2  # type: ignore[union-attr]
    assert best_within(CANDIDATES, Limits(max_predict_ms=100)).trial == 3  # type: ignore[union-attr]
    assert best_within(CANDIDATES, Limits(max_size_mb=50)).trial == 2  # type: ignore[union-attr]
    assert best_within(CANDIDATES, Limits(max_predict_ms=1)) is None
    assert Limits(max_predict_ms=100, max_size_mb=1).exceeded(Cost(300, 2)) == [
        "--max-predict-ms",
        "--max-size",
    ]


def test_nothing_within_the_limits_says_what_comes_closest() -> None:
    error = nothing_fits(CANDIDATES, Limits(max_predict_ms=1))
    assert str(error) == (
        "--max-predict-ms 1: none of the 3 saved models meets it; the fastest, trial 3 "
        "(linear), takes 2.0 ms per 1,000 images"
    )
    assert "\n" not in str(nothing_fits([], Limits(max_size_mb=1)))


# -- a study with a saved SVM and a saved linear model -------------------------------------
@pytest.fixture(scope="module")
def svm_study(tiny_split: Split, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    folder = tmp_path_factory.mktemp("limits")
    study = _new_study("lim", folder)
    root = artifacts_dir("lim", folder)
    params = load_space("svm").validate(
        {**load_space("svm").init, "features": "pixels", "pca_components": 32}
    )
    params.pop("hog_cell", None)
    svm, svm_acc = _fit_and_save(study, "svm", params, tiny_split, root)
    linear, linear_acc = _fit_and_save(study, "linear", _linear(1), tiny_split, root)
    assert svm_acc > linear_acc  # without limits, the SVM is the best single model
    sizes = {n: (root / f"trial-{n}" / "model.onnx").stat().st_size for n in (svm, linear)}
    assert sizes[svm] > 2 * sizes[linear]
    return study, folder, svm, linear, sizes


def _card(out: Path) -> dict:
    return json.loads((out / "model_card.json").read_text())


def test_a_size_limit_that_excludes_the_svm_yields_a_model_without_it(
    svm_study: tuple, tmp_path: Path
) -> None:
    study, folder, svm, linear, sizes = svm_study
    limit = (sizes[svm] + sizes[linear]) / 2 / MB
    result = export_trial(
        study, tmp_path / "m", studies_dir=str(folder), limits=Limits(max_size_mb=limit)
    )
    assert result.family == "linear" and result.trial == linear
    card = _card(tmp_path / "m")
    assert card["limits"]["bound_by"] == ["--max-size"]
    assert card["limits"]["size_mb"] <= limit
    assert "--max-size bound the choice" in (tmp_path / "m" / "MODEL_CARD.md").read_text()


def test_a_time_limit_that_excludes_the_svm_yields_a_model_without_it(
    svm_study: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study, folder, svm, linear, sizes = svm_study
    big = (sizes[svm] + sizes[linear]) / 2

    def measure(graph: bytes, threads: int | None = None) -> Cost:  # timings made up
        return Cost(900.0 if len(graph) > big else 2.0, len(graph) / MB)

    monkeypatch.setattr(limits_module, "measure", measure)
    result = export_trial(
        study, tmp_path / "m", studies_dir=str(folder), limits=Limits(max_predict_ms=100)
    )
    assert result.family == "linear"
    limits = _card(tmp_path / "m")["limits"]
    assert limits["bound_by"] == ["--max-predict-ms"]
    assert limits["unconstrained_best"]["predict_ms_per_1000"] >= 900
    # a limit the best meets changes nothing, and the card says so
    result = export_trial(
        study, tmp_path / "m2", studies_dir=str(folder), limits=Limits(max_predict_ms=5000)
    )
    assert result.family != "linear" and _card(tmp_path / "m2")["limits"]["bound_by"] == []


def test_an_impossible_limit_is_a_one_line_error_and_writes_nothing(
    svm_study: tuple, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, folder, *_ = svm_study
    out = tmp_path / "m"
    argv = ["export", "--study", "lim", "--studies-dir", str(folder), "--out", str(out)]
    assert main([*argv, "--max-predict-ms", "0.000001"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("automl-fashion: error: --max-predict-ms 1e-06: none of the 2 saved")
    assert err.count("\n") == 1 and not out.exists()
    assert main([*argv, "--max-size", "-3"]) == 2
    assert "--max-size must be a positive number" in capsys.readouterr().err


def test_a_chosen_trial_must_meet_the_limits(svm_study: tuple, tmp_path: Path) -> None:
    study, folder, svm, linear, sizes = svm_study
    limit = Limits(max_size_mb=(sizes[svm] + sizes[linear]) / 2 / MB)
    with pytest.raises(LimitError, match=f"trial {svm} takes"):
        export_trial(study, tmp_path / "m", trial=svm, studies_dir=str(folder), limits=limit)


def test_limits_choose_by_accuracy(svm_study: optuna.Study, tmp_path: Path) -> None:
    study, folder, *_ = svm_study
    with pytest.raises(ConfigError, match="--criterion score"):
        export_trial(
            study,
            tmp_path / "m",
            criterion="score",
            studies_dir=str(folder),
            limits=Limits(max_size_mb=1),
        )


def test_a_search_whose_limits_nothing_meets_says_so_instead_of_exporting(tmp_path: Path) -> None:
    from automl_fashion.search.at_end import export_best
    from automl_fashion.search.config import SearchConfig
    from tests.export.conftest import searched_study

    study = searched_study(tmp_path, save=True)
    config = SearchConfig(
        budget=60,
        study="s",
        families=["linear"],
        studies_dir=str(tmp_path),
        spaces_dir=str(tmp_path / "spaces"),
        export_dir=str(tmp_path / "model"),
        max_predict_ms=1e-6,
    )
    result, why = export_best(study, study.best_trial.number, config)
    assert result is None and why is not None and why.startswith("--max-predict-ms 1e-06: none")
    assert not (tmp_path / "model").exists()
    with pytest.raises(ConfigError, match="--max-size must be a positive number"):
        SearchConfig(budget=60, studies_dir=str(tmp_path), max_size_mb=0).validated()


def test_with_limits_a_search_exports_a_saved_model_even_when_its_best_was_not_saved(
    svm_study: tuple, tmp_path: Path
) -> None:
    """The limits choose among the saved models; the best trial's own artifact is not
    needed (it may have been trained on another machine)."""
    import shutil

    from automl_fashion.search.at_end import export_best
    from automl_fashion.search.config import SearchConfig
    from automl_fashion.storage import open_storage

    _, folder, svm, linear, _ = svm_study
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    shutil.rmtree(artifacts_dir("lim", copy) / f"trial-{svm}")  # the best, not saved here
    study = optuna.load_study(study_name="lim", storage=open_storage(None, "lim", copy))
    assert study.best_trial.number == svm
    config = SearchConfig(
        budget=60,
        study="lim",
        studies_dir=str(copy),
        export_dir=str(tmp_path / "m"),
        max_size_mb=1000.0,
    )
    result, why = export_best(study, svm, config)
    assert why is None and result.trial == linear
    # without limits, the search still says why it did not export the best trial
    config.max_size_mb = None
    config.export_dir = str(tmp_path / "m2")
    assert export_best(study, svm, config) == (None, "its model was not saved on this machine")
