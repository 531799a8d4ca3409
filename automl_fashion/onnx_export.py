"""Turn a trained family into files anyone can load safely: ONNX and safetensors.

``model.onnx`` takes raw pixels (float32, 0..255, N x 1 x 28 x 28, the batch dimension
symbolic) and returns the 10 class probabilities; every preprocessing step is inside the
graph, so onnxruntime alone runs it, and OpenCV's DNN module too where the graph holds only
standard ONNX operators (not XGBoost's trees: see ``OPENCV_UNSUPPORTED``). The graph passes
``onnx.checker`` with ``full_check`` and says in ``metadata_props`` what it is (``metadata``).
``model.safetensors`` holds the same learned arrays (weights, scaler statistics, PCA
components, support vectors) in a format that cannot carry code.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from automl_fashion.data import CLASSES, FILES
from automl_fashion.families import Family

INPUT, OUTPUT = "pixels", "probabilities"
OPSET = 15  # onnxmltools converts XGBoost up to opset 15
#: The declared shapes; ``N`` is symbolic (any batch size).
INPUT_SHAPE, OUTPUT_SHAPE = ("N", 1, 28, 28), ("N", len(CLASSES))
INPUT_CONVENTION = (
    "float32 pixel values 0..255, N x 1 x 28 x 28, a light object on a dark background "
    "(Fashion-MNIST style)"
)
#: Operator domains OpenCV's DNN module cannot import, and why (the model card and the
#: README say which families this rules out).
OPENCV_UNSUPPORTED = {
    "ai.onnx.ml": "OpenCV's DNN module implements no ai.onnx.ml operator, so it cannot run "
    "XGBoost's TreeEnsembleClassifier (onnxruntime can)",
}


def metadata(family: str, temperature: float | None = None) -> dict[str, str]:
    """What ``model.onnx`` says about itself in ``metadata_props``, so that the file alone
    tells what index 6 means and what pixels it expects (and, for a calibrated graph, its
    temperature)."""
    from automl_fashion import __version__

    extra = {} if temperature is None else {"temperature": repr(float(temperature))}
    return {
        **extra,
        "classes": json.dumps(list(CLASSES)),
        "input": INPUT_CONVENTION,
        "output": f"probabilities, N x {len(CLASSES)}, in the order of 'classes'",
        "family": family,
        "dataset": "Fashion-MNIST (Zalando Research)",
        "dataset_sha256": json.dumps({spec.name: spec.sha256 for spec in FILES.values()}),
        "automl_fashion_version": __version__,
    }


def finish(proto: Any, family: str, doc: str, temperature: float | None = None) -> Any:
    """Declare the input and output shapes, write the metadata, and check the whole model
    strictly (types and shapes inferred through every node): a graph that fails is never
    saved."""
    import onnx
    from onnx import helper

    for value, name, shape in (
        (proto.graph.input[0], INPUT, INPUT_SHAPE),
        (proto.graph.output[0], OUTPUT, OUTPUT_SHAPE),
    ):
        value.CopyFrom(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape))
    del proto.metadata_props[:]
    helper.set_model_props(proto, metadata(family, temperature))
    proto.doc_string = doc
    onnx.checker.check_model(proto, full_check=True)
    return proto


def calibrate(proto: Any, temperature: float, family: str) -> Any:
    """A copy of a finished graph whose probabilities are temperature-scaled:
    softmax(log(p + EPS) / T), from standard operators that OpenCV's DNN module runs too
    (Add, Log, Mul, Softmax). The argmax is unchanged."""
    import onnx
    from onnx import helper, numpy_helper

    from automl_fashion.export.calibration import EPS

    if not (temperature > 0 and np.isfinite(temperature)):
        raise ValueError(f"temperature must be a positive number; got {temperature!r}")
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    raw = "uncalibrated_probabilities"
    for node in out.graph.node:
        node.output[:] = [raw if name == OUTPUT else name for name in node.output]
        node.input[:] = [raw if name == OUTPUT else name for name in node.input]
    for value in out.graph.value_info:
        if value.name == OUTPUT:
            value.name = raw
    out.graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(EPS, np.float32), "calibration_eps"),
            numpy_helper.from_array(np.array(1.0 / temperature, np.float32), "inverse_temperature"),
        ]
    )
    out.graph.node.extend(
        [
            helper.make_node("Add", [raw, "calibration_eps"], ["calibration_floored"]),
            helper.make_node("Log", ["calibration_floored"], ["calibration_log"]),
            helper.make_node("Mul", ["calibration_log", "inverse_temperature"], ["calibration_z"]),
            helper.make_node("Softmax", ["calibration_z"], [OUTPUT], axis=1),
        ]
    )
    doc = f"{proto.doc_string}; temperature-scaled probabilities (T = {temperature:.4f})"
    return finish(out, family, doc, temperature)


def opencv_problem(proto: Any) -> str | None:
    """Why OpenCV's DNN module cannot run this graph (None if it can, as far as known)."""
    domains = {node.domain for node in proto.graph.node if node.domain}
    problems = [OPENCV_UNSUPPORTED[d] for d in sorted(domains) if d in OPENCV_UNSUPPORTED]
    return "; ".join(problems) or None


