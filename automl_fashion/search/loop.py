"""The search: one Optuna study, N worker processes, a hard wall-clock budget.

Read top to bottom, :func:`search` is: check the flags -> open the study -> start the
workers -> watch them -> stop them -> say what happened -> export.

Timeline of ``search(budget=B)``::

    start ──── trials run, each checks the clock at every rung ──── soft ── B ── hard
                                                                    │           │
        no new rung starts after `soft`; a trial still inside one rung at `hard`
        is recorded as failed and its worker process exits.

``hard`` is B plus half of the allowed overrun max(30 s, 2% of B), so the whole command
ends within it. Optuna's own ``timeout`` cannot do this: it never interrupts a trial.

Faults: Ctrl-C or SIGTERM, every trial stops at its next rung and is recorded; a second
Ctrl-C kills the workers, and their trials are failed at once. A worker that dies
(``kill -9``, out of memory) has its trial failed and queued again, and is replaced while
the budget lasts. ``kill -9`` of the search: its workers stop within a few seconds (see
``worker``), and the next run of the study fails the trials they left RUNNING and queues
them again (see ``storage``). :data:`~automl_fashion.search.worker.FAILURE_STREAK` trials
in a row failing with one reason stop the search with that reason.
"""

from __future__ import annotations

import dataclasses
import signal
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from automl_fashion.errors import AutoMLFashionError
from automl_fashion.pruning import FAMILY_PARAM
from automl_fashion.search.at_end import allowed_overrun, export_best, no_time_to_export
from automl_fashion.search.calibrate import measure_speeds
from automl_fashion.search.config import SearchConfig, check_int, max_jobs
from automl_fashion.search.join import (
    check_dataset,
    check_split,
    record_settings,
    resolve_families,
    resolve_sampling,
)
from automl_fashion.search.lengths import second_timing_limit, timing_limit
from automl_fashion.search.plan import Plan, make_plan
from automl_fashion.search.pool import WorkerPool
from automl_fashion.search.worker import FAILURE_STREAK, PARENT_ENDED, open_study, search_gpus
from automl_fashion.search_space import load_space
from automl_fashion.storage import mask_url, recover_stale_trials, studies_dir
from automl_fashion.threads import available_cores

if TYPE_CHECKING:
    from automl_fashion.data.info import DatasetInfo
    from automl_fashion.data.spec import Dataset


@dataclass
class SearchResult:
    study_name: str
    storage: str
    elapsed: float
    counts: dict[str, int]
    best_value: float | None
    best_family: str | None
    best_number: int | None
    recovered: list[int]
    exported: Any = None  # ExportResult of the best model, when exported
    #: Why the search stopped before its budget (a failure streak), else None.
    stopped: str | None = None
    #: Why this run completed no trial, else None.
    why_none: str | None = None
    #: Why the best model was not exported at the end (not saved here, or corrupt).
    not_exported: str | None = None


class SearchProgress:
    """What a search shows while it runs; the CLI passes a rich implementation."""

    def update(
        self, study: optuna.Study, started: float, budget: float, jobs: int, threads: int
    ) -> None:
        """Called about once a second with the live study."""

    def message(self, text: str) -> None:
        """A one-off status line."""

    def show_plan(self, lines: Sequence[str]) -> None:
        """The budget plan's decisions, one line each, shown for the whole search."""


