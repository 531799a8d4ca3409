"""The lone network of a short budget: the network family's ``long`` configuration on one
worker with every core, where it fits no one-thread worker but most of its epochs fit on
all the cores (10 to ~25 minutes on this machine). How many epochs it trains
(:func:`~automl_fashion.search.lengths.solo_epochs`), which configuration (its ``solo``
schedule, else ``long``), what is queued before it, and whether it may lengthen its
schedule to the deadline. Read by :func:`~automl_fashion.search.plan.make_plan`, which
queues what follows it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from automl_fashion.search.lengths import solo_epochs
from automl_fashion.search.planned import Queued
from automl_fashion.search.speeds import Speeds


@dataclass(frozen=True)
class Lone:
    """One long network on every core: its family, its schedule's epochs, the long
    configuration's own epochs (the ones the calibration timed) and its estimated seconds."""

    network: str
    epochs: int
    long_epochs: int
    seconds: float


def lone_network(
    network: str,
    speeds: Speeds,
    cores: int,
    work: float,
    partner: float,
    long_cfg: Mapping[str, Any],
    *,
    most: int | None = None,
) -> Lone | None:
    """The lone network a single ``cores``-thread worker with ``work`` seconds trains
    beside its ``partner``'s seconds (the families queued before it), or None where too few
    of ``long_cfg``'s epochs fit (:func:`~automl_fashion.search.lengths.solo_epochs`)."""
    long_epochs = int(long_cfg.get("epochs") or speeds.epochs.get(network) or 0)
    seconds = speeds.long_time(network, cores, alone=True)
    epochs = solo_epochs(seconds, long_epochs, work, partner, most=most)
    if not epochs or not seconds:
        return None
    return Lone(network, epochs, long_epochs, seconds * epochs / long_epochs)


def queue_lone(
    lone: Lone,
    solo_changes: Mapping[str, Any] | None,
    long_cfg: Mapping[str, Any],
    ahead: Sequence[str],
    speeds: Speeds,
    threads: int,
    work: float,
    queue: list[Queued],
    free: list[float],
) -> tuple[list[str], str]:
    """Queue the lone network on the one worker (``free[0]``, updated): its ``solo``
    changes (``long_cfg`` where None; ``{}`` is init itself), after the families ``ahead``
    that join its ensembles where both fit in ``work`` (a minute): the network then
    measures its first epoch and shortens its schedule to the time left, if the plan
    misjudged it. Where they do not fit beside it, they come after it, if at all. Returns
    the families queued first and the plan's line for it."""
    partner = sum(speeds.fit_time(f, threads) or 0.0 for f in ahead)
    first = list(ahead) if lone.seconds + partner <= work else []
    for fam in first:
        seconds = speeds.fit_time(fam, threads)
        queue.append(Queued(fam, {}, seconds))
        free[0] -= seconds or 0.0
    changes = long_cfg if solo_changes is None else solo_changes
    queue.append(Queued(lone.network, {**changes, "epochs": lone.epochs}, lone.seconds))
    free[0] -= lone.seconds
    before = f"{', '.join(first)} first, then " if first else ""
    schedule = "" if solo_changes is None else " (its solo schedule)"
    return first, (
        f"{before}one {lone.network} long configuration{schedule}, {lone.epochs} epochs "
        f"(~{lone.seconds:.0f} s) (fewer if its first epoch shows they do not fit): more "
        "epochs of the better network are worth more than a second one"
    )


def lengthen_last(queue: list[Queued], lone: Lone, most: int | None) -> str | None:
    """Where nothing is queued after the lone network, let it fill its worker's time, as
    its own pace shows, up to ``most`` epochs (the search space's): the calibration's
    estimate is noisy (a disturbed one planned 13 epochs where 17 fitted, and the network
    ended 4 minutes early). Returns the plan's line for it, or None."""
    if not most or most <= lone.epochs or not queue or queue[-1].family != lone.network:
        return None
    queue[-1] = Queued(lone.network, {**queue[-1].overrides, "epochs": most}, queue[-1].seconds)
    return (
        f"nothing after it: the {lone.network} network may lengthen its schedule up to "
        f"{most} epochs, as many as its own pace after its first epochs shows fit"
    )


__all__ = ["Lone", "lengthen_last", "lone_network", "queue_lone"]
