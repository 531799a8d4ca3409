"""Where the models fail, from the models a search saved on this machine.

The search keeps the best models of each family with their validation probabilities
(``artifacts``); every file is checked against the SHA-256 recorded when it was saved
before it is read, and nothing in them executes code. The validation images themselves
come from the study's recorded split (``export.search_split``), and the saved labels must
match that split's, or the section is left out with the reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna

from automl_fashion.artifacts import check_artifact, load_val, saved_trials

#: Mistakes the gallery shows per true class (the most confident ones).
GALLERY_PER_CLASS = 4
#: Images per class that every family gets wrong.
ALL_WRONG_PER_CLASS = 3
#: Thumbnails per gallery at most (a data set of many classes would fill pages).
MAX_THUMBS = 80


@dataclass
class Mistake:
    index: int  # position in the study's validation split
    true: int
    pred: int
    prob: float  # the probability given to ``pred``


@dataclass
class Failures:
    """What the page shows under "Where the models fail" (``note`` says why not, if not)."""

    note: str | None = None
    best_trial: int | None = None
    best_family: str | None = None
    confusion: np.ndarray | None = None
    #: ``(true, predicted, count)``, most frequent first.
    pairs: list[tuple[int, int, int]] = field(default_factory=list)
    gallery: list[Mistake] = field(default_factory=list)
    #: Images every saved family's best model gets wrong, with the best model's prediction.
    all_wrong: list[Mistake] = field(default_factory=list)
    all_wrong_families: list[str] = field(default_factory=list)
    #: Per family, ``(trial, per-class accuracy)`` of its best saved model.
    class_accuracy: dict[str, tuple[int, list[float | None]]] = field(default_factory=dict)
    images: np.ndarray | None = None  # the validation images (N x H x W (x C), uint8)


def _best_saved(
    study: optuna.Study, root: str | os.PathLike[str]
) -> dict[str, tuple[int, np.ndarray, np.ndarray]]:
    """Per family, its best complete trial that has an intact saved model here:
    ``(trial, probabilities, labels)``."""
    values = {
        t.number: t.value
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if t.value is not None
    }
    best: dict[str, tuple[float, int, dict[str, Any]]] = {}
    for number in saved_trials(root):
        if number not in values:
            continue
        meta, _ = check_artifact(root, number)
        if meta is None:
            continue
        family = meta["family"]
        if family not in best or (values[number], -number) > (best[family][0], -best[family][1]):
            best[family] = (values[number], number, meta)
    out = {}
    for family, (_, number, meta) in best.items():
        val = load_val(meta)
        if val is not None:
            out[family] = (number, *val)
    return out


def find_failures(
    study: optuna.Study, root: str | os.PathLike[str] | None, data_dir: str | None = None
) -> Failures:
    """Confusion, confused pairs, gallery and shared mistakes of the saved models."""
    if root is None or not saved_trials(root):
        return Failures(note="no saved models of this study on this machine")
    saved = _best_saved(study, root)
    if not saved:
        return Failures(note="the saved models of this study are missing or fail their checks")
    from automl_fashion.errors import AutoMLFashionError
    from automl_fashion.export import search_split

    try:
        split = search_split(study, data_dir).split
    except AutoMLFashionError as exc:
        return Failures(note=f"the study's validation images cannot be loaded ({exc})")
    labels = split.y_val
    saved = {f: s for f, s in saved.items() if np.array_equal(s[2], labels)}
    if not saved:
        return Failures(note="the saved models were scored on other validation images")
    family, (trial, proba, _) = max(
        saved.items(),
        key=lambda item: (float(np.mean(item[1][1].argmax(1) == labels)), -item[1][0]),
    )
    n = proba.shape[1]
    pred = proba.argmax(1)
    confusion = np.zeros((n, n), dtype=int)
    np.add.at(confusion, (labels, pred), 1)
    off = [(int(t), int(p), int(confusion[t, p])) for t in range(n) for p in range(n) if t != p]
    pairs = sorted((x for x in off if x[2] > 0), key=lambda x: (-x[2], x[0], x[1]))
    return Failures(
        best_trial=trial,
        best_family=family,
        confusion=confusion,
        pairs=pairs,
        gallery=_gallery(proba, labels),
        all_wrong=_all_wrong(saved, proba, labels) if len(saved) > 1 else [],
        all_wrong_families=sorted(saved) if len(saved) > 1 else [],
        class_accuracy={
            f: (t, [_share(p.argmax(1), labels, c) for c in range(n)])
            for f, (t, p, _) in saved.items()
        },
        images=split.X_val,
    )


def _share(pred: np.ndarray, labels: np.ndarray, c: int) -> float | None:
    mine = labels == c
    return float(np.mean(pred[mine] == c)) if mine.any() else None


def _mistake(proba: np.ndarray, labels: np.ndarray, i: int) -> Mistake:
    pred = int(proba[i].argmax())
    return Mistake(int(i), int(labels[i]), pred, float(proba[i, pred]))


def _gallery(proba: np.ndarray, labels: np.ndarray) -> list[Mistake]:
    """The most confident mistakes of each true class."""
    pred = proba.argmax(1)
    out = []
    for c in range(proba.shape[1]):
        wrong = np.flatnonzero((labels == c) & (pred != c))
        order = wrong[np.argsort(-proba[wrong, pred[wrong]], kind="stable")]
        out += [_mistake(proba, labels, int(i)) for i in order[:GALLERY_PER_CLASS]]
    return out[:MAX_THUMBS]


def _all_wrong(
    saved: dict[str, tuple[int, np.ndarray, np.ndarray]], proba: np.ndarray, labels: np.ndarray
) -> list[Mistake]:
    """Images that the best saved model of every family misclassifies (a few per class)."""
    wrong = np.ones(len(labels), dtype=bool)
    for _, p, _ in saved.values():
        wrong &= p.argmax(1) != labels
    out = []
    for c in range(proba.shape[1]):
        picked = np.flatnonzero(wrong & (labels == c))[:ALL_WRONG_PER_CLASS]
        out += [_mistake(proba, labels, int(i)) for i in picked]
    return out[:MAX_THUMBS]