def search(config: SearchConfig, progress: SearchProgress | None = None) -> SearchResult:
    """Run a search within ``config.budget`` seconds (the whole call, start to return)."""
    t_start = time.time()
    config = dataclasses.replace(config).validated()  # the caller's stays as it was
    named = config.families is not None

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dataset, n_images = _open_dataset(config)  # before the study: bad data writes nothing
    study = open_study(config)
    # a new study's first worker keeps the study's seed: a sequential seeded search repeats
    fresh = not config.join and not study.get_trials(deepcopy=False)
    if not config.join:
        check_dataset(study, config, dataset.info)
        check_split(study, config)
    config.families = resolve_families(study, config)
    config.check_families(config.families)
    if not config.join:
        resolve_sampling(study, config)  # before the workers take the config
        record_settings(study, config, t_start, dataset.info)
    plan = _plan(study, config, named, dataset.info, n_images)
    jobs, threads = plan.jobs, plan.threads
    if not config.join:
        study.set_user_attr("plan", plan.as_dict())
    if progress is not None:
        progress.show_plan(plan.reasons)
    soft = t_start + config.budget - plan.reserve
    hard = t_start + config.budget + 0.5 * allowed_overrun(config.budget)
    recovered = recover_stale_trials(study)
    _requeue_interrupted(study)
    if config.warm_start:
        gpu = search_gpus(config.device, config.families) > 0
        _warm_start(study, plan, config.spaces_dir, dataset.info, gpu=gpu)

    pool = WorkerPool(config, soft, hard, threads, t_start, max_deaths=max(4, 2 * jobs))
    # `kill` (SIGTERM) stops the search the way Ctrl-C does: trials end at their next rung
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt) if on_main_thread else None
    try:
        for i in range(jobs):
            pool.start(seed=config.seed if fresh and i == 0 else None)
        pool.watch(study, progress, lambda: _show(progress, study, t_start, config, jobs, threads))
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)
        pool.kill()
    recover_stale_trials(study, retry=True)
    if isinstance(pool.error, AutoMLFashionError):
        raise pool.error  # a worker could not run at all (e.g. bad data): one line
    if pool.error is not None:  # a bug: show where it happened, in the worker
        raise RuntimeError(f"a worker process failed:\n{pool.error_traceback}") from pool.error

    trials = study.get_trials(deepcopy=False)
    counts = {
        s.name.lower(): sum(t.state == s for t in trials)
        for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)
    }
    # values read back are untrusted: only numbers rank (a string was a TypeError here)
    complete = [
        t
        for t in trials
        if t.state == TrialState.COMPLETE
        and isinstance(t.value, int | float)
        and not isinstance(t.value, bool)
    ]
    best = max(complete, key=lambda t: float(t.value or 0.0), default=None)
    _show(progress, study, t_start, config, jobs, threads)
    stopped = pool.gave_up or (
        f"{FAILURE_STREAK} trials in a row failed with: {pool.breaker}"
        if pool.breaker is not None
        else None
    )
    exported, not_exported = None, None
    if best is not None and config.export_dir is not None:
        not_exported = no_time_to_export(t_start, config.budget, plan.reserve, time.time())
        if not_exported is None:
            exported, not_exported = export_best(study, best.number, config)
    return SearchResult(
        study_name=config.study,
        storage=mask_url(config.storage)
        if config.storage
        else str(studies_dir(config.studies_dir) / f"{config.study}.journal"),
        elapsed=time.time() - t_start,
        counts=counts,
        best_value=best.value if best else None,
        best_family=best.params.get("family") if best else None,
        best_number=best.number if best else None,
        recovered=recovered,
        exported=exported,
        stopped=stopped,
        why_none=_why_none(trials, t_start, stopped, pool),
        not_exported=not_exported,
    )


def _show(
    progress: SearchProgress | None,
    study: optuna.Study,
    started: float,
    config: SearchConfig,
    jobs: int,
    threads: int,
) -> None:
    if progress is not None:
        progress.update(study, started, config.budget, jobs, threads)


def _why_none(
    trials: list[FrozenTrial], started: float, stopped: str | None, pool: WorkerPool
) -> str | None:
    """One line on why this run completed no trial (None when it completed one)."""
    mine = [t for t in trials if t.datetime_start and t.datetime_start.timestamp() >= started]
    if any(t.state == TrialState.COMPLETE for t in mine):
        return None
    if stopped is not None:
        return f"the search stopped early: {stopped}"
    failed = Counter(
        str(t.user_attrs.get("fail_reason", "no reason recorded"))
        for t in mine
        if t.state == TrialState.FAIL
    )
    budget = sum(t.user_attrs.get("stop_reason") == "budget" for t in mine)
    pruned = sum(t.state == TrialState.PRUNED for t in mine) - budget
    if pool.interrupted:
        return "the search was interrupted before a trial completed"
    parts = []
    if failed:
        reason, n = failed.most_common(1)[0]
        parts.append(f"{sum(failed.values())} trial(s) failed ({n} with: {reason})")
    if pruned:
        parts.append(f"{pruned} were pruned")
    if budget:
        parts.append(
            f"{budget} were stopped by the budget before they finished (give a longer "
            "--budget, or fewer --jobs so that each trial gets more cores)"
        )
    if not mine and pool.deaths:
        parts.append(f"the worker processes died (exit codes {pool.deaths})")
    return "; ".join(parts) or "no trial started within the budget: give a longer --budget"


