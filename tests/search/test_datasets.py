"""A search on a folder of pictures, end to end through the CLI: search -> export ->
predict -> evaluate -> leaderboard, on a tiny 3-class RGB data set made here, at a size
other than 28 x 28. And the study keeps its data set: resuming on other data is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
from PIL import Image

from automl_fashion.data import sets
from automl_fashion.data.spec import study_info, study_spec
from automl_fashion.errors import ConfigError
from automl_fashion.search.config import SearchConfig
from automl_fashion.search.loop import _open_dataset, _warm_start
from automl_fashion.search.plan import Plan, Queued

REPO = Path(__file__).resolve().parents[2]
CLASSES = ("blue-circle", "green-bar", "red-square")


def picture(kind: str, rng: np.random.Generator) -> Image.Image:
    """A 40 x 30 RGB picture of one shape on a noisy grey background."""
    pixels = rng.integers(90, 140, (30, 40, 3)).astype(np.uint8)
    r, c = int(rng.integers(4, 12)), int(rng.integers(6, 20))
    if kind == "red-square":
        pixels[r : r + 14, c : c + 14] = (220, 30, 30)
    elif kind == "green-bar":
        pixels[2:28, c : c + 5] = (30, 200, 40)
    else:
        yy, xx = np.mgrid[:30, :40]
        pixels[(yy - 15) ** 2 + (xx - c - 7) ** 2 < 49] = (30, 40, 220)
    return Image.fromarray(pixels)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shop")
    rng = np.random.default_rng(0)
    for part, n in (("train", 30), ("test", 8)):
        for kind in CLASSES:
            (root / part / kind).mkdir(parents=True)
            for i in range(n):
                suffix = "png" if i % 2 else "jpg"
                picture(kind, rng).save(root / part / kind / f"{i}.{suffix}")
    return root


def test_the_validation_size_and_the_smoke_subset_follow_the_data_set(shop: Path) -> None:
    config = SearchConfig(1)
    dataset, n = _open_dataset(config)
    assert (dataset.info.name, n, config.val_size) == ("fashion-mnist", 60_000, 10_000)
    with pytest.raises(
        ConfigError, match="--train-per-class: 5001; expected an integer from 1 to 5000"
    ):
        _open_dataset(SearchConfig(1, train_per_class=5001))
    config = SearchConfig(1, data=str(shop))
    dataset, n = _open_dataset(config)
    assert (dataset.info.classes, n, config.val_size) == (CLASSES, 90, 18)  # 20% of 90
    with pytest.raises(
        ConfigError, match="--train-per-class: 25; expected an integer from 1 to 24"
    ):
        _open_dataset(SearchConfig(1, data=str(shop), train_per_class=25))


def test_the_warm_start_never_flips_digits() -> None:
    plan = Plan(
        jobs=2,
        threads=1,
        queue=(Queued("cnn", {}, 1.0), Queued("cnn", {"shift": 1}, 1.0)),
        skipped={},
        reserve=0.0,
        reasons=(),
    )
    for name, flips in (("fashion-mnist", True), ("mnist", False)):
        study = optuna.create_study()
        _warm_start(study, plan, None, sets.builtin(name).info)
        queued = [t.system_attrs["fixed_params"] for t in study.get_trials()]
        assert len(queued) == 2
        assert all(("cnn.flip" in q) == flips for q in queued), (name, queued)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "automl_fashion", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_search_export_predict_on_a_folder_of_rgb_pictures(shop: Path, tmp_path: Path) -> None:
    studies = tmp_path / "studies"
    env = {
        **os.environ,
        "AUTOML_FASHION_STUDIES": str(studies),
        "AUTOML_FASHION_CACHE": str(tmp_path / "cache"),
        "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    args = ["--data", str(shop), "--image-size", "16", "--color", "rgb"]
    out = cli(
        env, "search", "--budget", "25s", "--families", "linear,mlp", "--study", "shop",
        "--quiet", *args,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "exported=" in out.stdout, out.stdout

    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(studies / "shop.journal"))
    )
    study = optuna.load_study(study_name="shop", storage=storage)
    info = study_info(study)
    assert info.classes == CLASSES and info.shape == (3, 16, 16) and info.reading == "resize"
    assert study_spec(study).folder == str(shop)

    model = studies / "shop.model"
    card = json.loads((model / "model_card.json").read_text())
    assert card["classes"] == list(CLASSES)
    # a new picture, at yet another size, read the way the folder was read
    picture("red-square", np.random.default_rng(1)).resize((80, 60)).save(tmp_path / "new.png")
    out = cli(env, "predict", str(model), str(tmp_path / "new.png"), "--format", "json")
    assert out.returncode == 0, out.stderr
    [row] = json.loads(out.stdout)
    assert row["class"] in CLASSES

    out = cli(env, "evaluate", str(model), "--format", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["images"] == 3 * 8  # the folder's own test pictures

    out = cli(env, "leaderboard", "--study", "shop", "--per-class", "--format", "csv")
    assert out.returncode == 0, out.stderr
    assert all(name in out.stdout for name in CLASSES)

    # resuming the study on other data is refused before anything runs
    out = cli(env, "search", "--budget", "20s", "--study", "shop", "--quiet")
    assert out.returncode == 2
    assert f"study 'shop' was searched on folder {shop}" in out.stderr
    assert "Traceback" not in out.stderr
