"""``automl-fashion data verify``: where the data set is, its digests, images per class."""

from __future__ import annotations

import argparse

from automl_fashion.cli._common import make_console


def cmd_data_verify(args: argparse.Namespace) -> int:
    """Locate the Fashion-MNIST files, check their digests and count images per class.

    Example: automl-fashion data verify --data-dir /usr/share/datasets/fashion-mnist
    """
    from rich.table import Table

    from automl_fashion.data import CLASSES
    from automl_fashion.data.verify import verify

    report = verify(args.data_dir, val_size=args.val_size, seed=args.seed)
    console = make_console(args)
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
