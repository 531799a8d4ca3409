"""The model card: what an exported folder holds, how it was chosen and how well it does.

``model_card.json`` is also the folder's mark: ``format`` and ``written`` (the files this
export wrote) tell a later export what it may replace (see ``outdir``). It records the
data set (``dataset``: its description, which ``predict`` reads pictures by;
``dataset_spec``: how the user named it, which ``evaluate`` opens again).
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from automl_fashion import __version__
from automl_fashion.data.info import DatasetInfo
from automl_fashion.data.spec import DatasetSpec
from automl_fashion.export.calibration import (
    ECE_BINS,
    RELIABILITY,
    Calibration,
    expected_calibration_error,
    reliability_png,
    uncalibrated,
)
from automl_fashion.export.outdir import CARD, FORMAT
from automl_fashion.leaderboard import wilson_interval
from automl_fashion.onnx_export import input_convention, opencv_problem

MARKDOWN, CONFUSION = "MODEL_CARD.md", "confusion.png"
#: Up to this many classes the confusion figure writes the counts in its cells and names
#: every class on its axes.
ANNOTATED_CLASSES, LABELLED_CLASSES = 20, 60


def source_of_test_images(info: DatasetInfo) -> str:
    """Where a data set's test images come from, in words."""
    return {
        "official": "its official test files",
        "folder": "the folder's test/ pictures",
    }.get(info.test, f"the training pictures ({info.test})")


def describe_dataset(info: DatasetInfo) -> str:
    """One line on a data set: name, shape, classes, source, where its test images are."""
    c, h, w = info.shape
    return (
        f"{info.name}: {info.n_classes} classes, {c} x {h} x {w} "
        f"({'colour' if c == 3 else 'grayscale'}), from {info.source}; test images from "
        f"{source_of_test_images(info)}"
    )


