"""``data verify`` on any data set: file checks, counts per class, the held-out part."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl_fashion.data import DatasetSpec
from automl_fashion.data.builtin import BUILT_IN
from automl_fashion.data.verify import verify

from .conftest import entry_for, make_folder, write_idx_set


def test_verify_a_folder(isolated_cache: Path, tmp_path: Path) -> None:
    root = make_folder(tmp_path / "shop", {"boots": 10, "hats": 15})
    (root / "train" / "hats" / "notes.txt").write_text("x")
    report = verify(dataset=DatasetSpec(folder=str(root)))
    assert report.ok and report.files == [] and report.directory == str(root)
    assert report.origin == "read" and report.ignored == 1
    assert report.classes == ("boots", "hats") and report.test == "held out 20%, seed 0"
    assert report.class_counts["test"] == [2, 3]
    train, val = report.class_counts["train"], report.class_counts["val"]
    assert [a + b for a, b in zip(train, val, strict=True)] == [8, 12]
    assert verify(dataset=DatasetSpec(folder=str(root))).origin == "cache"


def test_verify_a_built_in_set(
    isolated_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = write_idx_set(tmp_path / "files")
    entry = entry_for(written, "http://127.0.0.1:9/")
    monkeypatch.setitem(BUILT_IN, entry.name, entry)
    report = verify(tmp_path / "files", dataset=DatasetSpec(name=entry.name), seed=1)
    assert report.ok and report.origin == "argument"
    assert report.files[0].name == "train-images-idx3-ubyte.gz"
    assert report.classes == tuple("0123456789") and report.test == "official"
    assert report.class_counts == {"train": [4] * 10, "val": [1] * 10, "test": [2] * 10}
    # a damaged file is reported, not raised, and nothing is counted
    path = tmp_path / "files" / "t10k-labels-idx1-ubyte.gz"
    packed = path.read_bytes()
    path.write_bytes(packed[:-1] + bytes([packed[-1] ^ 1]))
    report = verify(tmp_path / "files", dataset=DatasetSpec(name=entry.name))
    assert not report.ok and report.class_counts == {}
    [bad] = [f for f in report.files if not f.ok]
    assert bad.name == "t10k-labels-idx1-ubyte.gz" and "SHA-256" in (bad.problem or "")
