"""How fast this machine trains each family: what :mod:`~automl_fashion.search.calibrate`
measures in a few seconds and the budget plan (:mod:`~automl_fashion.search.plan`) reads."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

#: The families other than networks are assumed to get faster up to this many threads and
#: no further. The speedup is measured on two threads (a network's); extrapolated to 16,
#: a 10-minute search on a 16-core GPU machine planned the svm's init at 10 s (it took 115 s
#: on 16 threads, slower than on one here), boosting's at 10 s (37 s), linear's at 3 s (6 s).
SCALED_THREADS = 2
#: The families whose init is a network worth one worker each (in preference order). On a
#: CPU the first one searched is the plan's network; the next one partners its long networks
#: at long budgets (a second architecture: other mistakes for the ensemble).
NETWORKS = ("cnn", "resnet")


@dataclass(frozen=True)
class Speeds:
    """How fast this machine trains each family's init, on one thread.

    ``fit_seconds``: a family's whole init fit; families missing are of unknown cost (never
    skipped). ``epochs``: the init's epochs, for families trained in epochs (the plan may
    shorten them). ``speedup``: how much faster a trial runs on twice the threads.
    ``predict_seconds``: predicting the 10,000 test images (the export's cost per member).
    ``device``: where the networks were timed and will train; on a GPU their time does not
    depend on the CPU threads.
    """

    fit_seconds: Mapping[str, float]
    epochs: Mapping[str, int] = field(default_factory=dict)
    speedup: float = 1.7
    predict_seconds: Mapping[str, float] = field(default_factory=dict)
    #: A network family's ``long`` configuration's whole fit on one thread (where timed),
    #: keyed by the family, and its ``second`` one's, keyed ``"<family>:second"``; their
    #: prediction costs are ``predict_seconds["<family>:long"]`` and ``["<family>:second"]``.
    long_seconds: Mapping[str, float] = field(default_factory=dict)
    source: str = "made up"
    device: str = "cpu"
    #: How much faster a long configuration (keyed as ``long_seconds``) trains on twice the
    #: threads, where it was timed on two; the others gain ``speedup`` (timed on the slowest
    #: init). Wider networks gain more: here the cnn's init 1.39x, its long one 1.64x.
    long_speedup: Mapping[str, float] = field(default_factory=dict)
    #: The families other than networks whose fit gains less than ``speedup`` on two
    #: threads (the svm's libsvm fit runs on one).
    gains: Mapping[str, float] = field(default_factory=dict)
    #: A network's epochs on a worker alone on the machine take this share of the time
    #: estimated (calibrate's ALONE_OVERHEAD over its EPOCH_OVERHEAD: measured apart).
    alone: float = 1.0

    def fit_time(self, family: str, threads: int, epochs: int | None = None) -> float | None:
        """Seconds for ``family``'s init on ``threads`` threads (``epochs`` of them), or None."""
        if family not in self.fit_seconds:
            return None
        seconds = self._on(family, threads, self.fit_seconds[family])
        planned = self.epochs.get(family)
        if epochs is not None and planned:
            seconds *= epochs / planned
        return seconds

    def long_time(
        self, family: str, threads: int, *, second: bool = False, alone: bool = False
    ) -> float | None:
        """Seconds for ``family``'s long configuration (its ``second`` one) on ``threads``
        threads (on a worker ``alone`` on the machine), or None where it was not timed."""
        key = f"{family}:second" if second else family
        seconds = self.long_seconds.get(key)
        if seconds is None:
            return None
        if alone and self.device == "cpu":
            seconds *= self.alone
        return self._on(family, threads, seconds, self.long_speedup.get(key))

    def _on(self, family: str, threads: int, seconds: float, speedup: float | None = None) -> float:
        """``seconds`` on one thread, on ``threads``: a network (a family trained in
        epochs) gains ``speedup`` per doubling on a CPU (its own where given) and nothing
        on a GPU; the others gain it (their ``gains``) up to :data:`SCALED_THREADS`."""
        network = family in self.epochs
        if network and self.device != "cpu":
            return seconds
        doublings = math.log2(max(1, threads))
        if not network:
            doublings = min(doublings, math.log2(SCALED_THREADS))
            speedup = self.gains.get(family, speedup)
        return seconds / (speedup or self.speedup) ** doublings


__all__ = ["NETWORKS", "SCALED_THREADS", "Speeds"]
