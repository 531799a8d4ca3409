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
