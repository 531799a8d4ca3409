"""How long the budget plan's warm-start networks train: how many rounds of a family's
``long`` configuration fit, how far their schedules are lengthened at long budgets, and how
many epochs one long network gets alone on every core at short ones, and whether the second
round is the family's ``second`` configuration. Pure functions of seconds, epochs and
measured speeds, read by :func:`~automl_fashion.search.plan.make_plan`."""

from __future__ import annotations

from automl_fashion.search.layout import MIN_EPOCH_SHARE
from automl_fashion.search.speeds import Speeds

#: Network inits per worker that the plan queues at most (seeds differ), where they fit.
NETWORK_ROUNDS = 2
#: At long budgets the warm-start networks train longer schedules, up to this share of each
#: worker's time (all rounds) and MAX_EPOCH_FACTOR times their init's epochs. In the 1-hour
#: and 2-hour searches with the plan, no network the sampler drew beat the 16-epoch inits,
#: which took 28% and 14% of the time; longer schedules are what the inits lacked.
NETWORK_SHARE = 0.4
MAX_EPOCH_FACTOR = 2.0
#: The network family's ``long`` configuration (its search-space file) is the first round's
#: network where one takes at most this share of a worker's time, and the second round's
#: too where two do (up to NETWORK_ROUNDS): on this machine (~1,075 s each) one from ~28
#: minutes, two from ~1 hour. Otherwise the second round is init, lengthened. At 30 minutes
#: (seed 0) a 0.5 share left the long network out: 93.59% test; 0.65 put it first: 93.88%.
#: Where both rounds fit with time to spare, their schedules are lengthened to fill that
#: share (at most MAX_EPOCH_FACTOR times their epochs, within the search space): in the
#: 2-hour search the long networks (22 epochs) took a fifth of the time and the sampler's
#: 33-epoch cnn beat all four of them by 0.3-0.5 validation points.
LONG_SHARE = 0.65


def long_rounds(seconds: float | None, work: float) -> int:
    """How many rounds of a long configuration taking ``seconds`` fit in
    :data:`LONG_SHARE` of a worker's ``work`` seconds, at most :data:`NETWORK_ROUNDS`."""
    if not seconds or seconds <= 0:
        return 0
    return max(0, min(NETWORK_ROUNDS, int(LONG_SHARE * work / seconds)))


def pairs_with_second(speeds: Speeds, network: str, threads: int, work: float) -> bool:
    """Whether ``network``'s second round of long networks is its ``second`` configuration:
    where ``speeds`` timed both, and one ``long`` network (its own epochs) and one ``second``
    on ``threads`` threads fit :data:`LONG_SHARE` of a worker's ``work`` seconds."""
    first = speeds.long_time(network, threads)
    second = speeds.long_time(network, threads, second=True)
    if not first or not second or first <= 0 or second <= 0:
        return False
    return first + second <= LONG_SHARE * work


def partner_seconds(partner: float, first: float, work: float) -> float | None:
    """Seconds for the partner architecture's long network (``partner`` seconds whole) in
    the second round, beside one of the network's long ones (``first`` seconds) in
    :data:`LONG_SHARE` of a worker's ``work`` seconds: all of it, or cut to what fits where
    at least :data:`MIN_EPOCH_SHARE` of it does; None where less fits."""
    fit = min(partner, LONG_SHARE * work - first)
    return fit if fit >= MIN_EPOCH_SHARE * partner else None


def second_timing_limit(budget: float) -> float:
    """The most seconds a network's ``second`` configuration may take on one thread for the
    calibration to time it: the plan runs it only on one-thread workers, in
    :data:`LONG_SHARE` of the budget."""
    return LONG_SHARE * budget


def timing_limit(budget: float, cores: int) -> float:
    """The most seconds a network's ``long`` configuration may take on one thread (as its
    epochs at the init's speed estimate it) for the calibration to time it on a ``budget``:
    where the plan could run it, on a one-thread worker (:data:`LONG_SHARE` of the budget)
    or alone on every core (:func:`solo_epochs`: :data:`MIN_EPOCH_SHARE` of its epochs,
    at most ``cores`` times faster). Timing it takes a few training steps; on a slower
    hour of this machine the one-thread bound alone left it untimed at 10 minutes, and the
    plan fell back to four short networks (418 s estimated against 390 s)."""
    return budget * max(LONG_SHARE, max(1, cores) / MIN_EPOCH_SHARE)


def solo_epochs(
    seconds: float | None,
    epochs: int,
    work: float,
    partner: float = 0.0,
    *,
    most: int | None = None,
) -> int:
    """Epochs for one long configuration (``seconds`` for its ``epochs`` on every core) on
    a single worker with ``work`` seconds: 0 where fewer than :data:`MIN_EPOCH_SHARE` of its
    epochs fit; else as many as fit beside its ``partner``'s seconds (the families that join
    its ensembles; all of ``work`` where the partner would cut it below that share), at most
    :data:`MAX_EPOCH_FACTOR` times its epochs and at most ``most``.

    Measured on this machine (50,000 / 10,000 split, 2 cores of an Intel Xeon with AMX,
    2026-11-27; ``benchmarks/results/solo-network.json``): the cnn's long configuration
    for 25 epochs on two threads reached 94.35% validation in 465 s; two of it for 15 epochs,
    one thread each side by side (491-496 s), 94.12% and 94.18%, and averaged 94.17%; four
    16-epoch inits and variants averaged 94.00%. With the svm: 94.61%, 94.44%, 94.14%."""
    if not seconds or seconds <= 0 or epochs <= 0:
        return 0
    per_epoch = seconds / epochs
    least = MIN_EPOCH_SHARE * epochs
    if work / per_epoch < least:
        return 0
    fit = int((work - partner) / per_epoch)
    if fit < least:
        fit = int(work / per_epoch)
    cap = int(MAX_EPOCH_FACTOR * epochs)
    if most is not None:
        cap = min(cap, most)
    return max(1, min(fit, cap))


def longer_schedule(
    planned: int | None,
    seconds: float | None,
    work: float,
    *,
    share: float = NETWORK_SHARE,
    most: int | None = None,
    room: float | None = None,
) -> int:
    """Epochs for the warm-start networks: their ``planned`` epochs (``seconds`` on the
    plan's threads), lengthened so that :data:`NETWORK_ROUNDS` of them take up to ``share``
    of a worker's ``work`` seconds (or one of them ``room`` seconds), at most
    :data:`MAX_EPOCH_FACTOR` times as many and at most ``most``; never fewer (a short budget
    cuts them elsewhere). 0 if unknown."""
    if not planned or not seconds or seconds <= 0:
        return planned or 0
    if room is None:
        room = share * work / NETWORK_ROUNDS
    fits = planned * room / seconds
    cap = int(MAX_EPOCH_FACTOR * planned)
    if most is not None:
        cap = min(cap, most)
    return max(planned, min(cap, int(fits)))


__all__ = [
    "LONG_SHARE",
    "MAX_EPOCH_FACTOR",
    "NETWORK_ROUNDS",
    "NETWORK_SHARE",
    "long_rounds",
    "longer_schedule",
    "pairs_with_second",
    "partner_seconds",
    "second_timing_limit",
    "solo_epochs",
    "timing_limit",
]
