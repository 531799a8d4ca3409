"""The ``automl-fashion`` command: a thin layer that parses, calls the library, prints.

Each sub-command is one function ``cmd_<name>(args) -> int``; the work lives in the library.
"""

from __future__ import annotations

import argparse
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
    from automl_fashion.orchestrator import SearchConfig, search
    from automl_fashion.progress import RichProgress

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
    ).validated()
    console = _console(args)
    if args.quiet:
        result = search(config)
    else:
        with RichProgress(console) as progress:
            result = search(config, progress)
    c = result.counts
    console.print(
        f"Study [bold]{result.study_name}[/] ({result.storage}): {c['complete']} complete, "
        f"{c['pruned']} pruned, {c['fail']} failed in {format_seconds(result.elapsed)}."
    )
    if result.recovered:
        console.print(f"Recovered stale trials of dead workers: {result.recovered}")
    if result.best_value is None:
        console.print("[yellow]No trial completed within the budget.[/]")
        return 1
    console.print(
        f"Best: trial {result.best_number} ({result.best_family}), "
        f"validation accuracy {result.best_value:.2%}"
    )
    if args.quiet:
        print(
            f"best_trial={result.best_number} family={result.best_family} "
            f"val_accuracy={result.best_value:.4f} elapsed={result.elapsed:.1f}"
            + (f" recovered={','.join(map(str, result.recovered))}" if result.recovered else "")
        )
    return 0


def _family_list(text: str | None) -> list[str]:
    from automl_fashion import families

    if text is None:
        return families.names()
    return families.check_names([f.strip() for f in text.split(",") if f.strip()])


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder holding the four IDX files (default: $AUTOML_FASHION_DATA, the user "
        "cache, /usr/share/datasets/fashion-mnist, else download)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="automl-fashion",
        description="AutoML and hyperparameter search for Fashion-MNIST.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    data = sub.add_parser("data", help="locate and verify the Fashion-MNIST files")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    verify = data_sub.add_parser(
        "verify",
        help="check digests, show where the files are and the images per class",
        description=cmd_data_verify.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_data_options(verify)
    verify.add_argument("--val-size", type=int, default=10_000, help="validation images")
    verify.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    verify.set_defaults(handler=cmd_data_verify)

    srch = sub.add_parser(
        "search",
        help="search model families within a wall-clock budget",
        description=cmd_search.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    srch.add_argument(
        "--budget", required=True, help="wall clock for the whole command: 90s, 10m, 2h, 1h30m"
    )
    srch.add_argument(
        "--study",
        default="fashion",
        help="study name; an existing study is resumed (default: fashion)",
    )
    srch.add_argument(
        "--families", help="comma-separated families (default: all): linear,svm,boosting,mlp,cnn"
    )
    srch.add_argument("--jobs", type=int, help="parallel worker processes (default: one per core)")
    srch.add_argument("--threads", type=int, help="threads per worker (default: cores / jobs)")
    srch.add_argument("--storage", help="Optuna storage URL (default: studies/<study>.journal)")
    srch.add_argument(
        "--studies-dir",
        help="folder for default storages (default: ./studies or $AUTOML_FASHION_STUDIES)",
    )
    srch.add_argument(
        "--seed", type=int, default=0, help="seed of the sampler, split and models (default 0)"
    )
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
        "--device", default="auto", help="torch device: auto (GPU if present), cpu, cuda, mps"
    )
    srch.add_argument(
        "--train-per-class", type=int, help="train on this many images per class (smoke runs)"
    )
    srch.add_argument(
        "--quiet", action="store_true", help="no live display; one summary line for scripts"
    )
    _add_data_options(srch)
    srch.set_defaults(handler=cmd_search)
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
