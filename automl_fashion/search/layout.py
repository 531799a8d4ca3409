"""The budget plan's frame: how many workers with how many threads, and the seconds kept
before the first trial and after the last (the workers' start and shutdown, the export).

Independent networks on one thread each train ~15% more images per second in all than one
network on two threads (measured: a CNN step takes 61 ms on one thread, 36 ms on two), and
two networks make an ensemble that is more accurate than either. So the cores are split
into one-thread workers, unless a network would then get fewer than
:data:`MIN_EPOCH_SHARE` of its init's epochs: then fewer workers with more threads each.
"""

from __future__ import annotations

from collections.abc import Sequence

from automl_fashion.search.speeds import Speeds

#: Seconds from the start of a search to its workers' first trial (spawn, imports, data).
STARTUP_SECONDS = 10.0
#: Seconds kept at the end for stopping the workers (at most 5% of the budget).
SHUTDOWN_SECONDS = 5.0
#: A network run on its own worker gets at least this share of its init's epochs, or the
#: layout uses fewer, wider workers.
MIN_EPOCH_SHARE = 0.6
#: Seconds an export takes besides predicting: ONNX graph, checks, calibration, card, files.
#: (10-minute searches with the planner ended 19-34 s inside their budget with 15 s here and
#: the members' predictions counted twice: their exports took 5-20 s.)
EXPORT_BASE_SECONDS = 12.0


def export_reserve(budget: float, members: Sequence[str], speeds: Speeds) -> float:
    """Seconds kept for exporting an ensemble of ``members``: a base plus predicting the
    test images with each (unknown families count as the slowest known; the validation
    probabilities are saved with the trials), at most a tenth of the budget."""
    known = list(speeds.predict_seconds.values())
    slowest = max(known, default=2.0)
    predict = sum(speeds.predict_seconds.get(m, slowest) for m in members)
    return min(0.1 * budget, EXPORT_BASE_SECONDS + predict)


def layout(
    cores: int,
    jobs: int | None,
    threads: int | None,
    max_jobs: int | None,
    network: str | None,
    net_time: float | None,
    work: float,
    speeds: Speeds,
) -> tuple[int, int, str]:
    """(workers, threads per worker, why)."""
    limit = max(1, min(cores, max_jobs or cores))
    if jobs is not None or threads is not None:
        if jobs is None:
            t = threads or 1
            return max(1, min(cores // t, limit)), t, "workers x threads as given"
        return jobs, threads or max(1, cores // jobs), "workers x threads as given"
    if network is None or net_time is None:
        return limit, 1, f"{limit} one-thread worker(s): no network to give more threads"
    planned = speeds.epochs.get(network) or 1
    j = limit
    while j > 1:
        t = max(1, cores // j)
        per_epoch = (speeds.fit_time(network, t) or 0.0) / planned
        if per_epoch <= 0 or work / per_epoch >= MIN_EPOCH_SHARE * planned:
            break
        j = max(1, j // 2)
    t = max(1, cores // j)
    if j == limit:
        why = f"{j} worker(s) x {t} thread(s): independent trials use the cores best"
    else:
        why = (
            f"{j} worker(s) x {t} thread(s): on {limit} one-thread workers each {network} "
            f"would get under {MIN_EPOCH_SHARE:.0%} of its {planned} epochs in this budget"
        )
    return j, t, why


__all__ = [
    "EXPORT_BASE_SECONDS",
    "MIN_EPOCH_SHARE",
    "SHUTDOWN_SECONDS",
    "STARTUP_SECONDS",
    "export_reserve",
    "layout",
]
