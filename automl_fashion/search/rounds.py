"""The budget plan's later rounds of networks (:func:`~automl_fashion.search.plan.make_plan`
queues the first round and the inits).

- **The second round**, after the inits of the families that join the networks' ensembles:
  one more network per worker where at least :data:`MIN_EPOCH_SHARE` of it fits, cut to
  the time left: more members for the ensemble before the sampler explores. Its network is
  the family's init (new seeds), its ``long`` configuration, its ``second`` one, or the
  partner architecture's ``long`` one (:class:`Round`).
- **The third round**, after every family's init: the family's ``second`` configuration
  in what the inits leave (new seeds), or its first where two long rounds left no room to
  pair it (a slower machine; at 2 hours on the EPYC 94.77% test, against 94.59% with the
  sampler's hour there). In the 2-hour search the sampler's last ~45 minutes per worker
  found one useful network, and a network of this architecture adds more to long ones
  than a further long seed does (benchmarks/README.md). Where the resnet partners the
  cnn, two more resnet long networks per worker in its place scored 94.71% test at 2
  hours on the EPYC, against 94.93% (one run each). Queued whole: each measures its
  first epoch and shortens its schedule to the time left (the plan's estimates ran 5-12%
  high here, and cut to them these networks ended ~10 minutes early, which the sampler
  wasted).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from automl_fashion.families._schedule import MIN_EPOCHS
from automl_fashion.search.layout import MIN_EPOCH_SHARE
from automl_fashion.search.lengths import NETWORK_ROUNDS
from automl_fashion.search.planned import Queued, about

#: What the second round's network is (:class:`Round`).
RoundKind = Literal["partner", "second", "long", "init"]


@dataclass
class Members:
    """The changes to the network family's init for each network the plan queues, in
    turn: init first, then its ``variants`` (assumed to cost what init costs), then init
    again (a new seed: trial numbers differ)..."""

    variants: Sequence[Mapping[str, Any]] = ()
    count: int = field(default=0, init=False)

    def __call__(self, overrides: Mapping[str, Any]) -> dict[str, Any]:
        cycle: list[Mapping[str, Any]] = [{}, *self.variants]
        k, self.count = self.count, self.count + 1
        return {**cycle[k % len(cycle)], **overrides}


@dataclass(frozen=True)
class Round:
    """The second round's network: ``family``'s init with ``changes``, ``epochs`` long
    (None: unknown), ~``seconds`` on the plan's threads. ``kind``: what it is, for the
    plan's reasons (``partner``: another architecture's ``long`` configuration; ``second``:
    the network family's ``second`` one; ``long``: its ``long`` one; ``init``: its init)."""

    family: str
    changes: Mapping[str, Any]
    epochs: int | None
    seconds: float
    kind: RoundKind


def queue_second_round(
    network: str,
    nets: Round,
    free: list[float],
    queue: list[Queued],
    members: Members,
) -> str | None:
    """Queue up to ``NETWORK_ROUNDS - 1`` of ``nets`` per worker where at least
    :data:`MIN_EPOCH_SHARE` of one fits the worker's ``free`` seconds (updated), cut to
    them; the worker with the most time left first (they all started together: it is the
    first to be free). Returns the plan's reason, or None where none fitted."""
    extra = 0
    for w in sorted(range(len(free)), key=lambda i: -free[i]):
        for _ in range(NETWORK_ROUNDS - 1):
            if free[w] < MIN_EPOCH_SHARE * nets.seconds:
                break
            overrides = dict(nets.changes)
            seconds = nets.seconds
            if nets.epochs and nets.seconds > free[w]:
                # timed by its own estimate: a cut long or second network by the init's
                # per-epoch speed would leave the worker less time than the plan thinks
                epochs = max(MIN_EPOCHS, int(nets.epochs * free[w] / nets.seconds))
                overrides["epochs"] = epochs
                seconds = nets.seconds * epochs / nets.epochs
            queue.append(Queued(nets.family, members(overrides), seconds))
            free[w] -= seconds
            extra += 1
    if not extra:
        return None
    if nets.kind == "partner":
        return (
            f"then {extra} {nets.family} long configuration(s){about(nets.seconds)}: another "
            f"architecture, other mistakes for the {network}'s ensemble than new seeds make"
        )
    if nets.kind == "second":
        return (
            f"then {extra} {network} second configuration(s){about(nets.seconds)}: "
            "another architecture, other mistakes for the ensemble than new seeds make"
        )
    what = "long configuration(s)" if nets.kind == "long" else "network(s)"
    return f"then {extra} more {network} {what}, new seeds"


def queue_third_round(
    network: str,
    changes: Mapping[str, Any],
    seconds: float,
    epochs: int | None,
    free: list[float],
    queue: list[Queued],
    members: Members,
    *,
    more: bool,
) -> str | None:
    """Queue one ``network`` with ``changes`` (its ``second`` configuration, ``epochs``
    long, ~``seconds``) on every worker whose ``free`` seconds (updated) hold at least
    :data:`MIN_EPOCH_SHARE` of it; whole, each shortens its own schedule after its first
    epoch. ``more``: the second round was this configuration too. Returns the plan's
    reason, or None where none fitted."""
    third = 0
    for w in sorted(range(len(free)), key=lambda i: -free[i]):
        if free[w] < MIN_EPOCH_SHARE * seconds:
            continue
        cut = min(seconds, free[w])
        queue.append(Queued(network, members(dict(changes)), cut))
        free[w] -= cut
        third += 1
    if not third:
        return None
    how_many, why = (f"{third} more", "") if more else (str(third), "another architecture in ")
    return (
        f"then {how_many} {network} second configuration(s), new seeds, up to {epochs} "
        f"epochs, fewer if the first epoch shows they do not fit: {why}what the inits "
        "leave of the budget"
    )


__all__ = ["Members", "Round", "RoundKind", "queue_second_round", "queue_third_round"]
