"""Live progress of a search in the terminal (rich): time left, trial states, best per family."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import TrialState

from automl_fashion.budget import format_seconds
from automl_fashion.search import SearchProgress


def best_per_family(study: optuna.Study) -> dict[str, tuple[float, int]]:
    """family -> (best validation accuracy, trial number) over complete trials."""
    best: dict[str, tuple[float, int]] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        fam = str(t.params.get("family"))
        if not isinstance(t.value, int | float) or isinstance(t.value, bool):
            continue  # read back from the storage: untrusted
        if fam not in best or t.value > best[fam][0]:
            best[fam] = (t.value, t.number)
    return best


class RichProgress(SearchProgress):
    """A live panel, refreshed once a second while the search runs."""

    def __init__(self, console: Any) -> None:
        from rich.live import Live

        self.console = console
        self.live = Live(console=console, refresh_per_second=2, transient=False)
        self.notes: list[str] = []
        self.plan: list[str] = []

    def __enter__(self) -> RichProgress:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)
        self.console.print()

    def message(self, text: str) -> None:
        self.notes.append(text)

    def show_plan(self, lines: Sequence[str]) -> None:
        self.plan = [f"plan: {line}" for line in lines]

    def update(
        self, study: optuna.Study, started: float, budget: float, jobs: int, threads: int
    ) -> None:
        from rich.console import Group
        from rich.table import Table

        trials = study.get_trials(deepcopy=False)
        count = {s: sum(t.state == s for t in trials) for s in TrialState}
        elapsed = time.time() - started
        head = (
            f"[bold]{study.study_name}[/]  elapsed {format_seconds(elapsed)}  "
            f"left {format_seconds(budget - elapsed)}  workers {jobs} x {threads} thread(s)\n"
            f"trials: [green]{count[TrialState.COMPLETE]} complete[/], "
            f"[yellow]{count[TrialState.PRUNED]} pruned[/], "
            f"[red]{count[TrialState.FAIL]} failed[/], {count[TrialState.RUNNING]} running"
        )
        table = Table("family", "best val acc", "trial", "complete", "pruned", "failed")
        best = best_per_family(study)
        fams = sorted({str(t.params.get("family")) for t in trials if t.params.get("family")})
        for fam in fams:
            mine = [t for t in trials if t.params.get("family") == fam]
            acc, num = best.get(fam, (float("nan"), -1))
            table.add_row(
                fam,
                f"{acc:.2%}" if num >= 0 else "-",
                str(num) if num >= 0 else "-",
                str(sum(t.state == TrialState.COMPLETE for t in mine)),
                str(sum(t.state == TrialState.PRUNED for t in mine)),
                str(sum(t.state == TrialState.FAIL for t in mine)),
            )
        self.live.update(Group(head, *self.plan, table, *self.notes[-2:]))
