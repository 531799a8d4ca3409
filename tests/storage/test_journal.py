"""The journal file: torn and garbage tails, bad records, failed writes, read-only files."""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import optuna
import pytest

from automl_fashion.storage import StorageError, _journal, load_existing_study, open_storage


def _study(folder: Path, trials: int = 4) -> Path:
    storage = open_storage(None, "j", folder)
    study = optuna.create_study(study_name="j", storage=storage, load_if_exists=True)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=trials)
    return folder / "j.journal"


def _values(folder: Path) -> list[float | None]:
    return [t.value for t in load_existing_study("j", None, folder).trials]


TAILS = {
    "torn": lambda data: data[:-9],
    "cut at the newline": lambda data: data[:-1],
    "garbage": lambda data: data + b"garbage\n",
    "binary": lambda data: data + b"\xff\xfe\x00\n",
    "a record Optuna rejects": lambda data: data + b'{"op_code":6,"worker_id":"w"}\n',
}


@pytest.mark.parametrize("tail", TAILS)
def test_a_bad_tail_is_read_past_then_cut_off_with_a_backup(
    tmp_path: Path, tail: str, caplog: pytest.LogCaptureFixture
) -> None:
    journal = _study(tmp_path)
    values = _values(tmp_path)
    damaged = TAILS[tail](journal.read_bytes())
    journal.write_bytes(damaged)
    if tail != "a record Optuna rejects":  # readers skip what they cannot parse
        assert _values(tmp_path)[:3] == values[:3]
        assert journal.read_bytes() == damaged  # and write nothing

    with caplog.at_level(logging.WARNING, logger="automl_fashion.storage"):
        storage = open_storage(None, "j", tmp_path)
    (backup,) = tmp_path.glob("j.journal.bak-*")
    assert backup.read_bytes() == damaged
    assert journal.read_bytes().endswith(b"\n") and len(journal.read_bytes()) < len(damaged)
    (message,) = storage._backend.repairs
    assert str(backup) in message and "\n" not in message
    assert message in caplog.text

    study = optuna.load_study(study_name="j", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    after = _values(tmp_path)
    assert after[:3] == values[:3] and len(after) >= len(values) + 1


def test_a_later_repair_never_overwrites_an_earlier_backup(tmp_path: Path) -> None:
    journal = _study(tmp_path)
    for n in range(1, 3):
        journal.write_bytes(journal.read_bytes() + b"garbage\n")
        open_storage(None, "j", tmp_path)
        assert len(list(tmp_path.glob("j.journal.bak-*"))) == n


def test_a_writer_never_appends_after_a_partial_line(tmp_path: Path) -> None:
    journal = _study(tmp_path)
    storage = open_storage(None, "j", tmp_path)
    # another process dies inside a write, after this one opened the journal
    journal.write_bytes(journal.read_bytes() + b'{"op_code":4,"worker_id":"x","st')
    study = optuna.load_study(study_name="j", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert len(_values(tmp_path)) == 5
    assert len(list(tmp_path.glob("j.journal.bak-*"))) == 1


@pytest.mark.parametrize(
    "bad", [b"garbage", b"\xff\xfe", b"[1]", b'{"op_code":6,"worker_id":"w"}', b""]
)
def test_a_bad_line_in_the_middle_is_one_line_naming_it(tmp_path: Path, bad: bytes) -> None:
    journal = _study(tmp_path)
    lines = journal.read_bytes().splitlines(keepends=True)
    damaged = b"".join([*lines[:3], bad + b"\n", *lines[3:]])
    journal.write_bytes(damaged)
    for opening in (
        lambda: load_existing_study("j", None, tmp_path),
        lambda: open_storage(None, "j", tmp_path),
    ):
        with pytest.raises(StorageError) as info:
            opening()
        message = str(info.value)
        assert str(journal) in message and "line 4 " in message and "\n" not in message
    assert journal.read_bytes() == damaged  # nothing dropped
    assert not list(tmp_path.glob("j.journal.bak-*"))


def test_a_failed_write_leaves_no_partial_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = _study(tmp_path)
    size = journal.stat().st_size
    study = optuna.load_study(study_name="j", storage=open_storage(None, "j", tmp_path))

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(_journal.os, "fsync", full)  # the data is written, not kept
    with pytest.raises(StorageError) as info:
        study.set_user_attr("big", "x" * 1000)
    monkeypatch.undo()
    message = str(info.value)
    assert message.startswith(f"{journal}: disk full (No space left on device) while saving")
    assert "\n" not in message
    assert journal.stat().st_size == size
    assert len(_values(tmp_path)) == 4


def test_a_read_only_journal_is_one_line_for_writers_and_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = _study(tmp_path)
    journal.chmod(0o444)
    if os.geteuid() == 0:  # root writes anyway: refuse the way a read-only mount does
        real_open = os.open

        def read_only(path: str, flags: int, *args: int) -> int:
            if str(path) == str(journal) and flags & (os.O_WRONLY | os.O_RDWR):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
            return real_open(path, flags, *args)

        monkeypatch.setattr(_journal.os, "open", read_only)
    with pytest.raises(StorageError) as info:
        open_storage(None, "j", tmp_path)
    message = str(info.value)
    assert message.startswith(f"{journal}: cannot write to the journal") and "\n" not in message
    assert len(_values(tmp_path)) == 4


def test_optunas_own_answers_still_reach_the_caller(tmp_path: Path) -> None:
    _study(tmp_path)
    with pytest.raises(optuna.exceptions.DuplicatedStudyError):
        optuna.create_study(study_name="j", storage=open_storage(None, "j", tmp_path))
