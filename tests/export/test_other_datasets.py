"""Export, load, predict, evaluate, leaderboard and report speak the model's own data set.

Two data sets other than Fashion-MNIST, both made here: a synthetic 3-class RGB set of
20 x 24 images held in memory (a non-square shape, so that height and width cannot be
swapped unnoticed), and a folder of RGB pictures of several sizes on disk, read by the
folder loader at 16 x 16, searched (one trial), exported from its study, evaluated and
reported.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import optuna
import pytest
from PIL import Image

from automl_fashion import families
from automl_fashion import leaderboard as lb
from automl_fashion.data import Split
from automl_fashion.data.info import DatasetInfo
from automl_fashion.data.spec import INFO_ATTR, SPEC_ATTR, DatasetSpec
from automl_fashion.errors import DataError
from automl_fashion.export import ExportData, export_model, export_trial
from automl_fashion.model import ModelError, load_model, read_input
from automl_fashion.onnx_export import metadata
from automl_fashion.search_space import load_space

CLASSES = ("circle", "square", "stripes")
INFO = DatasetInfo(
    name="folder:shapes",
    classes=CLASSES,
    shape=(3, 20, 24),
    mean=(0.3, 0.3, 0.3),
    std=(0.3, 0.3, 0.3),
    source="made by the test",
    reading="resize",
    test="held out 20%, seed 0",
)
#: How the user would have named it (recorded in the card; not opened by these tests).
SPEC = DatasetSpec(folder="/nowhere/shapes", color="rgb")


def picture(label: int, rng: np.random.Generator, h: int = 20, w: int = 24) -> np.ndarray:
    """A dim noisy picture whose class is its bright channel (red, green, blue) in a patch."""
    img = rng.integers(0, 60, (h, w, 3))
    top, left = rng.integers(0, h // 3), rng.integers(0, w // 3)
    img[top : top + h // 2, left : left + w // 2, label] += 180
    return img.clip(0, 255).astype(np.uint8)


def images(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), per_class)
    return np.stack([picture(int(c), rng) for c in y]), y


@dataclass
class InMemory:
    """A data set as the data layer opens one: ``info``, ``train()``, ``test()``."""

    info: DatasetInfo

    def train(self) -> tuple[np.ndarray, np.ndarray]:
        return images(40, seed=1)

    def test(self) -> tuple[np.ndarray, np.ndarray]:
        return images(20, seed=2)


def linear_params() -> dict:
    params = {**load_space("linear").init, "features": "pixels", "epochs": 3}
    params.pop("hog_cell", None)
    return params


@pytest.fixture(scope="module")
def shapes_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    X, y = images(40, seed=1)
    X_val, y_val = images(10, seed=3)
    split = Split(X, y, X_val, y_val, INFO)
    model = families.create("linear", linear_params(), threads=1, device="cpu").fit(split)
    out = tmp_path_factory.mktemp("shapes") / "model"
    result = export_model(
        model,
        out,
        study="shapes",
        trial=0,
        val_accuracy=0.9,
        data=ExportData(SPEC, InMemory(INFO)),
        val=(X_val, y_val),
    )
    return out, result


def test_the_graph_takes_n_3_20_24_and_gives_3_probabilities(shapes_model: tuple) -> None:
    out, result = shapes_model
    proto = onnx.load(str(out / "model.onnx"))
    onnx.checker.check_model(proto, full_check=True)
    dims = [[d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in (
        proto.graph.input[0], proto.graph.output[0])]  # fmt: skip
    assert dims == [["N", 3, 20, 24], ["N", 3]]
    props = {p.key: p.value for p in proto.metadata_props}
    assert props == metadata("linear", float(props["temperature"]), INFO)
    assert json.loads(props["classes"]) == list(CLASSES)
    assert DatasetInfo.from_dict(json.loads(props["dataset"])) == INFO
    assert "N x 3 x 20 x 24" in props["input"] and "RGB pictures" in props["input"]
    assert result.parity >= 0.99 and result.test_accuracy > 0.9  # a channel per class


def test_the_card_records_the_data_set_its_classes_and_a_3_by_3_confusion(
    shapes_model: tuple,
) -> None:
    out, _ = shapes_model
    card = json.loads((out / "model_card.json").read_text())
    assert card["classes"] == list(CLASSES) and list(card["per_class_accuracy"]) == list(CLASSES)
    assert card["dataset"] == INFO.as_dict() and card["dataset_spec"] == SPEC.as_dict()
    assert np.array(card["confusion_matrix"]).shape == (3, 3)
    assert sum(map(sum, card["confusion_matrix"])) == card["test_images"] == 60
    assert card["output"].startswith("probabilities, N x 3")
    text = (out / "MODEL_CARD.md").read_text()
    assert "| stripes |" in text and "N x 3 x 20 x 24" in text and "60 test images" in text
    assert "held out 20%, seed 0" in text and "Fashion" not in text


def test_load_model_takes_arrays_of_the_data_sets_shape_only(shapes_model: tuple) -> None:
    out, _ = shapes_model
    model = load_model(out, threads=1)
    assert model.info == INFO and model.classes == list(CLASSES)
    X, y = InMemory(INFO).test()
    hwc = model.predict_proba(X)
    assert hwc.shape == (60, 3) and np.allclose(hwc.sum(1), 1, atol=1e-4)
    np.testing.assert_allclose(model.predict_proba(X.transpose(0, 3, 1, 2)), hwc, atol=1e-6)
    np.testing.assert_allclose(model.predict_proba(X[0]), hwc[:1], atol=1e-6)
    assert np.mean(hwc.argmax(1) == y) > 0.9
    for wrong in (np.zeros((2, 28, 28)), np.zeros((2, 24, 20, 3)), np.zeros((2, 20, 24))):
        with pytest.raises(
            DataError, match=r"expected images of 20 x 24 pixels in 3 channels"
        ) as e:
            model.predict(wrong)
        assert len(str(e.value).splitlines()) == 1 and str(wrong.shape) in str(e.value)


def test_pictures_of_other_sizes_are_read_the_way_the_data_set_was(
    shapes_model: tuple, tmp_path: Path
) -> None:
    from automl_fashion.data.folder import read_picture

    out, _ = shapes_model
    model = load_model(out, threads=1)
    X, y = InMemory(INFO).test()
    paths = []
    for i in range(0, 60, 5):  # 12 pictures, 2x and 3x as large, one grayscale, one JPEG
        big = Image.fromarray(X[i]).resize((48, 40) if i % 2 else (72, 60))
        path = tmp_path / f"{i}.{'jpg' if i == 5 else 'png'}"
        (big.convert("L") if i == 10 else big).save(path)
        paths.append(path)
    read = np.stack([read_input(p, INFO) for p in paths])
    assert read.shape == (12, 20, 24, 3) and read.dtype == np.float32
    for p, r in zip(paths, read, strict=True):
        assert np.array_equal(r, read_picture(p, size=(20, 24), color="rgb"))
    rows = list(model.predict_files(paths))
    assert [r.error for r in rows] == [None] * 12
    by_file = np.stack([r.proba for r in rows])
    np.testing.assert_allclose(by_file, model.predict_proba(read), atol=1e-6)
    colour = [i for i in range(12) if i != 2]  # the grayscale one has no colour to go by
    assert np.mean(by_file.argmax(1)[colour] == y[::5][colour]) >= 0.8


def _tamper(folder: Path, dest: Path, change: object) -> Path:
    shutil.copytree(folder, dest)
    card = json.loads((dest / "model_card.json").read_text())
    change(card)  # type: ignore[operator]
    (dest / "model_card.json").write_text(json.dumps(card))
    return dest


def _set(key: str, value: object):  # type: ignore[no-untyped-def]
    return lambda card: card["dataset"].__setitem__(key, value)


def _four_classes(card: dict) -> None:
    card["dataset"]["classes"] = card["classes"] = [*CLASSES, "x"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("shape", [3, 24, 20]), r"input 'pixels' has shape \['N', 3, 20, 24\]; expected"),
        (_set("shape", [3, 20]), r"field 'dataset': 'shape' is \[3, 20\]; expected"),
        (_set("classes", ["square", "circle", "stripes"]), "classes of its 'dataset'"),
        (_set("mean", [2, 0, 0]), r"field 'dataset': 'mean' is \[2, 0, 0\]"),
        (_set("reading", "fashion-mnist"), "reads pictures the Fashion-MNIST way"),
        (_set("reading", "exec"), "'reading' is 'exec'"),
        (lambda card: card.__setitem__("dataset", "x"), "field 'dataset': expected a JSON"),
        (_four_classes, r"has shape \['N', 3\]; expected \[N, 4\]"),
    ],
)
def test_a_tampered_card_dataset_is_a_one_line_error(
    shapes_model: tuple, tmp_path: Path, change: object, message: str
) -> None:
    folder = _tamper(shapes_model[0], tmp_path / "m", change)
    with pytest.raises(ModelError, match=message) as e:
        load_model(folder)
    assert len(str(e.value).splitlines()) == 1


def test_predict_on_a_tampered_card_says_it_in_one_line(
    shapes_model: tuple, tmp_path: Path
) -> None:
    folder = _tamper(shapes_model[0], tmp_path / "m", _set("shape", [3, 20, 4000]))
    Image.new("RGB", (30, 30)).save(tmp_path / "x.png")
    run = subprocess.run(
        [sys.executable, "-m", "automl_fashion", "predict", str(folder), str(tmp_path / "x.png")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "'shape'" in run.stderr


# -- a folder of pictures, searched, exported from its study, evaluated, reported --------
FOLDER_CLASSES = ("blue", "green", "red")  # the folder names, sorted
SIZES = [(30, 20), (17, 33), (40, 40), (25, 25)]


@pytest.fixture(scope="module")
def folder_study(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    """A study searched on a folder of 3 x 20 RGB pictures of several sizes (16 x 16 RGB
    inputs, 20% held out as its test part), one linear trial saved as an artifact."""
    from automl_fashion.storage import artifacts_dir, open_storage
    from automl_fashion.trial import TrialSettings, run_trial

    root = tmp_path_factory.mktemp("folder")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTOML_FASHION_CACHE", str(root / "cache"))  # not the user's cache
        rng = np.random.default_rng(0)
        for label, name in zip((2, 1, 0), ("red", "green", "blue"), strict=True):
            (root / "shop" / "train" / name).mkdir(parents=True)
            for i in range(20):
                h, w = SIZES[i % len(SIZES)]
                pixels = picture(label, rng, h, w)
                Image.fromarray(pixels).save(root / "shop" / "train" / name / f"{i}.png")
        spec = DatasetSpec(folder=str(root / "shop"), image_size=16, color="rgb")
        info = spec.open().info
        storage = open_storage(None, "shop", root)
        study = optuna.create_study(study_name="shop", storage=storage, direction="maximize")
        attrs = {"seed": 0, "val_size": 12, SPEC_ATTR: spec.as_dict(), INFO_ATTR: info.as_dict()}
        for key, value in attrs.items():
            study.set_user_attr(key, value)
        study.enqueue_trial(
            {"family": "linear", **load_space("linear").trial_params(linear_params())}
        )
        settings = TrialSettings(
            ["linear"], threads=1, seed=0, device="cpu", artifacts=str(artifacts_dir("shop", root))
        )
        from automl_fashion.export import search_split

        data = search_split(study).split
        run_trial(study, study.ask(), data, settings, lambda: None)
        assert study.best_trial.value is not None
        yield study, root, spec, info


def test_the_folder_data_set_is_what_the_test_expects(folder_study: tuple) -> None:
    _, _, _, info = folder_study
    assert info.classes == FOLDER_CLASSES and info.shape == (3, 16, 16)
    assert info.reading == "resize" and info.test.startswith("held out 20%")


def test_a_folder_model_exports_from_its_study_predicts_files_and_evaluates(
    folder_study: tuple, tmp_path: Path
) -> None:
    from automl_fashion.data.folder import read_picture
    from automl_fashion.evaluate import evaluate

    study, root, spec, info = folder_study
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTOML_FASHION_CACHE", str(root / "cache"))
        for refit in (False, True):
            out = tmp_path / f"model-{refit}"
            result = export_trial(study, out, studies_dir=str(root), refit=refit, threads=1)
            card = json.loads((out / "model_card.json").read_text())
            assert card["classes"] == list(FOLDER_CLASSES) and card["dataset"] == info.as_dict()
            assert card["dataset_spec"] == spec.as_dict() and card["test_images"] == 12
            assert card["trained_on"].startswith("all 48 " if refit else "36 training images")
            assert result.test_accuracy > 0.8
            evaluated = evaluate(out)
            assert evaluated["images"] == 12 and evaluated["dataset"] == info.name
            assert evaluated["test_accuracy"] == pytest.approx(card["test_accuracy"])
    model = load_model(out, threads=1)
    paths = sorted((root / "shop" / "train").glob("*/*.png"))
    rows = list(model.predict_files(paths))
    truth = [FOLDER_CLASSES.index(p.parent.name) for p in paths]
    assert np.mean([r.proba.argmax() == t for r, t in zip(rows, truth, strict=True)]) > 0.9
    assert np.array_equal(read_input(paths[0], info), read_picture(paths[0], (16, 16), "rgb"))


def test_a_study_whose_data_changed_is_not_exported(folder_study: tuple, tmp_path: Path) -> None:
    from automl_fashion.errors import ConfigError

    study, root, _, info = folder_study
    other = optuna.create_study(study_name="moved")
    for key, value in study.user_attrs.items():
        other.set_user_attr(key, value)
    other.set_user_attr(INFO_ATTR, {**info.as_dict(), "classes": ["a", "b", "c"]})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTOML_FASHION_CACHE", str(root / "cache"))
        with pytest.raises(
            ConfigError,
            match=r"study 'moved' searched folder:shop \(3 classes.*with other class names",
        ):
            export_trial(other, tmp_path / "model", studies_dir=str(root))


def test_leaderboard_and_report_speak_the_folders_class_names(
    folder_study: tuple, tmp_path: Path
) -> None:
    from automl_fashion.report import write_report
    from automl_fashion.storage import artifacts_dir
    from tests.report.test_page import Parsed

    study, root, _, _ = folder_study
    table = lb.per_class(lb.trials_frame(study))
    assert table["class"].tolist() == [*FOLDER_CLASSES, "all"]
    assert table.iloc[:3, 1].notna().all()  # the trial recorded one accuracy per class
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTOML_FASHION_CACHE", str(root / "cache"))
        page = write_report(study, tmp_path / "rep", artifacts=artifacts_dir("shop", root))
    html = page.read_text()
    parsed = Parsed(html)
    assert {"blue", "green", "red"} <= set(parsed.cells)  # the per-class table
    assert "<b>Data set</b>: folder:shop, 3 classes (blue, green, red), 3 x 16 x 16" in html
    assert "held out 20%, seed 0" in html and "Trouser" not in html
    assert all((tmp_path / "rep" / src).is_file() for src in parsed.images)
    for thumb in parsed.thumbs:
        assert thumb["data-true"] in ("0", "1", "2")
