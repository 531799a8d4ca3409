"""What the budget plan (:func:`~automl_fashion.search.plan.make_plan`) decides, as data:
the queue of warm-start trials, the layout, the time kept for the end and the reasons,
JSON-ready for the study and the progress panel."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any


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


__all__ = ["Plan", "Queued"]
