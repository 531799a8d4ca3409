"""ONNX export: the graph declares N x 1 x 28 x 28 and says what it is in its metadata;
native weights: a failed write is an OSError whatever the library, so export can say it in
one line and leave the earlier export whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from xgboost.core import XGBoostError

from automl_fashion.onnx_export import save_native


class _FullDisk:
    name = "boosting"

    def save_native(self, directory: Path) -> Path:
        raise XGBoostError("[12:00:00] dmlc-core: write failed: No space left on device\nStack")


class _Bug:
    name = "boosting"

    def save_native(self, directory: Path) -> Path:
        raise KeyError("a bug, not a write error")


def test_an_xgboost_write_error_becomes_an_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError, match=r"cannot write the native model .*No space left on device"):
        save_native(_FullDisk(), tmp_path)  # type: ignore[arg-type]


def test_other_errors_of_a_family_saver_are_not_hidden(tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        save_native(_Bug(), tmp_path)  # type: ignore[arg-type]


class _Tiny:
    """A family whose deploy module is a fixed linear model on the pixels (nothing trained)."""

    name = "linear"

    def deploy_module(self):  # type: ignore[no-untyped-def]
        from torch import nn

        from automl_fashion.families._deploy import Affine, Features, Softmax

        rng = np.random.default_rng(0)
        return nn.Sequential(
            Features("pixels"), Affine(rng.normal(0, 0.1, (10, 784)), np.zeros(10)), Softmax()
        ).eval()


def test_the_graph_declares_n_1_28_28_and_takes_any_n_first_layout_through_the_helper() -> None:
    import onnx

    from automl_fashion.onnx_export import onnx_predict_proba, onnx_session, to_onnx

    proto = to_onnx(_Tiny())  # type: ignore[arg-type]
    onnx.checker.check_model(proto, full_check=True)
    session = onnx_session(proto.SerializeToString())
    assert session.get_inputs()[0].shape == ["N", 1, 28, 28]
    assert session.get_outputs()[0].shape == ["N", 10]
    x = np.random.default_rng(1).integers(0, 256, (5, 28, 28)).astype(np.float32)
    expected = onnx_predict_proba(session, x[:, None])
    for layout in (x, x.reshape(5, 784)):
        np.testing.assert_array_equal(onnx_predict_proba(session, layout), expected)
    with pytest.raises(ValueError, match=r"28 x 28 pixels .*got shape \(5, 27, 27\)"):
        onnx_predict_proba(session, x[:, :27, :27])


def test_onnxruntime_reads_the_metadata() -> None:
    import json

    from automl_fashion.data import CLASSES
    from automl_fashion.onnx_export import onnx_session, to_onnx

    session = onnx_session(to_onnx(_Tiny()).SerializeToString())  # type: ignore[arg-type]
    props = session.get_modelmeta().custom_metadata_map
    assert json.loads(props["classes"]) == list(CLASSES)
    assert props["family"] == "linear" and "0..255" in props["input"]


def test_opencv_problem_names_the_ml_domain() -> None:
    from onnx import TensorProto, helper

    from automl_fashion.onnx_export import opencv_problem, to_onnx

    assert opencv_problem(to_onnx(_Tiny())) is None  # type: ignore[arg-type]
    tree = helper.make_node("TreeEnsembleClassifier", ["x"], ["y", "z"], domain="ai.onnx.ml")
    value = helper.make_tensor_value_info("x", TensorProto.FLOAT, None)
    graph = helper.make_graph([tree], "g", [value], [value])
    assert "TreeEnsembleClassifier" in (opencv_problem(helper.make_model(graph)) or "")
