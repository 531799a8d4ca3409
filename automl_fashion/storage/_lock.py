"""The journal's lock: a kernel lock on local disks, Optuna's lock file on network ones.

On a local disk ``flock(2)`` on ``<journal>.lock`` is freed by the kernel when its holder
dies, so a ``kill -9`` costs nothing and the lock file's content never matters. ``flock``
is unreliable on network file systems; there Optuna's ``O_EXCL`` lock file is used, which
breaks a lock left by a dead holder after its grace period. Every process on one study
must see its folder the same way (a machine that serves it over NFS mounts it too).
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import sys
import time
from pathlib import Path

from optuna.storages.journal import JournalFileOpenLock
from optuna.storages.journal._file import BaseJournalFileLock

from automl_fashion.storage._errors import StorageError, reason

if sys.platform != "win32":
    import fcntl

#: Longest wait for the lock before giving up with an error (appends take milliseconds).
LOCK_TIMEOUT = 30.0

NETWORK_FILE_SYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "afs", "9p", "lustre", "gpfs", "ceph"}
    | {"glusterfs", "beegfs", "ocfs2", "gfs2", "fuse.sshfs", "fuse.ceph", "fuse.glusterfs"}
    | {"fuse.s3fs", "fuse.gcsfuse", "fuse.rclone"}
)


def lock_for(journal: str, timeout: float = LOCK_TIMEOUT) -> BaseJournalFileLock:
    """The right lock for a journal file at ``journal``."""
    if sys.platform == "win32" or file_system(Path(journal).parent) in NETWORK_FILE_SYSTEMS:
        return NetworkFileLock(journal)
    return KernelFileLock(journal, timeout)


def file_system(folder: Path, mountinfo: str = "/proc/self/mountinfo") -> str | None:
    """The type of the file system holding ``folder`` (``ext4``, ``nfs4``...), if known."""
    try:
        lines = Path(mountinfo).read_text().splitlines()
        target = os.path.realpath(folder)
    except OSError:
        return None
    best, kind = "", None
    for line in lines:
        fields, _, rest = line.partition(" - ")
        parts = fields.split()
        if len(parts) < 5 or not rest:
            continue
        mount = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), parts[4])  # \040: space
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):
            best, kind = mount, rest.split()[0]
    return kind


def _unusable(path: str, why: str) -> StorageError:
    return StorageError(
        f"{path}: cannot use it as the journal's lock file ({why}); remove it, or give "
        "--studies-dir a folder this user can write to"
    )


class KernelFileLock(BaseJournalFileLock):
    """``flock`` on ``<journal>.lock``, given up with a StorageError after ``timeout`` s."""

    def __init__(self, journal: str, timeout: float = LOCK_TIMEOUT) -> None:
        self.path = journal + ".lock"
        self.timeout = timeout
        self._fd: int | None = None

    def acquire(self) -> bool:
        flags = os.O_RDONLY | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            raise _unusable(self.path, reason(exc)) from exc
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise _unusable(self.path, "not a regular file")
            self._wait(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def _wait(self, fd: int) -> None:
        give_up = time.monotonic() + self.timeout
        delay = 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            except OSError as exc:  # e.g. ENOLCK: no locks on this file system
                raise _unusable(self.path, reason(exc)) from exc
            if time.monotonic() > give_up:
                raise StorageError(
                    f"{self.path}: another process has held the journal's lock for over "
                    f"{self.timeout:.0f} s; is one stuck (stopped with Ctrl-Z)?"
                )
            time.sleep(delay)
            delay = min(2 * delay, 0.05)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # frees the lock; the file stays (unlinking it would race)

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_fd": None}  # a held lock does not travel


class NetworkFileLock(JournalFileOpenLock):
    """Optuna's ``O_EXCL`` lock file, with one-line errors instead of tracebacks."""

    def __init__(self, journal: str) -> None:
        super().__init__(journal, grace_period=30)
        self.path = journal + ".lock"

    def acquire(self) -> bool:
        if os.path.isdir(self.path):
            raise _unusable(self.path, "a folder")
        try:
            return super().acquire()
        except OSError as exc:
            raise _unusable(self.path, reason(exc)) from exc

    def release(self) -> None:
        # Another process broke our lock after its grace period: our write is done anyway.
        with contextlib.suppress(RuntimeError, OSError):
            super().release()
