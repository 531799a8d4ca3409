"""Who runs a trial, and failing the trials of workers that died (journal storage)."""

from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState


def worker_identity() -> dict[str, Any]:
    """Who runs a trial: host, pid and the process start time (guards against pid reuse)."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "start": _start_time(pid)}


def _proc_stat(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()  # fields after the command name


def _start_time(pid: int) -> str | None:
    fields = _proc_stat(pid)
    return fields[19] if fields else None


def _alive(worker: dict[str, Any]) -> bool:
    if worker.get("host") != socket.gethostname():
        return True  # another machine: only RDB heartbeats can tell
    try:
        pid = int(worker.get("pid", 0))
    except (TypeError, ValueError, OverflowError):
        return True  # not ours to judge: the journal is untrusted
    if not 0 < pid < 2**31:  # no process has that number (os.kill would overflow)
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _proc_stat(pid)
    if fields is not None and fields[0] in ("Z", "X"):
        return False  # a zombie: killed, not yet reaped
    started = worker.get("start")
    return started is None or (fields is not None and fields[19] == started)


def recover_stale_trials(study: optuna.Study, *, retry: bool = True) -> list[int]:
    """Fail RUNNING trials whose worker is gone, and queue a retry of their parameters.

    On RDB storage Optuna's heartbeat does this (and its retry callback re-queues); on the
    journal file this checks the recorded worker process. Returns the failed trial numbers.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    storage = study._storage
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.system_attrs.get("automl_fashion:worker")
        if not isinstance(worker, dict) or _alive(worker):
            continue
        try:
            storage.set_trial_user_attr(
                trial._trial_id, "fail_reason", f"worker {worker.get('pid')} died (stale)"
            )
            if not storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another process got there first
        failed.append(trial.number)
        if retry and trial.params:
            study.enqueue_trial(
                trial.params, user_attrs={"retry_of": trial.number}, skip_if_exists=False
            )
    return failed