def to_onnx(model: Family) -> Any:
    """The ONNX ModelProto of a fitted family (input ``pixels``, output ``probabilities``)."""
    custom = getattr(model, "to_onnx", None)  # families whose model is not a torch module
    proto = custom() if custom is not None else torch_to_onnx(model.deploy_module(), OUTPUT)
    doc = f"automl-fashion {model.name}: raw pixels 0..255 -> 10 probabilities"
    return finish(proto, model.name, doc)


def torch_to_onnx(module: Any, output: str) -> Any:
    """Trace a torch module from ``pixels`` (N x 1 x 28 x 28) to ``output`` into ONNX."""
    import onnx
    import torch

    example = torch.zeros(2, 1, 28, 28)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The TorchScript exporter: fast, quiet and exact for these small graphs.
        torch.onnx.export(
            module,
            (example,),
            buffer,  # type: ignore[arg-type]
            dynamo=False,
            input_names=[INPUT],
            output_names=[output],
            dynamic_axes={INPUT: {0: "N"}, output: {0: "N"}},
            opset_version=OPSET,
        )
    proto = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(proto)
    return proto


def save_native(model: Family, directory: Path) -> Path:
    """The learned state in a format that holds no code (unlike pickle or joblib files):
    safetensors of the arrays, or the family's own format (XGBoost UBJSON)."""
    from safetensors.torch import save_file

    custom = getattr(model, "save_native", None)
    if custom is not None:
        try:
            path: Path = custom(directory)
        except Exception as exc:
            if type(exc).__name__ != "XGBoostError":
                raise
            # XGBoost reports a failed write (a full disk, for one) as its own error
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise OSError(f"cannot write the native model ({first[:200]})") from exc
        return path
    from safetensors import SafetensorError

    path = directory / "model.safetensors"
    state = {k: v.contiguous().cpu() for k, v in model.deploy_module().state_dict().items()}
    try:
        save_file(state, str(path), metadata={"family": model.name})
    except SafetensorError as exc:  # a full disk, for one: an OSError like any other write
        raise OSError(f"{path.name}: {exc}") from exc
    return path


def onnx_session(model: str | Path | bytes, threads: int | None = None) -> Any:
    """An onnxruntime session on the CPU, from a file or from a model's bytes."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def onnx_predict_proba(session: Any, X: np.ndarray, batch: int = 2048) -> np.ndarray:
    """Probabilities for N images of 28 x 28 pixels in any N-first layout (N x 28 x 28,
    N x 1 x 28 x 28, N x 784), given to the graph as the N x 1 x 28 x 28 it declares."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim == 0 or X[:1].size not in (0, 28 * 28):
        raise ValueError(
            f"expected N images of 28 x 28 pixels (N x 1 x 28 x 28, N x 28 x 28 or N x 784); "
            f"got shape {X.shape}"
        )
    X = X.reshape(len(X), 1, 28, 28)
    parts = [session.run([OUTPUT], {INPUT: X[i : i + batch]})[0] for i in range(0, len(X), batch)]
    return np.concatenate(parts) if parts else np.zeros((0, 10), np.float32)
