"""A report a person reads at a glance: one ``index.html`` and its images in one folder.

Sections: a summary (the data set searched, best model, validation accuracy with its
interval, test accuracy if exported, time used); the family comparison (best of each
family, per-class accuracy in the data set's own class names, where each family wins);
where the models fail (confusion matrix, confused pairs, a gallery of mistakes, images
every family gets wrong; needs the models the search saved on this machine); how the
search went (learning curves, best so far, a timeline per worker, where the time went,
hyperparameter importances). Works on a study a search is still writing: it only reads.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl_fashion import leaderboard as lb
from automl_fashion.data.info import DatasetInfo
from automl_fashion.data.spec import study_info
from automl_fashion.errors import ConfigError
from automl_fashion.report import page as pg
from automl_fashion.report import sections
from automl_fashion.report.facts import SearchFacts, search_facts
from automl_fashion.report.failures import find_failures

if TYPE_CHECKING:
    import optuna
    import pandas as pd

__all__ = ["write_report"]


def write_report(
    study: optuna.Study,
    out: str | os.PathLike[str],
    *,
    cost_weight: float = lb.DEFAULT_COST_WEIGHT,
    artifacts: str | os.PathLike[str] | None = None,
    export_dir: str | os.PathLike[str] | None = None,
    data_dir: str | None = None,
    classes: Sequence[str] | None = None,
) -> Path:
    """Write ``index.html`` and its images into ``out`` (made if missing); returns the page.

    ``artifacts``: the folder of models the search saved (needed for "where the models
    fail"); ``export_dir``: an exported model folder whose card gives the test accuracy;
    ``classes``: the class names (by default those of the data set the study recorded).
    """
    import matplotlib
    import optuna

    directory = Path(out)
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"--out {out}: is a file; expected a folder to write the report into")
    matplotlib.use("Agg")
    info = study_info(study)
    classes = tuple(info.classes if classes is None else classes)
    frame = lb.trials_frame(study, cost_weight=cost_weight)
    if frame.empty or not (frame["state"] == "complete").any():
        raise ConfigError(f"study {study.study_name!r} has no complete trial to report on")
    test = _test_accuracy(export_dir, study.study_name)
    try:
        (directory / sections.THUMBS).mkdir(parents=True, exist_ok=True)
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
    doc.add("summary", "Summary", _summary(frame, facts, test), _dataset(info))
    planned = lb.planned_families(study)
    doc.add(
        "families",
        "Family comparison",
        sections.families(frame, fails, directory, classes, planned),
    )
    doc.add("failures", "Where the models fail", sections.failures(fails, directory, classes, info))
    doc.add("search", "How the search went", sections.search(frame, facts, directory))
    board = lb.leaderboard(frame).head(lb.DEFAULT_TOP)
    doc.add(
        "leaderboard",
        f"Leaderboard (best {len(board)} by score)",
        sections.board(board, cost_weight),
    )
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


def _dataset(info: DatasetInfo) -> str:
    """Which data set the study searched: name, shape, classes, where its test images are."""
    from automl_fashion.export.card import source_of_test_images

    c, h, w = info.shape
    names = ", ".join(pg.text(n) for n in info.classes[:20])
    more = f" and {info.n_classes - 20} more" if info.n_classes > 20 else ""
    return (
        f"<p><b>Data set</b>: {pg.text(info.name)}, {pg.count(info.n_classes)} classes "
        f"({names}{more}), {c} x {h} x {w} "
        f"({'colour' if c == 3 else 'grayscale'}), from {pg.text(info.source)}. The test "
        f"images come from {pg.text(source_of_test_images(info))}; the search never saw them.</p>"
    )


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
