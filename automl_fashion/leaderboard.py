"""The leaderboard: a study's trials as a pandas frame, scored for accuracy against cost.

Score (higher is better)::

    score = val_accuracy - cost_weight / 100 * log2(1 + fit_seconds / 60)

so ``cost_weight`` is the accuracy, in percentage points, that one doubling of training
minutes has to buy. The default 0.25 favours accuracy; 1 or more makes cost matter.
The Pareto front marks the complete trials that no other trial beats on both accuracy and
fit time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from automl_fashion.data.info import FASHION_MNIST
from automl_fashion.data.spec import study_info
from automl_fashion.errors import ConfigError
from automl_fashion.trial import CLASS_ACCURACY_ATTR

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_COST_WEIGHT = 0.25
#: Trials a terminal table shows unless ``--top`` says otherwise (CSV and JSON show all).
DEFAULT_TOP = 20
SORT_KEYS = {
    "score": ("score", False),
    "accuracy": ("val_accuracy", False),
    "time": ("fit_seconds", True),
}


#: The columns each view shows, in order (a table shows those the frame has).
COLUMNS = [
    "rank",
    "trial",
    "family",
    "state",
    "val_accuracy",
    "ci_low",
    "ci_high",
    "fit_seconds",
    "predict_ms_per_1000",
    "model_bytes",
    "pareto",
    "score",
    "params",
]
#: ``COLUMNS`` with ``--all``: why each pruned or failed trial stopped.
COLUMNS_ALL = [*COLUMNS, "reason"]
BY_FAMILY_COLUMNS = [
    "family",
    "val_accuracy",
    "ci_low",
    "ci_high",
    "fit_seconds",
    "predict_ms_per_1000",
    "model_bytes",
    "trial",
    "trials",
    "complete",
    "pruned",
    "failed",
    "params",
    "note",
]


def check_top(top: int | None) -> None:
    """``--top`` is a count of rows to show: None (all) or at least 1."""
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
        raise ConfigError(f"--top: expected a number of trials >= 1; got {top!r}")


def wilson_interval(accuracy: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of an accuracy measured on ``n`` images."""
    if n <= 0:
        return (math.nan, math.nan)
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def score(accuracy: float, fit_seconds: float, cost_weight: float) -> float:
    return accuracy - cost_weight / 100 * math.log2(1 + max(fit_seconds, 0.0) / 60)


def pareto_front(acc: list[float], cost: list[float]) -> list[bool]:
    """True where no other point has accuracy >= and cost <= with one strictly better.

    One sweep in order of cost (then accuracy, best first): a point is on the front when
    it beats the best accuracy of every cheaper point, or ties it at the same cost."""
    order = sorted(range(len(acc)), key=lambda i: (cost[i], -acc[i]))
    flags = [False] * len(acc)
    best, best_cost = -math.inf, math.nan
    for i in order:
        if acc[i] > best:
            flags[i] = True
            best, best_cost = acc[i], cost[i]
        elif acc[i] == best and cost[i] == best_cost:
            flags[i] = True  # an exact duplicate of a front point is not dominated
    return flags


def _key_params(trial: optuna.trial.FrozenTrial) -> str:
    fam = trial.params.get("family", "")
    items = [(k.split(".", 1)[1], v) for k, v in trial.params.items() if k.startswith(f"{fam}.")]
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in items)


def _class_accuracy(value: object, n_classes: int) -> tuple[float | None, ...] | None:
    """A trial's recorded per-class accuracies, if they are what ``run_trial`` writes, one
    per class of the study's data set (the study is untrusted: anything else reads as not
    recorded)."""
    if not isinstance(value, list) or len(value) != n_classes:
        return None
    if not all(
        v is None or (isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1)
        for v in value
    ):
        return None
    return tuple(None if v is None else float(v) for v in value)


def _real(value: Any, low: float, high: float) -> float | None:
    """``value`` if it is a number (not a bool) in [low, high], else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if low <= value <= high else None  # compared, never converted: 10**400


def trials_frame(study: optuna.Study, *, cost_weight: float = DEFAULT_COST_WEIGHT) -> pd.DataFrame:
    """One row per finished trial, with score, interval and Pareto flag. The frame's
    ``attrs["classes"]`` are the class names of the study's data set (``per_class``)."""
    import pandas as pd

    if not cost_weight >= 0:
        raise ConfigError(f"--cost-weight must be >= 0; got {cost_weight}")
    classes = study_info(study).classes
    rows: list[dict[str, Any]] = []
    for t in study.get_trials(deepcopy=False):
        if t.state not in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL):
            continue
        # read back from the storage: untrusted, so each number is checked (a string or a
        # 400-digit integer here was a traceback in leaderboard and report)
        ua = t.user_attrs
        acc = _real(
            t.value
            if t.state == TrialState.COMPLETE
            else (
                t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else None
            ),
            0.0,
            1.0,
        )
        n_val = _real(ua.get("n_val"), 1, 1e9)
        lo, hi = (
            wilson_interval(acc, int(n_val))
            if acc is not None and n_val is not None
            else (math.nan, math.nan)
        )
        fit = _real(ua.get("fit_seconds", ua.get("trial_seconds")), 0.0, 1e9)
        rows.append(
            {
                "trial": t.number,
                "family": t.params.get("family"),
                "state": t.state.name.lower(),
                "val_accuracy": acc,
                "ci_low": lo,
                "ci_high": hi,
                "fit_seconds": fit,
                "predict_ms_per_1000": _real(ua.get("predict_ms_per_1000"), 0.0, 1e12),
                "model_bytes": _real(ua.get("model_bytes"), 0, 1e15),
                "steps": len(t.intermediate_values),
                "reason": ua.get("stop_reason") or ua.get("fail_reason") or "",
                "params": _key_params(t),
                "class_accuracy": _class_accuracy(ua.get(CLASS_ACCURACY_ATTR), len(classes)),
                "finished": t.datetime_complete,
            }
        )
    frame = pd.DataFrame(rows)
    frame.attrs["classes"] = classes
    if frame.empty:
        return frame
    complete = (frame["state"] == "complete") & frame["val_accuracy"].notna()
    frame["score"] = [
        score(a, f or 0.0, cost_weight) if ok else math.nan
        for a, f, ok in zip(frame["val_accuracy"], frame["fit_seconds"], complete, strict=True)
    ]
    frame["pareto"] = False
    if complete.any():
        sub = frame[complete]
        frame.loc[complete, "pareto"] = pareto_front(
            sub["val_accuracy"].astype(float).tolist(), sub["fit_seconds"].astype(float).tolist()
        )
    return frame


