"""``automl-fashion export``, ``evaluate`` and ``predict``: the exported model."""

from __future__ import annotations

import argparse
import json
import sys

from automl_fashion.cli._common import make_console


def cmd_export(args: argparse.Namespace) -> int:
    """Export the best model (or a chosen trial) as a model folder.

    By default that is the ensemble of the models the search saved, when it beats the best
    single model on held-out validation images, or else the best trial by validation
    accuracy (--single: always one trial). A trial's saved model is reused when its files
    are intact; without one, or with --refit (all 60,000 training images), the trial's
    recorded configuration is trained again on the split it was searched on. Writes
    model.onnx (raw pixels in, probabilities out), code-free native weights, a model card
    and a confusion matrix, and measures test accuracy once. The probabilities are
    calibrated (temperature scaling fitted on validation images, inside model.onnx).

    --max-predict-ms and --max-size choose the most accurate saved model, or ensemble of
    them, whose model.onnx meets the limits (measured now, on this machine); the card says
    which limit bound the choice and what the best would have been without it.

    The folder is built beside --out and put in place only when complete; an earlier export
    there is replaced, any other non-empty folder needs --force (its other files are kept).

    Examples:
      automl-fashion export --out model/
      automl-fashion export --study big --trial 17 --refit --out model17/
      automl-fashion export --max-predict-ms 100 --max-size 5 --out small/
    """
    from automl_fashion.export import Limits, check_out_dir, export_trial
    from automl_fashion.storage import load_existing_study

    limits = Limits(args.max_predict_ms, args.max_size)
    check_out_dir(args.out, force=args.force)
    study = load_existing_study(args.study, args.storage, args.studies_dir)
    console = make_console(args)
    with console.status("Exporting (training first when the model was not saved)..."):
        result = export_trial(
            study,
            args.out,
            trial=args.trial,
            criterion=args.criterion,
            refit=args.refit,
            threads=args.threads,
            data_dir=args.data_dir,
            studies_dir=args.studies_dir,
            ensemble=not args.single,
            force=args.force,
            say=lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True),
            limits=limits,
        )
    lo, hi = result.test_interval
    what = (
        "an ensemble of saved models"
        if result.family == "ensemble"
        else f"trial {result.trial} ({result.family})"
    )
    console.print(
        f"Exported {what} to {result.directory}: test accuracy "
        f"{result.test_accuracy:.2%} (95% CI {lo:.2%}-{hi:.2%}), ONNX/native agreement "
        f"{result.parity:.2%}, fit {result.fit_seconds:.0f} s, export {result.export_seconds:.1f} s"
    )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Recompute an exported model's test accuracy and calibration error from model.onnx.

    Example: automl-fashion evaluate model/
    """
    from automl_fashion.evaluate import evaluate

    result = evaluate(args.model, data_dir=args.data_dir)
    if args.format == "json":
        print(json.dumps(result, indent=2))
        return 0
    from rich.markup import escape

    from automl_fashion.model import printable

    lo, hi = result["test_accuracy_95ci"]
    make_console(args).print(
        f"{escape(printable(result['family']))}: test accuracy {result['test_accuracy']:.2%} "
        f"(95% CI {lo:.2%}-{hi:.2%}) on {result['images']} images; expected calibration "
        f"error {result['test_ece']:.2%} ({result['ece_bins']} bins)"
    )
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Classify pictures (PNG, JPEG, any size or colour) with an exported model.

    Pictures are converted as Zalando made Fashion-MNIST: grayscale, trimmed to the object,
    its longest edge resized to 28, centred, sharpened, negated when the object is dark on a
    light background; a 28 x 28 picture is used as it is. The probabilities are calibrated.
    A picture of one flat colour gets "no object found" instead of a class. A picture that
    cannot be read (not a regular file, not an image, too large to decode in bounded memory)
    is an error line on stderr; the others are still classified, and the exit status is 2.
    Pictures are classified 256 at a time.

    Example: automl-fashion predict model/ shirt.png boot.jpg --format json
    """
    from automl_fashion.model import NoObjectFound, load_model, printable

    model = load_model(args.model)
    rows: list[dict[str, object]] = []
    failed = 0
    for result in model.predict_files(args.images):
        path, proba, exc = result.path, result.proba, result.error
        row: dict[str, object] = {"image": path}
        if isinstance(exc, NoObjectFound):
            row.update(
                {"class": None, "index": None, "probability": None, "note": "no object found"}
            )
            text = str(exc)
        elif exc is not None or proba is None:
            failed += 1
            row["error"] = str(exc)
            print(f"automl-fashion: error: {printable(exc)}", file=sys.stderr)
            text = ""
        else:
            best = int(proba.argmax())
            row.update(
                {
                    "class": model.classes[best],
                    "index": best,
                    "probability": round(float(proba[best]), 4),
                }
            )
            text = f"{path}: {model.classes[best]} ({proba[best]:.1%})"
        rows.append(row)
        if args.format == "text" and text:
            print(printable(text), flush=True)
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    return 2 if failed else 0
