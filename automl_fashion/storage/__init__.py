"""Study storage: the embedded default, any Optuna URL, and recovery of dead workers' trials.

The default is Optuna's JournalStorage with a file backend, ``studies/<name>.journal``:
Optuna's answer for several processes on one machine (SQLite is not recommended for
parallel writers), made safe to resume after a full disk or a torn write (``_journal``)
and locked with a kernel lock on local disks (``_lock``). ``--storage`` takes a database
URL with its scheme, ``journal:PATH`` or a path ending in ``.journal``; RDB URLs get
heartbeats so that a dead worker's trial is failed and retried by Optuna itself.
Commands that only read a study (leaderboard, report, export) open it with
``writable=False``: they never create, lock, repair or append to anything.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

from automl_fashion.errors import ConfigError
from automl_fashion.storage._errors import StorageError, reason
from automl_fashion.storage._journal import Journal, JournalFile
from automl_fashion.storage._lock import KernelFileLock, NetworkFileLock, lock_for
from automl_fashion.storage._recovery import recover_stale_trials, worker_identity
from automl_fashion.storage._urls import classify, mask_url, scrub

__all__ = [
    "HEARTBEAT_SECONDS",
    "STUDIES_ENV",
    "Journal",
    "JournalFile",
    "KernelFileLock",
    "NetworkFileLock",
    "StorageError",
    "artifacts_dir",
    "available_studies",
    "classify",
    "load_existing_study",
    "lock_for",
    "mask_url",
    "open_storage",
    "recover_stale_trials",
    "studies_dir",
    "study_names",
    "worker_identity",
]

STUDIES_ENV = "AUTOML_FASHION_STUDIES"
_heartbeat = os.environ.get("AUTOML_FASHION_HEARTBEAT", "30")
HEARTBEAT_SECONDS = int(_heartbeat) if _heartbeat.isdigit() and int(_heartbeat) > 0 else 30


def studies_dir(directory: str | os.PathLike[str] | None = None) -> Path:
    """Where default storages and artifacts live: argument, $AUTOML_FASHION_STUDIES, ./studies."""
    if directory is not None:
        path, source = Path(directory), "--studies-dir"
    else:
        path = Path(os.environ.get(STUDIES_ENV) or "studies")
        source = f"${STUDIES_ENV}" if os.environ.get(STUDIES_ENV) else "the studies folder"
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{source}: {str(path)!r} is a file; expected a folder")
    return path


def artifacts_dir(study: str, directory: str | os.PathLike[str] | None = None) -> Path:
    """This machine's saved best models of a study: ``studies/<study>.artifacts/``."""
    return studies_dir(directory) / f"{study}.artifacts"


def open_storage(
    url: str | None,
    study_name: str,
    directory: str | os.PathLike[str] | None = None,
    *,
    writable: bool = True,
) -> optuna.storages.BaseStorage:
    """The storage for ``url``, or the default journal file for ``study_name``.

    Folders are made only inside the studies folder; a journal elsewhere needs an existing
    folder. ``writable=False`` opens an existing journal for reading only.
    """
    if url is None:
        return _open_journal(studies_dir(directory) / f"{study_name}.journal", directory, writable)
    kind, target = classify(url)
    if kind == "journal":
        return _open_journal(Path(target), directory, writable)
    if not writable and (missing := _missing_sqlite_file(url)):
        raise ConfigError(f"--storage {mask_url(url)}: no database file {missing!r}")
    try:
        # reading creates nothing: no tables (a read-only role would refuse them anyway)
        return _rdb_storage(url, create=writable)
    except Exception as exc:  # SQLAlchemy raises many kinds; show one clean line
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            f"--storage {mask_url(url)}: cannot open ({scrub(message, url)})"
        ) from None


