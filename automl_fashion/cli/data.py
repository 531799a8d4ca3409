"""``automl-fashion data verify``: where the data set is, its digests, images per class."""

from __future__ import annotations

import argparse

from automl_fashion.cli._common import make_console


def cmd_data_verify(args: argparse.Namespace) -> int:
    """Locate a data set, check it and count images per class in train, val and test.

    A built-in set's files are checked byte for byte against their published digests; a
    folder of pictures gets every check a search makes (see --data), and the count says
    what was held out as its test part.

    Examples:
      automl-fashion data verify --data-dir /usr/share/datasets/fashion-mnist
      automl-fashion data verify --dataset mnist
      automl-fashion data verify --data shop/ --image-size 32 --color rgb
    """
    from rich.markup import escape
    from rich.table import Table

    from automl_fashion.data.spec import DatasetSpec
    from automl_fashion.data.verify import verify

    spec = DatasetSpec(
        name=args.dataset,
        folder=args.data,
        image_size=args.image_size,
        color=args.color,
        seed=args.seed,
    ).validated()
    report = verify(args.data_dir, dataset=spec, val_size=args.val_size, seed=args.seed)
    console = make_console(args)
    info = report.info
    console.print(
        f"Data set [bold]{escape(info.name)}[/]: {info.n_classes} classes, "
        f"{' x '.join(map(str, info.shape))} (channels x height x width); "
        f"[bold]{escape(report.directory)}[/] (found via {report.origin})",
        soft_wrap=True,
    )
    if report.files:
        files = Table("file", "path", "check")
        for f in report.files:
            files.add_row(
                f.name, escape(f.path), "[green]ok[/]" if f.ok else f"[red]{f.problem}[/]"
            )
        console.print(files)
    if not report.ok:
        console.print("[red]Data verification failed.[/]")
        return 1
    counts = Table("class", *[f"{k} ({sum(v)})" for k, v in report.class_counts.items()])
    for c, name in enumerate(info.classes):
        counts.add_row(f"{c} {escape(name)}", *[str(v[c]) for v in report.class_counts.values()])
    console.print(counts)
    what = f"All {len(report.files)} files verified" if report.files else "Every picture read"
    if report.ignored:
        what += f" ({report.ignored} files that are not pictures ignored)"
    console.print(
        f"[green]{what}.[/] Split: seed {args.seed}, {sum(report.class_counts['val'])} "
        f"validation images, stratified; test images: {escape(info.test)}."
    )
    return 0