def leaderboard(
    frame: pd.DataFrame,
    *,
    sort: str = "score",
    top: int | None = None,
    family: str | None = None,
    include_unfinished: bool = False,
) -> pd.DataFrame:
    """Rank complete trials (and optionally pruned/failed ones below them)."""
    check_top(top)
    if sort not in SORT_KEYS:
        raise ConfigError(f"--sort: {sort!r}; expected one of {list(SORT_KEYS)}")
    if frame.empty:
        return frame
    rows = frame if family is None else frame[frame["family"] == family]
    if not include_unfinished:
        rows = rows[rows["state"] == "complete"]
    column, ascending = SORT_KEYS[sort]
    done = rows["state"] == "complete"
    ranked = rows[done].sort_values([column, "trial"], ascending=[ascending, True])
    ranked = ranked.assign(rank=range(1, len(ranked) + 1))
    rest = rows[~done].sort_values("trial").assign(rank=None)
    import pandas as pd

    out = pd.concat([ranked, rest]) if len(rest) else ranked
    return out.head(top) if top else out


def planned_families(study: optuna.Study) -> tuple[list[str], dict[str, str]]:
    """The families the study searches and, per family, why its budget plan did not run
    its init (read from the study: untrusted, so only strings are kept)."""
    attrs = study.user_attrs
    names = attrs.get("families")
    families = [f for f in names if isinstance(f, str)] if isinstance(names, list) else []
    plan = attrs.get("plan")
    skipped = plan.get("skipped") if isinstance(plan, dict) else None
    notes = (
        {k: v for k, v in skipped.items() if isinstance(k, str) and isinstance(v, str)}
        if isinstance(skipped, dict)
        else {}
    )
    return families, notes


def by_family(
    frame: pd.DataFrame,
    *,
    sort: str = "accuracy",
    families: Sequence[str] = (),
    notes: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The best complete trial of each family, with how many trials each family ran.

    ``families``: the families the user asked for; one without a trial still gets a row
    (no numbers), its ``note`` saying why the plan did not run it (``notes``) or "no trial".
    """
    import pandas as pd

    notes = notes or {}
    missing = [f for f in dict.fromkeys(families) if frame.empty or f not in set(frame["family"])]
    if frame.empty and not missing:
        return frame
    rows = []
    for fam, group in frame.groupby("family"):
        done = group[group["state"] == "complete"]
        if done.empty:
            best: dict[str, Any] = {"family": fam, "trial": None, "val_accuracy": None}
        else:
            best = (
                done.sort_values(["val_accuracy", "trial"], ascending=[False, True])
                .iloc[0]
                .to_dict()
            )
        best.update(
            {
                "trials": len(group),
                "complete": int((group["state"] == "complete").sum()),
                "pruned": int((group["state"] == "pruned").sum()),
                "failed": int((group["state"] == "fail").sum()),
            }
        )
        rows.append(best)
    for fam in missing:
        why = notes.get(fam)
        rows.append(
            {
                "family": fam,
                "trial": None,
                "val_accuracy": None,
                "trials": 0,
                "complete": 0,
                "pruned": 0,
                "failed": 0,
                "note": f"not run: {why}" if why else "no trial yet",
            }
        )
    out = pd.DataFrame(rows)
    # a family without a complete trial has no best trial: keep the numbers integers
    out["trial"] = out["trial"].astype("Int64")
    column, ascending = SORT_KEYS.get(sort, SORT_KEYS["accuracy"])
    return out.sort_values(column, ascending=ascending, na_position="last").reset_index(drop=True)


def per_class(frame: pd.DataFrame, classes: Sequence[str] | None = None) -> pd.DataFrame:
    """Validation accuracy per class (rows: ``classes``, by default the study's, which
    ``trials_frame`` keeps in the frame's ``attrs``) of each family's best complete trial
    (columns, named ``family #trial``); a last row ``all`` holds the overall accuracy. A
    trial that recorded no per-class accuracy (older versions) has blank cells."""
    import pandas as pd

    if classes is None:
        classes = frame.attrs.get("classes", FASHION_MNIST.classes)
    best = by_family(frame)
    best = best[best["trial"].notna()] if not best.empty else best
    table = pd.DataFrame({"class": [*classes, "all"]})
    for row in best.itertuples(index=False):
        recorded = row.class_accuracy if isinstance(row.class_accuracy, tuple) else None
        values = list(recorded) if recorded else [None] * len(classes)
        table[f"{row.family} #{row.trial}"] = pd.array([*values, row.val_accuracy], dtype="Float64")
    return table
