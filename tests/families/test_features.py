"""The classical families' feature maps on images of any size and colour (_features.py)."""

from __future__ import annotations

import numpy as np
import pytest

from automl_fashion.families import _features
from automl_fashion.families._features import cell_size, featurize, grid, hog, hog_size


def test_the_searched_cell_is_kept_on_28_by_28_and_scales_with_the_shorter_side() -> None:
    assert [cell_size(c, 28, 28) for c in (4, 7)] == [4, 7]  # Fashion-MNIST: as searched
    assert [cell_size(c, 20, 24) for c in (4, 7)] == [3, 5]  # 2.86 and 5.0, rounded
    assert [cell_size(c, 56, 56) for c in (4, 7)] == [8, 14]  # the same grid of cells
    assert [cell_size(c, 4, 9) for c in (4, 7)] == [1, 1]  # at least 1 pixel
    assert cell_size(28, 8, 8) == 4  # at most half the side: 2 x 2 cells make a block
    assert grid(4, 28, 28) == (7, 7, 0, 0)
    assert grid(3, 20, 24) == (6, 8, 1, 0)  # 2 rows left over: one at the top, one below


def test_hog_of_other_sizes_has_the_grids_length() -> None:
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (5, 20, 24), dtype=np.uint8)
    F = hog(X, cell=3)
    assert F.shape == (5, hog_size(20, 24, cell=3)) == (5, 5 * 7 * 36)
    assert np.isfinite(F).all() and F.any()
    assert hog(X[:0], cell=3).shape == (0, 5 * 7 * 36)
    with pytest.raises(ValueError, match="cell must be 1 to 10 pixels for 20 x 24"):
        hog(X, cell=11)


def test_colour_hog_is_the_hog_of_the_luminance_and_pixels_keep_every_channel() -> None:
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, (4, 20, 24), dtype=np.uint8)
    colour = np.repeat(gray[..., None], 3, axis=-1)  # a gray picture stored as RGB
    np.testing.assert_allclose(hog(colour, cell=3), hog(gray, cell=3), atol=1e-5)
    tinted = colour.copy()
    tinted[..., 2] //= 2  # less blue: luminance changes a little, HOG too
    assert not np.allclose(hog(tinted, cell=3), hog(colour, cell=3))
    features = featurize(colour, "hog+pixels", hog_cell=4)
    assert features.shape == (4, hog_size(20, 24, cell=3) + 20 * 24 * 3)
    flat = colour.reshape(4, -1).astype(np.float32) / np.float32(255)  # H, W, C order
    np.testing.assert_array_equal(features[:, -20 * 24 * 3 :], flat)


def test_the_deployed_features_compute_the_same_numbers_on_colour_pictures() -> None:
    import torch

    from automl_fashion.families._deploy import Features

    X = np.random.default_rng(2).integers(0, 256, (6, 20, 24, 3), dtype=np.uint8)
    for kind in _features.FEATURE_SETS:
        module = Features(kind, 7, (3, 20, 24))
        nchw = torch.from_numpy(X.transpose(0, 3, 1, 2).astype(np.float32))
        with torch.no_grad():
            got = module(nchw).numpy()
        np.testing.assert_allclose(got, featurize(X, kind, hog_cell=7), atol=1e-5)


def test_hog_on_threads_gives_the_same_descriptors(monkeypatch: pytest.MonkeyPatch) -> None:
    X = np.random.default_rng(3).integers(0, 256, (300, 28, 28), dtype=np.uint8)
    one = hog(X, cell=4, chunk=64)
    seen: list[int] = []
    spread = _features.map_threads

    def spied(fn: object, items: list, threads: int) -> list:
        seen.append(threads)
        return spread(fn, items, threads)  # type: ignore[arg-type]

    monkeypatch.setattr(_features, "map_threads", spied)
    np.testing.assert_array_equal(hog(X, cell=4, chunk=64, threads=2), one)
    np.testing.assert_array_equal(featurize(X, "hog+pixels", threads=2)[:, : one.shape[1]], one)
    assert seen == [2, 2]
