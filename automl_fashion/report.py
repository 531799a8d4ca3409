"""A visual report of a study: four PNG figures and one self-contained HTML page.

Figures: accuracy against fit time by family with the Pareto front; best-so-far accuracy
over wall-clock time; the best trial of each family; what pruning did per family.
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import TYPE_CHECKING

from automl_fashion import leaderboard as lb
from automl_fashion.errors import ConfigError

if TYPE_CHECKING:
    import optuna
    import pandas as pd

FIGURES = {
    "accuracy_vs_time.png": "Validation accuracy against fit time (log scale); line: Pareto front",
    "best_over_time.png": "Best validation accuracy so far over the search's wall clock",
    "family_best.png": "Best trial of each family, with its fit time",
    "pruning.png": "Trials per family: complete, pruned, failed",
}


def write_report(
    study: optuna.Study, out: str | os.PathLike[str], *, cost_weight: float = 0.25
) -> list[Path]:
    """Write the PNGs and ``index.html`` into ``out`` (a folder, made if missing); returns
    the files written."""
    import matplotlib

    directory = Path(out)
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"--out {out}: is a file; expected a folder to write the report into")
    matplotlib.use("Agg")
    frame = lb.trials_frame(study, cost_weight=cost_weight)
    if frame.empty or not (frame["state"] == "complete").any():
        raise ConfigError(f"study {study.study_name!r} has no complete trial to report on")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot make the folder ({exc.strerror or exc})") from None
    done = frame[frame["state"] == "complete"]
    written = [
        _accuracy_vs_time(done, directory / "accuracy_vs_time.png"),
        _best_over_time(frame, directory / "best_over_time.png"),
        _family_best(lb.by_family(frame), directory / "family_best.png"),
        _pruning(frame, directory / "pruning.png"),
    ]
    page = directory / "index.html"
    page.write_text(_html(study.study_name, frame, written, cost_weight), encoding="utf-8")
    return [*written, page]


def _colors(families: list[str]) -> dict[str, str]:
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
    return {f: palette[i % len(palette)] for i, f in enumerate(sorted(families))}


def _accuracy_vs_time(done: pd.DataFrame, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = _colors(done["family"].unique().tolist())
    for fam, group in done.groupby("family"):
        ax.scatter(
            group["fit_seconds"],
            group["val_accuracy"] * 100,
            label=fam,
            color=colors[str(fam)],
            alpha=0.8,
            edgecolor="white",
        )
    front = done[done["pareto"]].sort_values("fit_seconds")
    ax.step(
        front["fit_seconds"],
        front["val_accuracy"] * 100,
        where="post",
        color="black",
        linewidth=1,
        label="Pareto front",
    )
    ax.set_xscale("log")
    ax.set_xlabel("fit time (s, log scale)")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_ylim(
        max(50, done["val_accuracy"].min() * 100 - 2),
        100 * min(1, done["val_accuracy"].max() + 0.01),
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Accuracy against training cost")
    return _save(fig, path)


def _best_over_time(frame: pd.DataFrame, path: Path) -> Path:
    import matplotlib.pyplot as plt
    import pandas as pd

    done = frame[(frame["state"] == "complete") & frame["finished"].notna()].copy()
    fig, ax = plt.subplots(figsize=(7, 4))
    if not done.empty:
        finished = pd.to_datetime(done["finished"])
        start = finished.min() - pd.to_timedelta(
            done.loc[finished.idxmin(), "fit_seconds"] or 0, unit="s"
        )
        done["minutes"] = (finished - start).dt.total_seconds() / 60
        done = done.sort_values("minutes")
        best = done["val_accuracy"].cummax() * 100
        ax.step(done["minutes"], best, where="post", color="black", label="best so far")
        colors = _colors(done["family"].unique().tolist())
        for fam, group in done.groupby("family"):
            ax.scatter(
                group["minutes"],
                group["val_accuracy"] * 100,
                s=12,
                color=colors[str(fam)],
                label=fam,
                alpha=0.7,
            )
        ax.set_ylim(max(50, best.min() - 5), 100 * min(1, done["val_accuracy"].max() + 0.01))
    ax.set_xlabel("wall clock (minutes since the first trial started)")
    ax.set_ylabel("validation accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Anytime performance")
    return _save(fig, path)


def _family_best(best: pd.DataFrame, path: Path) -> Path:
    import matplotlib.pyplot as plt

    best = best.dropna(subset=["val_accuracy"]).sort_values("val_accuracy")
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(best) + 1.5))
    colors = _colors(best["family"].tolist())
    ax.barh(best["family"], best["val_accuracy"] * 100, color=[colors[f] for f in best["family"]])
    for i, (acc, fit) in enumerate(zip(best["val_accuracy"], best["fit_seconds"], strict=True)):
        ax.text(acc * 100 + 0.1, i, f"{acc:.2%}  ({fit:.0f} s)", va="center", fontsize=9)
    low = best["val_accuracy"].min() * 100
    ax.set_xlim(max(0, low - 5), 100)
    ax.set_xlabel("best validation accuracy (%)  (fit seconds)")
    ax.set_title("Which family wins, at what training cost")
    return _save(fig, path)


def _pruning(frame: pd.DataFrame, path: Path) -> Path:
    import matplotlib.pyplot as plt

    counts = frame.groupby(["family", "state"]).size().unstack(fill_value=0)
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(counts) + 1.5))
    left = None
    for state, color in (("complete", "#2ca02c"), ("pruned", "#ffbf00"), ("fail", "#d62728")):
        if state not in counts:
            continue
        ax.barh(counts.index, counts[state], left=left, color=color, label=state)
        left = counts[state] if left is None else left + counts[state]
    ax.set_xlabel("trials")
    ax.legend(fontsize=8)
    ax.set_title("Pruning overview")
    return _save(fig, path)


def _save(fig: object, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()  # type: ignore[attr-defined]
    fig.savefig(path, dpi=110)  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return path


def _html(name: str, frame: pd.DataFrame, images: list[Path], cost_weight: float) -> str:
    board = lb.leaderboard(frame).head(25)
    cols = [
        "rank",
        "trial",
        "family",
        "val_accuracy",
        "ci_low",
        "ci_high",
        "fit_seconds",
        "predict_ms_per_1000",
        "pareto",
        "score",
        "params",
    ]
    fams = lb.by_family(frame)
    fam_cols = [
        "family",
        "val_accuracy",
        "fit_seconds",
        "trial",
        "trials",
        "complete",
        "pruned",
        "failed",
    ]
    pct = {
        c: (lambda v: "" if v != v else f"{v:.2%}")
        for c in ("val_accuracy", "ci_low", "ci_high", "score")
    }
    figures = "\n".join(
        f'<figure><img alt="{html.escape(FIGURES[p.name])}" src="data:image/png;base64,'
        f'{base64.b64encode(p.read_bytes()).decode()}"><figcaption>'
        f"{html.escape(FIGURES[p.name])}</figcaption></figure>"
        for p in images
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>automl-fashion: {html.escape(name)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}}
table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:3px 6px}}
figure{{display:inline-block;margin:0 1em 1em 0}}img{{max-width:560px}}</style></head>
<body><h1>Study {html.escape(name)}</h1>
<p>{int((frame["state"] == "complete").sum())} complete, {int((frame["state"] == "pruned").sum())}
pruned, {int((frame["state"] == "fail").sum())} failed trials. Score = accuracy &minus;
{cost_weight}/100 &times; log2(1 + fit minutes).</p>
<h2>Per family</h2>{fams[[c for c in fam_cols if c in fams]].to_html(index=False, formatters=pct)}
<h2>Figures</h2>{figures}
<h2>Leaderboard (top 25)</h2>{board[cols].to_html(index=False, formatters=pct)}
</body></html>
"""
