"""Turn a trained family into files anyone can load safely: ONNX and safetensors.

``model.onnx`` takes raw pixels (float32, 0..255, N x C x H x W of the model's data set,
N x 1 x 28 x 28 for Fashion-MNIST, the batch dimension symbolic) and returns the class
probabilities; every preprocessing step is inside the graph, so onnxruntime alone runs it,
and OpenCV's DNN module too where the graph holds only standard ONNX operators (not
XGBoost's trees: see ``OPENCV_UNSUPPORTED``). The graph passes ``onnx.checker`` with
``full_check`` and says in ``metadata_props`` what it is (``metadata``), its data set
included. ``model.safetensors`` holds the same learned arrays (weights, scaler statistics,
PCA components, support vectors) in a format that cannot carry code.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from automl_fashion.data.info import FASHION_MNIST, DatasetInfo
from automl_fashion.families import Family

INPUT, OUTPUT = "pixels", "probabilities"
OPSET = 15  # onnxmltools converts XGBoost up to opset 15
#: Operator domains OpenCV's DNN module cannot import, and why (the model card and the
#: README say which families this rules out).
OPENCV_UNSUPPORTED = {
    "ai.onnx.ml": "OpenCV's DNN module implements no ai.onnx.ml operator, so it cannot run "
    "XGBoost's TreeEnsembleClassifier (onnxruntime can)",
}


def input_shape(info: DatasetInfo) -> tuple[str | int, ...]:
    """The graph's declared input: N x C x H x W (``N`` symbolic: any batch size)."""
    return ("N", *info.input_shape)


def output_shape(info: DatasetInfo) -> tuple[str | int, ...]:
    """The graph's declared output: N x number of classes."""
    return ("N", info.n_classes)


def input_convention(info: DatasetInfo) -> str:
    """What the graph's input holds, in words (the card and the metadata say it)."""
    c, h, w = info.input_shape
    if info.reading == "fashion-mnist":
        look = "a light object on a dark background (Fashion-MNIST style)"
    else:
        look = f"{'RGB' if c == 3 else 'grayscale'} pictures resized to {h} x {w}"
    return f"float32 pixel values 0..255, N x {c} x {h} x {w}, {look}"


def info_of(model: Any) -> DatasetInfo:
    """The data set a fitted family was trained on (``info_``); Fashion-MNIST for families
    that do not record one."""
    info = getattr(model, "info_", None)
    return info if isinstance(info, DatasetInfo) else FASHION_MNIST


def metadata(
    family: str, temperature: float | None = None, info: DatasetInfo = FASHION_MNIST
) -> dict[str, str]:
    """What ``model.onnx`` says about itself in ``metadata_props``, so that the file alone
    tells what index 6 means and what pixels it expects (the data set's description, as
    the model card has it), and, for a calibrated graph, its temperature."""
    from automl_fashion import __version__

    extra = {} if temperature is None else {"temperature": repr(float(temperature))}
    return {
        **extra,
        "classes": json.dumps(list(info.classes)),
        "input": input_convention(info),
        "output": f"probabilities, N x {info.n_classes}, in the order of 'classes'",
        "family": family,
        "dataset": json.dumps(info.as_dict()),
        "dataset_sha256": json.dumps(dict(info.digests)),
        "automl_fashion_version": __version__,
    }


def graph_info(proto: Any) -> DatasetInfo:
    """The data set a finished graph says it was trained on (``metadata``); Fashion-MNIST
    for graphs written before graphs carried it. Raises DataError when it is not valid."""
    props = {p.key: p.value for p in proto.metadata_props}
    if "dataset" not in props:
        return FASHION_MNIST
    try:
        raw = json.loads(props["dataset"])
    except ValueError:  # "Fashion-MNIST (Zalando Research)", as graphs said before
        return FASHION_MNIST
    return DatasetInfo.from_dict(raw, where="model.onnx metadata 'dataset'")


def finish(
    proto: Any,
    family: str,
    doc: str,
    temperature: float | None = None,
    info: DatasetInfo = FASHION_MNIST,
) -> Any:
    """Declare the input and output shapes of ``info``'s data set, write the metadata, and
    check the whole model strictly (types and shapes inferred through every node, so a
    graph whose shapes are not the data set's fails): a graph that fails is never saved."""
    import onnx
    from onnx import helper

    for value, name, shape in (
        (proto.graph.input[0], INPUT, input_shape(info)),
        (proto.graph.output[0], OUTPUT, output_shape(info)),
    ):
        value.CopyFrom(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape))
    del proto.metadata_props[:]
    helper.set_model_props(proto, metadata(family, temperature, info))
    proto.doc_string = doc
    onnx.checker.check_model(proto, full_check=True)
    return proto


def calibrate(proto: Any, temperature: float, family: str, info: DatasetInfo | None = None) -> Any:
    """A copy of a finished graph whose probabilities are temperature-scaled:
    softmax(log(p + EPS) / T), from standard operators that OpenCV's DNN module runs too
    (Add, Log, Mul, Softmax). The argmax is unchanged. ``info``: the graph's data set (by
    default what its metadata says)."""
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
    return finish(out, family, doc, temperature, graph_info(proto) if info is None else info)


