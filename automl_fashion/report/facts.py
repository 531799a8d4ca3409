"""What the report shows about the search itself, read from the study: each trial's place
on its worker's timeline and how it ended, the rung values it reported, where the time
went, and which hyperparameters mattered (Optuna's own importance evaluator).

Everything comes from the study's records, which are untrusted: values of the wrong type
read as missing, and text is escaped where it is shown (``page``).
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState

from automl_fashion.pruning import FAMILY_PARAM
from automl_fashion.search.worker import WORKER_ATTR

#: How a trial ended, as the timeline colours it.
OUTCOMES = ("complete", "pruned", "budget", "failed", "running")
#: Importances need a few complete trials to mean anything.
MIN_TRIALS_FOR_IMPORTANCE = 4
#: Importances look at most this many complete trials of a family (the most recent).
MAX_TRIALS_FOR_IMPORTANCE = 300


@dataclass
class TrialRun:
    """One trial on the timeline."""

    number: int
    family: str
    worker: str
    outcome: str
    start: float  # seconds since the study's first trial started
    end: float
    curve: list[tuple[int, float]]


@dataclass
class SearchFacts:
    runs: list[TrialRun]
    #: The study's first trial start (UTC), the origin of every ``start`` and ``end``.
    origin: dt.datetime | None
    #: The deadline the search recorded (Unix time), if any.
    deadline: float | None
    importances: dict[str, dict[str, float]] = field(default_factory=dict)
    #: Why a family has no importances (too few trials, or Optuna refused).
    importance_notes: dict[str, str] = field(default_factory=dict)

    @property
    def wall_seconds(self) -> float:
        return max((r.end for r in self.runs), default=0.0)


def outcome(trial: optuna.trial.FrozenTrial) -> str:
    """complete, pruned (by the pruner), budget (stopped by the deadline), failed, running."""
    if trial.state == TrialState.COMPLETE:
        return "complete"
    if trial.state == TrialState.PRUNED:
        return "budget" if trial.user_attrs.get("stop_reason") == "budget" else "pruned"
    if trial.state == TrialState.FAIL:
        return "failed"
    return "running"


def worker_label(trial: optuna.trial.FrozenTrial) -> str:
    """``host #index`` of the worker that ran a trial (``?`` when not recorded)."""
    who = trial.system_attrs.get(WORKER_ATTR)
    if not isinstance(who, dict):
        return "?"
    host, index = who.get("host"), who.get("index")
    host = host if isinstance(host, str) else "?"
    if isinstance(index, int) and not isinstance(index, bool):
        return f"{host[:40]} #{index}"
    pid = who.get("pid")
    return f"{host[:40]} pid {pid}" if isinstance(pid, int) else host[:40]


def _curve(trial: optuna.trial.FrozenTrial) -> list[tuple[int, float]]:
    return sorted(
        (int(step), float(value))
        for step, value in trial.intermediate_values.items()
        if isinstance(value, int | float) and math.isfinite(value)
    )


def search_facts(
    study: optuna.Study, trials: list[optuna.trial.FrozenTrial] | None = None
) -> SearchFacts:
    """The timeline, curves and importances of a study (live studies too: a running
    trial ends now)."""
    trials = study.get_trials(deepcopy=False) if trials is None else trials
    started = [t for t in trials if t.datetime_start is not None]
    deadline = study.user_attrs.get("deadline")
    deadline = float(deadline) if isinstance(deadline, int | float) else None
    if not started:
        return SearchFacts([], None, deadline)
    origin = min(t.datetime_start for t in started if t.datetime_start is not None)
    now = dt.datetime.now()
    runs = []
    for t in started:
        assert t.datetime_start is not None
        end = t.datetime_complete or (now if t.state == TrialState.RUNNING else t.datetime_start)
        family = t.params.get(FAMILY_PARAM)
        runs.append(
            TrialRun(
                number=t.number,
                family=family if isinstance(family, str) else "?",
                worker=worker_label(t),
                outcome=outcome(t),
                start=(t.datetime_start - origin).total_seconds(),
                end=max(
                    (end - origin).total_seconds(), (t.datetime_start - origin).total_seconds()
                ),
                curve=_curve(t),
            )
        )
    facts = SearchFacts(runs, origin, deadline)
    _importances(trials, facts)
    return facts


def time_by_family(runs: list[TrialRun]) -> list[dict[str, Any]]:
    """Per family: trials, worker-seconds, share of all worker-seconds, and the seconds
    spent on trials the pruner or the budget stopped."""
    total = sum(r.end - r.start for r in runs) or 1.0
    rows: dict[str, dict[str, Any]] = {}
    for r in runs:
        row = rows.setdefault(
            r.family, {"family": r.family, "trials": 0, "seconds": 0.0, "pruned_seconds": 0.0}
        )
        row["trials"] += 1
        row["seconds"] += r.end - r.start
        if r.outcome in ("pruned", "budget"):
            row["pruned_seconds"] += r.end - r.start
    for row in rows.values():
        row["share"] = row["seconds"] / total
        row["pruned_share"] = row["pruned_seconds"] / row["seconds"] if row["seconds"] else None
    return sorted(rows.values(), key=lambda row: -row["seconds"])


def _importances(trials: list[optuna.trial.FrozenTrial], facts: SearchFacts) -> None:
    """Per family, Optuna's default importance evaluator on its complete trials."""
    by_family: dict[str, list[optuna.trial.FrozenTrial]] = {}
    for t in trials:
        family = t.params.get(FAMILY_PARAM)
        if t.state == TrialState.COMPLETE and isinstance(family, str) and t.value is not None:
            by_family.setdefault(family, []).append(t)
    for family, done in sorted(by_family.items()):
        if len(done) < MIN_TRIALS_FOR_IMPORTANCE:
            facts.importance_notes[family] = (
                f"{len(done)} complete trial{'s' * (len(done) != 1)}; "
                f"importances need {MIN_TRIALS_FOR_IMPORTANCE}"
            )
            continue
        done = done[-MAX_TRIALS_FOR_IMPORTANCE:]
        prefix = f"{family}."
        common = set.intersection(*({p for p in t.params if p.startswith(prefix)} for t in done))
        if not common:
            facts.importance_notes[family] = "no hyperparameter common to its trials"
            continue
        try:
            sub = optuna.create_study(direction="maximize")
            sub.add_trials(done)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                found = optuna.importance.get_param_importances(sub, params=sorted(common))
        except (ValueError, RuntimeError) as exc:
            facts.importance_notes[family] = f"Optuna could not rank them ({str(exc)[:120]})"
            continue
        facts.importances[family] = {k.removeprefix(prefix): float(v) for k, v in found.items()}
