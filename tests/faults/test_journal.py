"""Faults in the journal file, with real searches in real processes.

A torn or garbage tail is repaired by the next search (with a backup); a full disk ends a
search with one line and leaves every saved trial readable; readers never fail while a
search writes. Trials use the ``sleepy`` family (tests/plugins/sleepy.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from automl_fashion.search_space import spaces_dir
from automl_fashion.storage import load_existing_study
from tests.sleepy_search import PLUGIN_DIR, REPO, search_cmd, set_sleepy

SLEEPY = {"rung_seconds": 0.05, "epochs": 3, "diverge": False}


def _search(budget: str = "8s", jobs: int = 1) -> list[str]:
    return search_cmd(budget, "--jobs", str(jobs), "--no-export", "--pruner", "none")


def _leaderboard(env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], set[int]]:
    out = subprocess.run(
        [sys.executable, "-m", "automl_fashion", "leaderboard", "--study", "t", "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    rows = json.loads(out.stdout) if out.returncode == 0 else []
    return out, {row["trial"] for row in rows if row["state"] == "complete"}


def _complete(folder: Path) -> set[int]:
    """Complete trials, read the way leaderboard reads them."""
    study = load_existing_study("t", None, folder)
    return {t.number for t in study.trials if t.state.name == "COMPLETE"}


def _one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture(scope="module")
def first_journal(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The journal of one short search, shared by the tests (each works on a copy)."""
    tmp = tmp_path_factory.mktemp("first")
    spaces = tmp / "spaces"
    shutil.copytree(spaces_dir(), spaces)
    shutil.copy(PLUGIN_DIR / "sleepy.yaml", spaces / "sleepy.yaml")
    first = {
        **os.environ,
        "AUTOML_FASHION_PLUGINS": "sleepy=tests.plugins.sleepy:SleepyFamily",
        "AUTOML_FASHION_SPACES": str(spaces),
        "AUTOML_FASHION_STUDIES": str(tmp / "studies"),
        "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    set_sleepy(first, **SLEEPY)
    out = subprocess.run(_search(), env=first, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return (tmp / "studies" / "t.journal").read_bytes()


@pytest.fixture
def studies(env: dict[str, str], first_journal: bytes) -> Path:
    set_sleepy(env, **SLEEPY)
    folder = Path(env["AUTOML_FASHION_STUDIES"])
    folder.mkdir()
    (folder / "t.journal").write_bytes(first_journal)
    return folder


DAMAGE = {
    "torn": lambda data: data[:-20],
    "garbage": lambda data: data + b'{"op_code": 4, "worker_id": gar\xffbage\n',
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_resumed_search_repairs_a_bad_tail_and_keeps_every_trial(
    env: dict[str, str], studies: Path, damage: str
) -> None:
    journal = studies / "t.journal"
    damaged = DAMAGE[damage](journal.read_bytes())
    journal.write_bytes(damaged)
    before = _complete(studies)  # readers skip the bad tail
    assert before

    out = subprocess.run(_search(), env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode in (0, 1), out.stderr  # 1: no new trial done on a busy machine
    (backup,) = studies.glob("t.journal.bak-*")
    assert backup.read_bytes() == damaged
    assert f"the whole file is kept in {backup}" in out.stderr and "Traceback" not in out.stderr

    assert journal.read_bytes().count(b"\n") > damaged.count(b"\n")  # appended after repair
    board, shown = _leaderboard(env)
    assert board.returncode == 0, board.stderr
    assert before <= shown == _complete(studies)  # the old complete trials, and any new ones


def test_a_full_disk_is_one_line_and_the_journal_stays_readable(
    env: dict[str, str], studies: Path
) -> None:
    journal = studies / "t.journal"
    before = _complete(studies)
    limit = journal.stat().st_size + 1500  # a few records more, then "file too large"

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    out = subprocess.run(
        _search("20s"),
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=small_disk,
        timeout=120,
    )
    assert out.returncode != 0
    error = _one_line_error(out.stderr)
    assert f"{journal}: file size limit reached" in error and "trials saved so far" in error
    assert journal.read_bytes().endswith(b"\n")  # no partial line left behind

    board, shown = _leaderboard(env)
    assert board.returncode == 0, board.stderr
    assert before <= shown


@pytest.fixture
def background(env: dict[str, str]) -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


def test_a_reader_never_fails_while_a_search_writes(
    env: dict[str, str], studies: Path, background: list[subprocess.Popen[str]]
) -> None:
    journal = studies / "t.journal"
    proc = subprocess.Popen(
        _search("10s", jobs=2),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    background.append(proc)
    reads, boards, during_writes = 0, 0, 0
    seen = _complete(studies)
    give_up = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < give_up:
        size = journal.stat().st_size
        now = _complete(studies)
        assert seen <= now  # never an error, never a complete trial lost
        seen, reads = now, reads + 1
        during_writes += journal.stat().st_size != size  # the search wrote meanwhile
        if reads % 10 == 0:
            board, shown = _leaderboard(env)
            assert board.returncode == 0, board.stderr
            boards += 1
        time.sleep(0.02)  # leave the search the CPU it needs
    assert proc.poll() is not None, "the search did not end"
    assert proc.stderr is not None and "Traceback" not in proc.stderr.read()
    assert during_writes >= 1 and boards >= 1, (reads, during_writes, boards)
    board, shown = _leaderboard(env)
    assert board.returncode == 0 and shown == _complete(studies)


@pytest.mark.parametrize("command", ["leaderboard", "report", "export", "search"])
def test_a_bad_line_in_the_middle_is_one_line_in_every_command(
    env: dict[str, str], studies: Path, command: str, tmp_path: Path
) -> None:
    journal = studies / "t.journal"
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join([*lines[:5], b"\xff garbage\n", *lines[5:]]))
    args = {
        "leaderboard": ["leaderboard", "--study", "t"],
        "report": ["report", "--study", "t", "--out", str(tmp_path / "report")],
        "export": ["export", "--study", "t", "--out", str(tmp_path / "model")],
        "search": search_cmd("8s")[3:],
    }[command]
    out = subprocess.run(
        [sys.executable, "-m", "automl_fashion", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    error = _one_line_error(out.stderr)
    assert f"{journal}: line 6 is not an Optuna journal record" in error