def _open_dataset(config: SearchConfig) -> tuple[Dataset, int]:
    """Open (download, verify, read: the arrays are cached for the workers) the data set,
    and settle the validation size on it."""
    from automl_fashion.data.dataset import default_val_size

    dataset = config.dataset_spec().open(config.data_dir)
    _, labels = dataset.train()
    if config.val_size is None:
        config.val_size = default_val_size(len(labels), dataset.info.n_classes)
    if config.train_per_class is not None:  # the split is stratified: as many per class
        most = (len(labels) - config.val_size) // dataset.info.n_classes
        check_int("--train-per-class", config.train_per_class, 1, most)
    return dataset, len(labels)


def _plan(
    study: optuna.Study, config: SearchConfig, named: bool, info: DatasetInfo, n_images: int
) -> Plan:
    """The budget plan for this run (:mod:`~automl_fashion.search.plan`), from speeds
    measured here in a few seconds."""
    assert config.families is not None and config.val_size is not None
    n_train = (
        info.n_classes * config.train_per_class
        if config.train_per_class is not None
        else n_images - config.val_size
    )
    cores = available_cores()
    gpus = search_gpus(config.device, config.families)
    device = "cuda" if gpus else "cpu"
    speeds = measure_speeds(
        config.families,
        n_train,
        cores,
        config.spaces_dir,
        device,
        info,
        long_within=timing_limit(config.budget, cores),
        second_within=second_timing_limit(config.budget),
    )
    seen = {f for t in study.get_trials(deepcopy=False) if (f := family_of(t)) is not None}
    variants, long, second, solo, max_epochs, gpu_configs = {}, {}, {}, {}, {}, {}
    for name in config.families:
        space = load_space(name, config.spaces_dir, info=info, gpu=gpus > 0)
        variants[name] = [space.changes(var) for var in space.variants]
        if gpus and space.gpu_configs:
            gpu_configs[name] = [space.changes(c) for c in space.gpu_configs]
        if space.long is not None:
            long[name] = space.changes(space.long)
        if space.second is not None:
            second[name] = space.changes(space.second)
        if space.solo is not None:
            solo[name] = space.changes(space.solo)
        epochs = next((p for p in space.params if p.name == "epochs"), None)
        if epochs is not None and epochs.high is not None:
            max_epochs[name] = int(epochs.high)
    return make_plan(
        config.budget,
        cores,
        config.families,
        speeds,
        jobs=config.jobs,
        threads=config.threads,
        max_jobs=max_jobs(),
        named=named,
        seen=sorted(seen),
        export=config.export_dir is not None,
        gpus=gpus,
        variants=variants,
        long=long,
        second=second,
        solo=solo,
        max_epochs=max_epochs,
        gpu_configs=gpu_configs,
    )


def family_of(trial: optuna.trial.FrozenTrial) -> str | None:
    """A trial's family: its parameter, or for a queued trial not yet started the family
    it was queued with (Optuna keeps that in the system attr ``fixed_params``; untrusted).
    Without the queued ones, a resume after an early Ctrl-C queued each waiting init again."""
    family = trial.params.get(FAMILY_PARAM)
    if family is None:
        fixed = trial.system_attrs.get("fixed_params")
        family = fixed.get(FAMILY_PARAM) if isinstance(fixed, dict) else None
    return family if isinstance(family, str) else None


def _warm_start(
    study: optuna.Study,
    plan: Plan,
    spaces_dir: str | None,
    info: DatasetInfo,
    *,
    gpu: bool = False,
) -> None:
    """Queue the plan's known-good inits (families already in the study are not in it),
    within what the data set allows (no flips of digits: see ``SearchSpace.for_data``) and,
    where the networks train on a GPU, in its ranges."""
    for item in plan.queue:
        space = load_space(item.family, spaces_dir, info=info, gpu=gpu)
        params = {"family": item.family, **space.trial_params({**space.init, **item.overrides})}
        study.enqueue_trial(params, user_attrs={"warm_start": True})


def _requeue_interrupted(study: optuna.Study) -> int:
    """Queue again the trials a Ctrl-C stopped, or the end of the search process (a kill
    of it alone: its workers record that and exit), so that resuming loses nothing. The
    attrs read are untrusted: a reason that is not text, or a retry_of that is not a trial
    number, counts as none."""
    trials = study.get_trials(deepcopy=False)
    retried = {r for t in trials if isinstance(r := t.user_attrs.get("retry_of"), int)}
    n = 0
    for t in trials:
        reason = t.user_attrs.get("fail_reason")
        stopped = isinstance(reason, str) and ("interrupted" in reason or reason == PARENT_ENDED)
        if t.state == TrialState.FAIL and stopped and t.number not in retried:
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
            n += 1
    return n


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


__all__ = ["SearchProgress", "SearchResult", "search"]