def write_card(
    directory: Path,
    proba: np.ndarray,
    y_test: np.ndarray,
    onnx_seconds: float,
    parity: float,
    parity_on: str,
    calibration: Calibration | None = None,
    *,
    info: DatasetInfo,
    spec: DatasetSpec,
    **facts: Any,
) -> dict[str, Any]:
    """Score the ONNX probabilities on the test set of the data set ``info`` (named by the
    user as ``spec``); write the card, the confusion PNG and the reliability diagram into
    ``directory`` (after the model's files, so ``written`` lists them all).
    ``calibration``: the temperature the graph applies, if any."""
    n = info.n_classes
    if proba.ndim != 2 or proba.shape[1] != n:
        raise ValueError(f"expected probabilities N x {n}, one per class; got {proba.shape}")
    pred = proba.argmax(1)
    acc = float(np.mean(pred == y_test))
    interval = wilson_interval(acc, len(y_test))
    confusion = np.zeros((n, n), dtype=int)
    np.add.at(confusion, (np.asarray(y_test, dtype=np.int64), pred), 1)
    written = sorted(
        {p.name for p in directory.iterdir()} | {CARD, MARKDOWN, CONFUSION, RELIABILITY}
    )
    before = proba if calibration is None else uncalibrated(proba, calibration.temperature)
    card = {
        "format": FORMAT,
        "family": facts["family"],
        "params": facts["params"],
        "trial": facts["trial"],
        "study": facts["study"],
        "selected_by": facts["selected_by"],
        "trained_on": facts["trained_on"],
        "notes": list(facts.get("notes", ())),
        "validation_accuracy": facts["val_accuracy"],
        "test_accuracy": acc,
        "test_accuracy_95ci": list(interval),
        "test_images": len(y_test),
        "per_class_accuracy": {
            name: float(confusion[c, c] / max(1, confusion[c].sum()))
            for c, name in enumerate(info.classes)
        },
        "confusion_matrix": confusion.tolist(),
        "onnx_native_agreement": parity,
        "onnx_native_agreement_measured_on": parity_on,
        "fit_seconds": round(facts["fit_seconds"], 1),
        "export_seconds": round(facts["export_seconds"], 2),
        "onnx_images_per_second": round(len(y_test) / max(onnx_seconds, 1e-9), 1),
        "calibration": _calibration(calibration, before, proba, y_test),
        "limits": facts.get("limits"),
        "files": facts["files"],
        "written": written,
        "input": input_convention(info),
        "opencv": _opencv(directory / facts["files"]["onnx"]),
        "output": f"probabilities, N x {n}, classes in the order of 'classes'",
        "classes": list(info.classes),
        "dataset": info.as_dict(),
        "dataset_spec": spec.as_dict(),
        "data_sha256": dict(info.digests),
        "versions": _versions(),
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _confusion_png(confusion, info.classes, directory / CONFUSION)
    reliability_png(before, None if calibration is None else proba, y_test, directory / RELIABILITY)
    (directory / MARKDOWN).write_text(_markdown(card))
    (directory / CARD).write_text(json.dumps(card, indent=2))
    return card


def _calibration(
    calibration: Calibration | None, before: np.ndarray, after: np.ndarray, y: np.ndarray
) -> dict[str, Any]:
    """The temperature and the expected calibration errors, before and after it."""
    facts: dict[str, Any] = {
        "method": "none" if calibration is None else "temperature scaling",
        "ece_bins": ECE_BINS,
        "test_ece_before": round(expected_calibration_error(before, y), 5),
        "reliability_diagram": RELIABILITY,
    }
    if calibration is not None:
        facts.update(
            {
                "temperature": round(calibration.temperature, 5),
                "fitted_on": calibration.fitted_on,
                "test_ece_after": round(expected_calibration_error(after, y), 5),
                "validation_ece_before": round(calibration.val_ece_before, 5),
                "validation_ece_after": round(calibration.val_ece_after, 5),
            }
        )
    return facts


def _limits_line(limits: dict[str, Any] | None) -> str:
    if not limits:
        return ""
    asked = ", ".join(
        f"{flag} {limits[key]:g}"
        for flag, key in (("--max-predict-ms", "max_predict_ms"), ("--max-size", "max_size_mb"))
        if limits.get(key) is not None
    )
    best = limits["unconstrained_best"]
    acc = best["validation_accuracy"]
    without = f"{best['model']}" + ("" if acc is None else f", validation accuracy {acc:.2%}")
    if best["predict_ms_per_1000"] is not None:
        without += f", {best['predict_ms_per_1000']:.1f} ms per 1,000 images, "
        without += f"{best['size_mb']:.2f} MB"
    if limits["bound_by"]:
        bound = f"{' and '.join(limits['bound_by'])} bound the choice"
    elif best["predict_ms_per_1000"] is None:
        bound = "whether they bound the choice is unknown (not saved on this machine)"
    else:
        bound = "they did not change the choice"
    return (
        f"\n- **Deployment limits** ({asked}): {bound}; without them: {without}. This "
        f"model: {limits['predict_ms_per_1000']:.1f} ms per 1,000 images (onnxruntime, "
        f"this machine), {limits['size_mb']:.2f} MB."
    )


def _opencv(path: Path) -> str:
    """Whether OpenCV's DNN module runs the graph, and if not, why."""
    import onnx

    problem = opencv_problem(onnx.load(str(path)))
    if problem is None:
        return "runs in OpenCV's DNN module (cv2.dnn.readNetFromONNX) as in onnxruntime"
    return f"does not run in OpenCV's DNN module: {problem}"


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"automl-fashion": __version__, "python": platform.python_version()}
    for name in (
        "numpy",
        "scikit-learn",
        "xgboost-cpu",
        "xgboost",
        "torch",
        "onnx",
        "onnxruntime",
        "optuna",
    ):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def _markdown(card: dict[str, Any]) -> str:
    lo, hi = card["test_accuracy_95ci"]
    rows = "\n".join(f"| {_cell(k)} | {v:.2%} |" for k, v in card["per_class_accuracy"].items())
    info = DatasetInfo.from_dict(card["dataset"])
    c, h, w = info.shape
    if card["family"] == "ensemble":
        params = (
            "| trial | family | weight | validation accuracy | fit s |\n|---|---|---|---|---|\n"
        )
        params += "\n".join(
            f"| {m['trial']} | {m['family']} | {m['weight']:.2f} | {m['val_accuracy']:.2%} "
            f"| {m['fit_seconds']} |"
            for m in card["params"]["members"]
        )
        params += "\n\nEach member's parameters are in model_card.json."
        title = f"automl-fashion ensemble (study {card['study']})"
    else:
        params = "\n".join(f"- `{k}`: {v}" for k, v in card["params"].items())
        title = f"automl-fashion {card['family']} (study {card['study']}, trial {card['trial']})"
    v = card["validation_accuracy"]
    val = "n/a" if v is None else f"{v:.2%}"
    notes = "".join(f"- **Note**: {n}\n" for n in card["notes"])
    cal = card["calibration"]
    if cal["method"] == "none":
        calibration = (
            f"not calibrated; expected calibration error {cal['test_ece_before']:.2%} on the "
            f"test set ({cal['ece_bins']} bins)"
        )
    else:
        calibration = (
            f"temperature scaling, T = {cal['temperature']:.3f}, fitted on {cal['fitted_on']}, "
            f"inside model.onnx; expected calibration error on the test set "
            f"{cal['test_ece_before']:.2%} before, {cal['test_ece_after']:.2%} after "
            f"({cal['ece_bins']} bins)"
        )
    limits = _limits_line(card["limits"])
    acc = card["test_accuracy"]
    digests = " Its files are verified by SHA-256 (see model_card.json)." if info.digests else ""
    return f"""# Model card: {title}

- **Selected**: {card["selected_by"]}; trained on {card["trained_on"]}.
- **Validation accuracy** (selection): {val}
- **Test accuracy** ({card["test_images"]:,} test images, measured once at export): {acc:.2%}
  (95% interval {lo:.2%} to {hi:.2%})
- **Training time**: {card["fit_seconds"]} s; ONNX: {card["onnx_images_per_second"]} images/s;
  ONNX and native predictions agree on {card["onnx_native_agreement"]:.2%} of test images.
- **Probabilities**: {calibration}; see {cal["reliability_diagram"]}.{limits}
- **Input**: {card["input"]}. **Output**: {card["output"]}.
- **OpenCV**: model.onnx {card["opencv"]}.
- **Use**: `onnxruntime.InferenceSession("model.onnx").run(None, {{"pixels": x}})` with x of
  shape N x {c} x {h} x {w}, or `automl_fashion.load_model(DIR).predict(images)`.
{notes}
## Parameters
{params}

## Per-class test accuracy
| class | accuracy |
|---|---|
{rows}

![confusion matrix](confusion.png)

Data: {_cell(describe_dataset(info))}.{digests}
Versions: {", ".join(f"{k} {v}" for k, v in card["versions"].items())}.
"""


def _cell(text: str) -> str:
    """Text for a Markdown table cell or line: one line, no column break."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _confusion_png(confusion: np.ndarray, classes: tuple[str, ...], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(classes)
    side = min(20.0, max(5.5, 0.45 * n + 1.0))
    fig, ax = plt.subplots(figsize=(side + 1.0, side))
    ax.imshow(confusion, cmap="Blues")
    if n <= ANNOTATED_CLASSES:
        for i in range(n):
            for j in range(n):
                ax.text(
                    j,
                    i,
                    str(confusion[i, j]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if confusion[i, j] > confusion.max() / 2 else "black",
                )
    if n <= LABELLED_CLASSES:
        # names shown as is: matplotlib reads $...$ as mathematics
        names = [c.replace("$", r"\$") for c in classes]
        ax.set_xticks(range(n), names, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(n), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Test-set confusion matrix")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
