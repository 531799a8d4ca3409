"""A built-in set that is not on this machine: downloaded from its official location
(here a loopback server with small synthetic IDX files), verified, parsed and cached."""

from __future__ import annotations

import dataclasses
import gzip
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from automl_fashion.data import load_split
from automl_fashion.data.files import cache_dir, locate
from automl_fashion.data.sets import IdxDataset
from automl_fashion.errors import DataError

from .conftest import entry_for, write_idx_set


@pytest.fixture
def served(tmp_path: Path, serve: Callable[[Path], str]) -> tuple[dict[str, bytes], str]:
    written = write_idx_set(tmp_path / "official")
    return written, serve(tmp_path / "official")


@pytest.mark.parametrize("gz_digests", [True, False], ids=["gz-digest", "raw-digest"])
def test_download_verify_parse(
    isolated_cache: Path, served: tuple[dict[str, bytes], str], gz_digests: bool
) -> None:
    written, url = served
    entry = entry_for(written, url, gz_digests=gz_digests)
    X, y = IdxDataset(entry).train()
    assert X.shape == (50, 28, 28) and X.dtype == np.uint8
    assert y.dtype == np.int64 and np.bincount(y).tolist() == [5] * 10
    raw = cache_dir() / "tiny-mnist" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(f"{name}.gz" for name in written)
    X_test, y_test = IdxDataset(entry).test()
    assert X_test.shape == (20, 28, 28) and len(y_test) == 20
    pixels = gzip.decompress(written["train-images-idx3-ubyte"])[16:]
    np.testing.assert_array_equal(np.frombuffer(pixels, np.uint8), X.ravel())


def test_second_read_comes_from_the_array_cache(
    isolated_cache: Path, served: tuple[dict[str, bytes], str]
) -> None:
    written, url = served
    entry = entry_for(written, url)
    X, _ = IdxDataset(entry).train()
    for path in (cache_dir() / "tiny-mnist" / "raw").iterdir():
        path.unlink()  # only the parsed arrays are left
    X2, _ = IdxDataset(entry).train()
    np.testing.assert_array_equal(X, X2)


@pytest.mark.parametrize("damage", [b"", b"PK\x03\x04not a zip", b"\x93NUMPY"])
def test_a_damaged_array_cache_entry_is_rebuilt(
    isolated_cache: Path, served: tuple[dict[str, bytes], str], damage: bytes
) -> None:
    """An empty entry (a crash before the data reached the disk), a zip, or a truncated
    header is read from the files again, not a traceback on every later load."""
    written, url = served
    entry = entry_for(written, url)
    X, _ = IdxDataset(entry).train()
    (cached,) = [p for p in (cache_dir() / "arrays-v1").iterdir() if "train-images" in p.name]
    cached.write_bytes(damage)
    X2, _ = IdxDataset(entry).train()
    np.testing.assert_array_equal(X, X2)
    assert np.load(cached).shape == X.shape  # and the entry is whole again


def test_split_of_a_small_set_follows_its_size(
    isolated_cache: Path, served: tuple[dict[str, bytes], str]
) -> None:
    written, url = served
    dataset = IdxDataset(entry_for(written, url))
    split = load_split(dataset=dataset)
    assert len(split.y_val) == 10 and len(split.y_train) == 40  # default_val_size(50) = 10
    assert np.bincount(split.y_val).tolist() == [1] * 10
    assert split.info == dataset.info and split.info.name == "tiny-mnist"


def test_wrong_digest_is_refused_and_nothing_is_kept(
    isolated_cache: Path, served: tuple[dict[str, bytes], str]
) -> None:
    written, url = served
    entry = entry_for(written, url)
    bad = dataclasses.replace(entry.files[0], sha256="0" * 64)
    entry = dataclasses.replace(entry, files=(bad, *entry.files[1:]))
    with pytest.raises(DataError, match=r"not the official train-images-idx3-ubyte.gz: SHA-256"):
        IdxDataset(entry).train()
    assert list((cache_dir() / "tiny-mnist" / "raw").iterdir()) == []  # no .gz, no .part
    assert not (cache_dir() / "arrays-v1").exists()


def test_wrong_decompressed_size_is_refused(
    isolated_cache: Path, served: tuple[dict[str, bytes], str]
) -> None:
    written, url = served
    entry = entry_for(written, url)
    bad = dataclasses.replace(entry.files[1], size=entry.files[1].size + 1)
    entry = dataclasses.replace(entry, files=(entry.files[0], bad, *entry.files[2:]))
    with pytest.raises(DataError, match=r"decompressed size 58 bytes, expected 59"):
        IdxDataset(entry).train()


def test_unreachable_server_is_one_line_naming_the_url(
    isolated_cache: Path, served: tuple[dict[str, bytes], str]
) -> None:
    written, _ = served
    entry = entry_for(written, "http://127.0.0.1:9/")
    start = time.monotonic()
    with pytest.raises(DataError) as caught:
        IdxDataset(entry).train()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("could not download http://127.0.0.1:9/train-images-idx3-ubyte.gz")
    assert "--data-dir" in message
    assert time.monotonic() - start < 30


def test_missing_file_on_the_server_is_refused(
    isolated_cache: Path, tmp_path: Path, serve: Callable[[Path], str]
) -> None:
    written = write_idx_set(tmp_path / "official")
    (tmp_path / "official" / "t10k-labels-idx1-ubyte.gz").unlink()
    entry = entry_for(written, serve(tmp_path / "official"))
    with pytest.raises(DataError, match=r"could not download .*t10k-labels-idx1-ubyte.gz \(.*404"):
        IdxDataset(entry).test()


def test_data_dir_needs_the_official_gz_when_only_its_digest_is_known(
    isolated_cache: Path, tmp_path: Path
) -> None:
    written = write_idx_set(tmp_path / "mine")
    entry = entry_for(written, "http://127.0.0.1:9/")
    assert locate(tmp_path / "mine", dataset=entry).origin == "argument"
    X, _ = IdxDataset(entry, tmp_path / "mine").train()
    assert X.shape == (50, 28, 28)
    name = "train-images-idx3-ubyte"
    (tmp_path / "mine" / f"{name}.gz").unlink()
    (tmp_path / "mine" / name).write_bytes(gzip.decompress(written[name]))
    with pytest.raises(DataError, match=r"not gzip-compressed; only the digest of the official"):
        IdxDataset(entry, tmp_path / "mine").train()
    with pytest.raises(DataError, match=r"--data-dir=.* lacks .*official MNIST IDX files"):
        IdxDataset(entry, tmp_path / "nowhere").train()


def test_labels_outside_the_classes_are_refused(
    isolated_cache: Path, tmp_path: Path, serve: Callable[[Path], str]
) -> None:
    written = write_idx_set(tmp_path / "official", label_max=10)
    entry = entry_for(written, serve(tmp_path / "official"))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte: label 10 outside 0..9"):
        IdxDataset(entry).train()
