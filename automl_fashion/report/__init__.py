"""A report a person reads at a glance: one ``index.html`` and its images in one folder.

Sections: a summary (best model, validation accuracy with its interval, test accuracy if
exported, time used); the family comparison (best of each family, per-class accuracy,
where each family wins); where the models fail (confusion matrix, confused pairs, a
gallery of mistakes, images every family gets wrong; needs the models the search saved on
this machine); how the search went (learning curves, best so far, a timeline per worker,
where the time went, hyperparameter importances). Works on a study a search is still
writing: it only reads.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl_fashion import leaderboard as lb
from automl_fashion.data import CLASSES
from automl_fashion.errors import ConfigError
from automl_fashion.report import page as pg
from automl_fashion.report.facts import SearchFacts, search_facts, time_by_family
from automl_fashion.report.failures import Failures, find_failures

if TYPE_CHECKING:
    import optuna
    import pandas as pd

__all__ = ["write_report"]

IMAGES = "images"  # the figures' folder inside --out
THUMBS = "images/val"  # the gallery's thumbnails


def write_report(
    study: optuna.Study,
    out: str | os.PathLike[str],
    *,
    cost_weight: float = lb.DEFAULT_COST_WEIGHT,
    artifacts: str | os.PathLike[str] | None = None,
    export_dir: str | os.PathLike[str] | None = None,
    data_dir: str | None = None,
    classes: tuple[str, ...] = CLASSES,
) -> Path:
    """Write ``index.html`` and its images into ``out`` (made if missing); returns the page.

    ``artifacts``: the folder of models the search saved (needed for "where the models
    fail"); ``export_dir``: an exported model folder whose card gives the test accuracy.
    """
    import matplotlib
    import optuna

    directory = Path(out)
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"--out {out}: is a file; expected a folder to write the report into")
    matplotlib.use("Agg")
    frame = lb.trials_frame(study, cost_weight=cost_weight)
    if frame.empty or not (frame["state"] == "complete").any():
        raise ConfigError(f"study {study.study_name!r} has no complete trial to report on")
    test = _test_accuracy(export_dir, study.study_name)
    try:
        (directory / THUMBS).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot make the folder ({exc.strerror or exc})") from None
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        facts = search_facts(study)
    finally:
        optuna.logging.set_verbosity(verbosity)
    fails = find_failures(study, artifacts, data_dir)
    doc = pg.Page(f"automl-fashion: study {study.study_name}")
    doc.add("summary", "Summary", _summary(frame, facts, test))
    planned = lb.planned_families(study)
    doc.add("families", "Family comparison", _families(frame, fails, directory, classes, planned))
    doc.add("failures", "Where the models fail", _failures(fails, directory, classes))
    doc.add("search", "How the search went", _search(frame, facts, directory))
    board = lb.leaderboard(frame).head(lb.DEFAULT_TOP)
    doc.add("leaderboard", f"Leaderboard (best {len(board)} by score)", _board(board, cost_weight))
    page = directory / "index.html"
    page.write_text(doc.render(), encoding="utf-8")
    return page


def _test_accuracy(export_dir: str | os.PathLike[str] | None, study: str) -> dict[str, Any] | None:
    """The exported model's card, when it belongs to this study (``None`` when not given
    or not exported; a given folder without a valid card is an error)."""
    from automl_fashion.model import ModelError, read_card

    if export_dir is None:
        return None
    path = Path(export_dir) / "model_card.json"
    if not path.is_file():
        raise ConfigError(f"--export {export_dir}: no model_card.json; expected an exported model")
    try:
        card = read_card(path)
    except ModelError as exc:
        raise ConfigError(f"--export {export_dir}: {exc}") from None
    if card.get("study") not in (None, study) or card.get("test_accuracy") is None:
        return None
    return card


def _summary(frame: pd.DataFrame, facts: SearchFacts, card: dict[str, Any] | None) -> str:
    best = lb.leaderboard(frame, sort="accuracy").iloc[0]
    states = frame["state"].value_counts()
    running = sum(r.outcome == "running" for r in facts.runs)
    worker_time = sum(r.end - r.start for r in facts.runs)
    budget = (
        facts.deadline - facts.origin.timestamp()
        if facts.deadline is not None and facts.origin is not None
        else None
    )
    test, test_detail = pg.MISSING, "not exported (export, or report --export DIR)"
    if card is not None:
        test = pg.pct(card["test_accuracy"])
        ci = card.get("test_accuracy_95ci")
        interval = (
            f"95% CI {pg.pct(ci[0])}–{pg.pct(ci[1])}, "
            if isinstance(ci, list) and len(ci) == 2 and all(isinstance(v, float) for v in ci)
            else ""
        )
        trial = card.get("trial")
        which = f" #{pg.text(trial)}" if isinstance(trial, int) and trial >= 0 else ""
        test_detail = f"{interval}exported {pg.text(card.get('family'))}{which}"
    tiles = [
        ("best model", f"{pg.text(best['family'])} #{int(best['trial'])}", pg.text(best["params"])),
        (
            "validation accuracy",
            pg.pct(best["val_accuracy"]),
            f"95% CI {pg.pct(best['ci_low'])}–{pg.pct(best['ci_high'])}",
        ),
        ("test accuracy", test, test_detail),
        (
            "trials",
            pg.count(len(frame) + running),
            f"{pg.count(states.get('complete', 0))} complete, {pg.count(states.get('pruned', 0))} "
            f"stopped, {pg.count(states.get('fail', 0))} failed, {pg.count(running)} running",
        ),
        (
            "time used",
            pg.seconds(facts.wall_seconds),
            f"budget {pg.seconds(budget)}; {pg.seconds(worker_time)} of worker time",
        ),
    ]
    return pg.cards(tiles)


def _families(
    frame: pd.DataFrame,
    fails: Failures,
    directory: Path,
    classes: Sequence[str],
    planned: tuple[list[str], dict[str, str]] = ([], {}),
) -> str:
    # every family the study searches, those its budget plan did not run with why
    fams = lb.by_family(frame, families=planned[0], notes=planned[1])
    rows = [
        [
            pg.text(r["family"]),
            pg.pct(r["val_accuracy"]),
            pg.interval(r["ci_low"], r["ci_high"]),
            pg.seconds(r["fit_seconds"]),
            pg.ms(r["predict_ms_per_1000"]),
            pg.size(r["model_bytes"]),
            pg.count(r["trial"]),
            pg.count(r["trials"]),
            pg.count(r["complete"]),
            pg.count(r["pruned"]),
            pg.count(r["failed"]),
            pg.text(r["note"]) if isinstance(r.get("note"), str) else pg.MISSING,
        ]
        for r in fams.to_dict("records")
    ]
    headers = [
        "family",
        "best val acc",
        "95% CI",
        "fit time",
        "predict / 1,000 images",
        "size",
        "best trial",
        "trials",
        "complete",
        "stopped",
        "failed",
        "note",
    ]
    from automl_fashion.report import plots

    done = frame[frame["state"] == "complete"]
    scatter = plots.accuracy_vs_time(done, directory / IMAGES / "accuracy_vs_time.png")
    per_class, wins = _per_class(fams, fails, classes)
    return "\n".join(
        [
            pg.table(headers, rows),
            pg.figure(
                f"{IMAGES}/{scatter.name}",
                "Every complete trial: validation accuracy against fit time (log scale); "
                "the line is the Pareto front (no trial is both more accurate and cheaper)",
            ),
            "<h3>Per-class validation accuracy of each family's best trial</h3>",
            per_class,
            "<h3>Where each family beats the others</h3>",
            wins,
        ]
    )


def _per_class(fams: pd.DataFrame, fails: Failures, classes: Sequence[str]) -> tuple[str, str]:
    """The per-class table (best of each row in bold) and the bullets of who wins what."""
    columns: dict[str, list[float | None]] = {}
    for r in fams.to_dict("records"):
        if pg.missing(r["trial"]):
            continue
        recorded = r.get("class_accuracy")
        values = list(recorded) if isinstance(recorded, tuple) else None
        saved = fails.class_accuracy.get(r["family"])
        if values is None and saved is not None and saved[0] == int(r["trial"]):
            values = saved[1]
        columns[f"{r['family']} #{int(r['trial'])}"] = values or [None] * len(classes)
    rows: list[list[str]] = []
    wins: dict[str, list[str]] = {name: [] for name in columns}
    for c, name in enumerate(classes):
        got = [v[c] for v in columns.values() if v[c] is not None]
        top = max((g for g in got if g is not None), default=None)
        cells = []
        for k, v in columns.items():
            shown = pg.pct(v[c], 1)
            if top is not None and v[c] == top and len(got) > 1:
                wins[k].append(name)
                shown = f"<b>{shown}</b>"
            cells.append(shown)
        rows.append([pg.text(name), *cells])
    header = ["class", *(pg.text(k) for k in columns)]
    items = []
    for k, won in wins.items():
        family = k.rsplit(" #", 1)[0]
        row = fams[fams["family"] == family].iloc[0]
        facts = []
        if won:
            names = ", ".join(pg.text(w) for w in won)
            facts.append(f"best (or tied) on {len(won)} of {len(classes)} classes: {names}")
        for column, what, smaller in (
            ("val_accuracy", "highest accuracy", False),
            ("fit_seconds", "fastest to train", True),
            ("predict_ms_per_1000", "fastest to predict", True),
            ("model_bytes", "smallest model", True),
        ):
            values = fams[column].dropna()
            if len(values) > 1 and not pg.missing(row[column]):
                target = values.min() if smaller else values.max()
                if row[column] == target:
                    facts.append(what)
        if facts:
            items.append(f"<b>{pg.text(family)}</b>: " + "; ".join(facts))
    if not any(any(v is not None for v in col) for col in columns.values()):
        return pg.note(
            "No per-class accuracy recorded (trials from an older version)."
        ), pg.bullets(items)
    return pg.table(header, rows), pg.bullets(items) or pg.note(
        "Only one family has a complete trial."
    )


def _failures(fails: Failures, directory: Path, classes: Sequence[str]) -> str:
    if fails.note is not None or fails.confusion is None:
        return pg.note(f"Left out: {fails.note}.")
    from automl_fashion.report import plots

    conf = plots.confusion(fails.confusion, classes, directory / IMAGES / "confusion.png")
    totals = fails.confusion.sum(1)
    pair_rows = [
        [pg.text(classes[t]), pg.text(classes[p]), pg.count(n), pg.pct(n / max(1, totals[t]), 1)]
        for t, p, n in fails.pairs[:10]
    ]
    parts = [
        pg.figure(
            f"{IMAGES}/{conf.name}",
            f"Confusion matrix of the best saved model (trial {fails.best_trial}, "
            f"{fails.best_family}) on {int(totals.sum()):,} validation images; "
            "rows: true class, shaded by the share of the row",
        ),
        "<h3>Most-confused pairs</h3>",
        pg.table(["true class", "predicted as", "images", "share of the class"], pair_rows, "llrr")
        if pair_rows
        else pg.note("No mistakes on the validation images."),
        f"<h3>Mistakes of the best model (trial {fails.best_trial}), most confident first</h3>",
        pg.gallery(_thumbs(fails, fails.gallery, directory), classes, "best")
        if fails.gallery
        else pg.note("No mistakes to show."),
        "<h3>Images every family gets wrong</h3>",
    ]
    if fails.all_wrong:
        parts.append(
            f"<p>Misclassified by the best saved model of each of "
            f"{', '.join(pg.text(f) for f in fails.all_wrong_families)}; "
            "captions give the best model's answer.</p>"
        )
        parts.append(pg.gallery(_thumbs(fails, fails.all_wrong, directory), classes, "all"))
    elif len(fails.all_wrong_families) > 1:
        parts.append(pg.note("No validation image is misclassified by every family."))
    else:
        parts.append(pg.note("Only one family has a saved model on this machine."))
    return "\n".join(parts)


def _thumbs(fails: Failures, mistakes: list[Any], directory: Path) -> list[pg.Thumb]:
    from PIL import Image

    assert fails.images is not None
    out = []
    for m in mistakes:
        name = f"{THUMBS}/val-{m.index}.png"
        pixels = 255 - fails.images[m.index]  # dark garment on white, as people draw them
        Image.fromarray(pixels).resize((56, 56), Image.Resampling.NEAREST).save(directory / name)
        out.append(pg.Thumb(name, m.index, m.true, m.pred, m.prob))
    return out


def _search(frame: pd.DataFrame, facts: SearchFacts, directory: Path) -> str:
    from automl_fashion.report import plots

    parts = []
    if any(r.curve for r in facts.runs):
        curves = plots.learning_curves(facts.runs, directory / IMAGES / "learning_curves.png")
        parts.append(
            pg.figure(
                f"{IMAGES}/{curves.name}",
                "Learning curves: the validation accuracy each trial reported at each rung "
                "(what the pruner compared); complete trials in colour, pruned and stopped "
                f"ones faded grey (at most the latest {plots.MAX_CURVES} per family)",
                wide=True,
            )
        )
    values = dict(
        zip(
            frame.loc[frame["state"] == "complete", "trial"],
            frame.loc[frame["state"] == "complete", "val_accuracy"],
            strict=True,
        )
    )
    best = plots.best_over_time(facts.runs, values, directory / IMAGES / "best_over_time.png")
    parts.append(
        pg.figure(
            f"{IMAGES}/{best.name}", "Best validation accuracy so far over the search's wall clock"
        )
    )
    gantt = plots.timeline(facts.runs, directory / IMAGES / "timeline.png")
    parts.append(
        pg.figure(
            f"{IMAGES}/{gantt.name}",
            "Timeline: one lane per worker, one bar per trial, coloured by how it ended "
            "(complete, pruned, stopped by the budget, failed, running)",
            wide=True,
        )
    )
    rows = [
        [
            pg.text(r["family"]),
            pg.count(r["trials"]),
            pg.seconds(r["seconds"]),
            pg.pct(r["share"], 1),
            pg.seconds(r["pruned_seconds"]),
            pg.pct(r["pruned_share"], 1),
        ]
        for r in time_by_family(facts.runs)
    ]
    parts += [
        "<h3>Where the time went</h3>",
        pg.table(
            [
                "family",
                "trials",
                "worker time",
                "share",
                "in pruned or stopped trials",
                "share lost",
            ],
            rows,
        ),
        "<h3>Which hyperparameters mattered</h3>",
    ]
    if facts.importances:
        imp = plots.importances(facts.importances, directory / IMAGES / "importances.png")
        parts.append(
            pg.figure(
                f"{IMAGES}/{imp.name}",
                "Hyperparameter importance per family (Optuna's default importance "
                "evaluator on the family's complete trials; each family sums to 1)",
                wide=True,
            )
        )
    parts.append(
        pg.bullets(
            [f"{pg.text(f)}: left out, {pg.text(why)}" for f, why in facts.importance_notes.items()]
        )
    )
    return "\n".join(parts)


def _board(board: pd.DataFrame, cost_weight: float) -> str:
    rows = [
        [
            pg.count(r["rank"]),
            pg.count(r["trial"]),
            pg.text(r["family"]),
            pg.pct(r["val_accuracy"]),
            pg.interval(r["ci_low"], r["ci_high"]),
            pg.seconds(r["fit_seconds"]),
            pg.ms(r["predict_ms_per_1000"]),
            pg.size(r["model_bytes"]),
            "yes" if bool(r["pareto"]) else "no",
            pg.pct(r["score"]),
            pg.text(r["params"]),
        ]
        for r in board.to_dict("records")
    ]
    headers = [
        "rank",
        "trial",
        "family",
        "val acc",
        "95% CI",
        "fit time",
        "predict / 1,000",
        "size",
        "Pareto front",
        "score",
        "parameters",
    ]
    return f"<p>Score = accuracy − {cost_weight:g}/100 × log2(1 + fit minutes).</p>" + pg.table(
        headers, rows, align="rrlrrrrrlrl"
    )
