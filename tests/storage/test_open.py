"""open_storage and studies_dir: which folders may be made, and what a reader may touch."""

from __future__ import annotations

import os
from pathlib import Path

import optuna
import pytest

from automl_fashion.errors import ConfigError
from automl_fashion.storage import (
    STUDIES_ENV,
    load_existing_study,
    open_storage,
    studies_dir,
)


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_a_database_url_ending_in_journal_is_never_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        open_storage("postgresql://u:s3cret@127.0.0.1:9/db.journal", "x", tmp_path / "studies")
    assert "s3cret" not in str(info.value)
    assert _tree(tmp_path) == set()  # no folder named after the password


def test_a_password_in_the_query_string_is_not_printed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        open_storage("postgresql://u@127.0.0.1:9/db?password=s3cret", "x", tmp_path)
    assert "s3cret" not in str(info.value) and "password=***" in str(info.value)


def test_a_journal_in_a_missing_folder_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent" / "x.journal"
    with pytest.raises(ConfigError, match="does not exist"):
        open_storage(f"journal:{missing}", "x", tmp_path / "studies")
    assert not missing.parent.exists()


def test_folders_are_made_inside_the_studies_folder_only(tmp_path: Path) -> None:
    studies = tmp_path / "studies"
    open_storage(None, "a", studies)  # the studies folder itself
    open_storage(f"journal:{studies}/sub/b.journal", "b", studies)
    assert (studies / "a.journal").is_file() and (studies / "sub" / "b.journal").is_file()
    open_storage(f"journal:{tmp_path}/c.journal", "c", studies)  # an existing folder
    assert (tmp_path / "c.journal").is_file()


def test_studies_dir_naming_a_file_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(ConfigError, match=r"--studies-dir: .*is a file; expected a folder"):
        open_storage(None, "x", file)
    monkeypatch.setenv(STUDIES_ENV, str(file))
    with pytest.raises(ConfigError, match=f"\\${STUDIES_ENV}: .*is a file"):
        studies_dir()


def test_a_journal_path_that_is_no_regular_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "x.journal").mkdir()
    with pytest.raises(ConfigError, match="is a folder"):
        open_storage(str(tmp_path / "x.journal"), "x", tmp_path)
    os.mkfifo(tmp_path / "y.journal")
    for writable in (True, False):
        with pytest.raises(ConfigError, match="is not a regular file"):
            open_storage(str(tmp_path / "y.journal"), "y", tmp_path, writable=writable)


def test_reading_creates_and_changes_nothing(tmp_path: Path) -> None:
    study = optuna.create_study(study_name="r", storage=open_storage(None, "r", tmp_path))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    (tmp_path / "r.journal.lock").unlink()
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}
    assert len(load_existing_study("r", None, tmp_path).trials) == 3
    assert len(load_existing_study("r", f"journal:{tmp_path}/r.journal", tmp_path).trials) == 3
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} == before
    with pytest.raises(ConfigError, match="no journal file"):
        load_existing_study("r", f"journal:{tmp_path}/other.journal", tmp_path)
    assert not (tmp_path / "other.journal").exists()


def test_reading_a_missing_sqlite_database_creates_nothing(tmp_path: Path) -> None:
    """A mistyped --storage on leaderboard left an empty database with Optuna's tables."""
    from automl_fashion.cli import main

    url = f"sqlite:///{tmp_path}/studeis.db"
    assert main(["leaderboard", "--storage", url, "--study", "x"]) == 2
    assert not (tmp_path / "studeis.db").exists()
    with pytest.raises(ConfigError, match=r"--storage sqlite:///.*studeis.db: no database file"):
        open_storage(url, "x", writable=False)
    assert list(tmp_path.iterdir()) == []


def test_reading_an_existing_sqlite_study_creates_no_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    optuna.create_study(study_name="s", storage=open_storage(url, "s"))
    storage = open_storage(url, "s", writable=False)
    assert [s.study_name for s in storage.get_all_studies()] == ["s"]


def test_a_postgresql_server_that_never_answers_is_given_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A server that accepts the connection and then says nothing (a hung host, a
    half-open link) is an error after the connect timeout, not a worker stuck forever."""
    import socket
    import threading

    import automl_fashion.storage as storage

    monkeypatch.setattr(storage, "CONNECT_TIMEOUT", 2)
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(server.accept()[0]), daemon=True).start()
    outcome: list[BaseException | None] = []

    def connect() -> None:
        try:
            open_storage(f"postgresql://u@127.0.0.1:{port}/db", "x", tmp_path)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=connect, daemon=True)
    worker.start()
    worker.join(30)
    hung = worker.is_alive()
    for sock in [*held, server]:
        sock.close()  # ends a hung attempt, so that the test itself never hangs
    worker.join(10)
    assert not hung, "the connection attempt to a silent server did not give up"
    assert isinstance(outcome[0], ConfigError)
    assert "cannot open" in str(outcome[0])
