"""The report's sections below the summary, each a function of what was read: the family
comparison (in the data set's own class names), where the models fail, how the search went,
and the leaderboard. Every cell is escaped by ``page``; figures come from ``plots``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from automl_fashion import leaderboard as lb
from automl_fashion.data.info import DatasetInfo
from automl_fashion.report import page as pg
from automl_fashion.report.facts import SearchFacts, time_by_family
from automl_fashion.report.failures import Failures

if TYPE_CHECKING:
    import pandas as pd

IMAGES = "images"  # the figures' folder inside --out
THUMBS = "images/val"  # the gallery's thumbnails


def families(
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


def failures(fails: Failures, directory: Path, classes: Sequence[str], info: DatasetInfo) -> str:
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
        pg.gallery(_thumbs(fails, fails.gallery, directory, info), classes, "best")
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
        parts.append(pg.gallery(_thumbs(fails, fails.all_wrong, directory, info), classes, "all"))
    elif len(fails.all_wrong_families) > 1:
        parts.append(pg.note("No validation image is misclassified by every family."))
    else:
        parts.append(pg.note("Only one family has a saved model on this machine."))
    return "\n".join(parts)


def _thumbs(
    fails: Failures, mistakes: list[Any], directory: Path, info: DatasetInfo
) -> list[pg.Thumb]:
    """Thumbnails of validation images, their longest side 56 pixels: Fashion-MNIST-style
    images (light on black) negated, a dark object on white as people draw them; pictures
    as they are."""
    from PIL import Image

    assert fails.images is not None
    h, w = info.size
    scale = 56 / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    resample = Image.Resampling.NEAREST if scale >= 1 else Image.Resampling.LANCZOS
    out = []
    for m in mistakes:
        name = f"{THUMBS}/val-{m.index}.png"
        pixels = np.asarray(fails.images[m.index], dtype=np.uint8)
        if info.reading == "fashion-mnist":
            pixels = 255 - pixels
        Image.fromarray(pixels).resize(size, resample).save(directory / name)
        out.append(pg.Thumb(name, m.index, m.true, m.pred, m.prob, *size))
    return out


def search(frame: pd.DataFrame, facts: SearchFacts, directory: Path) -> str:
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


def board(board: pd.DataFrame, cost_weight: float) -> str:
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
