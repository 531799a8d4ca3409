"""Locating, verifying, downloading and caching the files."""

from __future__ import annotations

import dataclasses
import gzip
import http.server
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from automl_fashion.data import DataSource, load_test, locate
from automl_fashion.data.files import FILES, copy_into, fetch
from automl_fashion.errors import DataError


@pytest.fixture
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("AUTOML_FASHION_CACHE", str(cache))
    monkeypatch.delenv("AUTOML_FASHION_DATA", raising=False)
    return cache


@pytest.fixture(scope="module")
def real_source() -> DataSource:
    return locate()


def test_explicit_dir_wins_and_missing_files_are_named(
    tmp_path: Path, isolated_cache: Path, real_source: DataSource
) -> None:
    copy_into(real_source, tmp_path / "mine")
    assert locate(tmp_path / "mine") == DataSource(tmp_path / "mine", "argument")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"--data-dir=.*empty lacks train-images-idx3-ubyte"):
        locate(tmp_path / "empty")


def test_environment_variable(
    tmp_path: Path, isolated_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOML_FASHION_DATA", str(tmp_path))
    with pytest.raises(DataError, match=r"\$AUTOML_FASHION_DATA=.* lacks"):
        locate()


def test_corrupted_file_is_refused_with_its_name(
    tmp_path: Path, isolated_cache: Path, real_source: DataSource
) -> None:
    data = tmp_path / "data"
    copy_into(real_source, data)
    labels = gzip.decompress(real_source.path("test-labels").read_bytes())
    flipped = labels[:100] + bytes([labels[100] ^ 1]) + labels[101:]
    (data / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(flipped))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz: not the official .*SHA-256"):
        load_test(data)


def test_truncated_gzip_is_refused(
    tmp_path: Path, isolated_cache: Path, real_source: DataSource
) -> None:
    data = tmp_path / "data"
    copy_into(real_source, data)
    path = data / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:50_000])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz: corrupted or truncated gzip"):
        load_test(data)


def test_uncompressed_files_are_accepted(
    tmp_path: Path, isolated_cache: Path, real_source: DataSource
) -> None:
    data = tmp_path / "plain"
    data.mkdir()
    for key, spec in FILES.items():
        (data / spec.name).write_bytes(gzip.decompress(real_source.path(key).read_bytes()))
    X, y = load_test(data, use_cache=False)
    assert X.shape == (10_000, 28, 28) and y.shape == (10_000,)


def test_cache_makes_the_second_load_fast_and_identical(isolated_cache: Path) -> None:
    X1, y1 = load_test()
    cached = list((isolated_cache / "arrays-v1").glob("*.npy"))
    assert len(cached) == 2
    X2, y2 = load_test()
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    # a damaged cache entry is rebuilt, never served
    for path in cached:
        path.write_bytes(b"garbage")
    X3, _ = load_test()
    np.testing.assert_array_equal(X1, X3)


@pytest.fixture
def mirror(real_source: DataSource) -> Iterator[str]:
    """A loopback HTTP server holding the official .gz files."""
    directory = real_source.directory

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(directory), **kwargs)

        def log_message(self, *args):  # type: ignore[no-untyped-def]
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_download_verifies_and_lands_in_the_cache(tmp_path: Path, mirror: str) -> None:
    target = tmp_path / "raw"
    fetch(target, base_url=mirror)
    assert sorted(p.name for p in target.iterdir()) == sorted(
        f"{s.name}.gz" for s in FILES.values()
    )


def test_download_offline_says_what_to_install(tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(DataError, match=r"could not download .*dataset-fashion-mnist"):
        fetch(tmp_path / "raw", base_url="http://127.0.0.1:9/")
    assert not list((tmp_path / "raw").glob("*.gz"))
    assert time.monotonic() - start < 30


# -- files that are not what they claim ------------------------------------------------------
@pytest.mark.parametrize("gz_digest", [False, True], ids=["raw-digest", "gz-digest"])
def test_an_oversized_file_is_refused_without_being_read_whole(
    tmp_path: Path, gz_digest: bool
) -> None:
    """A 50 KB gzip of zeros that decompresses to 50 MB (a bomb) is refused after the
    official size plus one byte, not after decompressing all of it."""
    import tracemalloc

    from automl_fashion.data.files import read_verified
    from automl_fashion.data.idxset import FileSpec

    bomb = gzip.compress(b"\0" * 50_000_000)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(bomb if not gz_digest else bomb + bytes(5_000_000))
    spec = FileSpec("train-images", "train-images-idx3-ubyte", 1000, "0" * 64, (1000,))
    if gz_digest:
        spec = FileSpec(*dataclasses.astuple(spec)[:5], gz_size=len(bomb) // 100)
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"size over \d+ bytes, expected"):
            read_verified(path, spec)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000, peak


def test_a_download_past_the_official_size_is_stopped_and_nothing_kept(
    tmp_path: Path, serve: Callable[[Path], str]
) -> None:
    from .conftest import entry_for, write_idx_set

    written = write_idx_set(tmp_path / "official")
    entry = entry_for(written, serve(tmp_path / "official"))
    (tmp_path / "official" / "train-images-idx3-ubyte.gz").write_bytes(os.urandom(3_000_000))
    target = tmp_path / "raw"
    with pytest.raises(DataError, match=r"could not download .*: over \d+ bytes, more than"):
        fetch(target, dataset=entry)
    assert list(target.iterdir()) == []  # no .part left


def test_a_reply_that_is_not_http_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """http.client's errors are not OSErrors: a port that speaks SSH was a traceback."""
    import http.client
    import urllib.request

    def not_http(*args: object, **kwargs: object) -> None:
        raise http.client.BadStatusLine("SSH-2.0-OpenSSH_9.6")

    monkeypatch.setattr(urllib.request, "urlopen", not_http)
    with pytest.raises(DataError, match=r"could not download .*SSH-2.0.*Offline\?"):
        fetch(tmp_path / "raw", base_url="http://127.0.0.1:22/")
    assert list((tmp_path / "raw").iterdir()) == []


def test_a_cache_write_is_synced_before_its_rename_and_interrupted_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from automl_fashion.data.files import write_atomic

    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(
        os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1]
    )
    assert write_atomic(tmp_path / "cache" / "a.npy", lambda fh: fh.write(b"x"))
    assert events == ["fsync", "replace"]

    def interrupted(fh: object) -> None:
        fh.write(b"half")  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(tmp_path / "cache" / "b.npy", interrupted)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["a.npy"]
