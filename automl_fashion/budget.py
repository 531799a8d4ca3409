"""Wall-clock budgets: parsing ``90s``/``10m``/``2h``/``1h30m`` and a deadline clock."""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field

from automl_fashion.errors import AutoMLFashionError, ConfigError

_PART = re.compile(r"(\d+(?:\.\d+)?)([hms])")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0}


class BudgetExhausted(AutoMLFashionError):
    """Raised at a rung when the search's deadline has passed: the trial stops there."""


#: The longest budget: a year.
MAX_BUDGET = 365 * 24 * 3600.0


def parse_budget(text: str) -> float:
    """Seconds in a budget such as ``90s``, ``10m``, ``2h``, ``1h30m`` or ``45`` (seconds)."""
    raw = str(text).strip().lower()
    try:
        seconds = float(raw)
    except ValueError:
        parts = _PART.findall(raw)
        units = [u for _, u in parts]
        if (
            not parts
            or "".join(n + u for n, u in parts) != raw
            or len(set(units)) != len(units)
            or units != sorted(units, key="hms".index)
        ):
            raise ConfigError(
                f"--budget: {text!r} is not a duration; expected e.g. 90s, 10m, 2h or 1h30m"
            ) from None
        seconds = sum(float(n) * _UNIT[u] for n, u in parts)
    if not math.isfinite(seconds):
        raise ConfigError(f"--budget: {text!r} is not a finite duration; expected e.g. 2h")
    if not seconds > 0:
        raise ConfigError(f"--budget: {text!r} must be longer than zero")
    if seconds > MAX_BUDGET:  # 1e308 s overflowed the networks' epoch arithmetic
        raise ConfigError(f"--budget: {text!r} is over a year; expected at most 8760h")
    return seconds


def format_seconds(seconds: float) -> str:
    """``3725`` -> ``1h02m05s``; short and stable for progress displays."""
    s = max(0, round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m:02d}m{s:02d}s"
    return f"{m}m{s:02d}s" if m else f"{s}s"


@dataclass
class Deadline:
    """A point on the wall clock (``time.time``, shared across worker processes)."""

    at: float
    started: float = field(default_factory=time.time)

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        now = time.time()
        return cls(at=now + seconds, started=now)

    def remaining(self) -> float:
        return self.at - time.time()

    def passed(self) -> bool:
        return self.remaining() <= 0
