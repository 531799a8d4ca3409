"""One worker process: ask / train / tell until the budget, a stop request or the end of
the search that started it.

A worker listens to its search on one pipe. The search sends ``stop`` (Ctrl-C, SIGTERM,
a failure streak elsewhere); the worker sends back its counts when it ends. The pipe also
tells a worker that its search died (``kill -9``): the current trial stops at its next
rung, and if that takes longer than a few seconds the trial is failed and the process
exits. Either way no worker outlives its search by more than :data:`PARENT_GRACE` seconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import threading
import time
import traceback
import warnings
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import optuna
from optuna.storages._heartbeat import get_heartbeat_thread
from optuna.trial import TrialState

from automl_fashion.budget import BudgetExhausted, Deadline
from automl_fashion.pruning import make_pruner
from automl_fashion.search.config import DEFAULT_PRUNER, DEFAULT_SAMPLER, MAX_SEED, SearchConfig
from automl_fashion.storage import (
    artifacts_dir,
    open_storage,
    recover_stale_trials,
    worker_identity,
)

WORKER_ATTR = "automl_fashion:worker"
#: A worker whose search is gone stops within this many seconds (its trial is failed).
PARENT_GRACE = 3.0
#: This many trials in a row failing with the same reason, while no trial of the search has
#: succeeded, end the search with that reason (a broken setup, not an unlucky region).
FAILURE_STREAK = 20
#: Exit status of a worker cut at the hard deadline (the search does not replace it).
EXIT_HARD_DEADLINE = 3
PARENT_ENDED = "the search process ended"


@dataclass(frozen=True)
class WorkerJob:
    """What the search hands one worker process."""

    config: SearchConfig
    index: int  # 0, 1, ... in start order; a replacement gets the next free number
    soft: float  # no new rung starts after this time (time.time())
    hard: float  # a trial still running now is failed and the process exits
    threads: int
    #: The sampler seed; None: derive a distinct one (see :func:`sampler_seed`).
    seed: int | None = None
    started: float = 0.0  # when the search started (time.time())


def sampler_seed(study_seed: int, index: int) -> int:
    """A sampler seed of its own for this process: derived from the study's seed, the
    host, the process id, the worker's index and the clock, so that no two workers (on
    this or another machine) draw the same sequence of parameters."""
    text = f"{study_seed}|{socket.gethostname()}|{os.getpid()}|{index}|{time.time_ns()}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") % (MAX_SEED + 1)


def cuda_devices(device: str, families: list[str]) -> int:
    """GPUs a worker could spread over: torch's CUDA devices when ``device`` is auto or
    cuda and a torch family is searched, else 0 (torch is not imported then)."""
    from automl_fashion import families as registry

    if device not in ("auto", "cuda"):
        return 0
    if not any(getattr(registry.get(f), "uses_torch", False) for f in families):
        return 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def search_gpus(device: str, families: list[str]) -> int:
    """GPUs the search's networks train on: :func:`cuda_devices`, or the one ``device``
    names (``cuda:N``). Where there are any, search spaces are searched in their GPU ranges
    (``SearchSpace.on_gpu``)."""
    return 1 if device.startswith("cuda:") else cuda_devices(device, families)


def worker_device(device: str, index: int, gpus: int) -> str:
    """The device of worker ``index``: with several GPUs, spread over them (``cuda:i``
    for ``i = index % gpus``);
    otherwise ``device`` as given (``auto`` picks the one GPU, or the CPU)."""
    if gpus > 1 and device in ("auto", "cuda"):
        return f"cuda:{index % gpus}"
    return device


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=seed, multivariate=True, group=True, constant_liar=True, n_startup_trials=8
        )


def open_study(config: SearchConfig, *, seed: int | None = None) -> optuna.Study:
    """The study (created if new), with this process's sampler and the study's pruner."""
    storage = open_storage(config.storage, config.study, config.studies_dir)
    sampler = make_sampler(config.sampler or DEFAULT_SAMPLER, config.seed if seed is None else seed)
    pruner = make_pruner(config.pruner or DEFAULT_PRUNER)
    # load first: creating an existing study still appends to a journal
    with contextlib.suppress(KeyError):
        return optuna.load_study(
            study_name=config.study, storage=storage, sampler=sampler, pruner=pruner
        )
    return optuna.create_study(
        study_name=config.study,
        storage=storage,
        direction="maximize",
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,  # another machine may create it at this very moment
    )


class _Control:
    """The worker's side of its pipe, and the watchdogs: hard deadline, search gone."""

    def __init__(self, conn: Connection, hard: float, interrupted: threading.Event) -> None:
        self.conn = conn
        self.hard = hard
        self.parent = os.getppid()
        self.stop_reason: str | None = None
        self.parent_gone = threading.Event()
        self.interrupted = interrupted
        self.study: optuna.Study | None = None
        self.trial: optuna.Trial | None = None
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while time.time() < self.hard and not self.parent_gone.is_set():
            try:
                if self.conn.poll(0.25):
                    self.stop_reason = str(self.conn.recv())
            except (EOFError, OSError):
                self.parent_gone.set()  # the search's end of the pipe is closed: it died
            if os.getppid() != self.parent:
                self.parent_gone.set()
        if self.parent_gone.is_set():
            time.sleep(PARENT_GRACE)  # the trial may still end at its next rung
            self._fail_current(PARENT_ENDED)
            os._exit(1)
        # The last resort for a rung that outlives the hard deadline (e.g. one long SVC
        # fit): record the trial as failed, then end this process.
        self._fail_current("budget: still inside a rung at the hard deadline")
        os._exit(EXIT_HARD_DEADLINE)

    def _fail_current(self, reason: str) -> None:
        trial, study = self.trial, self.study
        if trial is None or study is None:
            return
        with contextlib.suppress(Exception):
            study._storage.set_trial_user_attr(trial._trial_id, "fail_reason", reason)
            study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)


