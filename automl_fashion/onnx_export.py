"""Turn a trained family into files anyone can load safely: ONNX and safetensors.

``model.onnx`` takes raw pixels (float32, 0..255, N x 1 x 28 x 28, N x 28 x 28 or N x 784)
and returns the 10 class probabilities; every preprocessing step is inside the graph, so
onnxruntime alone runs it. ``model.safetensors`` holds the same learned arrays (weights,
scaler statistics, PCA components, support vectors) in a format that cannot carry code.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from automl_fashion.families import Family

INPUT, OUTPUT = "pixels", "probabilities"
OPSET = 15  # onnxmltools converts XGBoost up to opset 15


def to_onnx(model: Family) -> Any:
    """The ONNX ModelProto of a fitted family (input ``pixels``, output ``probabilities``)."""
    custom = getattr(model, "to_onnx", None)  # families whose model is not a torch module
    proto = custom() if custom is not None else torch_to_onnx(model.deploy_module(), OUTPUT)
    # Any N-first layout is accepted (the graph's first step reshapes to N x 28 x 28), so the
    # input's shape is left unknown; the checker insists on one, so it ran before this.
    proto.graph.input[0].type.tensor_type.ClearField("shape")
    proto.doc_string = f"automl-fashion {model.name}: raw pixels 0..255 -> 10 probabilities"
    return proto


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
    X = np.asarray(X, dtype=np.float32)
    parts = [session.run([OUTPUT], {INPUT: X[i : i + batch]})[0] for i in range(0, len(X), batch)]
    return np.concatenate(parts) if parts else np.zeros((0, 10), np.float32)
