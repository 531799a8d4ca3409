"""The search end to end, in real subprocesses: budget, parallel workers, kill -9, Ctrl-C.

Trials use the deliberately slow ``sleepy`` family (tests/plugins/sleepy.py), which waits
instead of training, so that timing is about the orchestrator and not the machine's load.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests.sleepy_search import (
    PLUGIN_DIR,
    REPO,
    TAG,
    children,
    load,
    processes,
    search_cmd,
    set_sleepy,
    wait_for,
)

__all__ = ["PLUGIN_DIR", "REPO", "TAG", "children", "load", "processes"]


def test_budget_is_honoured_and_trials_stop_at_a_rung(env: dict[str, str]) -> None:
    set_sleepy(env, rung_seconds=1.0, epochs=60)  # one trial alone would take a minute
    start = time.monotonic()
    out = subprocess.run(search_cmd("12s", "--jobs", "2"), env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - start
    assert elapsed < 12 + 30, elapsed
    trials = load(env).get_trials()
    assert trials and all(t.state != TrialState.RUNNING for t in trials)
    stopped = [t for t in trials if t.user_attrs.get("stop_reason") == "budget"]
    assert len(stopped) >= 2, [(t.state, t.user_attrs) for t in trials]
    assert all(t.state == TrialState.PRUNED and t.intermediate_values for t in stopped)
    assert out.returncode == 1  # nothing could complete: said so, non-zero, even --quiet
    assert "no trial completed" in out.stderr and "by the budget" in out.stderr
    wait_for(lambda: not processes(env), timeout=10)  # no orphan worker processes


def test_a_rung_longer_than_the_budget_is_cut_at_the_hard_deadline(env: dict[str, str]) -> None:
    set_sleepy(env, rung_seconds=120.0, epochs=2)
    start = time.monotonic()
    subprocess.run(search_cmd("10s", "--jobs", "1"), env=env, capture_output=True, text=True)
    assert time.monotonic() - start < 10 + 30
    (trial,) = load(env).get_trials()
    assert trial.state == TrialState.FAIL
    assert "hard deadline" in trial.user_attrs["fail_reason"]


def test_parallel_workers_share_the_journal_without_errors(env: dict[str, str]) -> None:
    set_sleepy(env, rung_seconds=0.02, epochs=3)
    out = subprocess.run(
        search_cmd("15s", "--jobs", "2", "--pruner", "none"),
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "locked" not in out.stderr and "Traceback" not in out.stderr
    trials = load(env).get_trials()
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)) >= 20
    workers = {t.system_attrs["automl_fashion:worker"]["pid"] for t in trials}
    assert len(workers) == 2
    failed = [t for t in trials if t.state == TrialState.FAIL]
    # only the diverging configurations fail, each with its reason
    assert all("TrainingDiverged" in t.user_attrs["fail_reason"] for t in failed)
    assert all(t.params["sleepy.diverge"] for t in failed)
    assert any(t.state == TrialState.COMPLETE for t in trials)


Start = Callable[[int], "subprocess.Popen[str]"]


@pytest.fixture
def start_search(env: dict[str, str]) -> Iterator[Start]:
    """Start a 5-minute search with two workers, in its own session (to signal it as a
    terminal would). Whatever the test's outcome, its process group is killed at teardown,
    so a failed test leaves no workers behind to confuse the next one."""
    started: list[subprocess.Popen[str]] = []

    def start(output: int) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            search_cmd("5m", "--jobs", "2"),
            env=env,
            start_new_session=True,
            stdout=output,
            stderr=output,
            text=True,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


def _two_running(env: dict[str, str]) -> bool:
    if not (Path(env["AUTOML_FASHION_STUDIES"]) / "t.journal").exists():
        return False
    try:
        trials = load(env).get_trials()
    except KeyError:
        return False  # the journal exists, the study is not written to it yet
    return sum(t.state == TrialState.RUNNING for t in trials) == 2


def test_resume_after_sigkill_loses_no_complete_trial(
    env: dict[str, str], start_search: Start
) -> None:
    set_sleepy(env, rung_seconds=0.5, epochs=4, diverge=False)
    proc = start_search(subprocess.DEVNULL)
    try:

        def progressed() -> bool:
            try:
                trials = load(env).get_trials()
            except Exception:
                return False
            done = sum(t.state == TrialState.COMPLETE for t in trials)
            running = sum(t.state == TrialState.RUNNING for t in trials)
            return done >= 2 and running >= 1

        wait_for(progressed)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # parent and workers, no chance to clean up
        proc.wait()
    time.sleep(0.5)
    killed = load(env).get_trials()
    complete = {t.number: t.value for t in killed if t.state == TrialState.COMPLETE}
    running = [t.number for t in killed if t.state == TrialState.RUNNING]
    assert running, "the kill should have caught a trial mid-flight"

    start = time.monotonic()
    out = subprocess.run(search_cmd("8s", "--jobs", "1"), env=env, capture_output=True, text=True)
    assert time.monotonic() - start < 8 + 30  # no wait on a dead worker's journal lock
    assert f"recovered={','.join(map(str, sorted(running)))}" in out.stdout, out
    after = load(env).get_trials()
    by_number = {t.number: t for t in after}
    for number, value in complete.items():
        assert by_number[number].state == TrialState.COMPLETE and by_number[number].value == value
    for number in running:
        assert by_number[number].state == TrialState.FAIL
        assert "died" in by_number[number].user_attrs["fail_reason"]
    retried = {t.user_attrs.get("retry_of") for t in after}
    assert set(running) <= retried
    assert not [t for t in after if t.state == TrialState.RUNNING]


def test_ctrl_c_stops_cleanly_and_resume_retries(env: dict[str, str], start_search: Start) -> None:
    set_sleepy(env, rung_seconds=0.5, epochs=20, diverge=False)
    proc = start_search(subprocess.PIPE)
    wait_for(lambda: _two_running(env))
    start = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
    proc.communicate(timeout=60)
    assert time.monotonic() - start < 10
    trials = load(env).get_trials()
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    interrupted = [t for t in trials if "interrupted" in t.user_attrs.get("fail_reason", "")]
    # both workers were inside a 10-second trial; each records it as interrupted
    assert len(interrupted) == 2, [(t.state, t.user_attrs) for t in trials]
    subprocess.run(search_cmd("4s", "--jobs", "1"), env=env, capture_output=True, text=True)
    retried = {t.user_attrs.get("retry_of") for t in load(env).get_trials()}
    assert {t.number for t in interrupted} <= retried


def test_sigterm_stops_like_ctrl_c_and_leaves_no_worker(
    env: dict[str, str], start_search: Start
) -> None:
    set_sleepy(env, rung_seconds=0.5, epochs=20, diverge=False)
    proc = start_search(subprocess.PIPE)
    wait_for(lambda: _two_running(env))
    proc.terminate()  # `kill PID`: the search process only
    proc.communicate(timeout=60)
    trials = load(env).get_trials()
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    interrupted = [t for t in trials if "interrupted" in t.user_attrs.get("fail_reason", "")]
    assert len(interrupted) == 2, [(t.state, t.user_attrs) for t in trials]
    wait_for(lambda: not processes(env), timeout=10)


def test_workers_stop_at_their_next_rung_when_the_search_is_killed(
    env: dict[str, str], start_search: Start
) -> None:
    set_sleepy(env, rung_seconds=0.5, epochs=20, diverge=False)
    proc = start_search(subprocess.DEVNULL)
    wait_for(lambda: _two_running(env))
    assert len(children(proc.pid)) >= 2  # two workers (and a resource tracker)
    proc.kill()  # SIGKILL to the search alone: its workers are orphaned
    proc.wait()
    # workers and the resource tracker end within a few seconds, not at their next trial
    wait_for(lambda: not processes(env), timeout=10)
    trials = load(env).get_trials()
    ended = [t for t in trials if t.user_attrs.get("fail_reason") == "the search process ended"]
    assert len(ended) == 2 and not [t for t in trials if t.state == TrialState.RUNNING]


def test_live_progress_and_summary(env: dict[str, str]) -> None:
    set_sleepy(env, rung_seconds=0.05, epochs=3, diverge=False)
    cmd = [c for c in search_cmd("8s", "--jobs", "1") if c != "--quiet"]
    out = subprocess.run(cmd, env={**env, "COLUMNS": "120"}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "workers 1 x" in out.stdout and "trials:" in out.stdout  # the live panel
    assert "sleepy" in out.stdout and "best val acc" in out.stdout
    assert "Best: trial" in out.stdout  # the summary
    # the budget plan: shown in the panel, stored on the study
    assert "plan: workers x threads as given" in out.stdout
    plan = load(env).user_attrs["plan"]
    assert plan["jobs"] == 1
    assert [q["family"] for q in plan["queue"]] == ["sleepy"]


def test_resuming_with_another_split_is_refused(env: dict[str, str]) -> None:
    """The seed and subset decide the validation images; one study keeps one split."""
    set_sleepy(env, rung_seconds=0.05, epochs=2)
    # long enough for a first trial on a busy machine: a study without one has no split
    subprocess.run(search_cmd("15s", "--jobs", "1"), env=env, capture_output=True)
    n_trials = len(load(env).get_trials())
    assert n_trials >= 1
    out = subprocess.run(
        search_cmd("4s", "--jobs", "1", "--seed", "3"), env=env, capture_output=True, text=True
    )
    assert out.returncode == 2, out.stderr
    assert "--seed 0 (not 3)" in out.stderr and "start a new --study" in out.stderr
    assert "Traceback" not in out.stderr
    assert len(load(env).get_trials()) == n_trials and load(env).user_attrs["seed"] == 0
