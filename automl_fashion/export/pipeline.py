"""Export a study's model as a self-contained folder, and measure it once on the test set.

This package and ``evaluate`` are the only places that read the test split. The folder:

    model.onnx          raw pixels (float32 0..255, N x 1 x 28 x 28) -> 10 probabilities
    model.safetensors   the learned arrays (or model.ubj: XGBoost's own format), no code
    model_card.json     family, parameters, accuracies, per-class accuracy, confusion matrix,
    MODEL_CARD.md       training time, data digests, library versions, how it was selected
    confusion.png

It is built in a temporary folder beside ``out`` and put in place only when complete (see
``outdir``). Everything read from the study and its artifacts folder is checked first: a
saved model whose files do not match their recorded digests is trained again, on the split
its trial was searched on, and the card says so.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from automl_fashion import families
from automl_fashion.artifacts import (
    ONNX_FILE,
    ArtifactError,
    check_artifact,
    copy_verified,
    read_verified,
)
from automl_fashion.data import Split, load_test, load_train_full
from automl_fashion.errors import ConfigError
from automl_fashion.export import limits as lf
from automl_fashion.export.calibration import Calibration, calibrate_on
from automl_fashion.export.card import write_card
from automl_fashion.export.limits import (
    LimitError,
    Limits,
    best_within,
    ensemble_fits,
    nothing_fits,
    saved_candidates,
    total_cost,
)
from automl_fashion.export.outdir import check_out_dir, staged_folder
from automl_fashion.export.select import pick_trial, search_split, trial_recipe
from automl_fashion.threads import available_cores

Say = Callable[[str], None]


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
    #: what the export had to work around (a corrupt saved model, parameters rebuilt)
    notes: tuple[str, ...] = ()


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
    force: bool = False,
    say: Say | None = None,
    limits: Limits | None = None,
) -> ExportResult:
    """Write the chosen trial's model folder and test it once.

    By default (no ``trial``, by accuracy, no ``refit``) that is the ensemble of the saved
    models when it beats the best single model out of sample (see ``ensemble``). A single
    trial's model the search saved is reused when this machine has it intact (see
    ``artifacts``); otherwise, or with ``refit``, the trial's recorded configuration is
    trained again on the split it was searched on (``refit``: all 60,000 images).
    ``force`` allows a non-empty ``out`` that is not an earlier export (see ``outdir``);
    ``say`` hears, in one line each, what the export had to work around. ``limits``
    (deployment limits, see ``limits``) narrow the choice, single or ensemble, to the
    saved models that meet them; a given ``trial`` must meet them (``LimitError``).
    """
    from automl_fashion.storage import artifacts_dir

    check_out_dir(out, force=force)  # before any training
    if threads is not None and (isinstance(threads, bool) or threads < 1):
        raise ConfigError(f"--threads must be at least 1; got {threads}")
    limits = limits or Limits()
    if limits.active and trial is None and criterion != "accuracy":
        raise ConfigError(
            f"--criterion {criterion}: {limits.describe()} choose the most accurate model "
            "within the limits; use --criterion accuracy or leave the limits out"
        )
    notes: list[str] = []

    def note(message: str) -> None:
        notes.append(message)
        if say is not None:
            say(message)

    root = artifacts_dir(study.study_name, studies_dir)
    left_out: list[str] = []  # corrupt saved models the ensemble did without
    candidates = saved_candidates(study, root) if limits.active else []
    if limits.active and not candidates:
        raise nothing_fits(candidates, limits)
    limit_facts = None
    use_ensemble = trial is None and criterion == "accuracy" and not refit and ensemble
    if limits.active and trial is None:
        limit_facts = _unconstrained(study, root, candidates, limits, use_ensemble)
    if use_ensemble:
        from automl_fashion.ensemble import build_ensemble

        fits = ensemble_fits(candidates, limits) if limits.active else None
        ens = build_ensemble(study, root, say=left_out.append, fits=fits)
        if ens is not None and ens.helps:
            for message in left_out:
                note(message)
            return export_ensemble(
                ens,
                out,
                study=study.study_name,
                data_dir=data_dir,
                force=force,
                notes=notes,
                limits=limit_facts,
            )
    if limits.active and trial is None:
        best = best_within(candidates, limits)
        if best is None:
            raise nothing_fits(candidates, limits)
        chosen = pick_trial(study, best.trial, criterion)
        selected_by = selected_by or (
            f"the most accurate saved model within {limits.describe()} (validation accuracy)"
        )
    else:
        chosen = pick_trial(study, trial, criterion)
    if limits.active and trial is not None:
        cost = total_cost(candidates, [chosen.number])
        if cost is None:
            raise LimitError(
                f"{limits.describe()}: trial {chosen.number} has no intact saved model on this "
                "machine to measure; leave --trial out to choose among the saved models"
            )
        if limits.exceeded(cost):
            raise LimitError(
                f"{limits.describe()}: trial {chosen.number} takes {cost.describe()}; "
                "leave --trial out to choose the most accurate saved model within the limits"
            )
        limit_facts = lf.facts(
            limits, f"trial {chosen.number} (chosen by the user)", chosen.value, cost
        )
    for message in left_out:  # the chosen trial's own corruption is told below
        if not message.startswith(f"trial {chosen.number}:"):
            note(message)
    selected_by = selected_by or (
        f"trial {trial} chosen by the user"
        if trial is not None
        else f"best complete trial by validation {criterion}"
    )
    problem = None
    if not refit:
        meta, problem = check_artifact(root, chosen.number)
        if meta is not None:
            return reuse_artifact(
                meta,
                out,
                study=study.study_name,
                selected_by=selected_by,
                data_dir=data_dir,
                force=force,
                notes=notes,
                limits=limit_facts,
            )
    searched = search_split(study, data_dir)
    split = searched.split
    if problem is not None:
        note(
            f"trial {chosen.number}: saved model is corrupt ({problem}); retraining on its "
            f"{len(split.y_train):,}-image split"
        )
    recipe = trial_recipe(chosen, searched.seed, spaces_dir)
    if not recipe.stored:
        note(
            f"trial {chosen.number} recorded no parameters (an older search): they were "
            "rebuilt from the current search-space file"
        )
    n_train = chosen.user_attrs.get("n_train")
    if not refit and isinstance(n_train, int) and n_train != len(split.y_train):
        note(
            f"trial {chosen.number} trained on {n_train} images, but the study's recorded "
            f"split has {len(split.y_train)}"
        )
    if refit:
        X_all, y_all = load_train_full(data_dir)
        split = Split(X_all, y_all, split.X_val, split.y_val)
        note(
            "probabilities not calibrated: with --refit the model trains on the validation "
            "images too, so none are left to fit a temperature on"
        )
    model = families.get(recipe.family)(
        recipe.params, seed=recipe.seed, threads=threads or available_cores()
    )
    model.fit(split)
    trained_on = (
        "all 60,000 training images"
        if refit
        else f"{len(split.y_train)} training images (the split trial {chosen.number} was "
        f"searched on: {searched.describe()})"
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
        force=force,
        notes=notes,
        val=None if refit else (split.X_val, split.y_val),
        limits=limit_facts,
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
    force: bool = False,
    notes: list[str] | tuple[str, ...] = (),
    val: tuple[np.ndarray, np.ndarray] | None = None,
    limits: dict[str, Any] | None = None,
) -> ExportResult:
    """Write a fitted family's model folder and measure it once on the test set.

    ``val``: validation images and labels the model did not train on, to fit the
    temperature of its probabilities (without them they are left uncalibrated)."""
    import onnx

    from automl_fashion.onnx_export import onnx_predict_proba, onnx_session, save_native, to_onnx

    calibration = None
    if val is not None:
        proba_val = model.predict_proba(val[0])
        calibration = calibrate_on(proba_val, val[1], "validation images (not trained on)")
    with staged_folder(out, force=force) as directory:
        start = time.perf_counter()
        onnx_path = directory / ONNX_FILE
        onnx.save(_calibrated(to_onnx(model), calibration, model.name), str(onnx_path))
        native = save_native(model, directory)
        export_seconds = time.perf_counter() - start

        X_test, y_test = load_test(data_dir)
        session = onnx_session(onnx_path, model.threads)
        t0 = time.perf_counter()
        proba = onnx_predict_proba(session, X_test.astype(np.float32))
        onnx_seconds = time.perf_counter() - t0
        pred = proba.argmax(1)
        parity = float(np.mean(pred == model.predict(X_test)))
        card = write_card(
            directory,
            proba,
            y_test,
            onnx_seconds,
            parity,
            "test images",
            calibration=calibration,
            limits=_measured(limits, onnx_path),
            family=model.name,
            params=model.params,
            trial=trial,
            study=study,
            selected_by=selected_by,
            trained_on=trained_on,
            notes=notes,
            val_accuracy=val_accuracy,
            fit_seconds=model.fit_seconds_,
            export_seconds=export_seconds,
            files={"onnx": ONNX_FILE, "native": native.name},
        )
    return _result(out, card, notes)


def export_ensemble(
    ens: Any,
    out: str | os.PathLike[str],
    *,
    study: str,
    data_dir: str | None = None,
    force: bool = False,
    notes: list[str] | tuple[str, ...] = (),
    limits: dict[str, Any] | None = None,
) -> ExportResult:
    """Write an ensemble's folder (one ONNX graph, the members' weights) and test it once."""
    import onnx

    from automl_fashion.ensemble import ensemble_onnx
    from automl_fashion.onnx_export import onnx_predict_proba, onnx_session

    calibration = None
    if len(ens.held_out_proba):
        calibration = calibrate_on(
            ens.held_out_proba,
            ens.val_labels,
            "validation images (each half averaged with the weights chosen on the other)",
        )
    with staged_folder(out, force=force) as directory:
        start = time.perf_counter()
        merged = _calibrated(ensemble_onnx(ens.members), calibration, "ensemble")
        onnx.save(merged, str(directory / ONNX_FILE))
        natives = []
        for m in ens.members:
            # every name is made here: family and suffix were checked by ``check_artifact``
            native = m.meta["native"]
            name = f"member-{m.trial}-{m.family}{Path(native).suffix}"
            copy_verified(
                Path(m.meta["folder"]) / native, directory / name, m.meta["sha256"][native]
            )
            natives.append(name)
        export_seconds = time.perf_counter() - start

        X_test, y_test = load_test(data_dir)
        X_test = X_test.astype(np.float32)
        cores = available_cores()
        t0 = time.perf_counter()
        proba = onnx_predict_proba(onnx_session(directory / ONNX_FILE, cores), X_test)
        onnx_seconds = time.perf_counter() - t0
        # the merged graph against its members' own graphs, averaged with the same weights
        separate = sum(
            m.weight
            * onnx_predict_proba(
                onnx_session(
                    read_verified(Path(m.meta["folder"]) / ONNX_FILE, m.meta["sha256"][ONNX_FILE]),
                    cores,
                ),
                X_test,
            )
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
        card = write_card(
            directory,
            proba,
            y_test,
            onnx_seconds,
            parity,
            "test images (the merged graph against its members' graphs)",
            calibration=calibration,
            limits=_measured(limits, directory / ONNX_FILE),
            family="ensemble",
            params={"members": members},
            trial=-1,
            study=study,
            selected_by=(
                f"ensemble selection over the {len(ens.members)} saved models; out of sample "
                f"it beat the best single model ({ens.val_accuracy:.2%} against "
                f"{ens.best_single_val_accuracy:.2%} on held-out validation halves)"
            ),
            trained_on=f"{ens.members[0].meta['n_train']} training images "
            "(the models trained during the search)",
            notes=notes,
            val_accuracy=ens.val_accuracy,
            fit_seconds=float(sum(m.meta["fit_seconds"] for m in ens.members)),
            export_seconds=export_seconds,
            files={"onnx": ONNX_FILE, "native": natives},
        )
    return _result(out, card, notes)


def reuse_artifact(
    meta: dict[str, Any],
    out: str | os.PathLike[str],
    *,
    study: str,
    selected_by: str,
    data_dir: str | None = None,
    force: bool = False,
    notes: list[str] | tuple[str, ...] = (),
    limits: dict[str, Any] | None = None,
) -> ExportResult:
    """Export the model a search saved for a trial (``meta`` from ``check_artifact``): copy
    it, checking its digests, then test it once."""
    import onnx

    from automl_fashion.artifacts import load_val
    from automl_fashion.onnx_export import onnx_predict_proba, onnx_session

    saved_val = load_val(meta)
    calibration = None
    if saved_val is not None:
        calibration = calibrate_on(
            saved_val[0], saved_val[1], "validation images (the trial's own, not trained on)"
        )
    with staged_folder(out, force=force) as directory:
        start = time.perf_counter()
        folder = Path(meta["folder"])
        # names checked by ``check_artifact``
        copy_verified(
            folder / meta["native"], directory / meta["native"], meta["sha256"][meta["native"]]
        )
        saved = read_verified(folder / ONNX_FILE, meta["sha256"][ONNX_FILE])
        if calibration is None:
            (directory / ONNX_FILE).write_bytes(saved)
        else:
            try:
                proto = _calibrated(onnx.load_from_string(saved), calibration, meta["family"])
            except Exception as exc:  # onnx raises its own exception types
                first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
                raise ArtifactError(
                    f"trial {meta['trial']}: its saved model.onnx cannot be loaded ({first}); "
                    f"export it with --refit to train it again"
                ) from None
            onnx.save(proto, str(directory / ONNX_FILE))
        export_seconds = time.perf_counter() - start
        X_test, y_test = load_test(data_dir)
        try:
            session = onnx_session(directory / ONNX_FILE, available_cores())
        except Exception as exc:  # onnxruntime raises its own exception types
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            raise ArtifactError(
                f"trial {meta['trial']}: its saved model.onnx cannot be loaded ({first}); "
                f"export it with --refit to train it again"
            ) from None
        t0 = time.perf_counter()
        proba = onnx_predict_proba(session, X_test.astype(np.float32))
        onnx_seconds = time.perf_counter() - t0
        card = write_card(
            directory,
            proba,
            y_test,
            onnx_seconds,
            float(meta["onnx_native_agreement_val"]),
            "validation images",
            calibration=calibration,
            limits=_measured(limits, directory / ONNX_FILE),
            family=meta["family"],
            params=meta["params"],
            trial=int(meta["trial"]),
            study=study,
            selected_by=selected_by,
            trained_on=f"{meta['n_train']} training images (the model trained during the search)",
            notes=notes,
            val_accuracy=meta["val_accuracy"],
            fit_seconds=float(meta["fit_seconds"]),
            export_seconds=export_seconds,
            files={"onnx": ONNX_FILE, "native": meta["native"]},
        )
    return _result(out, card, notes)


def _unconstrained(
    study: optuna.Study,
    root: Path,
    candidates: list[lf.Candidate],
    limits: Limits,
    use_ensemble: bool,
) -> dict[str, Any]:
    """The card's facts on the limits: what would have been exported without them."""
    if use_ensemble:
        from automl_fashion.ensemble import build_ensemble

        ens = build_ensemble(study, root)
        if ens is not None and ens.helps:
            trials = [m.trial for m in ens.members]
            return lf.facts(
                limits,
                "ensemble of trials " + ", ".join(map(str, trials)),
                ens.val_accuracy,
                total_cost(candidates, trials),
            )
    best = pick_trial(study, None, "accuracy")
    family = best.params.get("family", "?")
    return lf.facts(
        limits, f"trial {best.number} ({family})", best.value, total_cost(candidates, [best.number])
    )


def _measured(limits: dict[str, Any] | None, graph: Path) -> dict[str, Any] | None:
    """The limit facts with the exported graph's own cost, measured."""
    if limits is None:
        return None
    cost = lf.measure(graph.read_bytes())
    return {**limits, "predict_ms_per_1000": cost.predict_ms, "size_mb": cost.size_mb}


def _calibrated(proto: Any, calibration: Calibration | None, family: str) -> Any:
    from automl_fashion.onnx_export import calibrate

    return proto if calibration is None else calibrate(proto, calibration.temperature, family)


def _result(
    out: str | os.PathLike[str], card: dict[str, Any], notes: list[str] | tuple[str, ...]
) -> ExportResult:
    lo, hi = card["test_accuracy_95ci"]
    return ExportResult(
        Path(out),
        card["trial"],
        card["family"],
        card["validation_accuracy"],
        card["test_accuracy"],
        (lo, hi),
        card["onnx_native_agreement"],
        card["export_seconds"],
        card["fit_seconds"],
        tuple(notes),
    )