def run_worker(job: WorkerJob, conn: Connection) -> None:
    """The body of a worker process (its ``target``): report counts or the error."""
    # Ctrl-C reaches the whole process group: the worker ends its trial at the next rung
    interrupted = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: interrupted.set())
    signal.signal(signal.SIGTERM, lambda *_: interrupted.set())
    try:
        control = _Control(conn, job.hard, interrupted)
        result: dict[str, Any] = _work(job, control)
    except BaseException as exc:
        result = {"error": exc, "traceback": traceback.format_exc()}
    try:
        conn.send(result)
    except Exception:  # an unpicklable exception: send its text
        with contextlib.suppress(Exception):
            conn.send({"error": None, "traceback": result.get("traceback", "")})
    conn.close()


def _work(job: WorkerJob, control: _Control) -> dict[str, Any]:
    from automl_fashion.data import searched_split
    from automl_fashion.trial import Interrupted, TrialSettings, run_trial

    config = job.config
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # we run the heartbeat thread ourselves around ask/tell (see below)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
    seed = job.seed if job.seed is not None else sampler_seed(config.seed, job.index)
    study = open_study(config, seed=seed)
    control.study = study
    identity = {
        **worker_identity(),
        "index": job.index,
        "sampler": config.sampler,
        "sampler_seed": seed,
    }
    assert config.val_size is not None  # the search settled it on the data set
    data = searched_split(
        val_size=config.val_size,
        seed=config.seed,
        train_per_class=config.train_per_class,
        data_dir=config.data_dir,
        dataset=config.dataset_spec().open(config.data_dir),
    )
    assert config.families is not None  # the search resolved them
    settings = TrialSettings(
        config.families,
        job.threads,
        config.seed,
        worker_device(config.device, job.index, cuda_devices(config.device, config.families)),
        config.spaces_dir,
        artifacts=str(artifacts_dir(config.study, config.studies_dir)),
        deadline=job.soft,
        gpu=search_gpus(config.device, config.families) > 0,
    )
    deadline = Deadline(at=job.soft)

    def should_stop() -> BaseException | None:
        if control.interrupted.is_set():
            return Interrupted("interrupted by the user")
        if control.stop_reason is not None:
            return Interrupted(control.stop_reason)
        if control.parent_gone.is_set():
            return Interrupted(PARENT_ENDED)
        if deadline.passed():
            return BudgetExhausted("the search budget is spent")
        return None

    counts = {"complete": 0, "pruned": 0, "fail": 0}
    streak: list[str] = []  # reasons of the failures since the last trial that did not fail
    while deadline.remaining() > 1.0 and should_stop() is None:
        recover_stale_trials(study)  # a worker elsewhere may have died meanwhile
        trial = study.ask()
        study._storage.set_trial_system_attr(trial._trial_id, WORKER_ATTR, identity)
        control.trial = trial
        # RDB storages: a heartbeat thread proves this trial's worker is alive
        with get_heartbeat_thread(trial._trial_id, study._storage):
            state = run_trial(study, trial, data, settings, should_stop)
        control.trial = None
        key = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned"}.get(state, "fail")
        counts[key] += 1
        if state != TrialState.FAIL:
            streak.clear()
            continue
        reason = str(study._storage.get_trial(trial._trial_id).user_attrs.get("fail_reason"))
        if "interrupted" in reason or reason == PARENT_ENDED:
            continue  # the loop ends at its next check
        streak = [*streak, reason] if streak and streak[-1] == reason else [reason]
        if len(streak) >= FAILURE_STREAK and not _any_success(study, job.started):
            return {"counts": counts, "breaker": reason}
    return {"counts": counts, "breaker": None}


def _any_success(study: optuna.Study, since: float) -> bool:
    """Whether any trial started since ``since`` completed or was pruned (ran properly)."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    return any(t.datetime_start and t.datetime_start.timestamp() >= since for t in done)
