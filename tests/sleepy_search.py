"""Helpers of the tests that run real searches of the ``sleepy`` plugin family
(tests/plugins/sleepy.py) in subprocesses. The ``env`` fixture (tests/conftest.py) gives
each test its own studies folder, search spaces and process tag."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import yaml

PLUGIN_DIR = Path(__file__).parent / "plugins"
REPO = Path(__file__).resolve().parent.parent


def set_sleepy(env: dict[str, str], **changes: object) -> None:
    path = Path(env["AUTOML_FASHION_SPACES"]) / "sleepy.yaml"
    doc = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        doc["params"][key] = {"type": "fixed", "value": value}
        doc["init"][key] = value
    path.write_text(yaml.safe_dump(doc))


def search_cmd(budget: str, *extra: str, study: str = "t") -> list[str]:
    return [
        sys.executable,
        "-m",
        "automl_fashion",
        "search",
        "--budget",
        budget,
        "--families",
        "sleepy",
        "--study",
        study,
        "--quiet",
        "--train-per-class",
        "20",
        *extra,
    ]


def load(env: dict[str, str], study: str = "t") -> optuna.Study:
    path = Path(env["AUTOML_FASHION_STUDIES"]) / f"{study}.journal"
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    return optuna.load_study(study_name=study, storage=storage)


TAG = "AUTOML_FASHION_TEST_TAG"


def processes(env: dict[str, str]) -> set[int]:
    """Live processes started with ``env`` (a search, its workers, their resource tracker):
    they inherit its tag, whoever their parent is now."""
    marker = f"{TAG}={env[TAG]}".encode()
    pids = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                environ = (proc / "environ").read_bytes()
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if marker in environ.split(b"\0") and state not in ("Z", "X"):
                pids.add(int(proc.name))
    return pids


def children(pid: int) -> set[int]:
    """The processes whose parent is ``pid``."""
    found = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(proc.name))
    return found


def wait_for(predicate: Callable[[], bool], timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")
