"""Table cells: formatted numbers, a dash for anything missing (never NaN, <NA> or None)."""

from __future__ import annotations

import io

import pandas as pd
from rich.console import Console

from automl_fashion.tables import MISSING, human_bytes, print_table


def render(frame: pd.DataFrame, fmt: str = "table") -> str:
    console = Console(file=io.StringIO(), width=200)
    print_table(frame, fmt, console)
    return console.file.getvalue()  # type: ignore[attr-defined]


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "trial": pd.array([3, None], dtype="Int64"),
            "family": ["cnn", None],
            "val_accuracy": [0.9312, float("nan")],
            "ci_low": [0.92, None],
            "ci_high": [0.94, None],
            "fit_seconds": [249.334, None],
            "predict_ms_per_1000": [None, 12.345],
            "model_bytes": [1_234_567, None],
            "pareto": [True, False],
        }
    )


def test_missing_cells_show_a_dash_in_tables_and_markdown(capsys) -> None:  # type: ignore[no-untyped-def]
    table = render(frame())
    print_table(frame(), "markdown", Console())
    markdown = capsys.readouterr().out
    for text in (table, markdown):
        for word in ("nan", "NaN", "<NA>", "None", "True", "False"):
            assert word not in text
        assert MISSING in text and "93.12%" in text and "249.3" in text and "12.3" in text
        assert "1.2 MB" in text
    assert "92.00-94.00%" in table


def test_machine_formats_keep_missing_values_empty(capsys) -> None:  # type: ignore[no-untyped-def]
    print_table(frame(), "csv", Console())
    csv = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert csv["val_accuracy"].isna().tolist() == [False, True]
    assert MISSING not in csv.to_string()


def test_human_bytes() -> None:
    assert [human_bytes(v) for v in (999, 1000, 2_500_000, None)] == [
        "999 B",
        "1.0 kB",
        "2.5 MB",
        MISSING,
    ]
