"""Optuna's journal file, safe to resume after a full disk, a kill inside a write or a cut.

Optuna reads a journal up to a partial last line, but once anything is appended after that
line every later read fails. So a writer first checks the tail, under the lock: a torn or
garbage last line is copied to a backup and cut off, and said so (a warning on the
``automl_fashion.storage`` logger, which prints one line on stderr). A failed write is
undone, so no partial line is ever left. Readers never write: they stop before a bad tail.
Anything else that Optuna cannot read is a one-line StorageError naming the file and line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Generator, Iterator
from typing import Any

from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.storages.journal._file import BaseJournalFileLock
from optuna.storages.journal._storage import JournalOperation, JournalStorageReplayResult

from automl_fashion.storage._errors import StorageError, reason

logger = logging.getLogger("automl_fashion.storage")

_OPERATIONS = frozenset(int(op) for op in JournalOperation)


def parse_record(line: bytes) -> dict[str, Any] | None:
    """The journal record on ``line`` (without its newline), or None if it is not one."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    if (
        isinstance(record, dict)
        and type(record.get("op_code")) is int
        and record["op_code"] in _OPERATIONS
        and isinstance(record.get("worker_id"), str)
    ):
        return record
    return None


def _advice(path: str, line: int) -> str:
    return (
        f"{path}: line {line} is not an Optuna journal record, and records follow it; "
        "nothing was changed: restore an earlier copy of the journal, or delete that line "
        "(after making a copy) to keep the rest"
    )


