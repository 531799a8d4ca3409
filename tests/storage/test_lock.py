"""The journal's lock: nothing in or at the lock path can hang a search or traceback."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from automl_fashion.storage import StorageError, _lock, open_storage, worker_identity
from automl_fashion.storage._lock import (
    KernelFileLock,
    NetworkFileLock,
    file_system,
    lock_for,
)


def _write_trials(folder: Path, n: int = 2) -> float:
    """Seconds taken to create a study and run ``n`` trials in it."""
    start = time.monotonic()
    storage = open_storage(None, "s", folder)
    study = optuna.create_study(study_name="s", storage=storage, load_if_exists=True)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=n)
    return time.monotonic() - start


@pytest.mark.parametrize(
    "content",
    [
        b"{}",
        b"[1]",
        b"\xff\xfe garbage",
        # the old lock's format, naming a live process that is not a search
        json.dumps({**worker_identity(), "pid": os.getppid()}).encode(),
    ],
)
def test_whatever_the_lock_file_holds_costs_nothing(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "s.journal.lock").write_bytes(content)
    assert _write_trials(tmp_path) < 10  # the old lock waited 30 s, or forever for {}


def test_a_lock_path_that_is_a_folder_is_one_line_naming_it(tmp_path: Path) -> None:
    (tmp_path / "s.journal.lock").mkdir()
    with pytest.raises(StorageError) as info:
        _write_trials(tmp_path)
    message = str(info.value)
    assert "s.journal.lock" in message and "\n" not in message


def test_a_lock_held_too_long_gives_up_with_an_error(tmp_path: Path) -> None:
    journal = str(tmp_path / "x.journal")
    holder = KernelFileLock(journal)
    holder.acquire()
    try:
        waiter = KernelFileLock(journal, timeout=0.3)
        start = time.monotonic()
        with pytest.raises(StorageError, match="held the journal's lock for over"):
            waiter.acquire()
        assert time.monotonic() - start < 5
    finally:
        holder.release()
    waiter.acquire()  # free once released
    waiter.release()


def test_a_dead_holder_frees_the_lock(tmp_path: Path) -> None:
    lock = tmp_path / "x.journal.lock"
    code = (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(lock)!r}, os.O_RDONLY | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        fd = os.open(lock, os.O_RDONLY)
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(fd)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    waiter = KernelFileLock(str(tmp_path / "x.journal"), timeout=5)
    assert waiter.acquire()
    waiter.release()


def test_network_file_systems_get_optunas_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
        f"90 27 0:50 / {tmp_path}/my\\040share rw - nfs4 server:/export rw\n"
    )
    share = tmp_path / "my share" / "deeper"
    assert file_system(share, str(mountinfo)) == "nfs4"
    assert file_system(tmp_path, str(mountinfo)) == "ext4"
    assert isinstance(lock_for(str(tmp_path / "x.journal")), KernelFileLock)
    monkeypatch.setattr(_lock, "file_system", lambda folder: "nfs4")
    assert isinstance(lock_for(str(tmp_path / "x.journal")), NetworkFileLock)


def test_the_network_lock_is_one_line_on_a_folder(tmp_path: Path) -> None:
    (tmp_path / "x.journal.lock").mkdir()
    with pytest.raises(StorageError, match=r"x\.journal\.lock.*a folder"):
        NetworkFileLock(str(tmp_path / "x.journal")).acquire()
    lock = NetworkFileLock(str(tmp_path / "y.journal"))
    assert lock.acquire()
    lock.release()
    lock.release()  # broken by another process meanwhile: no RuntimeError
