"""The argument parser: every sub-command, its options and its help."""

from __future__ import annotations

import argparse
import os

from automl_fashion import __version__
from automl_fashion.cli._common import Handler
from automl_fashion.cli.data import cmd_data_verify
from automl_fashion.cli.model import cmd_evaluate, cmd_export, cmd_predict
from automl_fashion.cli.search import cmd_search, cmd_worker
from automl_fashion.cli.study import cmd_leaderboard, cmd_report


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
        help="train on this many images per class (smoke runs)",
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


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder holding the four IDX files (default: $AUTOML_FASHION_DATA, the user "
        "cache, /usr/share/datasets/fashion-mnist, else download)",
    )


def _add_dataset_options(p: argparse.ArgumentParser) -> None:
    """Which data set (search, data verify)."""
    p.add_argument(
        "--dataset",
        default="fashion-mnist",
        metavar="NAME",
        help="a built-in data set: fashion-mnist (default), mnist, kmnist; downloaded and "
        "verified on first use",
    )
    p.add_argument(
        "--data",
        metavar="DIR",
        help="a folder of labelled pictures instead: DIR/train/<class>/*.png|jpg and, "
        "optionally, DIR/test/<class>/* (else a seeded, stratified 20%% is held out as test)",
    )
    p.add_argument(
        "--image-size",
        type=int,
        metavar="N",
        help="with --data: bring pictures to N x N pixels, 8 to 256 (default 28)",
    )
    p.add_argument(
        "--color",
        choices=["gray", "rgb"],
        help="with --data: read pictures in grayscale (default) or in colour",
    )
    p.add_argument(
        "--val-size",
        type=int,
        metavar="N",
        help="validation images split off the training images (default: 10,000, or 20%% "
        "of a smaller data set)",
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
        description="AutoML and hyperparameter search for Fashion-MNIST, other MNIST-format "
        "data sets and folders of labelled pictures.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    data = sub.add_parser("data", help="locate and verify a data set's files")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    verify = _command(
        data_sub,
        "verify",
        cmd_data_verify,
        "check digests, show where the files are and the images per class",
    )
    _add_data_options(verify)
    _add_dataset_options(verify)
    verify.add_argument("--seed", type=int, default=0, help="split seed (default 0)")

    srch = _command(sub, "search", cmd_search, "search model families within a wall-clock budget")
    srch.add_argument(
        "--budget", required=True, help="wall clock for the whole command: 90s, 10m, 2h, 1h30m"
    )
    srch.add_argument(
        "--families",
        help="comma-separated families (default: all, linear,svm,boosting,mlp,cnn,resnet)",
    )
    _add_study_options(srch, resume=True)
    _add_worker_options(srch)
    _add_dataset_options(srch)
    srch.add_argument(
        "--sampler",
        choices=["tpe", "random"],
        help="Optuna sampler (default: a resumed study's own, else tpe)",
    )
    srch.add_argument(
        "--pruner",
        choices=["sha", "median", "none"],
        help="pruner, applied within each family (default: a resumed study's own, else sha: "
        "successive halving)",
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
