"""From a study to an exported folder: decide what to export, with what data, then hand it
to a pipeline.

The decision reads top to bottom: the out folder and the limits are checked; the study's
data set is opened (the one it recorded, refused if it changed); the ensemble of the saved
models is tried (by default); otherwise a trial is chosen (by number, by criterion, or the
most accurate within the limits), its saved model reused when intact, or it is trained
again on its own split (``refit``: on every training image). The pipelines (``pipeline``)
then write the folder and measure it once on the test images.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import optuna

from automl_fashion import families
from automl_fashion.artifacts import check_artifact
from automl_fashion.data import Split
from automl_fashion.data.spec import study_spec
from automl_fashion.errors import ConfigError
from automl_fashion.export import limits as lf
from automl_fashion.export.limits import (
    LimitError,
    Limits,
    best_within,
    ensemble_fits,
    nothing_fits,
    saved_candidates,
    total_cost,
)
from automl_fashion.export.measure import ExportData, ExportResult
from automl_fashion.export.outdir import check_out_dir
from automl_fashion.export.pipeline import (
    Say,
    export_ensemble,
    export_model,
    reuse_artifact,
)
from automl_fashion.export.select import check_same_data, pick_trial, search_split, trial_recipe
from automl_fashion.threads import available_cores


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
    trained again on the split it was searched on (``refit``: every training image of the
    study's data set). ``force`` allows a non-empty ``out`` that is not an earlier export
    (see ``outdir``); ``say`` hears, in one line each, what the export had to work around.
    ``limits`` (deployment limits, see ``limits``) narrow the choice, single or ensemble,
    to the saved models that meet them; a given ``trial`` must meet them (``LimitError``).
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

    spec = study_spec(study)
    data = ExportData(spec, spec.open(data_dir))
    check_same_data(study, data.dataset)
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
                data=data,
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
                data=data,
                force=force,
                notes=notes,
                limits=limit_facts,
            )
    searched = search_split(study, data_dir, data.dataset)
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
        X_all, y_all = data.dataset.train()
        split = Split(X_all, y_all, split.X_val, split.y_val, split.info)
        note(
            "probabilities not calibrated: with --refit the model trains on the validation "
            "images too, so none are left to fit a temperature on"
        )
    model = families.get(recipe.family)(
        recipe.params, seed=recipe.seed, threads=threads or available_cores()
    )
    model.fit(split)
    trained_on = (
        f"all {len(split.y_train):,} training images"
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
        data=data,
        force=force,
        notes=notes,
        val=None if refit else (split.X_val, split.y_val),
        limits=limit_facts,
    )


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
