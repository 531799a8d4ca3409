"""Export a study's trial as a self-contained model folder, and measure it once on the test set.

This module and ``evaluate`` are the only places that read the test split. The folder:

    model.onnx          raw pixels (float32 0..255, N x 1 x 28 x 28) -> 10 probabilities
    model.safetensors   the learned arrays (or model.ubj: XGBoost's own format), no code
    model_card.json     family, parameters, accuracies, per-class accuracy, confusion matrix,
    MODEL_CARD.md       training time, data digests, library versions, how it was selected
    confusion.png
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from automl_fashion import __version__, families
from automl_fashion.data import CLASSES, FILES, Split, load_split, load_test, load_train_full
from automl_fashion.errors import ConfigError
from automl_fashion.leaderboard import DEFAULT_COST_WEIGHT, score, wilson_interval
from automl_fashion.search_space import load_space
from automl_fashion.threads import available_cores

CRITERIA = ("accuracy", "score")


@dataclass
class ExportResult:
    directory: Path
    trial: int
    family: str
    val_accuracy: float | None
    test_accuracy: float
    test_interval: tuple[float, float]
    parity: float
    export_seconds: float
    fit_seconds: float


def pick_trial(study: optuna.Study, trial: int | None, criterion: str) -> FrozenTrial:
    """The trial to export: the given number, or the best complete one by ``criterion``."""
    if criterion not in CRITERIA:
        raise ConfigError(f"--criterion: {criterion!r}; expected one of {list(CRITERIA)}")
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if trial is not None:
        found = [t for t in study.get_trials(deepcopy=False) if t.number == trial]
        if not found:
            raise ConfigError(f"--trial: study {study.study_name!r} has no trial {trial}")
        if found[0].state != TrialState.COMPLETE:
            raise ConfigError(
                f"--trial: trial {trial} is {found[0].state.name.lower()}, not complete"
            )
        return found[0]
    if not complete:
        raise ConfigError(f"study {study.study_name!r} has no complete trial to export")
    if criterion == "accuracy":
        return max(complete, key=lambda t: (t.value or 0.0, -t.number))
    return max(
        complete,
        key=lambda t: score(
            t.value or 0.0, t.user_attrs.get("fit_seconds", 0.0), DEFAULT_COST_WEIGHT
        ),
    )


def trial_config(trial: FrozenTrial, spaces_dir: str | None = None) -> tuple[str, dict[str, Any]]:
    """The family and the full, validated parameters a trial trained with."""
    family = str(trial.params["family"])
    prefix = f"{family}."
    chosen = {k[len(prefix) :]: v for k, v in trial.params.items() if k.startswith(prefix)}
    space = load_space(family, spaces_dir)
    fixed = {p.name: p.value for p in space.params if p.type == "fixed"}
    # what the trial really trained with, when it shortened itself to end within the budget
    shortened = dict(trial.user_attrs.get("shortened_to", {}))
    return family, space.validate({**fixed, **chosen, **shortened})


def export_trial(
    study: optuna.Study,
    out: str | os.PathLike[str],
    *,
    trial: int | None = None,
    criterion: str = "accuracy",
    refit: bool = False,
    threads: int | None = None,
    data_dir: str | None = None,
    spaces_dir: str | None = None,
    studies_dir: str | None = None,
    selected_by: str | None = None,
    ensemble: bool = True,
) -> ExportResult:
    """Write the chosen trial's model folder and test it once.

    By default (no ``trial``, by accuracy, no ``refit``) that is the ensemble of the saved
    models when it beats the best single model out of sample (see ``ensemble``). A single
    trial's model the search saved is reused when this machine has it (see ``artifacts``);
    otherwise, or with ``refit``, the configuration is trained again.
    """
    from automl_fashion.artifacts import load_meta
    from automl_fashion.storage import artifacts_dir

    if trial is None and criterion == "accuracy" and not refit and ensemble:
        from automl_fashion.ensemble import build_ensemble

        ens = build_ensemble(study, artifacts_dir(study.study_name, studies_dir))
        if ens is not None and ens.helps:
            return export_ensemble(ens, out, study=study.study_name, data_dir=data_dir)
    chosen = pick_trial(study, trial, criterion)
    selected_by = selected_by or (
        f"trial {trial} chosen by the user"
        if trial is not None
        else f"best complete trial by validation {criterion}"
    )
    meta = None if refit else load_meta(artifacts_dir(study.study_name, studies_dir), chosen.number)
    if meta is not None:
        return reuse_artifact(
            meta, out, study=study.study_name, selected_by=selected_by, data_dir=data_dir
        )
    family, params = trial_config(chosen, spaces_dir)
    seed = int(study.user_attrs.get("seed", 0))
    split = load_split(seed=seed, data_dir=data_dir)
    if refit:
        X_all, y_all = load_train_full(data_dir)
        split = Split(X_all, y_all, split.X_val, split.y_val)
    threads = threads or available_cores()
    model = families.get(family)(params, seed=seed + chosen.number, threads=threads)
    model.fit(split)
    trained_on = (
        "all 60,000 training images"
        if refit
        else f"{len(split.y_train)} training images (the search's split, seed {seed})"
    )
    return export_model(
        model,
        out,
        study=study.study_name,
        trial=chosen.number,
        val_accuracy=chosen.value,
        selected_by=selected_by,
        trained_on=trained_on,
        data_dir=data_dir,
    )


def export_model(
    model: families.Family,
    out: str | os.PathLike[str],
    *,
    study: str = "",
    trial: int = -1,
    val_accuracy: float | None = None,
    selected_by: str = "",
    trained_on: str = "",
    data_dir: str | None = None,
) -> ExportResult:
    """Write a fitted family's model folder and measure it once on the test set."""
    import onnx

    from automl_fashion.onnx_export import onnx_predict_proba, onnx_session, save_native, to_onnx

    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    onnx_path = directory / "model.onnx"
    onnx.save(to_onnx(model), str(onnx_path))
    native = save_native(model, directory)
    export_seconds = time.perf_counter() - start

    X_test, y_test = load_test(data_dir)
    session = onnx_session(onnx_path, model.threads)
    t0 = time.perf_counter()
    proba = onnx_predict_proba(session, X_test.astype(np.float32))
    onnx_seconds = time.perf_counter() - t0
    pred = proba.argmax(1)
    parity = float(np.mean(pred == model.predict(X_test)))
    return _finish(
        directory,
        pred,
        y_test,
        onnx_seconds,
        parity,
        "test images",
        family=model.name,
        params=model.params,
        trial=trial,
        study=study,
        selected_by=selected_by,
        trained_on=trained_on,
        val_accuracy=val_accuracy,
        fit_seconds=model.fit_seconds_,
        export_seconds=export_seconds,
        files={"onnx": onnx_path.name, "native": native.name},
    )


