"""IDX parsing: the real files, and every way a file can be wrong."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from automl_fashion.data import FILES, IdxError, locate, parse_idx
from automl_fashion.data.files import read_bytes


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture(scope="module")
def real_labels() -> bytes:
    return read_bytes(locate().path("test-labels"))


def test_parses_real_files() -> None:
    source = locate()
    images = parse_idx(
        read_bytes(source.path("test-images")), name="t10k-images", ndim=3, item_shape=(28, 28)
    )
    labels = parse_idx(read_bytes(source.path("test-labels")), name="t10k-labels", ndim=1)
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10_000,)
    assert np.bincount(labels).tolist() == [1000] * 10
    assert 0 < images.mean() < 255


def test_round_trip_synthetic() -> None:
    arr = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    out = parse_idx(idx_bytes(arr), name="x", ndim=3, item_shape=(28, 28))
    np.testing.assert_array_equal(out, arr)


def test_truncated_file_is_an_error(real_labels: bytes) -> None:
    with pytest.raises(IdxError, match=r"t10k-labels: truncated: header promises 10000 values"):
        parse_idx(real_labels[:-100], name="t10k-labels", ndim=1)


def test_trailing_bytes_are_an_error(real_labels: bytes) -> None:
    with pytest.raises(IdxError, match="trailing bytes"):
        parse_idx(real_labels + b"\x00", name="t10k-labels", ndim=1)


def test_wrong_magic_is_an_error(real_labels: bytes) -> None:
    with pytest.raises(IdxError, match=r"wrong magic number 0x1f8b"):
        parse_idx(gzip.compress(real_labels), name="t10k-labels", ndim=1)


def test_wrong_type_code_is_an_error(real_labels: bytes) -> None:
    bad = real_labels[:2] + b"\x0d" + real_labels[3:]
    with pytest.raises(IdxError, match="type code 0x0d, expected 0x08"):
        parse_idx(bad, name="t10k-labels", ndim=1)


def test_wrong_dimensions_are_an_error(real_labels: bytes) -> None:
    with pytest.raises(IdxError, match="1 dimensions in the header, expected 3"):
        parse_idx(real_labels, name="t10k-labels", ndim=3)
    arr = np.zeros((3, 27, 28), np.uint8)
    with pytest.raises(IdxError, match=r"items of shape \(27, 28\), expected \(28, 28\)"):
        parse_idx(idx_bytes(arr), name="imgs", ndim=3, item_shape=(28, 28))


def test_too_short_and_truncated_header() -> None:
    with pytest.raises(IdxError, match="too short"):
        parse_idx(b"\x00\x00", name="x", ndim=1)
    with pytest.raises(IdxError, match="truncated header"):
        parse_idx(b"\x00\x00\x08\x03\x00\x00", name="x", ndim=3)


def test_file_specs_match_the_real_files() -> None:
    import hashlib

    source = locate()
    for key, spec in FILES.items():
        raw = read_bytes(source.path(key))
        assert len(raw) == spec.size
        assert hashlib.sha256(raw).hexdigest() == spec.sha256
