"""The export at the end of a search: from the saved model only, never a retraining inside
the budget, and a corrupt saved model is named as such."""

from __future__ import annotations

from pathlib import Path

from automl_fashion.search.config import SearchConfig
from automl_fashion.search.loop import _export_best
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
    result, why = _export_best(study, study.best_trial.number, _config(tmp_path))
    assert why is None and result is not None
    assert (tmp_path / "model" / "model.onnx").is_file()


def test_a_corrupt_saved_model_is_named_and_not_exported(tmp_path: Path) -> None:
    study = searched_study(tmp_path, save=True)
    number = study.best_trial.number
    weights = artifacts_dir("s", tmp_path) / f"trial-{number}" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    result, why = _export_best(study, number, _config(tmp_path))
    assert result is None
    assert why is not None and "corrupt" in why and "model.safetensors" in why
    assert not (tmp_path / "model").exists()


def test_a_model_saved_elsewhere_is_not_exported(tmp_path: Path) -> None:
    study = searched_study(tmp_path, save=False)
    result, why = _export_best(study, study.best_trial.number, _config(tmp_path))
    assert result is None and why == "its model was not saved on this machine"