def export_ensemble(
    ens: Any,
    out: str | os.PathLike[str],
    *,
    study: str,
    data_dir: str | None = None,
) -> ExportResult:
    """Write an ensemble's folder (one ONNX graph, the members' weights) and test it once."""
    import onnx

    from automl_fashion.ensemble import ensemble_onnx
    from automl_fashion.onnx_export import onnx_predict_proba, onnx_session

    start = time.perf_counter()
    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("member-*"):
        stale.unlink()
    onnx.save(ensemble_onnx(ens.members), str(directory / "model.onnx"))
    natives = []
    for m in ens.members:
        name = f"member-{m.trial}-{m.family}{Path(m.meta['native']).suffix}"
        shutil.copy2(Path(m.meta["folder"]) / m.meta["native"], directory / name)
        natives.append(name)
    export_seconds = time.perf_counter() - start

    X_test, y_test = load_test(data_dir)
    X_test = X_test.astype(np.float32)
    cores = available_cores()
    t0 = time.perf_counter()
    proba = onnx_predict_proba(onnx_session(directory / "model.onnx", cores), X_test)
    onnx_seconds = time.perf_counter() - t0
    # the merged graph against its members' own graphs, averaged with the same weights
    separate = sum(
        m.weight
        * onnx_predict_proba(onnx_session(Path(m.meta["folder"]) / "model.onnx", cores), X_test)
        for m in ens.members
    )
    parity = float(np.mean(proba.argmax(1) == np.asarray(separate).argmax(1)))
    members = [
        {
            "trial": m.trial,
            "family": m.family,
            "weight": round(m.weight, 4),
            "val_accuracy": m.val_accuracy,
            "fit_seconds": m.meta["fit_seconds"],
            "onnx_native_agreement_val": m.meta["onnx_native_agreement_val"],
            "params": m.meta["params"],
            "native": name,
        }
        for m, name in zip(ens.members, natives, strict=True)
    ]
    return _finish(
        directory,
        proba.argmax(1),
        y_test,
        onnx_seconds,
        parity,
        "test images (the merged graph against its members' graphs)",
        family="ensemble",
        params={"members": members},
        trial=-1,
        study=study,
        selected_by=(
            f"ensemble selection over the {len(ens.members)} saved models; out of sample it "
            f"beat the best single model ({ens.val_accuracy:.2%} against "
            f"{ens.best_single_val_accuracy:.2%} on held-out validation halves)"
        ),
        trained_on=f"{ens.members[0].meta['n_train']} training images "
        "(the models trained during the search)",
        val_accuracy=ens.val_accuracy,
        fit_seconds=float(sum(m.meta["fit_seconds"] for m in ens.members)),
        export_seconds=export_seconds,
        files={"onnx": "model.onnx", "native": natives},
    )


