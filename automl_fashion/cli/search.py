"""``automl-fashion search`` and ``worker``: run trials within a budget."""

from __future__ import annotations

import argparse
import sys

from automl_fashion.cli._common import make_console


def cmd_search(args: argparse.Namespace) -> int:
    """Search the model families within a wall-clock budget, in parallel, with pruning.

    The budget covers the whole command. Results go to the study storage (default
    studies/<study>.journal); running the same --study again resumes it.

    Examples:
      automl-fashion search --budget 10m
      automl-fashion search --budget 2h --study big --families cnn,mlp --jobs 2
      automl-fashion search --budget 10m --dataset mnist --study digits
      automl-fashion search --budget 30m --data shop/ --image-size 32 --color rgb
    """
    from automl_fashion.budget import format_seconds, parse_budget
    from automl_fashion.search import SearchConfig

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
        dataset=args.dataset,
        data=args.data,
        image_size=args.image_size,
        color=args.color,
        val_size=args.val_size,
        device=args.device,
        train_per_class=args.train_per_class,
        export_dir=None if args.no_export else (args.export or _default_export(args)),
        max_predict_ms=args.max_predict_ms,
        max_size_mb=args.max_size,
    ).validated()
    console = make_console(args)
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


def cmd_worker(args: argparse.Namespace) -> int:
    """Add this machine's workers to a running study (e.g. on PostgreSQL).

    Without --budget the workers stop at the deadline of the search that started the study;
    they search the same families unless --families says otherwise.

    Example:
      automl-fashion worker --storage postgresql://user@db-host/automl --study big
    """
    from automl_fashion.budget import parse_budget
    from automl_fashion.search import SearchConfig, join_config

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
    console = make_console(args)
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
    from automl_fashion.progress import RichProgress
    from automl_fashion.search import search

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