class JournalFile(JournalFileBackend):
    """A journal file backend that never appends after, nor leaves, a partial line.

    ``writable=False`` opens an existing file for reading only: it creates nothing, takes
    no lock and refuses to append. ``repairs`` lists what opening for writing cut off.
    """

    def __init__(
        self, file_path: str, lock_obj: BaseJournalFileLock | None, *, writable: bool
    ) -> None:
        # not Optuna's __init__: that creates the file, which a reader must never do
        self._file_path = file_path
        self._lock = lock_obj  # type: ignore[assignment]
        self._log_number_offset: dict[int, int] = {0: 0}
        self.writable = writable
        self.repairs: list[str] = []
        self.line = 0  # the line of the record read last, for error messages
        self.record: dict[str, Any] = {}  # and that record
        if writable:
            self._check_writable()
            if self._tail_needs_repair():  # a first look without the lock: it is rare
                with self._locked():
                    fd = self._open_for_append()
                    try:
                        self._repair(fd)
                    finally:
                        os.close(fd)
        elif not os.path.isfile(file_path):
            raise StorageError(f"{file_path}: no such journal file")

    # -- reading -----------------------------------------------------------------------

    def read_logs(self, log_number_from: int) -> Generator[dict[str, Any], None, None]:
        number = max(n for n in self._log_number_offset if n <= log_number_from)
        offset = self._log_number_offset[number]
        try:
            with open(self._file_path, "rb") as f:
                size = os.fstat(f.fileno()).st_size  # later appends wait for the next read
                f.seek(offset)
                data = f.read(max(0, size - offset))
        except OSError as exc:
            raise StorageError(f"{self._file_path}: cannot read ({reason(exc)})") from exc
        *lines, partial = data.split(b"\n")
        for i, raw in enumerate(lines):
            record = parse_record(raw)
            if record is None:
                if i == len(lines) - 1 and not partial:
                    return  # a garbage last line: the next writer cuts it off
                raise StorageError(_advice(self._file_path, number + 1))
            offset += len(raw) + 1
            number += 1
            self._log_number_offset[number] = offset
            if number > log_number_from:
                self.line, self.record = number, record
                yield record
        # a partial last line: a write in progress, or torn (the next writer cuts it off)

    # -- writing -----------------------------------------------------------------------

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        if not self.writable:
            raise StorageError(f"{self._file_path}: opened for reading only")
        data = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs).encode()
        with self._locked():
            fd = self._open_for_append()
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    size = self._repair(fd)  # a writer died inside a write
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                    os.fsync(fd)
                except OSError as exc:
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, size)  # never leave a partial line
                    raise StorageError(
                        f"{self._file_path}: {reason(exc)} while saving; the trials saved so "
                        "far are kept and readable: free some space, then resume the search"
                    ) from exc
            finally:
                os.close(fd)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        assert self._lock is not None
        self._lock.acquire()
        try:
            yield
        finally:
            self._lock.release()

    def _check_writable(self) -> None:
        try:
            os.close(os.open(self._file_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644))
        except OSError as exc:
            raise StorageError(
                f"{self._file_path}: cannot write to the journal ({reason(exc)}); a read-only "
                "study can still be read by leaderboard, report and export"
            ) from exc

    def _open_for_append(self) -> int:
        try:
            return os.open(self._file_path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        except OSError as exc:
            raise StorageError(f"{self._file_path}: cannot write ({reason(exc)})") from exc

    def _tail_needs_repair(self) -> bool:
        with open(self._file_path, "rb") as f:
            return valid_prefix(f.read())[0] is not None

    def _repair(self, fd: int) -> int:
        """Cut a bad last line off (with a backup); returns the new size. Holds the lock."""
        data = _read_all(fd)
        bad_line, keep = valid_prefix(data)
        if bad_line is None:
            return len(data)
        if b"\n" in data[keep:].rstrip(b"\n"):
            raise StorageError(_advice(self._file_path, bad_line))
        torn = not data.endswith(b"\n")
        backup = self._backup(data, "a torn" if torn else "a garbage")
        try:
            os.ftruncate(fd, keep)
            os.fsync(fd)
        except OSError as exc:
            raise StorageError(f"{self._file_path}: cannot repair ({reason(exc)})") from exc
        what = "torn (cut off in a write)" if torn else "not a record"
        message = (
            f"{self._file_path}: its last line was {what}; "
            f"cut it off after line {bad_line - 1}, the whole file is kept in {backup}"
        )
        self.repairs.append(message)
        logger.warning("automl-fashion: warning: %s", message)
        return keep

    def _backup(self, data: bytes, what: str) -> str:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        for n in range(1000):
            path = f"{self._file_path}.bak-{stamp}" + (f"-{n}" if n else "")
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            except FileExistsError:
                continue  # never overwrite an earlier backup
            except OSError as exc:
                raise self._no_backup(what, exc) from exc
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.unlink(path)
                raise self._no_backup(what, exc) from exc
            return path
        raise StorageError(f"{self._file_path}: too many backups named {stamp}")

    def _no_backup(self, what: str, exc: OSError) -> StorageError:
        return StorageError(
            f"{self._file_path}: ends in {what} line, which must be cut off before "
            f"appending, but no backup could be written ({reason(exc)}); nothing was changed"
        )


def _read_all(fd: int) -> bytes:
    chunks, offset = [], 0
    while chunk := os.pread(fd, 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def valid_prefix(data: bytes) -> tuple[int | None, int]:
    """``(first bad line, bytes before it)``; ``(None, len(data))`` for a sound journal.

    A line is bad when it lacks its newline, is not a journal record, or is one that
    Optuna's replay rejects (a record naming a trial that does not exist, a missing field).
    """
    replay = JournalStorageReplayResult("")
    offset = 0
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if offset == len(data):
            break
        record = parse_record(raw) if offset + len(raw) < len(data) else None
        if record is None:
            return number, offset
        try:
            replay.apply_logs([record])
        except Exception:
            return number, offset
        offset += len(raw) + 1
    return None, offset


class Journal(JournalStorage):
    """Optuna's JournalStorage whose replay errors are one line naming the file and line."""

    _backend: JournalFile

    def _sync_with_backend(self) -> None:
        try:
            super()._sync_with_backend()
        except StorageError:
            raise
        except Exception as exc:  # KeyError, AssertionError, TypeError... from the replay
            if self._backend.record.get("worker_id") == self._replay_result.worker_id:
                raise  # Optuna's answer to this process's own request (a duplicate study...)
            raise StorageError(
                f"{self._backend._file_path}: line {self._backend.line} is a record Optuna "
                f"cannot replay ({type(exc).__name__}: {exc}); restore an earlier copy"
            ) from exc
