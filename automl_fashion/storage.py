"""Study storage: the embedded default, any Optuna URL, and recovery of dead workers' trials.

The default is Optuna's JournalStorage with a file backend, ``studies/<name>.journal``:
Optuna's answer for several processes on one machine (SQLite is not recommended for
parallel writers). ``--storage`` takes any Optuna URL; RDB URLs get heartbeats so that a
dead worker's trial is failed and retried by Optuna itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend
from optuna.storages.journal._file import BaseJournalFileLock
from optuna.trial import TrialState

from automl_fashion.errors import ConfigError

STUDIES_ENV = "AUTOML_FASHION_STUDIES"
HEARTBEAT_SECONDS = int(os.environ.get("AUTOML_FASHION_HEARTBEAT", "30"))


def studies_dir(directory: str | os.PathLike[str] | None = None) -> Path:
    """Where default storages and artifacts live: argument, $AUTOML_FASHION_STUDIES, ./studies."""
    if directory is not None:
        return Path(directory)
    return Path(os.environ.get(STUDIES_ENV, "studies"))


def artifacts_dir(study: str, directory: str | os.PathLike[str] | None = None) -> Path:
    """This machine's saved best models of a study: ``studies/<study>.artifacts/``."""
    return studies_dir(directory) / f"{study}.artifacts"


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (safe to print and log)."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def open_storage(
    url: str | None, study_name: str, directory: str | os.PathLike[str] | None = None
) -> optuna.storages.BaseStorage:
    """The storage for ``url``, or the default journal file for ``study_name``."""
    if url is None or url.endswith(".journal") or url.startswith("journal:"):
        if url is None:
            path = studies_dir(directory) / f"{study_name}.journal"
        else:
            path = Path(url.removeprefix("journal:"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path), lock_obj=OwnedFileLock(str(path))))
    if "://" not in url:
        raise ConfigError(
            f"--storage: {mask_url(url)!r} is not a storage URL; expected e.g. "
            "postgresql://user@host/db, sqlite:///file.db or a path ending in .journal"
        )
    try:
        return _rdb_storage(url)
    except Exception as exc:  # SQLAlchemy raises many kinds; show one clean line
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            f"--storage {mask_url(url)}: cannot open ({_scrub(message, url)})"
        ) from None


class OwnedFileLock(BaseJournalFileLock):
    """Optuna's O_EXCL lock file, plus the holder's identity inside it.

    Optuna's own file locks cannot tell a slow holder from a dead one, so after a ``kill -9``
    inside a write every process waits out a 30 s grace period. This lock records who holds
    it; a lock whose holder (on this machine) is gone is broken at once. A holder on another
    machine is waited for, up to ``grace_period`` seconds, as Optuna does.
    """

    def __init__(self, filepath: str, grace_period: float = 30.0) -> None:
        self._lock_file = filepath + ".lock"
        self.grace_period = grace_period

    def acquire(self) -> bool:
        me = json.dumps(worker_identity()).encode()
        waited_since = time.monotonic()
        delay = 0.001
        while True:
            try:
                fd = os.open(self._lock_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                holder = self._holder()
                if (
                    holder is None
                    or not _alive(holder)
                    or (time.monotonic() - waited_since > self.grace_period)
                ):
                    self._break(holder)
                    waited_since = time.monotonic()
                    continue
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
                continue
            with os.fdopen(fd, "wb") as fh:
                fh.write(me)
            return True

    def _holder(self) -> dict[str, Any] | None:
        try:
            text = Path(self._lock_file).read_bytes()
        except FileNotFoundError:
            return {}  # released meanwhile: try again
        try:
            holder: dict[str, Any] = json.loads(text)
        except ValueError:
            # written by a holder that died between create and write, or still writing
            return {} if time.time() - _mtime(self._lock_file) < 1.0 else None
        return holder

    def _break(self, holder: dict[str, Any] | None) -> None:
        if holder == {}:
            return
        moved = f"{self._lock_file}.{os.getpid()}.stale"
        try:
            os.rename(self._lock_file, moved)
        except FileNotFoundError:
            return
        try:
            if json.loads(Path(moved).read_bytes()) != holder and holder is not None:
                os.link(moved, self._lock_file)  # we moved a live lock: put it back
        except (ValueError, OSError):
            pass
        finally:
            Path(moved).unlink(missing_ok=True)

    def release(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._lock_file)


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return time.time()


def _rdb_storage(url: str, attempts: int = 3) -> RDBStorage:
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(
                    url,
                    heartbeat_interval=HEARTBEAT_SECONDS,
                    grace_period=4 * HEARTBEAT_SECONDS,
                    # a dead worker's trial is failed, then queued once more
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
                    engine_kwargs={"pool_pre_ping": True} if not url.startswith("sqlite") else None,
                )
        except (IntegrityError, ProgrammingError):
            # two machines creating Optuna's tables in a new database at the same moment:
            # one wins, the other finds the tables on its next try
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _scrub(message: str, url: str) -> str:
    """Remove the URL's password from a driver's message, wherever it appears."""
    match = re.search(r"://[^:/@]+:([^@]*)@", url)
    if match and match.group(1):
        message = message.replace(match.group(1), "***")
    return message.replace(url, mask_url(url))


def study_names(storage: optuna.storages.BaseStorage) -> list[str]:
    return [s.study_name for s in storage.get_all_studies()]


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
    pid = int(worker.get("pid", 0))
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
        if worker is None or _alive(worker):
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


def available_studies(
    url: str | None, directory: str | os.PathLike[str] | None = None
) -> list[str]:
    """Study names reachable with ``url`` (default storage: the journals in the folder)."""
    if url is None:
        return sorted(p.stem for p in studies_dir(directory).glob("*.journal"))
    return sorted(study_names(open_storage(url, "", directory)))


def load_existing_study(
    name: str, url: str | None, directory: str | os.PathLike[str] | None = None
) -> optuna.Study:
    """Open a study for reading (also while a search writes to it); unknown names list the rest."""
    if url is None and not (studies_dir(directory) / f"{name}.journal").is_file():
        known = available_studies(None, directory)
        raise ConfigError(
            f"--study: no study {name!r} in {studies_dir(directory)}; "
            + (f"existing: {', '.join(known)}" if known else "it holds no studies yet")
        )
    storage = open_storage(url, name, directory)
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        known = sorted(study_names(storage))
        raise ConfigError(
            f"--study: no study {name!r} in {mask_url(url or '')}; existing: "
            + (", ".join(known) or "none")
        ) from None
