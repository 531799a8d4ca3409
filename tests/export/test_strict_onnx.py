"""model.onnx is strictly valid and runs in OpenCV's DNN module as in onnxruntime, for every
family and for an ensemble (small models of real data, trained for one epoch or a few
rounds)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from automl_fashion import families
from automl_fashion.artifacts import ONNX_FILE, sha256_file
from automl_fashion.data import CLASSES, FASHION_MNIST, Split
from automl_fashion.ensemble import Member, ensemble_onnx
from automl_fashion.export.calibration import apply_temperature
from automl_fashion.onnx_export import (
    INPUT,
    calibrate,
    metadata,
    onnx_predict_proba,
    onnx_session,
    opencv_problem,
    to_onnx,
)
from automl_fashion.search_space import load_space

cv2 = pytest.importorskip("cv2", reason="opencv-python-headless (the dev extra) is not installed")

FAMILIES = families.names()
#: Smaller than any search would train: the graphs are what is tested, not accuracy.
TINY = {
    "epochs": 1,
    "n_rounds": 10,
    "early_stopping_rounds": 5,
    "pca_components": 16,
    "train_size": 1000,
    "stages": 2,
    "blocks": 1,
    "depth": 1,
}


def tiny_params(name: str) -> dict:
    """The family's init, shrunk (categorical widths to their smallest choice)."""
    space = load_space(name)
    params = dict(space.init)
    for p in space.params:
        if p.name in TINY and p.name in params:
            params[p.name] = TINY[p.name]
        if p.name == "width" and p.name in params:
            params["width"] = min(p.choices) if p.choices else int(p.low or 64)
    return params


@pytest.fixture(scope="module", params=FAMILIES)
def graph(request: pytest.FixtureRequest, tiny_split: Split) -> tuple[str, onnx.ModelProto]:
    name = request.param
    # built directly: one epoch is below what the search spaces allow
    model = families.get(name)(tiny_params(name), seed=0, threads=1, device="cpu")
    model.fit(tiny_split)
    return name, to_onnx(model)


@pytest.fixture(scope="module")
def images(tiny_split: Split) -> np.ndarray:
    return tiny_split.X_val[:200].astype(np.float32).reshape(-1, 1, 28, 28)


