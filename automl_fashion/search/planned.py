"""What the budget plan (:func:`~automl_fashion.search.plan.make_plan`) decides, as data:
the queue of warm-start trials, the layout, the time kept for the end and the reasons,
JSON-ready for the study and the progress panel; and the last steps every plan (the CPU's,
the GPU's) takes: queueing the other families' inits where they fit, and saying why some
were not."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from automl_fashion.search.speeds import Speeds


@dataclass(frozen=True)
class Queued:
    family: str
    #: Parameters that differ from the family's init (e.g. fewer epochs).
    overrides: Mapping[str, Any]
    #: Estimated seconds on the plan's threads (None: unknown).
    seconds: float | None


@dataclass(frozen=True)
class Plan:
    jobs: int
    threads: int
    queue: tuple[Queued, ...]
    #: family -> why the plan does not warm-start it
    skipped: Mapping[str, str]
    #: Seconds kept at the end of the budget (workers' shutdown and the export).
    reserve: float
    #: One line per decision, for the progress panel and the study.
    reasons: tuple[str, ...]
    speeds_source: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, stored on the study as its ``plan`` attribute."""
        d = asdict(self)
        d["queue"] = [
            {
                "family": q.family,
                "overrides": dict(q.overrides),
                "seconds": None if q.seconds is None else round(q.seconds, 1),
            }
            for q in self.queue
        ]
        d["skipped"] = dict(self.skipped)
        d["reserve"] = round(self.reserve, 1)
        d["reasons"] = list(self.reasons)
        return d


def queue_inits(
    families: Sequence[str],
    speeds: Speeds,
    threads: int,
    free: list[float],
    queue: list[Queued],
    skipped: MutableMapping[str, str],
    *,
    named: bool = False,
    left_by: str = "the networks",
) -> None:
    """Queue each family's init on the worker with the most time left (``free``, seconds
    per worker, updated), where it fits; unknown costs and ``named`` families always.
    The others go to ``skipped``, with why."""
    for fam in families:
        seconds = speeds.fit_time(fam, threads)
        w = max(range(len(free)), key=lambda i: free[i])
        if seconds is None or named or seconds <= free[w]:
            queue.append(Queued(fam, {}, seconds))
            free[w] -= seconds or 0.0
        else:
            skipped[fam] = (
                f"its init needs ~{seconds:.0f} s and {left_by} leave ~{max(0.0, free[w]):.0f} s"
            )


def about(seconds: float | None) -> str:
    """`` (~N s)`` for a reason's estimate, or nothing where it is unknown."""
    return f" (~{seconds:.0f} s)" if seconds is not None else ""


def closing_reasons(skipped: Mapping[str, str], reserve: float) -> list[str]:
    """The plan's last lines: the families not warm-started and why, the time kept."""
    lines = []
    if skipped:
        lines.append(
            "not warm-started (name them with --families, or give a longer --budget): "
            + "; ".join(f"{f}: {why}" for f, why in skipped.items())
        )
    lines.append(f"{reserve:.0f} s kept for the end (stopping the workers, export)")
    return lines


__all__ = ["Plan", "Queued", "about", "closing_reasons", "queue_inits"]
