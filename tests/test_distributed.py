"""One study, several worker processes, a real PostgreSQL server.

Skipped unless $AUTOML_FASHION_TEST_PG holds a storage URL; .ci/run starts a server on
127.0.0.1 (see .ci/postgres.sh) and sets it.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import uuid

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from automl_fashion.storage import open_storage
from tests.sleepy_search import set_sleepy

PG = os.environ.get("AUTOML_FASHION_TEST_PG")
pytestmark = pytest.mark.skipif(
    not PG, reason="no PostgreSQL server: set AUTOML_FASHION_TEST_PG (CI does)"
)


def cmd(command: str, study: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "automl_fashion",
        command,
        "--storage",
        str(PG),
        "--study",
        study,
        "--quiet",
        "--train-per-class",
        "20",
        *extra,
    ]


def load(study: str) -> optuna.Study:
    # open_storage, not a bare URL: the search may be creating Optuna's tables in the new
    # database at this very moment, and only open_storage retries that race
    return optuna.load_study(study_name=study, storage=open_storage(str(PG), study))


def wait_for(predicate, proc: subprocess.Popen[str] | None = None, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"search ended early ({proc.returncode}): {out} {err}")
        try:
            if predicate():
                return
        except KeyError:
            pass  # the study does not exist yet
        time.sleep(0.3)
    raise AssertionError("condition not reached in time")


def test_search_and_worker_share_one_study(env: dict[str, str]) -> None:
    set_sleepy(env, rung_seconds=0.1, epochs=3)
    study = f"two-{uuid.uuid4().hex[:8]}"
    search = subprocess.Popen(
        cmd("search", study, "--budget", "25s", "--families", "sleepy", "--jobs", "1"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: "deadline" in load(study).user_attrs, search)
    worker = subprocess.run(
        cmd("worker", study, "--jobs", "1", "--seed", "1"), env=env, capture_output=True, text=True
    )
    out, err = search.communicate(timeout=120)
    assert search.returncode == 0, err
    assert worker.returncode == 0, worker.stderr
    assert str(PG).split("@")[0].split(":")[-1] not in out + err + worker.stdout + worker.stderr
    trials = load(study).get_trials()
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))
    workers = {t.system_attrs["automl_fashion:worker"]["pid"] for t in trials}
    assert len(workers) == 2, "both the search's and the worker's process contributed"
    board = subprocess.run(
        [
            sys.executable,
            "-m",
            "automl_fashion",
            "leaderboard",
            "--storage",
            str(PG),
            "--study",
            study,
            "--format",
            "csv",
            "--all",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert board.returncode == 0, board.stderr
    assert len(pd.read_csv(io.StringIO(board.stdout))) == len(trials)


def test_a_worker_killed_mid_trial_is_failed_and_retried(env: dict[str, str]) -> None:
    set_sleepy(env, rung_seconds=1.0, epochs=30)
    env = {**env, "AUTOML_FASHION_HEARTBEAT": "1"}  # stale after 4 s without a heartbeat
    study = f"kill-{uuid.uuid4().hex[:8]}"
    search = subprocess.Popen(
        cmd("search", study, "--budget", "5m", "--families", "sleepy", "--jobs", "1"),
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: any(
                t.state == TrialState.RUNNING and t.intermediate_values
                for t in load(study).get_trials()
            )
        )
    finally:
        os.killpg(search.pid, signal.SIGKILL)
        search.wait()
    killed = [t.number for t in load(study).get_trials() if t.state == TrialState.RUNNING]
    assert killed
    time.sleep(5)  # let the heartbeat go stale
    subprocess.run(
        cmd("worker", study, "--budget", "8s", "--jobs", "1"),
        env=env,
        capture_output=True,
        text=True,
    )
    after = {t.number: t for t in load(study).get_trials()}
    for number in killed:
        assert after[number].state == TrialState.FAIL
    retried = [
        t
        for t in after.values()
        if t.system_attrs.get("failed_trial") in killed or t.user_attrs.get("retry_of") in killed
    ]
    assert retried, "the dead worker's trial is queued again"
    assert not [t for t in after.values() if t.state == TrialState.RUNNING]