def opencv_problem(proto: Any) -> str | None:
    """Why OpenCV's DNN module cannot run this graph (None if it can, as far as known)."""
    domains = {node.domain for node in proto.graph.node if node.domain}
    problems = [OPENCV_UNSUPPORTED[d] for d in sorted(domains) if d in OPENCV_UNSUPPORTED]
    return "; ".join(problems) or None


def to_onnx(model: Family) -> Any:
    """The ONNX ModelProto of a fitted family (input ``pixels`` of its data set's shape,
    output ``probabilities``, one per class)."""
    info = info_of(model)
    custom = getattr(model, "to_onnx", None)  # families whose model is not a torch module
    proto = (
        custom()
        if custom is not None
        else torch_to_onnx(model.deploy_module(), OUTPUT, info.input_shape)
    )
    doc = f"automl-fashion {model.name}: raw pixels 0..255 -> {info.n_classes} probabilities"
    return finish(proto, model.name, doc, info=info)


def torch_to_onnx(
    module: Any, output: str, shape: tuple[int, int, int] = FASHION_MNIST.input_shape
) -> Any:
    """Trace a torch module from ``pixels`` (N x C x H x W, ``shape`` = C x H x W) to
    ``output`` into ONNX."""
    import onnx
    import torch

    example = torch.zeros(2, *shape)
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
    """An onnxruntime session on the CPU, from a file or from a model's bytes.

    The graph is parsed first and refused if any tensor in it refers to external data: the
    exports never do, and onnxruntime before 1.24 read such data from any path a graph
    named (a crafted model.onnx could have read a private file into a weight). onnxruntime's
    own log is kept to errors, which arrive as exceptions, so that text from the file never
    reaches the terminal unescaped."""
    import onnx
    import onnxruntime as ort

    data = model if isinstance(model, bytes) else Path(model).read_bytes()
    if _refers_to_external_data(onnx.load_model_from_string(data)):
        raise ValueError("the graph refers to external data files; expected a self-contained model")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _refers_to_external_data(proto: Any) -> bool:
    """Whether any tensor of the model (initializers, sparse ones, attributes, subgraphs and
    functions) says its data is stored elsewhere."""
    import onnx

    def external(tensor: Any) -> bool:
        return bool(tensor.external_data) or (
            tensor.HasField("data_location") and tensor.data_location == onnx.TensorProto.EXTERNAL
        )

    def in_nodes(nodes: Any) -> bool:
        for node in nodes:
            for a in node.attribute:
                if (a.HasField("t") and external(a.t)) or any(map(external, a.tensors)):
                    return True
                if (a.HasField("g") and in_graph(a.g)) or any(map(in_graph, a.graphs)):
                    return True
        return False

    def in_graph(graph: Any) -> bool:
        sparse = [t for s in graph.sparse_initializer for t in (s.values, s.indices)]
        return any(map(external, [*graph.initializer, *sparse])) or in_nodes(graph.node)

    return in_graph(proto.graph) or any(in_nodes(f.node) for f in proto.functions)


def declared_input(session: Any) -> tuple[int, int, int] | None:
    """C x H x W of the graph's ``pixels`` input, when the graph declares it."""
    inputs = session.get_inputs()
    shape = inputs[0].shape if inputs else None
    if not isinstance(shape, list | tuple) or len(shape) != 4:
        return None
    c, h, w = shape[1:]
    if not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in (c, h, w)):
        return None
    return c, h, w


def describe_images(shape: tuple[int, int, int]) -> str:
    """The layouts ``onnx_predict_proba`` takes, in words, for error messages."""
    c, h, w = shape
    if c == 1:
        return f"N images of {h} x {w} pixels (N x 1 x {h} x {w}, N x {h} x {w} or N x {h * w})"
    return (
        f"N images of {h} x {w} pixels in {c} channels (N x {c} x {h} x {w} or N x {h} x {w} x {c})"
    )


def onnx_predict_proba(
    session: Any,
    X: np.ndarray,
    batch: int = 2048,
    shape: tuple[int, int, int] | None = None,
) -> np.ndarray:
    """Probabilities for N images of the graph's input shape C x H x W (``shape``, or the
    one the graph declares, or Fashion-MNIST's 1 x 28 x 28 for graphs that declare none),
    given to the graph as the N x C x H x W it takes. One channel: any N-first layout
    (N x H x W, N x 1 x H x W, N x H*W); colour: N x C x H x W or N x H x W x C (as the
    data sets' arrays are)."""
    shape = shape or declared_input(session) or FASHION_MNIST.input_shape
    c, h, w = shape
    X = np.asarray(X, dtype=np.float32)
    if c > 1 and X.ndim == 4 and X.shape[1:] == (h, w, c):
        X = X.transpose(0, 3, 1, 2)
    fits = X.ndim > 0 and X[:1].size in (0, c * h * w)
    if c > 1:
        fits = X.ndim == 4 and X.shape[1:] == (c, h, w)
    if not fits:
        raise ValueError(f"expected {describe_images(shape)}; got shape {X.shape}")
    X = np.ascontiguousarray(X.reshape(len(X), c, h, w))
    parts = [session.run([OUTPUT], {INPUT: X[i : i + batch]})[0] for i in range(0, len(X), batch)]
    if parts:
        return np.concatenate(parts)
    outputs = session.get_outputs()
    width = outputs[0].shape[-1] if outputs and outputs[0].shape else None
    return np.zeros((0, width if isinstance(width, int) else 0), np.float32)
