"""Keep the trained model of each new best trial, so that export needs no retraining.

When a trial completes with the best validation accuracy so far, its worker writes
``<artifacts>/trial-<n>/`` (model.onnx, the code-free native weights, meta.json) before
telling the study. ``export`` then reuses the folder instead of fitting again: that is what
lets ``search`` export its best model inside its budget. Written to a temporary folder and
renamed, so a kill never leaves half an artifact.
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


def save_if_best(
    study: optuna.Study,
    trial: optuna.Trial,
    model: Family,
    value: float,
    data: Split,
    root: str | None,
) -> Path | None:
    """Write the trial's model if no complete trial of the study beats ``value``."""
    if root is None:
        return None
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    best = max((t.value for t in done if t.value is not None), default=-1.0)
    if value < best:
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
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    except Exception as exc:  # an export problem must not fail a good trial
        shutil.rmtree(tmp, ignore_errors=True)
        trial.set_user_attr("artifact_error", f"{type(exc).__name__}: {exc}"[:300])
        return None
    trial.set_user_attr("artifact", str(final))
    return final


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
