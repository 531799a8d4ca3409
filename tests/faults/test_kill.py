"""SIGKILL, again and again: workers of a running search, then the search itself, then a
resume. Nothing complete is lost, nothing stays RUNNING, no process outlives the search.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
from pathlib import Path

from optuna.trial import TrialState

from tests.sleepy_search import (
    load,
    processes,
    search_cmd,
    set_sleepy,
    wait_for,
)

WORKER = "automl_fashion:worker"


def workers(pid: int) -> set[int]:
    """The search's worker processes (its spawned children, not the resource tracker)."""
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            cmd = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and b"spawn_main" in cmd and fields[0] not in ("Z", "X"):
            found.add(int(proc.name))
    return found


def running_by_worker(env: dict[str, str]) -> dict[int, int]:
    """pid -> number of the trial it runs (with at least one rung reported)."""
    try:
        trials = load(env).get_trials()
    except Exception:
        return {}
    return {
        t.system_attrs[WORKER]["pid"]: t.number
        for t in trials
        if t.state == TrialState.RUNNING and t.intermediate_values and WORKER in t.system_attrs
    }


def test_sigkill_of_workers_then_of_the_search_then_resume(env: dict[str, str]) -> None:
    set_sleepy(env, rung_seconds=0.3, epochs=6, diverge=False)
    search = subprocess.Popen(
        search_cmd("5m", "--jobs", "2"),
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    rng = random.Random(0)
    killed: set[int] = set()  # pids of the workers killed
    try:
        for _ in range(3):
            # a worker of this search inside a trial: kill it there
            wait_for(lambda: set(running_by_worker(env)) & workers(search.pid))
            victims = sorted(set(running_by_worker(env)) & workers(search.pid))
            pid = rng.choice(victims)
            os.kill(pid, signal.SIGKILL)
            killed.add(pid)

            def replaced(pid: int = pid) -> bool:
                live = workers(search.pid)
                return pid not in live and len(live) == 2

            wait_for(replaced, timeout=30)  # the search starts another worker
        assert search.poll() is None, "the search goes on after its workers are killed"
        wait_for(lambda: any(t.state == TrialState.COMPLETE for t in load(env).get_trials()))
        before = {t.number: t.value for t in load(env).get_trials() if t.state.is_finished()}
        complete = {
            t.number: t.value for t in load(env).get_trials() if t.state == TrialState.COMPLETE
        }
        search.kill()  # the search alone: its workers and resource tracker are orphaned
        search.wait()
        # every process of the search ends within a few seconds
        wait_for(lambda: not processes(env), timeout=15)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(search.pid, signal.SIGKILL)
        search.wait()

    after_kill = load(env).get_trials()
    # the trials the killed workers were running: failed by the search, and queued again
    died = [
        t
        for t in after_kill
        if t.system_attrs.get(WORKER, {}).get("pid") in killed
        and t.state not in (TrialState.COMPLETE, TrialState.PRUNED)
    ]
    assert died, "a kill should have caught a trial mid-flight"
    assert all(
        t.state == TrialState.FAIL and "died" in t.user_attrs["fail_reason"] for t in died
    ), [(t.number, t.state, t.user_attrs) for t in died]
    retried = {t.user_attrs.get("retry_of") for t in after_kill}
    assert {t.number for t in died} <= retried

    out = subprocess.run(search_cmd("10s", "--jobs", "1"), env=env, capture_output=True, text=True)
    assert "Traceback" not in out.stderr, out.stderr
    after = {t.number: t for t in load(env).get_trials()}
    assert not [t for t in after.values() if t.state == TrialState.RUNNING]
    for number, value in complete.items():  # no complete trial lost or changed
        assert after[number].state == TrialState.COMPLETE and after[number].value == value
    for number in before:
        assert after[number].state.is_finished()
    wait_for(lambda: not processes(env), timeout=15)