def reuse_artifact(
    meta: dict[str, Any],
    out: str | os.PathLike[str],
    *,
    study: str,
    selected_by: str,
    data_dir: str | None = None,
) -> ExportResult:
    """Export the model a search saved for a trial: copy it, then test it once."""
    from automl_fashion.onnx_export import onnx_predict_proba, onnx_session

    start = time.perf_counter()
    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    folder = Path(meta["folder"])
    for name in ("model.onnx", meta["native"]):
        shutil.copy2(folder / name, directory / name)
    export_seconds = time.perf_counter() - start
    X_test, y_test = load_test(data_dir)
    session = onnx_session(directory / "model.onnx", available_cores())
    t0 = time.perf_counter()
    pred = onnx_predict_proba(session, X_test.astype(np.float32)).argmax(1)
    onnx_seconds = time.perf_counter() - t0
    return _finish(
        directory,
        pred,
        y_test,
        onnx_seconds,
        float(meta["onnx_native_agreement_val"]),
        "validation images",
        family=meta["family"],
        params=meta["params"],
        trial=int(meta["trial"]),
        study=study,
        selected_by=selected_by,
        trained_on=f"{meta['n_train']} training images (the model trained during the search)",
        val_accuracy=meta["val_accuracy"],
        fit_seconds=float(meta["fit_seconds"]),
        export_seconds=export_seconds,
        files={"onnx": "model.onnx", "native": meta["native"]},
    )