def opencv_proba(proto: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    net = cv2.dnn.readNetFromONNX(np.frombuffer(proto.SerializeToString(), np.uint8))
    net.setInput(x, INPUT)
    return np.asarray(net.forward())


def agree(proto: onnx.ModelProto, x: np.ndarray) -> None:
    """OpenCV and onnxruntime return the same probabilities, so the same classes."""
    ort = onnx_predict_proba(onnx_session(proto.SerializeToString()), x)
    cv = opencv_proba(proto, x)
    assert cv.shape == ort.shape == (len(x), len(CLASSES))
    np.testing.assert_allclose(cv, ort, atol=1e-4)
    assert np.array_equal(cv.argmax(1), ort.argmax(1))


def test_full_check_passes_and_the_input_is_n_1_28_28(graph: tuple) -> None:
    _, proto = graph
    onnx.checker.check_model(proto, full_check=True)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["N", 1, 28, 28]


def test_metadata_names_the_classes_the_input_the_data_and_the_version(graph: tuple) -> None:
    name, proto = graph
    props = {p.key: p.value for p in proto.metadata_props}
    assert props == metadata(name)
    assert json.loads(props["classes"]) == list(CLASSES)
    assert "0..255" in props["input"] and "light object on a dark background" in props["input"]
    assert json.loads(props["dataset"]) == FASHION_MNIST.as_dict()
    digests = json.loads(props["dataset_sha256"])
    assert len(digests) == 4 and all(len(d) == 64 for d in digests.values())
    from automl_fashion import __version__

    assert props["automl_fashion_version"] == __version__


def test_opencv_and_onnxruntime_agree(graph: tuple, images: np.ndarray) -> None:
    name, proto = graph
    problem = opencv_problem(proto)
    if problem is not None:
        assert name == "boosting", f"{name}: {problem}"  # the one family known not to
        pytest.skip(f"{name}: {problem}")
    agree(proto, images)


def test_a_temperature_scaled_graph_stays_strict_and_runs_in_opencv(
    graph: tuple, images: np.ndarray
) -> None:
    name, proto = graph
    scaled = calibrate(proto, 2.5, name)
    onnx.checker.check_model(scaled, full_check=True)
    assert {p.key: p.value for p in scaled.metadata_props} == metadata(name, 2.5)
    before = onnx_predict_proba(onnx_session(proto.SerializeToString()), images)
    after = onnx_predict_proba(onnx_session(scaled.SerializeToString()), images)
    np.testing.assert_allclose(after, apply_temperature(before, 2.5), atol=1e-5)
    assert np.array_equal(after.argmax(1), before.argmax(1))
    assert after.max(1).mean() < before.max(1).mean()  # T > 1: less sure
    if opencv_problem(scaled) is None:
        agree(scaled, images)


def _ensemble(graphs: list[tuple[str, onnx.ModelProto]], folder: Path) -> onnx.ModelProto:
    members = []
    for i, (name, proto) in enumerate(graphs):
        member_dir = folder / f"trial-{i}"
        member_dir.mkdir()
        onnx.save(proto, str(member_dir / ONNX_FILE))
        meta = {
            "folder": str(member_dir),
            "sha256": {ONNX_FILE: sha256_file(member_dir / ONNX_FILE)},
        }
        members.append(Member(i, name, 1 / len(graphs), 0.5, meta))
    return ensemble_onnx(tuple(members))


@pytest.fixture(scope="module")
def members(tiny_split: Split) -> dict[str, families.Family]:
    """Two families with different graphs (a network, a linear model on HOG + pixels) and
    the one OpenCV cannot run."""
    return {
        name: families.get(name)(tiny_params(name), seed=0, threads=1, device="cpu").fit(tiny_split)
        for name in ("linear", "mlp", "boosting")
    }


@pytest.fixture(scope="module")
def member_graphs(members: dict) -> dict[str, onnx.ModelProto]:
    return {name: to_onnx(model) for name, model in members.items()}


def test_an_ensemble_passes_full_check_carries_metadata_and_runs_in_opencv(
    member_graphs: dict, images: np.ndarray, tmp_path: Path
) -> None:
    graphs = [(n, member_graphs[n]) for n in ("linear", "mlp")]
    proto = _ensemble(graphs, tmp_path)
    onnx.checker.check_model(proto, full_check=True)
    assert {p.key: p.value for p in proto.metadata_props} == metadata("ensemble")
    assert opencv_problem(proto) is None
    agree(proto, images)
    scaled = calibrate(proto, 0.8, "ensemble")  # the temperature goes after the average
    onnx.checker.check_model(scaled, full_check=True)
    agree(scaled, images)


def test_an_ensemble_with_trees_passes_full_check_and_says_why_opencv_cannot(
    member_graphs: dict, images: np.ndarray, tmp_path: Path
) -> None:
    proto = _ensemble(list(member_graphs.items()), tmp_path)
    onnx.checker.check_model(proto, full_check=True)
    assert "ai.onnx.ml" in (opencv_problem(proto) or "")
    with pytest.raises(cv2.error, match="TreeEnsembleClassifier"):
        opencv_proba(proto, images)


@pytest.mark.parametrize("name", ["linear", "boosting"])
def test_the_exported_folder_holds_the_strict_graph_and_the_card_says_if_opencv_runs_it(
    members: dict, name: str, tiny_split: Split, tmp_path: Path
) -> None:
    from automl_fashion.export import export_model

    val = (tiny_split.X_val, tiny_split.y_val)
    export_model(members[name], tmp_path / "model", study="t", trial=0, val_accuracy=0.5, val=val)
    proto = onnx.load(str(tmp_path / "model" / ONNX_FILE))
    onnx.checker.check_model(proto, full_check=True)
    card = json.loads((tmp_path / "model" / "model_card.json").read_text())
    temperature = float({p.key: p.value for p in proto.metadata_props}["temperature"])
    assert temperature == pytest.approx(card["calibration"]["temperature"], abs=1e-5)
    assert {p.key: p.value for p in proto.metadata_props} == metadata(name, temperature)
    if name == "boosting":
        assert card["opencv"].startswith("does not run") and "ai.onnx.ml" in card["opencv"]
    else:
        assert card["opencv"].startswith("runs in OpenCV")
    assert card["opencv"] in (tmp_path / "model" / "MODEL_CARD.md").read_text()
