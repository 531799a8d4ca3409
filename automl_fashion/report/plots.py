"""The report's figures (matplotlib, Agg): each function draws one PNG and returns its path.

Figures stay readable at thousands of trials: lines and bars are drawn as collections,
one per family or outcome, never one artist per trial.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from automl_fashion.report.facts import TrialRun

if TYPE_CHECKING:
    import pandas as pd

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
OUTCOME_COLORS = {
    "complete": "#2ca02c",
    "pruned": "#ffbf00",
    "budget": "#1f77b4",
    "failed": "#d62728",
    "running": "#999999",
}
#: Learning curves drawn per family at most (the most recent); more only blur together.
MAX_CURVES = 300


#: Up to this many classes the confusion matrix writes its counts in the cells, and names
#: every class on its axes.
ANNOTATED_CLASSES, LABELLED_CLASSES = 20, 60


def plain(text: str) -> str:
    """Text from the study shown as is: matplotlib reads ``$...$`` as mathematics (and a
    malformed formula would fail the whole figure)."""
    return text.replace("$", r"\$")


def colors(families: Sequence[str]) -> dict[str, str]:
    return {f: PALETTE[i % len(PALETTE)] for i, f in enumerate(sorted(set(families)))}


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def accuracy_vs_time(done: pd.DataFrame, path: Path) -> Path:
    """Every complete trial: validation accuracy against fit time, with the Pareto front."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    palette = colors(done["family"].astype(str).tolist())
    fit = done["fit_seconds"].astype(float).clip(lower=1e-3)
    for fam in sorted(palette):
        mine = done["family"] == fam
        ax.scatter(
            fit[mine],
            done.loc[mine, "val_accuracy"] * 100,
            label=plain(fam),
            color=palette[fam],
            s=14 if len(done) > 500 else 30,
            alpha=0.7,
            edgecolor="none",
        )
    front = done[done["pareto"]].sort_values("fit_seconds")
    ax.step(
        fit[front.index],
        front["val_accuracy"] * 100,
        where="post",
        color="black",
        linewidth=1,
        label="Pareto front",
    )
    ax.set_xscale("log")
    ax.set_xlabel("fit time (s, log scale)")
    ax.set_ylabel("validation accuracy (%)")
    top = float(done["val_accuracy"].max()) * 100
    ax.set_ylim(
        max(0.0, min(top - 15, float(done["val_accuracy"].quantile(0.1)) * 100 - 2)),
        min(100, top + 1),
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def confusion(matrix: np.ndarray, classes: Sequence[str], path: Path) -> Path:
    """Row-normalised confusion matrix, counts in the cells."""
    import matplotlib.pyplot as plt

    rows = matrix.sum(1, keepdims=True).clip(min=1)
    share = matrix / rows
    side = min(20.0, max(5.6, 0.45 * len(classes) + 1.0))
    fig, ax = plt.subplots(figsize=(side + 0.8, side))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    n = len(classes)
    if n <= LABELLED_CLASSES:
        names = [plain(c) for c in classes]
        ax.set_xticks(range(n), names, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(n), names, fontsize=8)
    for t in range(n if n <= ANNOTATED_CLASSES else 0):
        for p in range(n):
            if matrix[t, p]:
                ax.text(
                    p,
                    t,
                    str(matrix[t, p]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if share[t, p] > 0.5 else "black",
                )
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    return _save(fig, path)


def rung_unit(family: str) -> str:
    """What a family's rung steps count (``Family.fidelity``): epochs, rounds, images, or
    the per mille of its schedule for networks; "step" for a family not installed here."""
    from automl_fashion import families

    try:
        return str(families.get(family).fidelity)
    except Exception:  # a study's family name is untrusted; a plugin may be missing here
        return "step"


def learning_curves(runs: list[TrialRun], path: Path) -> Path:
    """Per family, the rung values each trial reported; pruned and stopped trials faded."""
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    families = sorted({r.family for r in runs if r.curve})
    cols = min(3, max(1, len(families)))
    rows = max(1, -(-len(families) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.6 * rows), squeeze=False)
    palette = colors(families)
    for ax, fam in zip(axes.flat, families, strict=False):
        mine = [r for r in runs if r.family == fam and r.curve][-MAX_CURVES:]
        for kept, alpha, width in ((False, 0.15, 0.8), (True, 0.8, 1.2)):
            lines = [
                np.array(r.curve, dtype=float) * [1, 100]
                for r in mine
                if (r.outcome == "complete") == kept
            ]
            color = palette[fam] if kept else "#888888"
            ax.add_collection(LineCollection(lines, colors=color, alpha=alpha, linewidths=width))
            for line in lines:
                if len(line) == 1:  # a single rung is a point, not a line
                    ax.plot(*line[0], ".", color=color, alpha=alpha)
        steps = [s for r in mine for s, _ in r.curve]
        values = [v * 100 for r in mine for _, v in r.curve]
        ax.set_xlim(min(steps) - 0.5, max(steps) + 0.5)
        low = float(np.percentile(values, 5))
        ax.set_ylim(max(0.0, low - 2), min(100.0, max(values) + 1))
        ax.set_title(f"{plain(fam)} ({len(mine)} trials)", fontsize=9)
        ax.set_xlabel(f"rung ({rung_unit(fam)})", fontsize=8)
        ax.set_ylabel("val acc (%)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(families) :]:
        ax.axis("off")
    return _save(fig, path)


def best_over_time(runs: list[TrialRun], values: dict[int, float], path: Path) -> Path:
    """Best validation accuracy so far against the search's wall clock."""
    import matplotlib.pyplot as plt

    done = sorted((r.end, values[r.number], r.family) for r in runs if r.number in values)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    if done:
        minutes = np.array([d[0] for d in done]) / 60
        acc = np.array([d[1] for d in done]) * 100
        best = np.maximum.accumulate(acc)
        palette = colors([d[2] for d in done])
        for fam in sorted(palette):
            mine = np.array([d[2] == fam for d in done])
            ax.scatter(
                minutes[mine], acc[mine], s=8, color=palette[fam], alpha=0.5, label=plain(fam)
            )
        ax.step(minutes, best, where="post", color="black", label="best so far")
        ax.set_ylim(max(0.0, float(best[0]) - 3), min(100.0, float(best[-1]) + 1))
        ax.legend(fontsize=8, loc="lower right")
    ax.set_xlabel("minutes since the first trial started")
    ax.set_ylabel("validation accuracy (%)")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def timeline(runs: list[TrialRun], path: Path) -> Path:
    """A Gantt chart: one lane per worker, one bar per trial, coloured by outcome."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    lanes = sorted({r.worker for r in runs})
    row = {lane: y for y, lane in enumerate(lanes)}
    bars: dict[tuple[int, str], list[tuple[float, float]]] = {}
    for r in runs:
        bars.setdefault((row[r.worker], r.outcome), []).append(
            (r.start / 60, max((r.end - r.start) / 60, 1e-3))
        )
    fig, ax = plt.subplots(figsize=(7.5, 0.35 * len(lanes) + 1.6))
    edge = "white" if len(runs) < 500 else "none"  # thousands of edges would hide the bars
    for (y, outcome), spans in bars.items():
        ax.broken_barh(
            spans, (y - 0.4, 0.8), facecolors=OUTCOME_COLORS[outcome], edgecolor=edge, lw=0.3
        )
    ax.set_yticks(range(len(lanes)), [plain(lane) for lane in lanes], fontsize=7)
    ax.set_xlabel("minutes since the first trial started")
    used = sorted({r.outcome for r in runs}, key=list(OUTCOME_COLORS).index)
    ax.legend(
        [Patch(color=OUTCOME_COLORS[o]) for o in used],
        used,
        fontsize=7,
        ncol=len(used),
        loc="upper center",
        bbox_to_anchor=(0.5, -0.25 if len(lanes) > 2 else -0.45),
    )
    ax.invert_yaxis()
    return _save(fig, path)


def importances(found: dict[str, dict[str, float]], path: Path) -> Path:
    """Per family, the importance of each hyperparameter (Optuna's evaluator)."""
    import matplotlib.pyplot as plt

    families = sorted(found)
    cols = min(3, len(families))
    rows = -(-len(families) // cols)
    height = max(len(v) for v in found.values()) * 0.28 + 1.0
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, height * rows), squeeze=False)
    palette = colors(families)
    for ax, fam in zip(axes.flat, families, strict=False):
        items = sorted(found[fam].items(), key=lambda kv: kv[1])
        ax.barh([plain(k) for k, _ in items], [v for _, v in items], color=palette[fam])
        ax.set_xlim(0, 1)
        ax.set_title(plain(fam), fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(families) :]:
        ax.axis("off")
    return _save(fig, path)
