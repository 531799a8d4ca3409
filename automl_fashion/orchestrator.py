"""The search: one Optuna study, N worker processes (joblib), a hard wall-clock budget.

Timeline of ``search(budget=B)``::

    start ──── trials run, each checks the clock at every rung ──── soft ── B ── hard
                                                                    │           │
        no new rung starts after `soft`; a trial still inside one rung at `hard`
        is recorded as failed and its worker process exits.

``hard`` is B plus half of the allowed overrun max(30 s, 2% of B), so the whole command
ends within it. Optuna's own ``timeout`` cannot do this: it never interrupts a trial.
Ctrl-C: every trial stops at its next rung and is recorded; a second Ctrl-C kills the
workers, and their trials are failed at once. ``kill -9``: the next run of the same study
fails the dead worker's RUNNING trials and queues them again (see ``storage``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.storages._heartbeat import get_heartbeat_thread
from optuna.trial import TrialState

from automl_fashion import families as family_registry
from automl_fashion.budget import BudgetExhausted, Deadline
from automl_fashion.errors import ConfigError
from automl_fashion.pruning import make_pruner
from automl_fashion.search_space import load_space
from automl_fashion.storage import (
    artifacts_dir,
    mask_url,
    open_storage,
    recover_stale_trials,
    studies_dir,
    worker_identity,
)
from automl_fashion.threads import available_cores
from automl_fashion.trial import Interrupted, TrialSettings, run_trial

SAMPLERS = ("tpe", "random")
WARM_START_ORDER = {"cnn": 0, "mlp": 1, "svm": 2, "boosting": 3, "linear": 4}
WORKER_ATTR = "automl_fashion:worker"


@dataclass
class SearchConfig:
    """Everything a search needs; the CLI fills it from flags."""

    budget: float  # seconds for the whole command
    study: str = "fashion"
    families: list[str] = field(default_factory=family_registry.names)
    jobs: int | None = None  # worker processes; default: one per core
    threads: int | None = None  # threads per worker; default: cores // jobs
    storage: str | None = None  # Optuna storage URL; default: studies/<study>.journal
    studies_dir: str | None = None
    seed: int = 0
    sampler: str = "tpe"
    pruner: str = "sha"
    warm_start: bool = True
    val_size: int = 10_000
    data_dir: str | None = None
    spaces_dir: str | None = None
    device: str = "auto"
    #: Train on this many images per class (smoke tests); None = the full split.
    train_per_class: int | None = None
    #: Join an existing study as extra workers (``automl-fashion worker``).
    join: bool = False
    #: Export the best model here when the search ends (None: do not export).
    export_dir: str | None = None

    def validated(self) -> SearchConfig:
        family_registry.check_names(self.families)
        if not self.families:
            raise ConfigError("--families: give at least one family")
        for name in self.families:
            load_space(name, self.spaces_dir)  # a bad search-space file fails here, early
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"--sampler: {self.sampler!r}; expected one of {list(SAMPLERS)}")
        make_pruner(self.pruner)
        for flag, value in (("--jobs", self.jobs), ("--threads", self.threads)):
            if value is not None and value < 1:
                raise ConfigError(f"{flag} must be at least 1; got {value}")
        if not self.study or "/" in self.study:
            raise ConfigError(f"--study: {self.study!r} is not a valid study name")
        return self

    def workers(self) -> tuple[int, int]:
        """(worker processes, threads per worker): fill the cores, never oversubscribe."""
        cores = available_cores()
        if self.jobs is None and self.threads is None:
            return cores, 1
        if self.jobs is None:
            threads = self.threads or 1
            return max(1, cores // threads), threads
        return self.jobs, self.threads or max(1, cores // self.jobs)


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


def allowed_overrun(budget: float) -> float:
    return max(30.0, 0.02 * budget)


def _make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=seed, multivariate=True, group=True, constant_liar=True, n_startup_trials=8
        )


def open_study(config: SearchConfig, *, worker: int = 0) -> optuna.Study:
    storage = open_storage(config.storage, config.study, config.studies_dir)
    return optuna.create_study(
        study_name=config.study,
        storage=storage,
        direction="maximize",
        sampler=_make_sampler(config.sampler, config.seed + 1000 * worker),
        pruner=make_pruner(config.pruner),
        load_if_exists=True,
    )


def _warm_start(study: optuna.Study, config: SearchConfig) -> None:
    """Queue each family's known-good init, for families not yet in the study."""
    seen = {t.params.get("family") for t in study.get_trials(deepcopy=False)}
    # the slowest, strongest family first: on a short budget it needs the whole clock
    order = sorted(config.families, key=lambda f: WARM_START_ORDER.get(f, len(WARM_START_ORDER)))
    for name in order:
        if name in seen:
            continue
        space = load_space(name, config.spaces_dir)
        params = {"family": name, **space.trial_params(space.init)}
        study.enqueue_trial(params, user_attrs={"warm_start": True})


