"""A saved model is reused only when its files are what the search wrote (issue 12, item 3).

Everything in the artifacts folder is untrusted: a corrupt or crafted artifact is trained
again on the trial's own split, with a one-line message, and nothing is written outside
--out.
"""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from automl_fashion.artifacts import ArtifactError, check_artifact, sha256_file
from automl_fashion.export import export_trial
from automl_fashion.storage import artifacts_dir
from tests.export.conftest import PER_CLASS


def _files(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime for p in root.rglob("*") if p.is_file()}


def _export(study: optuna.Study, folder: Path, out: Path) -> tuple[dict, list[str]]:
    messages: list[str] = []
    export_trial(study, out, threads=1, studies_dir=str(folder), say=messages.append)
    return json.loads((out / "model_card.json").read_text()), messages


def test_an_intact_saved_model_is_reused(saved_study: optuna.Study, tmp_path: Path) -> None:
    card, messages = _export(saved_study, tmp_path, tmp_path / "model")
    assert "(the model trained during the search)" in card["trained_on"] and messages == []


def test_a_corrupt_saved_model_is_trained_again_on_its_own_split(
    saved_study: optuna.Study, tmp_path: Path
) -> None:
    weights = artifacts_dir("s", tmp_path) / "trial-0" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-20:] = bytes(255 - b for b in data[-20:])  # flip the last weights' bytes
    weights.write_bytes(bytes(data))
    card, messages = _export(saved_study, tmp_path, tmp_path / "model")
    assert messages == [
        "trial 0: saved model is corrupt (sha256 mismatch on model.safetensors); "
        f"retraining on its {10 * PER_CLASS}-image split"
    ]
    assert card["notes"] == messages
    assert card["trained_on"].startswith(f"{10 * PER_CLASS} training images (the split trial 0")
    assert card["onnx_native_agreement_measured_on"] == "test images"  # measured, not copied
    assert card["onnx_native_agreement"] >= 0.999
    assert sha256_file(tmp_path / "model" / "model.safetensors") != sha256_file(weights)


def test_a_crafted_file_name_writes_nothing_outside_out(
    saved_study: optuna.Study, tmp_path: Path
) -> None:
    artifact = artifacts_dir("s", tmp_path) / "trial-0"
    meta = json.loads((artifact / "meta.json").read_text())
    meta["native"] = "../../../payload.txt"
    (artifact / "meta.json").write_text(json.dumps(meta))
    (artifact / "../../../payload.txt").write_text("payload")  # what the crafted name reads
    out = tmp_path / "o" / "a" / "b" / "model"
    out.parent.mkdir(parents=True)
    before = _files(tmp_path)
    card, messages = _export(saved_study, tmp_path, out)
    assert not (tmp_path / "o" / "payload.txt").exists()
    after = {k: v for k, v in _files(tmp_path).items() if not k.startswith("o/a/b/model")}
    assert after == before
    assert len(messages) == 1 and "field 'native' is '../../../payload.txt'" in messages[0]
    assert sorted(card["written"]) == sorted(p.name for p in out.iterdir())


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"trial": 3}, "field 'trial' is 3, expected 0"),
        ({"val_accuracy": "0.9"}, "field 'val_accuracy' is '0.9'"),
        ({"val_accuracy": float("nan")}, "field 'val_accuracy' is nan"),
        ({"params": ["a"]}, "field 'params'"),
        ({"family": "../x"}, "field 'family'"),
        ({"n_train": True}, "field 'n_train' is True"),
        ({"sha256": None}, "field 'sha256' is None"),
    ],
)
def test_wrong_typed_metadata_is_refused_with_its_reason(
    saved_study: optuna.Study, tmp_path: Path, change: dict, reason: str
) -> None:
    root = artifacts_dir("s", tmp_path)
    meta = json.loads((root / "trial-0" / "meta.json").read_text())
    (root / "trial-0" / "meta.json").write_text(json.dumps({**meta, **change}))
    found, problem = check_artifact(root, 0)
    assert found is None and problem is not None and reason in problem


def test_an_unloadable_onnx_with_a_matching_digest_leaves_no_folder(
    saved_study: optuna.Study, tmp_path: Path
) -> None:
    """A search that saved a broken ONNX: a one-line error, and nothing at --out."""
    artifact = artifacts_dir("s", tmp_path) / "trial-0"
    (artifact / "model.onnx").write_bytes(b"not onnx")
    meta = json.loads((artifact / "meta.json").read_text())
    meta["sha256"]["model.onnx"] = sha256_file(artifact / "model.onnx")
    (artifact / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match=r"trial 0: its saved model\.onnx cannot be loaded"):
        export_trial(saved_study, tmp_path / "model", threads=1, studies_dir=str(tmp_path))
    assert not (tmp_path / "model").exists()
    assert not list(tmp_path.glob("model.*"))