def _open_journal(path: Path, directory: str | os.PathLike[str] | None, writable: bool) -> Journal:
    folder = studies_dir(directory)
    if path.is_dir():
        raise ConfigError(f"--storage: {str(path)!r} is a folder; expected a journal file")
    if path.exists() and not path.is_file():  # a FIFO would hang the first read
        raise ConfigError(f"--storage: {str(path)!r} is not a regular file; expected a journal")
    if not writable:
        if not path.is_file():
            raise ConfigError(f"--storage: no journal file {str(path)!r}")
        return Journal(JournalFile(str(path), None, writable=False))
    if not path.parent.is_dir():
        if not _inside(path.parent, folder):
            raise ConfigError(
                f"--storage: the folder of {str(path)!r} does not exist; create it first "
                f"(only folders inside the studies folder {str(folder)!r} are made)"
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"{path.parent}: cannot create the folder ({reason(exc)})") from exc
    return Journal(JournalFile(str(path), lock_for(str(path)), writable=True))


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def _missing_sqlite_file(url: str) -> str | None:
    """The file a ``sqlite:///`` URL names, when it does not exist (connecting would
    create it: a mistyped name left an empty database behind a read-only command)."""
    if not url.startswith("sqlite"):
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        database = make_url(url).database
    except ArgumentError:
        return None  # said by the open that follows
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return None if Path(database).is_file() else database


#: PostgreSQL through libpq (psycopg, psycopg2): a server that stops answering ends a
#: connection attempt after CONNECT_TIMEOUT s, and a connection whose writes go
#: unacknowledged (or whose keepalives go unanswered) after about PG_TCP_TIMEOUT s, instead
#: of holding a worker forever (an orphaned worker outlived its search in a hung write).
CONNECT_TIMEOUT = 10
PG_TCP_TIMEOUT = 60


def _engine_kwargs(url: str) -> dict[str, object] | None:
    """SQLAlchemy engine options: a liveness check before a pooled connection is reused,
    and for PostgreSQL through libpq the timeouts above."""
    from sqlalchemy.engine import make_url

    if url.startswith("sqlite"):
        return None
    kwargs: dict[str, object] = {"pool_pre_ping": True}
    try:
        parsed = make_url(url)
    except Exception:  # said by the open that follows
        return kwargs
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in (
        "psycopg",
        "psycopg2",
    ):
        kwargs["connect_args"] = {
            "connect_timeout": CONNECT_TIMEOUT,
            "keepalives": 1,
            "keepalives_idle": PG_TCP_TIMEOUT // 2,
            "keepalives_interval": PG_TCP_TIMEOUT // 10,
            "keepalives_count": 5,
            "tcp_user_timeout": PG_TCP_TIMEOUT * 1000,  # milliseconds
        }
    return kwargs


def _rdb_storage(url: str, attempts: int = 3, *, create: bool = True) -> RDBStorage:
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
                    engine_kwargs=_engine_kwargs(url),
                    skip_table_creation=not create,
                )
        except (IntegrityError, ProgrammingError):
            # two machines creating Optuna's tables in a new database at the same moment:
            # one wins, the other finds the tables on its next try
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def study_names(storage: optuna.storages.BaseStorage) -> list[str]:
    return [s.study_name for s in storage.get_all_studies()]


def available_studies(
    url: str | None, directory: str | os.PathLike[str] | None = None
) -> list[str]:
    """Study names reachable with ``url`` (default storage: the journals in the folder)."""
    if url is None:
        return sorted(p.stem for p in studies_dir(directory).glob("*.journal"))
    return sorted(study_names(open_storage(url, "", directory, writable=False)))


def load_existing_study(
    name: str, url: str | None, directory: str | os.PathLike[str] | None = None
) -> optuna.Study:
    """Open a study for reading (also while a search writes to it); unknown names list the rest.

    Nothing is written: a journal's torn or garbage last line is skipped, not repaired.
    """
    if url is None and not (studies_dir(directory) / f"{name}.journal").is_file():
        known = available_studies(None, directory)
        raise ConfigError(
            f"--study: no study {name!r} in {studies_dir(directory)}; "
            + (f"existing: {', '.join(known)}" if known else "it holds no studies yet")
        )
    storage = open_storage(url, name, directory, writable=False)
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        known = sorted(study_names(storage))
        raise ConfigError(
            f"--study: no study {name!r} in {mask_url(url or '')}; existing: "
            + (", ".join(known) or "none")
        ) from None