def _requeue_interrupted(study: optuna.Study) -> int:
    """Queue again the trials a Ctrl-C stopped, so that resuming loses nothing."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    n = 0
    for t in trials:
        reason = t.user_attrs.get("fail_reason", "")
        if t.state == TrialState.FAIL and "interrupted" in reason and t.number not in retried:
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
            n += 1
    return n


def _stop_file(config: SearchConfig) -> Path:
    return studies_dir(config.studies_dir) / f".{config.study}.{os.getpid()}.stop"


def _worker(
    config: SearchConfig, index: int, soft: float, hard: float, stop_file: str, threads: int
) -> dict[str, int]:
    """One worker process: ask / train / tell until the soft deadline or a stop request."""
    from automl_fashion.data import load_split, subsample

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # we run the heartbeat thread ourselves around ask/tell (see below)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
    interrupted = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: interrupted.set())
    parent = os.getppid()  # the search: if it dies (kill -9), this worker stops too
    study = open_study(config, worker=index)
    data = load_split(val_size=config.val_size, seed=config.seed, data_dir=config.data_dir)
    if config.train_per_class:
        data = subsample(
            data,
            train_per_class=config.train_per_class,
            val_per_class=max(10, config.train_per_class // 5),
            seed=config.seed,
        )
    settings = TrialSettings(
        config.families,
        threads,
        config.seed,
        config.device,
        config.spaces_dir,
        artifacts=str(artifacts_dir(config.study, config.studies_dir)),
        deadline=soft,
    )
    deadline = Deadline(at=soft)
    current: dict[str, optuna.Trial | None] = {"trial": None}

    def watchdog() -> None:
        # The last resort for a rung that outlives the hard deadline (e.g. one long SVC
        # fit): record the trial as failed, then end this process.
        time.sleep(max(0.0, hard - time.time()))
        trial = current["trial"]
        if trial is not None:
            with contextlib.suppress(Exception):
                study._storage.set_trial_user_attr(
                    trial._trial_id,
                    "fail_reason",
                    "budget: still inside a rung at the hard deadline",
                )
                study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        os._exit(0)

    threading.Thread(target=watchdog, daemon=True).start()

    def should_stop() -> BaseException | None:
        if interrupted.is_set() or os.path.exists(stop_file):
            return Interrupted("interrupted by the user")
        if os.getppid() != parent:
            return Interrupted("the search process ended")
        if deadline.passed():
            return BudgetExhausted("the search budget is spent")
        return None

    counts = {"complete": 0, "pruned": 0, "fail": 0}
    while deadline.remaining() > 1.0 and should_stop() is None:
        recover_stale_trials(study)  # a worker elsewhere may have died meanwhile
        trial = study.ask()
        study._storage.set_trial_system_attr(trial._trial_id, WORKER_ATTR, worker_identity())
        current["trial"] = trial
        # RDB storages: a heartbeat thread proves this trial's worker is alive
        with get_heartbeat_thread(trial._trial_id, study._storage):
            state = run_trial(study, trial, data, settings, should_stop)
        current["trial"] = None
        key = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned"}.get(state, "fail")
        counts[key] += 1
    return counts


def _split_settings(config: SearchConfig) -> dict[str, int | None]:
    """What decides the training / validation split: one study keeps one split."""
    return {
        "seed": config.seed,
        "val_size": config.val_size,
        "train_per_class": config.train_per_class,
    }


def _check_split(study: optuna.Study, config: SearchConfig) -> None:
    """Resuming a study with settings that change its split would compare trials on
    different validation images: refuse, and say how to resume."""
    if not study.get_trials(deepcopy=False):
        return
    recorded = study.user_attrs
    changed = {
        key: value
        for key, value in _split_settings(config).items()
        if key in recorded and recorded[key] != value
    }
    if changed:
        names = {"seed": "--seed", "train_per_class": "--train-per-class"}
        flags = ", ".join(f"{names.get(k, k)} {recorded[k]} (not {v})" for k, v in changed.items())
        raise ConfigError(
            f"study {config.study!r} was started with {flags}: its trials are compared on "
            "one validation split, so resume it with the same settings, or start a new --study"
        )


def join_config(config: SearchConfig, budget: float | None) -> SearchConfig:
    """A worker's configuration for an existing study: its families, its remaining budget.

    ``automl-fashion worker`` adds a machine's workers to a study that a ``search`` started
    (possibly on another machine): without ``--budget`` they stop at that search's deadline.
    """
    from automl_fashion.storage import load_existing_study

    study = load_existing_study(config.study, config.storage, config.studies_dir)
    attrs = study.user_attrs
    if budget is None:
        if "deadline" not in attrs:
            raise ConfigError(
                f"study {config.study!r} records no deadline (not started by search): give --budget"
            )
        budget = float(attrs["deadline"]) - time.time()
        if budget <= 1:
            raise ConfigError(f"study {config.study!r}: its search's budget is already spent")
    families = config.families if config.families != family_registry.names() else None
    config.families = families or list(attrs.get("families", family_registry.names()))
    config.budget = budget
    config.warm_start = False
    config.join = True
    # the study's split, whatever this machine's flags say
    for key, value in _split_settings(config).items():
        setattr(config, key, attrs.get(key, value))
    return config


def search(config: SearchConfig, progress: SearchProgress | None = None) -> SearchResult:
    """Run a search within ``config.budget`` seconds (the whole call, start to return)."""
    from joblib.externals.loky import get_reusable_executor

    t_start = time.time()
    config = config.validated()
    jobs, threads = config.workers()
    # keep a little time at the end: shutting workers down, and exporting the saved best model
    reserve = min(5.0, 0.05 * config.budget) + (
        min(20.0, 0.05 * config.budget) if config.export_dir else 0.0
    )
    soft = t_start + config.budget - reserve
    hard = t_start + config.budget + 0.5 * allowed_overrun(config.budget)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(config)
    if not config.join:
        _check_split(study, config)
        study.set_user_attr("deadline", t_start + config.budget)
        study.set_user_attr("families", list(config.families))
        for key, value in _split_settings(config).items():
            study.set_user_attr(key, value)
    recovered = recover_stale_trials(study)
    _requeue_interrupted(study)
    if config.warm_start:
        _warm_start(study, config)
    from automl_fashion.data import load_split

    # fill the parsed-array cache once, before the workers start reading it
    load_split(val_size=config.val_size, seed=config.seed, data_dir=config.data_dir)

    stop_file = _stop_file(config)
    stop_file.unlink(missing_ok=True)
    outcome: dict[str, object] = {}

    def run_pool() -> None:
        # joblib's loky executor, used directly so that even one worker is a separate
        # process (Parallel(n_jobs=1) would run in this one, and a worker must be able to
        # end itself at the hard deadline without ending the search).
        executor = get_reusable_executor(max_workers=jobs, timeout=60)
        futures = [
            executor.submit(_worker, config, i, soft, hard, str(stop_file), threads)
            for i in range(jobs)
        ]
        try:
            outcome["counts"] = [f.result() for f in futures]
        except BaseException as exc:  # a worker that hit the hard deadline exits the pool
            outcome["error"] = exc

    pool = threading.Thread(target=run_pool, daemon=True)
    pool.start()
    # `kill` (SIGTERM) stops the search the way Ctrl-C does: trials end at their next rung
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt) if on_main_thread else None
    try:
        while pool.is_alive():
            pool.join(timeout=1.0)
            if progress is not None:
                progress.update(study, t_start, config.budget, jobs, threads)
            if time.time() > hard + 2.0:
                break
    except KeyboardInterrupt:
        stop_file.touch()
        if progress is not None:
            progress.message("Stopping: each trial ends at its next rung (Ctrl-C again to kill)")
        try:
            while pool.is_alive() and time.time() < hard + 2.0:
                pool.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)
        get_reusable_executor().shutdown(wait=True, kill_workers=True)
        stop_file.unlink(missing_ok=True)
    recover_stale_trials(study, retry=True)
    error = outcome.get("error")
    if isinstance(error, BaseException) and not _is_worker_exit(error):
        raise error  # a bug in the orchestration itself, not in a trial: show it

    trials = study.get_trials(deepcopy=False)
    counts = {
        s.name.lower(): sum(t.state == s for t in trials)
        for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)
    }
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = max(complete, key=lambda t: t.value or 0.0, default=None)
    if progress is not None:
        progress.update(study, t_start, config.budget, jobs, threads)
    exported = None
    if best is not None and config.export_dir is not None:
        exported = _export_best(study, best.number, config)
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
    )


def _export_best(study: optuna.Study, number: int, config: SearchConfig) -> Any:
    """Export the ensemble of the saved models, or the best trial alone when the ensemble
    does not beat it out of sample, from saved artifacts (no retraining); None if the best
    trial has no artifact on this machine."""
    from automl_fashion.artifacts import load_meta
    from automl_fashion.export import export_trial

    if load_meta(artifacts_dir(config.study, config.studies_dir), number) is None:
        return None  # trained on another machine, or its artifact failed: export refits later
    assert config.export_dir is not None
    return export_trial(
        study,
        config.export_dir,
        selected_by="best complete trial by validation accuracy (end of search)",
        data_dir=config.data_dir,
        spaces_dir=config.spaces_dir,
        studies_dir=config.studies_dir,
    )


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _is_worker_exit(exc: object) -> bool:
    """A worker that ended itself at the hard deadline, or was killed on a second Ctrl-C."""
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    return isinstance(exc, TerminatedWorkerError | KeyboardInterrupt)


class SearchProgress:
    """What a search shows while it runs; the CLI passes a rich implementation."""

    def update(
        self, study: optuna.Study, started: float, budget: float, jobs: int, threads: int
    ) -> None:
        """Called about once a second with the live study."""

    def message(self, text: str) -> None:
        """A one-off status line."""
