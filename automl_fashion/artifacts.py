"""Keep the trained models of the best trials of each family, so export needs no retraining.

When a trial completes among the ``KEEP_PER_FAMILY`` best of its family so far, its worker
writes ``<artifacts>/trial-<n>/`` (model.onnx, the code-free native weights, the validation
probabilities, meta.json) before telling the study, and removes the folders of its family
that fell out of that top. ``export`` then reuses the folders instead of fitting again, and
``ensemble`` combines them: that is what lets ``search`` export its best model inside its
budget. Written to a temporary folder and renamed, so a kill never leaves half an artifact.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from automl_fashion.data import Split
from automl_fashion.families import Family


def artifact_dir(root: str | os.PathLike[str], trial_number: int) -> Path:
    return Path(root) / f"trial-{trial_number}"


#: Models kept per family: the ensemble draws on them (several CNNs of different shapes
#: average better than one), and the disk holds at most this many per family.
KEEP_PER_FAMILY = 5
VAL_FILE = "val.npz"  # validation probabilities and the labels they were scored on


def _family_values(study: optuna.Study, family: str) -> list[tuple[float, int]]:
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return sorted(
        (
            (t.value, t.number)
            for t in done
            if t.value is not None and t.params.get("family") == family
        ),
        reverse=True,
    )


def save_if_top(
    study: optuna.Study,
    trial: optuna.Trial,
    model: Family,
    value: float,
    proba_val: np.ndarray,
    data: Split,
    root: str | None,
) -> Path | None:
    """Write the trial's model if fewer than ``KEEP_PER_FAMILY`` complete trials of its
    family beat ``value``; ``proba_val`` are its validation probabilities."""
    if root is None:
        return None
    ranked = _family_values(study, model.name)
    if len(ranked) >= KEEP_PER_FAMILY and value < ranked[KEEP_PER_FAMILY - 1][0]:
        return None
    from automl_fashion.onnx_export import onnx_predict_proba, onnx_session, save_native, to_onnx

    final = artifact_dir(root, trial.number)
    tmp = final.with_name(final.name + f".tmp{os.getpid()}")
    try:
        import onnx

        tmp.mkdir(parents=True, exist_ok=True)
        onnx.save(to_onnx(model), str(tmp / "model.onnx"))
        native = save_native(model, tmp)
        onnx_pred = onnx_predict_proba(
            onnx_session(tmp / "model.onnx", model.threads), data.X_val.astype(np.float32)
        ).argmax(1)
        meta: dict[str, Any] = {
            "family": model.name,
            "params": model.params,
            "seed": model.seed,
            "trial": trial.number,
            "val_accuracy": value,
            "fit_seconds": round(model.fit_seconds_, 1),
            "n_train": len(data.y_train),
            "native": native.name,
            "onnx_native_agreement_val": float(np.mean(onnx_pred == model.predict(data.X_val))),
        }
        np.savez(
            tmp / VAL_FILE,
            proba=np.asarray(proba_val, dtype=np.float32),
            labels=np.asarray(data.y_val, dtype=np.uint8),
        )
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    except Exception as exc:  # an export problem must not fail a good trial
        shutil.rmtree(tmp, ignore_errors=True)
        trial.set_user_attr("artifact_error", f"{type(exc).__name__}: {exc}"[:300])
        return None
    trial.set_user_attr("artifact", str(final))
    return final


def drop_outside_top(study: optuna.Study, family: str, root: str | None) -> None:
    """Remove the saved models of complete trials no longer among their family's best.

    Called after ``tell``: a worker killed between saving and telling leaves the older
    models in place, and trials not yet told are never touched."""
    if root is None:
        return
    for _, number in _family_values(study, family)[KEEP_PER_FAMILY:]:
        shutil.rmtree(artifact_dir(root, number), ignore_errors=True)


def load_meta(root: str | os.PathLike[str] | None, trial_number: int) -> dict[str, Any] | None:
    """The saved artifact of a trial, if this machine has it."""
    if root is None:
        return None
    folder = artifact_dir(root, trial_number)
    try:
        meta: dict[str, Any] = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    if not (folder / "model.onnx").is_file() or not (folder / meta.get("native", "")).is_file():
        return None
    meta["folder"] = str(folder)
    return meta


def saved_trials(root: str | os.PathLike[str] | None) -> list[int]:
    """Numbers of the trials whose artifacts are on this machine."""
    if root is None or not Path(root).is_dir():
        return []
    numbers = []
    for path in Path(root).glob("trial-*"):
        suffix = path.name.removeprefix("trial-")
        if suffix.isdigit() and (path / "meta.json").is_file():
            numbers.append(int(suffix))
    return sorted(numbers)


def load_val(meta: dict[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """The validation probabilities saved with an artifact, and the labels of those images
    (None when missing or unreadable)."""
    try:
        with np.load(Path(meta["folder"]) / VAL_FILE, allow_pickle=False) as saved:
            proba, labels = saved["proba"], saved["labels"]
    except (OSError, ValueError, KeyError):
        return None
    if proba.ndim != 2 or proba.shape != (len(labels), 10):
        return None
    return proba, labels
