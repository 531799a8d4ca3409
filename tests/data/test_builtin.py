"""Every built-in data set's description is consistent: classes, shape, files, digests."""

from __future__ import annotations

import re

import pytest

from automl_fashion.data import FASHION_MNIST, DatasetInfo, DatasetSpec, names
from automl_fashion.data.builtin import BUILT_IN
from automl_fashion.data.idxset import KEYS, IdxSet
from automl_fashion.data.sets import IdxDataset, builtin, open_dataset
from automl_fashion.errors import ConfigError

ENTRIES = list(BUILT_IN.values())


def test_names_are_unique_and_fashion_mnist_comes_first() -> None:
    assert names() == ["fashion-mnist", "mnist", "kmnist"]
    assert len({e.raw_dir for e in ENTRIES}) == len(ENTRIES)
    assert len({e.title for e in ENTRIES}) == len(ENTRIES)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_description_is_consistent(entry: IdxSet) -> None:
    info = entry.info
    assert len(info.classes) == 10 and len(set(info.classes)) == 10
    assert info.shape == (1, 28, 28) and info.array_shape == (28, 28)
    assert 0.05 < info.mean[0] < 0.5 and 0.2 < info.std[0] < 0.5
    assert info.reading == "fashion-mnist" and info.test == "official"
    assert re.fullmatch(r"https?://[^ ]+/", entry.url) and info.source == entry.url
    # the description survives the round trip through a study or a model card
    assert DatasetInfo.from_dict(info.as_dict()) == info
    assert DatasetInfo.from_dict(info.as_dict()).digests == info.digests


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_files_are_well_formed(entry: IdxSet) -> None:
    assert tuple(f.key for f in entry.files) == KEYS
    for spec in entry.files:
        assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256)
        header = 4 + 4 * len(spec.shape)
        items = 1
        for side in spec.shape:
            items *= side
        assert spec.size == header + items, spec.name
        assert spec.shape[1:] == ((28, 28) if "images" in spec.key else ())
        if spec.gz_size is not None:
            assert 0 < spec.gz_size < spec.size
    assert entry.file("train-images").shape[0] == entry.file("train-labels").shape[0] == 60_000
    assert entry.file("test-images").shape[0] == entry.file("test-labels").shape[0] == 10_000
    assert len({f.sha256 for f in entry.files}) == 4


def test_digests_are_not_shared_between_sets() -> None:
    digests = [spec.sha256 for entry in ENTRIES for spec in entry.files]
    assert len(set(digests)) == len(digests)


def test_fashion_mnist_entry_is_the_shared_description() -> None:
    info = BUILT_IN["fashion-mnist"].info
    assert info == FASHION_MNIST and info.digests == FASHION_MNIST.digests
    assert info.flips is True


def test_digits_and_characters_are_not_flipped() -> None:
    assert BUILT_IN["mnist"].info.flips is False
    assert BUILT_IN["kmnist"].info.flips is False
    assert BUILT_IN["mnist"].info.classes == tuple("0123456789")
    assert BUILT_IN["kmnist"].info.classes[:4] == ("o", "ki", "su", "tsu")


def test_open_dataset_gives_the_entry_without_reading() -> None:
    opened = open_dataset(DatasetSpec(name="kmnist"))
    assert isinstance(opened, IdxDataset) and opened.info == BUILT_IN["kmnist"].info
    with pytest.raises(ConfigError, match=r"--dataset: 'emnist' is not a built-in data set"):
        builtin("emnist")