def _finish(
    directory: Path,
    pred: np.ndarray,
    y_test: np.ndarray,
    onnx_seconds: float,
    parity: float,
    parity_on: str,
    *,
    family: str,
    params: dict[str, Any],
    trial: int,
    study: str,
    selected_by: str,
    trained_on: str,
    val_accuracy: float | None,
    fit_seconds: float,
    export_seconds: float,
    files: dict[str, Any],
) -> ExportResult:
    """Score the ONNX predictions on the test set; write the card and the confusion PNG."""
    acc = float(np.mean(pred == y_test))
    interval = wilson_interval(acc, len(y_test))
    confusion = np.zeros((10, 10), dtype=int)
    np.add.at(confusion, (y_test, pred), 1)
    card = {
        "family": family,
        "params": params,
        "trial": trial,
        "study": study,
        "selected_by": selected_by,
        "trained_on": trained_on,
        "validation_accuracy": val_accuracy,
        "test_accuracy": acc,
        "test_accuracy_95ci": list(interval),
        "per_class_accuracy": {
            CLASSES[c]: float(confusion[c, c] / max(1, confusion[c].sum())) for c in range(10)
        },
        "confusion_matrix": confusion.tolist(),
        "onnx_native_agreement": parity,
        "onnx_native_agreement_measured_on": parity_on,
        "fit_seconds": round(fit_seconds, 1),
        "export_seconds": round(export_seconds, 2),
        "onnx_images_per_second": round(len(y_test) / onnx_seconds, 1),
        "files": files,
        "input": "float32 pixels 0..255, shape N x 1 x 28 x 28 or N x 28 x 28, light object "
        "on a dark background (Fashion-MNIST style)",
        "output": "probabilities, N x 10, classes in the order of 'classes'",
        "classes": list(CLASSES),
        "data_sha256": {spec.name: spec.sha256 for spec in FILES.values()},
        "versions": _versions(),
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (directory / "model_card.json").write_text(json.dumps(card, indent=2))
    (directory / "MODEL_CARD.md").write_text(_markdown(card))
    _confusion_png(confusion, directory / "confusion.png")
    return ExportResult(
        directory,
        trial,
        family,
        val_accuracy,
        acc,
        interval,
        parity,
        export_seconds,
        fit_seconds,
    )


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"automl-fashion": __version__, "python": platform.python_version()}
    for name in (
        "numpy",
        "scikit-learn",
        "xgboost-cpu",
        "xgboost",
        "torch",
        "onnx",
        "onnxruntime",
        "optuna",
    ):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def _markdown(card: dict[str, Any]) -> str:
    lo, hi = card["test_accuracy_95ci"]
    rows = "\n".join(f"| {k} | {v:.2%} |" for k, v in card["per_class_accuracy"].items())
    if card["family"] == "ensemble":
        params = (
            "| trial | family | weight | validation accuracy | fit s |\n|---|---|---|---|---|\n"
        )
        params += "\n".join(
            f"| {m['trial']} | {m['family']} | {m['weight']:.2f} | {m['val_accuracy']:.2%} "
            f"| {m['fit_seconds']} |"
            for m in card["params"]["members"]
        )
        params += "\n\nEach member's parameters are in model_card.json."
        title = f"automl-fashion ensemble (study {card['study']})"
    else:
        params = "\n".join(f"- `{k}`: {v}" for k, v in card["params"].items())
        title = f"automl-fashion {card['family']} (study {card['study']}, trial {card['trial']})"
    v = card["validation_accuracy"]
    val = "n/a" if v is None else f"{v:.2%}"
    return f"""# Model card: {title}

- **Selected**: {card["selected_by"]}; trained on {card["trained_on"]}.
- **Validation accuracy** (selection): {val}
- **Test accuracy** (10,000 test images, measured once at export): {card["test_accuracy"]:.2%}
  (95% interval {lo:.2%} to {hi:.2%})
- **Training time**: {card["fit_seconds"]} s; ONNX: {card["onnx_images_per_second"]} images/s;
  ONNX and native predictions agree on {card["onnx_native_agreement"]:.2%} of test images.
- **Input**: {card["input"]}. **Output**: {card["output"]}.
- **Use**: `onnxruntime.InferenceSession("model.onnx").run(None, {{"pixels": x}})`, or
  `automl_fashion.load_model(DIR).predict(images)`.

## Parameters
{params}

## Per-class test accuracy
| class | accuracy |
|---|---|
{rows}

![confusion matrix](confusion.png)

Data: Fashion-MNIST (Zalando), files verified by SHA-256 of their decompressed bytes (see
model_card.json). Versions: {", ".join(f"{k} {v}" for k, v in card["versions"].items())}.
"""


def _confusion_png(confusion: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    ax.imshow(confusion, cmap="Blues")
    for i in range(10):
        for j in range(10):
            ax.text(
                j,
                i,
                str(confusion[i, j]),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if confusion[i, j] > confusion.max() / 2 else "black",
            )
    ax.set_xticks(range(10), CLASSES, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(10), CLASSES, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Test-set confusion matrix")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
