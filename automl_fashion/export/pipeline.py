"""Write an exported model folder, and measure it once on the test set.

Test images are read only by its shared ending (``measure``) and by ``evaluate``. The folder:

    model.onnx          raw pixels (float32 0..255, N x C x H x W of the data set; N x 1 x
                        28 x 28 for Fashion-MNIST) -> one probability per class
    model.safetensors   the learned arrays (or model.ubj: XGBoost's own format), no code
    model_card.json     family, parameters, data set, accuracies, per-class accuracy,
    MODEL_CARD.md       confusion matrix, training time, library versions, how it was chosen
    confusion.png

Three pipelines share one ending (:mod:`~automl_fashion.export.measure`: run the graph on
the test images, compare it with the native model, write the card): a fitted family
(``export_model``), an ensemble of saved models (``export_ensemble``) and a saved model as
it is (``reuse_artifact``). Each
builds its folder in a temporary folder beside ``out``, put in place only when complete
(see ``outdir``). Which model to export is decided before (``study``, ``select``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from automl_fashion import families
from automl_fashion.artifacts import ONNX_FILE, ArtifactError, copy_verified, read_verified
from automl_fashion.data.info import DatasetInfo
from automl_fashion.export.calibration import Calibration, calibrate_on
from automl_fashion.export.measure import ExportData, ExportResult, measure, result
from automl_fashion.export.outdir import staged_folder
from automl_fashion.model import first_line
from automl_fashion.threads import available_cores

Say = Callable[[str], None]


def export_model(
    model: families.Family,
    out: str | os.PathLike[str],
    *,
    study: str = "",
    trial: int = -1,
    val_accuracy: float | None = None,
    selected_by: str = "",
    trained_on: str = "",
    data_dir: str | None = None,
    data: ExportData | None = None,
    force: bool = False,
    notes: list[str] | tuple[str, ...] = (),
    val: tuple[np.ndarray, np.ndarray] | None = None,
    limits: dict[str, Any] | None = None,
) -> ExportResult:
    """Write a fitted family's model folder and measure it once on the test images of
    ``data`` (default: Fashion-MNIST from ``data_dir``), the data set it was trained on.

    ``val``: validation images and labels the model did not train on, to fit the
    temperature of its probabilities (without them they are left uncalibrated)."""
    import onnx

    from automl_fashion.onnx_export import info_of, save_native, to_onnx

    data = data or ExportData.open(None, data_dir)
    data.check(info_of(model), f"the {model.name} model")
    calibration = None
    if val is not None:
        proba_val = model.predict_proba(val[0])
        calibration = calibrate_on(proba_val, val[1], "validation images (not trained on)")
    with staged_folder(out, force=force) as directory:
        start = time.perf_counter()
        onnx_path = directory / ONNX_FILE
        graph = _calibrated(to_onnx(model), calibration, model.name, data.info)
        onnx.save(graph, str(onnx_path))
        native = save_native(model, directory)
        export_seconds = time.perf_counter() - start

        def parity(X_test: np.ndarray, proba: np.ndarray) -> float:
            return float(np.mean(proba.argmax(1) == model.predict(X_test)))

        card = measure(
            directory,
            data,
            model.threads,
            parity,
            "test images",
            calibration=calibration,
            limits=limits,
            family=model.name,
            params=model.params,
            trial=trial,
            study=study,
            selected_by=selected_by,
            trained_on=trained_on,
            notes=notes,
            val_accuracy=val_accuracy,
            fit_seconds=model.fit_seconds_,
            export_seconds=export_seconds,
            files={"onnx": ONNX_FILE, "native": native.name},
        )
    return result(out, card, notes)


def export_ensemble(
    ens: Any,
    out: str | os.PathLike[str],
    *,
    study: str,
    data_dir: str | None = None,
    data: ExportData | None = None,
    force: bool = False,
    notes: list[str] | tuple[str, ...] = (),
    limits: dict[str, Any] | None = None,
) -> ExportResult:
    """Write an ensemble's folder (one ONNX graph, the members' weights) and test it once."""
    import onnx

    from automl_fashion.ensemble import ensemble_onnx
    from automl_fashion.onnx_export import onnx_predict_proba, onnx_session

    data = data or ExportData.open(None, data_dir)
    data.check(ens.info, "the ensemble")
    calibration = None
    if len(ens.held_out_proba):
        calibration = calibrate_on(
            ens.held_out_proba,
            ens.val_labels,
            "validation images (each half averaged with the weights chosen on the other)",
        )
    with staged_folder(out, force=force) as directory:
        start = time.perf_counter()
        merged = ensemble_onnx(ens.members, data.info)
        merged = _calibrated(merged, calibration, "ensemble", data.info)
        onnx.save(merged, str(directory / ONNX_FILE))
        natives = []
        for m in ens.members:
            # every name is made here: family and suffix were checked by ``check_artifact``
            native = m.meta["native"]
            name = f"member-{m.trial}-{m.family}{Path(native).suffix}"
            copy_verified(
                Path(m.meta["folder"]) / native, directory / name, m.meta["sha256"][native]
            )
            natives.append(name)
        export_seconds = time.perf_counter() - start
        cores = available_cores()

        def parity(X_test: np.ndarray, proba: np.ndarray) -> float:
            # the merged graph against its members' own graphs, averaged with the same weights
            separate = sum(
                m.weight
                * onnx_predict_proba(
                    onnx_session(
                        read_verified(
                            Path(m.meta["folder"]) / ONNX_FILE, m.meta["sha256"][ONNX_FILE]
                        ),
                        cores,
                    ),
                    X_test,
                )
                for m in ens.members
            )
            return float(np.mean(proba.argmax(1) == np.asarray(separate).argmax(1)))

        members = [
            {
                "trial": m.trial,
                "family": m.family,
                "weight": round(m.weight, 4),
                "val_accuracy": m.val_accuracy,
                "fit_seconds": m.meta["fit_seconds"],
                "onnx_native_agreement_val": m.meta["onnx_native_agreement_val"],
                "params": m.meta["params"],
                "native": name,
            }
            for m, name in zip(ens.members, natives, strict=True)
        ]
        card = measure(
            directory,
            data,
            cores,
            parity,
            "test images (the merged graph against its members' graphs)",
            calibration=calibration,
            limits=limits,
            family="ensemble",
            params={"members": members},
            trial=-1,
            study=study,
            selected_by=(
                f"ensemble selection over the {len(ens.members)} saved models; out of sample "
                f"it beat the best single model ({ens.val_accuracy:.2%} against "
                f"{ens.best_single_val_accuracy:.2%} on held-out validation halves)"
            ),
            trained_on=f"{ens.members[0].meta['n_train']} training images "
            "(the models trained during the search)",
            notes=notes,
            val_accuracy=ens.val_accuracy,
            fit_seconds=float(sum(m.meta["fit_seconds"] for m in ens.members)),
            export_seconds=export_seconds,
            files={"onnx": ONNX_FILE, "native": natives},
        )
    return result(out, card, notes)


def reuse_artifact(
    meta: dict[str, Any],
    out: str | os.PathLike[str],
    *,
    study: str,
    selected_by: str,
    data_dir: str | None = None,
    data: ExportData | None = None,
    force: bool = False,
    notes: list[str] | tuple[str, ...] = (),
    limits: dict[str, Any] | None = None,
) -> ExportResult:
    """Export the model a search saved for a trial (``meta`` from ``check_artifact``) on
    the study's data set ``data``: copy it, checking its digests, then test it once."""
    import onnx

    from automl_fashion.artifacts import load_val

    data = data or ExportData.open(None, data_dir)
    saved_val = load_val(meta)
    calibration = None
    if saved_val is not None:
        calibration = calibrate_on(
            saved_val[0], saved_val[1], "validation images (the trial's own, not trained on)"
        )

    def unloadable(exc: Exception) -> ArtifactError:
        return ArtifactError(
            f"trial {meta['trial']}: its saved model.onnx cannot be loaded ({first_line(exc)}); "
            f"export it with --refit to train it again"
        )

    with staged_folder(out, force=force) as directory:
        start = time.perf_counter()
        folder = Path(meta["folder"])
        # names checked by ``check_artifact``
        copy_verified(
            folder / meta["native"], directory / meta["native"], meta["sha256"][meta["native"]]
        )
        saved = read_verified(folder / ONNX_FILE, meta["sha256"][ONNX_FILE])
        if calibration is None:
            (directory / ONNX_FILE).write_bytes(saved)
        else:
            try:
                proto = onnx.load_from_string(saved)
                proto = _calibrated(proto, calibration, meta["family"], data.info)
            except Exception as exc:  # onnx raises its own exception types
                raise unloadable(exc) from None
            onnx.save(proto, str(directory / ONNX_FILE))
        export_seconds = time.perf_counter() - start
        card = measure(
            directory,
            data,
            available_cores(),
            float(meta["onnx_native_agreement_val"]),
            "validation images",
            unloadable=unloadable,
            calibration=calibration,
            limits=limits,
            family=meta["family"],
            params=meta["params"],
            trial=int(meta["trial"]),
            study=study,
            selected_by=selected_by,
            trained_on=f"{meta['n_train']} training images (the model trained during the search)",
            notes=notes,
            val_accuracy=meta["val_accuracy"],
            fit_seconds=float(meta["fit_seconds"]),
            export_seconds=export_seconds,
            files={"onnx": ONNX_FILE, "native": meta["native"]},
        )
    return result(out, card, notes)


def _calibrated(
    proto: Any, calibration: Calibration | None, family: str, info: DatasetInfo | None = None
) -> Any:
    from automl_fashion.onnx_export import calibrate

    if calibration is None:
        return proto
    return calibrate(proto, calibration.temperature, family, info)
