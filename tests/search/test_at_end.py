"""The end of a search: the export from the saved model only, never a retraining inside
the budget, a corrupt saved model named as such, and no export that would break the
budget."""

from __future__ import annotations

from pathlib import Path

from automl_fashion.search.at_end import export_best, no_time_to_export
from automl_fashion.search.config import SearchConfig
from automl_fashion.storage import artifacts_dir
from tests.export.conftest import searched_study


def _config(folder: Path) -> SearchConfig:
    return SearchConfig(
        budget=60,
        study="s",
        families=["linear"],
        studies_dir=str(folder),
        spaces_dir=str(folder / "spaces"),
        export_dir=str(folder / "model"),
    )


def test_the_saved_best_model_is_exported(tmp_path: Path) -> None:
    study = searched_study(tmp_path, save=True)
    result, why = export_best(study, study.best_trial.number, _config(tmp_path))
    assert why is None and result is not None
    assert (tmp_path / "model" / "model.onnx").is_file()


def test_a_corrupt_saved_model_is_named_and_not_exported(tmp_path: Path) -> None:
    study = searched_study(tmp_path, save=True)
    number = study.best_trial.number
    weights = artifacts_dir("s", tmp_path) / f"trial-{number}" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    result, why = export_best(study, number, _config(tmp_path))
    assert result is None
    assert why is not None and "corrupt" in why and "model.safetensors" in why
    assert not (tmp_path / "model").exists()


def test_a_model_saved_elsewhere_is_not_exported(tmp_path: Path) -> None:
    study = searched_study(tmp_path, save=False)
    result, why = export_best(study, study.best_trial.number, _config(tmp_path))
    assert result is None and why == "its model was not saved on this machine"


def test_the_export_at_the_end_is_skipped_when_it_would_break_the_budget() -> None:
    """A worker stuck in one long rung can hold the search until the hard deadline; the
    export started then ended past budget + max(30 s, 2%). It is skipped, and said why."""
    # 600 s budget, 30 s allowance, 25 s kept at the end (5 for the shutdown, 20 to export)
    assert no_time_to_export(0.0, 600.0, 25.0, now=575.0) is None  # on plan
    assert no_time_to_export(0.0, 600.0, 25.0, now=610.0) is None  # 20 s left: enough
    assert no_time_to_export(0.0, 600.0, 25.0, now=615.0) == (
        "the budget had 15 s left and the export needs about 20 s"
    )
    assert "had 0 s left" in str(no_time_to_export(0.0, 600.0, 25.0, now=700.0))
