"""The ``automl-fashion`` command: a thin layer that parses, calls the library, prints.

Each sub-command is one function ``cmd_<name>(args) -> int``; the work lives in the library.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence

from automl_fashion import __version__
from automl_fashion.errors import AutoMLFashionError

Handler = Callable[[argparse.Namespace], int]


def _console(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from rich.console import Console

    return Console(quiet=getattr(args, "quiet", False))


def cmd_data_verify(args: argparse.Namespace) -> int:
    """Locate the Fashion-MNIST files, check their digests and count images per class.

    Example: automl-fashion data verify --data-dir /usr/share/datasets/fashion-mnist
    """
    from rich.table import Table

    from automl_fashion.data import CLASSES
    from automl_fashion.data.verify import verify

    report = verify(args.data_dir, val_size=args.val_size, seed=args.seed)
    console = _console(args)
    console.print(f"Data folder: [bold]{report.directory}[/] (found via {report.origin})")
    files = Table("file", "path", "SHA-256 of decompressed bytes")
    for f in report.files:
        files.add_row(f.name, f.path, "[green]ok[/]" if f.ok else f"[red]{f.problem}[/]")
    console.print(files)
    if not report.ok:
        console.print("[red]Data verification failed.[/]")
        return 1
    counts = Table("class", *[f"{k} ({sum(v)})" for k, v in report.class_counts.items()])
    for c, name in enumerate(CLASSES):
        counts.add_row(f"{c} {name}", *[str(v[c]) for v in report.class_counts.values()])
    console.print(counts)
    console.print(
        f"[green]All four files verified.[/] Split: seed {args.seed}, "
        f"{args.val_size} validation images, stratified."
    )
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    """Search the model families within a wall-clock budget, in parallel, with pruning.

    The budget covers the whole command. Results go to the study storage (default
    studies/<study>.journal); running the same --study again resumes it.

    Examples:
      automl-fashion search --budget 10m
      automl-fashion search --budget 2h --study big --families cnn,mlp --jobs 2
    """
    from automl_fashion.budget import format_seconds, parse_budget
    from automl_fashion.orchestrator import SearchConfig

    config = SearchConfig(
        budget=parse_budget(args.budget),
        study=args.study,
        families=_family_list(args.families),
        jobs=args.jobs,
        threads=args.threads,
        storage=args.storage,
        studies_dir=args.studies_dir,
        seed=args.seed,
        sampler=args.sampler,
        pruner=args.pruner,
        warm_start=not args.no_warm_start,
        data_dir=args.data_dir,
        device=args.device,
        train_per_class=args.train_per_class,
        export_dir=None if args.no_export else (args.export or _default_export(args)),
        max_predict_ms=args.max_predict_ms,
        max_size_mb=args.max_size,
    ).validated()
    console = _console(args)
    result = _run_search(config, console, quiet=args.quiet)
    c = result.counts
    console.print(
        f"Study [bold]{result.study_name}[/] ({result.storage}): {c['complete']} complete, "
        f"{c['pruned']} pruned, {c['fail']} failed in {format_seconds(result.elapsed)}."
    )
    if result.recovered:
        console.print(f"Recovered stale trials of dead workers: {result.recovered}")
    stopped = _say_why(result)
    if result.best_value is None:
        if not stopped:
            print("automl-fashion: no trial of the study completed", file=sys.stderr)
        return 1
    console.print(
        f"Best: trial {result.best_number} ({result.best_family}), "
        f"validation accuracy {result.best_value:.2%}"
    )
    if result.exported is not None:
        ex = result.exported
        what = "it" if ex.family != "ensemble" else "an ensemble of the best models"
        if ex.family == "ensemble" and ex.val_accuracy is not None:
            what += f" ({ex.val_accuracy:.2%} on held-out validation images)"
        console.print(
            f"Exported {what} to {ex.directory}: test accuracy {ex.test_accuracy:.2%} "
            f"(measured once, now). Use: automl-fashion predict {ex.directory} IMAGE"
        )
    elif not args.no_export:
        console.print(
            f"Not exported: {result.not_exported or 'its model was not saved on this machine'}; "
            f"export it with: automl-fashion export --study {result.study_name} --out DIR"
        )
    if args.quiet:
        print(
            f"best_trial={result.best_number} family={result.best_family} "
            f"val_accuracy={result.best_value:.4f} elapsed={result.elapsed:.1f}"
            + (f" recovered={','.join(map(str, result.recovered))}" if result.recovered else "")
            + (
                f" exported={result.exported.family}"
                f" test_accuracy={result.exported.test_accuracy:.4f}"
                f" model={result.exported.directory}"
                if result.exported is not None
                else ""
            )
        )
    return 1 if result.stopped else 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    """Rank a study's trials: accuracy with a 95% interval, training cost, Pareto front.

    score = val_accuracy - W/100 * log2(1 + fit_seconds/60): W (--cost-weight) is the
    accuracy in percentage points one doubling of training minutes must buy.
    Works while a search is still writing to the study.

    Examples:
      automl-fashion leaderboard
      automl-fashion leaderboard --by-family
      automl-fashion leaderboard --per-class
      automl-fashion leaderboard --family cnn --sort time --format csv > cnn.csv

    A table shows the best 20 trials unless --top says otherwise; CSV and JSON show all.
    """
    from rich.markup import escape

    from automl_fashion import leaderboard as lb
    from automl_fashion.model import printable
    from automl_fashion.storage import load_existing_study
    from automl_fashion.tables import print_table

    lb.check_top(args.top)
    if args.family is not None and not args.by_family:
        from automl_fashion import families

        families.check_names([args.family])
    columns = lb.BY_FAMILY_COLUMNS if args.by_family else lb.COLUMNS_ALL if args.all else lb.COLUMNS
    study = load_existing_study(args.study, args.storage, args.studies_dir)
    frame = lb.trials_frame(study, cost_weight=args.cost_weight)
    console = _console(args)
    if args.format == "table":
        say = console.print
    else:  # stdout stays valid CSV/JSON/Markdown: an empty table, and why on stderr
        from rich.console import Console

        say = Console(stderr=True).print
    if frame.empty:
        if args.format != "table":
            import pandas as pd

            print_table(pd.DataFrame(columns=columns), args.format, console)
        say(f"Study {escape(printable(repr(args.study)))} has no finished trials yet.")
        return 1
    if args.per_class:
        table = lb.per_class(frame)
        if table.shape[1] == 1:  # only the class names: no family has a complete trial
            if args.format != "table":
                print_table(table, args.format, console)
            say(f"Study {escape(printable(repr(args.study)))}: no complete trial.")
            return 1
        percent = tuple(table.columns[1:])
        print_table(table, args.format, console, title=f"Study {args.study}", percent=percent)
        return 0
    hidden = 0
    if args.by_family:
        asked, notes = lb.planned_families(study)
        table = lb.by_family(
            frame,
            sort=args.sort if args.sort != "score" else "accuracy",
            families=asked,
            notes=notes,
        )
    else:
        table = lb.leaderboard(
            frame, sort=args.sort, family=args.family, include_unfinished=args.all
        )
        top = args.top or (lb.DEFAULT_TOP if args.format in ("table", "markdown") else None)
        if top is not None and len(table) > top:
            hidden, table = len(table) - top, table.head(top)
    # an empty table keeps every column, so that CSV has its header
    table = table.reindex(columns=columns if table.empty else [c for c in columns if c in table])
    if table.empty or table["val_accuracy"].isna().all():
        if args.format != "table":
            print_table(table, args.format, console)
        failed = frame[frame["state"] == "fail"]
        say(
            f"Study {escape(printable(repr(args.study)))}: no complete trial "
            f"({len(failed)} failed)."
        )
        for _, row in failed.head(5).iterrows():
            say(
                f"  trial {row['trial']} ({escape(printable(row['family']))}): "
                f"{escape(printable(row['reason']))}"
            )
        return 1
    print_table(table, args.format, console, title=f"Study {args.study}", show_params=args.params)
    if hidden:
        say(f"{hidden} more trials (--top {len(table) + hidden} to show them)")
    if args.format == "table":
        _print_ensemble(study, args.studies_dir, console)
    return 0


def _print_ensemble(study, studies_dir: str | None, console) -> None:  # type: ignore[no-untyped-def]
    """One line on the ensemble of the models saved on this machine, if there are two."""
    from automl_fashion.ensemble import build_ensemble
    from automl_fashion.storage import artifacts_dir

    ens = build_ensemble(study, artifacts_dir(study.study_name, studies_dir))
    if ens is None:
        return
    mix = ", ".join(f"{m.family} #{m.trial} x{m.weight:.2f}" for m in ens.members)
    verdict = "export uses it" if ens.helps else "export keeps the best single model"
    console.print(
        f"Ensemble of the saved models ({mix}): {ens.val_accuracy:.2%} on held-out validation "
        f"halves, best single model {ens.best_single_val_accuracy:.2%}; {verdict}."
    )


def cmd_report(args: argparse.Namespace) -> int:
    """Write a report about a study into --out: index.html and its images, one folder.

    The best model, the family comparison (per-class accuracy too), where the models fail
    (from the models the search saved on this machine), and how the search went. Works
    while a search is still writing to the study.

    Example: automl-fashion report --study fashion --out report/ && xdg-open report/index.html
    """
    from rich.markup import escape

    from automl_fashion.model import printable
    from automl_fashion.report import write_report
    from automl_fashion.storage import artifacts_dir, load_existing_study, studies_dir

    study = load_existing_study(args.study, args.storage, args.studies_dir)
    export = args.export
    if export is None:  # the folder a search exports to, if it holds this study's model
        default = studies_dir(args.studies_dir) / f"{args.study}.model"
        export = default if (default / "model_card.json").is_file() else None
    page = write_report(
        study,
        args.out,
        cost_weight=args.cost_weight,
        artifacts=artifacts_dir(args.study, args.studies_dir),
        export_dir=export,
        data_dir=args.data_dir,
    )
    _console(args).print(f"wrote {escape(printable(page))}", soft_wrap=True)  # one line
    return 0


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
    console = _console(args)
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
    _console(args).print(
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


def _add_worker_options(p: argparse.ArgumentParser) -> None:
    """Options of everything that runs trials (search, worker)."""
    p.add_argument(
        "--jobs",
        type=int,
        help="parallel worker processes (default: one per core; at most 2 per core and one "
        "per GiB of memory: beyond that they only wait for each other)",
    )
    p.add_argument(
        "--threads",
        type=int,
        help="threads per worker (default: cores / jobs; at most the cores)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the split and models, 0 to 4294967295 (default 0); the first worker "
        "of a new study samples with it, every other worker with a seed derived from it",
    )
    p.add_argument(
        "--device",
        default="auto",
        help="torch device: auto (GPU if present), cpu, cuda, cuda:N, mps; checked at start",
    )
    p.add_argument(
        "--train-per-class",
        type=int,
        help="train on this many images per class, 1 to 5000 (smoke runs)",
    )
    p.add_argument(
        "--quiet", action="store_true", help="no live display; one summary line for scripts"
    )
    _add_data_options(p)


def _add_limit_options(p: argparse.ArgumentParser) -> None:
    """Deployment limits of the exported model (search, export)."""
    p.add_argument(
        "--max-predict-ms",
        type=float,
        metavar="N",
        help="export the most accurate saved model (or ensemble) whose model.onnx predicts "
        "1,000 images in at most N ms with onnxruntime on this machine",
    )
    p.add_argument(
        "--max-size",
        type=float,
        metavar="MB",
        help="... and whose model.onnx is at most MB megabytes (1 MB = 1,000,000 bytes)",
    )


def _add_study_options(p: argparse.ArgumentParser, resume: bool = False) -> None:
    p.add_argument(
        "--study",
        default="fashion",
        help="study name (default: fashion)" + ("; an existing study is resumed" if resume else ""),
    )
    p.add_argument(
        "--storage",
        default=os.environ.get("AUTOML_FASHION_STORAGE"),
        help="Optuna storage URL (default: $AUTOML_FASHION_STORAGE, else studies/<study>.journal)",
    )
    p.add_argument("--studies-dir", help="folder of default storages (default: ./studies)")


def cmd_worker(args: argparse.Namespace) -> int:
    """Add this machine's workers to a running study (e.g. on PostgreSQL).

    Without --budget the workers stop at the deadline of the search that started the study;
    they search the same families unless --families says otherwise.

    Example:
      automl-fashion worker --storage postgresql://user@db-host/automl --study big
    """
    from automl_fashion.budget import parse_budget
    from automl_fashion.orchestrator import SearchConfig, join_config

    config = SearchConfig(
        budget=1.0,
        study=args.study,
        families=_family_list(args.families),
        jobs=args.jobs,
        threads=args.threads,
        storage=args.storage,
        studies_dir=args.studies_dir,
        seed=args.seed,
        data_dir=args.data_dir,
        device=args.device,
        train_per_class=args.train_per_class,
    )
    config = join_config(config, parse_budget(args.budget) if args.budget else None)
    console = _console(args)
    result = _run_search(config, console, quiet=args.quiet)
    c = result.counts
    console.print(
        f"Study [bold]{result.study_name}[/] ({result.storage}): now {c['complete']} complete, "
        f"{c['pruned']} pruned, {c['fail']} failed."
    )
    if args.quiet:
        print(f"study={result.study_name} complete={c['complete']} elapsed={result.elapsed:.1f}")
    return 1 if _say_why(result) else 0


def _say_why(result) -> bool:  # type: ignore[no-untyped-def]
    """On stderr, whatever --quiet says: why the search stopped early, or why this run
    completed no trial. True if there was something to say."""
    why = result.stopped or result.why_none
    if why is not None:
        what = "search stopped early" if result.stopped else "no trial completed in this run"
        print(f"automl-fashion: {what}: {why}", file=sys.stderr)
    return why is not None


def _run_search(config, console, *, quiet: bool):  # type: ignore[no-untyped-def]
    """Run a search, with the live display unless ``quiet``."""
    from automl_fashion.orchestrator import search
    from automl_fashion.progress import RichProgress

    if quiet:
        return search(config)
    with RichProgress(console) as progress:
        return search(config, progress)


def _default_export(args: argparse.Namespace) -> str:
    from automl_fashion.storage import studies_dir

    return str(studies_dir(args.studies_dir) / f"{args.study}.model")


def _family_list(text: str | None) -> list[str] | None:
    """``--families`` without repeats; None when not given (a resumed study keeps its own)."""
    from automl_fashion import families
    from automl_fashion.errors import ConfigError

    if text is None:
        return None
    names = list(dict.fromkeys(f.strip() for f in text.split(",") if f.strip()))
    if not names:
        raise ConfigError(f"--families: {text!r} names no family; expected e.g. cnn,svm")
    return families.check_names(names)


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder holding the four IDX files (default: $AUTOML_FASHION_DATA, the user "
        "cache, /usr/share/datasets/fashion-mnist, else download)",
    )


def _command(
    sub: argparse._SubParsersAction, name: str, handler: Handler, help: str
) -> argparse.ArgumentParser:
    """A sub-command whose description is its handler's docstring (examples included)."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help,
        description=handler.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="automl-fashion",
        description="AutoML and hyperparameter search for Fashion-MNIST.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    data = sub.add_parser("data", help="locate and verify the Fashion-MNIST files")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    verify = _command(
        data_sub,
        "verify",
        cmd_data_verify,
        "check digests, show where the files are and the images per class",
    )
    _add_data_options(verify)
    verify.add_argument("--val-size", type=int, default=10_000, help="validation images")
    verify.add_argument("--seed", type=int, default=0, help="split seed (default 0)")

    srch = _command(sub, "search", cmd_search, "search model families within a wall-clock budget")
    srch.add_argument(
        "--budget", required=True, help="wall clock for the whole command: 90s, 10m, 2h, 1h30m"
    )
    srch.add_argument(
        "--families",
        help="comma-separated families (default: linear,svm,boosting,mlp,cnn; "
        "resnet only when named)",
    )
    _add_study_options(srch, resume=True)
    _add_worker_options(srch)
    srch.add_argument(
        "--sampler", default="tpe", choices=["tpe", "random"], help="Optuna sampler (default tpe)"
    )
    srch.add_argument(
        "--pruner",
        default="sha",
        choices=["sha", "median", "none"],
        help="pruner, applied within each family (default sha: successive halving)",
    )
    srch.add_argument(
        "--no-warm-start",
        action="store_true",
        help="do not start from each family's known-good init configuration",
    )
    srch.add_argument(
        "--export",
        metavar="DIR",
        help="where to export the best model at the end (default: studies/<study>.model)",
    )
    srch.add_argument("--no-export", action="store_true", help="do not export at the end")
    _add_limit_options(srch)

    wrk = _command(sub, "worker", cmd_worker, "add this machine's workers to a running study")
    _add_study_options(wrk)
    wrk.add_argument("--budget", help="how long to work (default: until the search's deadline)")
    wrk.add_argument("--families", help="families to search (default: the search's families)")
    _add_worker_options(wrk)

    board = _command(
        sub,
        "leaderboard",
        cmd_leaderboard,
        "rank a study's trials by accuracy against training cost",
    )
    _add_study_options(board)
    board.add_argument(
        "--top", type=int, help="show the best N trials (default: 20 in a table, all in CSV/JSON)"
    )
    board.add_argument("--family", help="only trials of this family")
    board.add_argument(
        "--by-family", action="store_true", help="the best trial of each family, with trial counts"
    )
    board.add_argument(
        "--per-class",
        action="store_true",
        help="validation accuracy per class of each family's best trial",
    )
    board.add_argument(
        "--sort",
        default="score",
        choices=["score", "accuracy", "time"],
        help="ranking (default score)",
    )
    board.add_argument(
        "--cost-weight",
        type=float,
        default=0.25,
        help="accuracy points one doubling of fit minutes must buy (default 0.25)",
    )
    board.add_argument(
        "--format",
        default="table",
        choices=["table", "csv", "json", "markdown"],
        help="output format (default table)",
    )
    board.add_argument(
        "--params", action="store_true", help="show each trial's parameters in the table"
    )
    board.add_argument(
        "--all", action="store_true", help="also list pruned and failed trials, with their reason"
    )

    rep = _command(sub, "report", cmd_report, "write an HTML page with figures about a study")
    _add_study_options(rep)
    rep.add_argument("--out", required=True, help="folder to write index.html and its images into")
    rep.add_argument("--cost-weight", type=float, default=0.25, help="as for leaderboard")
    rep.add_argument(
        "--export",
        metavar="DIR",
        help="exported model folder whose card gives the test accuracy "
        "(default: studies/<study>.model when it exists)",
    )
    _add_data_options(rep)
    exp = _command(
        sub,
        "export",
        cmd_export,
        "export the best model or ensemble as ONNX + safe weights + model card, tested once",
    )
    _add_study_options(exp)
    exp.add_argument(
        "--out",
        required=True,
        help="folder to write the model into: new, empty, or an earlier export (replaced)",
    )
    exp.add_argument(
        "--force",
        action="store_true",
        help="export into a non-empty folder that is not an earlier export (its files are kept)",
    )
    exp.add_argument("--trial", type=int, help="trial number (default: the best)")
    exp.add_argument(
        "--criterion",
        default="accuracy",
        choices=["accuracy", "score"],
        help="how to pick the best trial (default: validation accuracy)",
    )
    exp.add_argument(
        "--single",
        action="store_true",
        help="export one trial, never the ensemble of the saved models",
    )
    exp.add_argument(
        "--refit",
        action="store_true",
        help="retrain one trial on all 60,000 training images (implies --single)",
    )
    exp.add_argument("--threads", type=int, help="threads for training (default: all cores)")
    _add_limit_options(exp)
    _add_data_options(exp)

    ev = _command(sub, "evaluate", cmd_evaluate, "recompute an exported model's test accuracy")
    ev.add_argument("model", help="exported model folder")
    ev.add_argument("--format", default="text", choices=["text", "json"])
    _add_data_options(ev)

    pr = _command(sub, "predict", cmd_predict, "classify PNG/JPEG pictures with an exported model")
    pr.add_argument("model", help="exported model folder")
    pr.add_argument("images", nargs="+", help="picture files")
    pr.add_argument("--format", default="text", choices=["text", "json"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except AutoMLFashionError as exc:
        print(f"automl-fashion: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("automl-fashion: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
