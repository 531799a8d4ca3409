"""Leaderboard frames as terminal tables, CSV, JSON or Markdown (what the CLI prints).

Kept beside the CLI, not in it: formatting cells, hiding columns on a narrow terminal and
escaping text read from a study are one job, and ``cli.py`` only parses and calls.
"""

from __future__ import annotations

#: What a table or Markdown cell shows for a missing value (CSV and JSON keep it empty/null).
MISSING = "\u2014"


def print_table(  # type: ignore[no-untyped-def]
    table,
    fmt: str,
    console,
    title: str = "",
    show_params: bool = False,
    percent: tuple[str, ...] = ("val_accuracy", "ci_low", "ci_high", "score"),
) -> None:
    """Print a leaderboard frame as a rich table, CSV, JSON or Markdown.

    ``percent`` names the columns shown as percentages. Missing values show as an em dash.
    Text read from a study (family names, parameters, failure reasons) is untrusted: the
    table and Markdown show its control characters escaped, and rich shows [markup] as is.
    """
    from rich.markup import escape

    from automl_fashion.model import printable

    if fmt == "csv":
        print(table.to_csv(index=False), end="")
        return
    if fmt == "json":
        print(table.to_json(orient="records", date_format="iso", indent=2))
        return
    shown = table.copy()
    if "ci_low" in shown and fmt == "table":
        shown.insert(
            list(shown.columns).index("ci_low"),
            "95% CI",
            [
                MISSING if _missing(lo) or _missing(hi) else f"{lo:.2%}"[:-1] + f"-{hi:.2%}"
                for lo, hi in zip(shown["ci_low"], shown["ci_high"], strict=True)
            ],
        )
        shown = shown.drop(columns=["ci_low", "ci_high"])
    for col in percent:
        if col in shown:
            shown[col] = shown[col].map(lambda v: _cell(v, ".2%"))
    if "fit_seconds" in shown:
        shown["fit_seconds"] = shown["fit_seconds"].map(lambda v: _cell(v, ".1f"))
    if "model_bytes" in shown:
        shown["model_bytes"] = shown["model_bytes"].map(human_bytes)
    if "predict_ms_per_1000" in shown:
        shown["predict_ms_per_1000"] = shown["predict_ms_per_1000"].map(lambda v: _cell(v, ".1f"))
    if "pareto" in shown:
        shown["pareto"] = shown["pareto"].map(lambda v: "*" if v else "")
    if fmt == "markdown":
        header = "| " + " | ".join(shown.columns) + " |"
        rule = "|" + "---|" * len(shown.columns)
        body = [
            "| " + " | ".join(printable(_cell(v)) for v in row) + " |"
            for row in shown.itertuples(index=False)
        ]
        print("\n".join([header, rule, *body]))
        return
    from rich import box
    from rich.table import Table

    names = {
        "val_accuracy": "val acc",
        "fit_seconds": "fit s",
        "predict_ms_per_1000": "ms/1k",
        "model_bytes": "size",
        "pareto": "front",
    }
    if not show_params:
        shown = shown.drop(columns=[c for c in ("params",) if c in shown])

    def build(frame):  # type: ignore[no-untyped-def]
        rich_table = Table(title=escape(printable(title)), box=box.SIMPLE_HEAD)
        for col in frame.columns:
            free_text = col in ("reason", "params")  # long: these wrap, the rest never do
            rich_table.add_column(names.get(col, col), no_wrap=not free_text, overflow="fold")
        for row in frame.itertuples(index=False):
            rich_table.add_row(*[escape(printable(_cell(v))) for v in row])
        return rich_table

    # on a narrow terminal, drop the least needed columns rather than fold every cell
    unbounded = console.options.update_width(100_000)

    def fits(frame) -> bool:  # type: ignore[no-untyped-def]
        fixed = build(frame.drop(columns=[c for c in ("reason", "params") if c in frame]))
        room = sum(  # the wrapped columns get up to 30 characters each
            3 + min(30, int(frame[c].astype(str).str.len().max()))
            for c in ("reason", "params")
            if c in frame and len(frame)
        )
        return bool(console.measure(fixed, options=unbounded).maximum + room <= console.width)

    hidden = []
    for col in ("95% CI", "model_bytes", "state", "pareto", "predict_ms_per_1000"):
        if fits(shown):
            break
        if col in shown:
            shown = shown.drop(columns=[col])
            hidden.append(names.get(col, col))
    console.print(build(shown))
    if hidden:
        console.print(
            f"[dim]Hidden to fit {console.width} columns: {', '.join(hidden)} "
            "(widen the terminal, or use --format csv).[/dim]"
        )


def _missing(value: object) -> bool:
    """None, NaN or pandas' NA: what a table shows as a blank cell."""
    import pandas as pd

    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def _cell(value: object, spec: str = "") -> str:
    """A table cell: ``value`` formatted with ``spec``, a dash when missing."""
    return MISSING if _missing(value) else format(value, spec)


def human_bytes(value: object) -> str:
    if _missing(value):
        return MISSING
    size = float(value)  # type: ignore[arg-type]
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return str(value)
