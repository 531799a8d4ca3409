"""``automl-fashion leaderboard`` and ``report``: read a study, never write it."""

from __future__ import annotations

import argparse

from automl_fashion.cli._common import make_console


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
    console = make_console(args)
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
    make_console(args).print(f"wrote {escape(printable(page))}", soft_wrap=True)  # one line
    return 0
