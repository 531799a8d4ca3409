"""Shared fixtures: small, class-balanced subsets of the real Fashion-MNIST files.

The subsets are built on the fly from the verified files (nothing derived is committed).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

from automl_fashion.data import Split, load_split, subsample
from automl_fashion.search_space import spaces_dir
from tests.sleepy_search import PLUGIN_DIR, REPO, TAG


@pytest.fixture(scope="session")
def full_split() -> Split:
    """The default 50,000 / 10,000 split of the real training images."""
    return load_split()


@pytest.fixture(scope="session")
def tiny_split(full_split: Split) -> Split:
    """300 training and 50 validation images per class (3,000 / 500), real data."""
    return subsample(full_split, train_per_class=300, val_per_class=50, seed=0)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    spaces = tmp_path / "spaces"
    shutil.copytree(spaces_dir(), spaces)
    shutil.copy(PLUGIN_DIR / "sleepy.yaml", spaces / "sleepy.yaml")
    return {
        **os.environ,
        "AUTOML_FASHION_PLUGINS": "sleepy=tests.plugins.sleepy:SleepyFamily",
        "AUTOML_FASHION_SPACES": str(spaces),
        "AUTOML_FASHION_STUDIES": str(tmp_path / "studies"),
        "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        TAG: uuid.uuid4().hex,  # marks every process this test starts (see `processes`)
    }
