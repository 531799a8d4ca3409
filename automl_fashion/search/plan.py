"""The budget planner: before the first trial, how a search spends its budget here.

A plain function of the budget, the cores and the speeds measured on this machine
(:mod:`~automl_fashion.search.calibrate`), so that tests can drive it with made-up speeds.
It decides:

- **workers x threads**: one-thread workers, unless a network would then get too few of
  its epochs (:func:`~automl_fashion.search.layout.layout`); and one worker on every core
  where the network family's ``long`` configuration fits no one-thread worker but most of
  its epochs fit on all the cores (:mod:`~automl_fashion.search.solo`: 10 to ~25 minutes
  on this machine). That worker trains the svm, then the long network for as many epochs as are
  left: two seeds of one network average to little more than either, and more epochs of
  the better network are worth more.
- **what runs first.** One init of the strongest network family per worker (each with
  its own seed: trial numbers differ), its epochs cut to what fits (or, at long budgets,
  lengthened: :func:`longer_schedule`); where one worker has time for the family's
  ``long`` configuration (a wider network, :data:`LONG_SHARE`), that instead; where one
  of it and the next network family's ``long`` configuration (the resnet's: another
  architecture, the "partner", cut to fit down to :data:`MIN_EPOCH_SHARE`) fit, the second
  round is the partner's; else, where one ``long`` and one ``second`` configuration fit,
  the ``second`` one (:func:`pairs_with_second`). Then the
  inits of the families that join the networks' ensembles (:data:`PARTNERS`), then a
  second network init per worker where at least :data:`MIN_EPOCH_SHARE` of it fits (more
  ensemble members), then the other families' inits in :data:`WARM_START_ORDER`, each as
  long as its estimated time fits what is left; where the second round was the ``second``
  configuration, a third round of it (where two rounds of ``long`` left no room to pair
  it, one of it then), each network shortening its schedule to the time left after its
  first epoch (:mod:`~automl_fashion.search.rounds`).
  A family that does not fit is not queued and the plan says why; the sampler can still
  draw it later. Families the user named are always queued.
- **time kept for the end**: shutting the workers down and exporting the ensemble the plan
  expects (its members' predictions on the test and validation images dominate:
  :func:`~automl_fashion.search.layout.export_reserve`).

``--jobs``/``--threads`` and ``--families`` override the layout and the skipping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from automl_fashion.families._schedule import MIN_EPOCHS
from automl_fashion.search.gpu_plan import make_gpu_plan
from automl_fashion.search.layout import (
    EXPORT_BASE_SECONDS,
    SHUTDOWN_SECONDS,
    STARTUP_SECONDS,
    export_reserve,
    layout,
)
from automl_fashion.search.lengths import (
    LONG_SHARE,
    NETWORK_ROUNDS,
    NETWORK_SHARE,
    long_rounds,
    longer_schedule,
    pairs_with_second,
    partner_seconds,
    solo_epochs,
)
from automl_fashion.search.planned import Plan, Queued, about, closing_reasons, queue_inits
from automl_fashion.search.rounds import (
    Members,
    Round,
    RoundKind,
    queue_second_round,
    queue_third_round,
)
from automl_fashion.search.solo import Lone, lengthen_last, lone_network, queue_lone
from automl_fashion.search.speeds import NETWORKS, Speeds

#: The order of the warm start: the strongest family first, since on a short budget it needs
#: the whole clock. resnet last: on a CPU its init does not beat cnn's (benchmarks/README.md).
WARM_START_ORDER = {"cnn": 0, "mlp": 1, "svm": 2, "boosting": 3, "linear": 4, "resnet": 5}
#: The families whose models join the networks' ensembles most: their inits are queued before
#: the second round of networks, the other families' only where time is left after it (at
#: long budgets all of them fit). Of the nine searches with the plan in benchmarks/results,
#: the svm (HOG features: other mistakes) joined the exported ensemble in eight (weights
#: 0.04-0.27), the mlp in three (0.08-0.26) and boosting in two (0.04-0.08), linear in
#: none (the mlp joined all three ensembles of one 10-minute comparison, at 0.06-0.24). At
#: 10 minutes the mlp, boosting and linear inits took ~200 s of a worker, and the third
#: network was cut at half its schedule. Measured over three seeds, this order is neutral
#: at 10 minutes (93.56% median test against 93.60%: benchmarks/README.md).
PARTNERS = ("svm",)
#: Workers per GPU where the cores give each at least MIN_GPU_THREADS threads. With one, a
#: 10-minute search on an H200 left the GPU idle in half its samples (that worker ran the
#: classical families in turn) and 82% idle while its cnn trained (batch 128): a second
#: worker trains a network beside the first or while the first runs a classical family.
#: Not measured yet: the next GPU run measures it against that one (94.41%, benchmarks/README.md).
WORKERS_PER_GPU = 2
MIN_GPU_THREADS = 2


def make_plan(
    budget: float,
    cores: int,
    families: Sequence[str],
    speeds: Speeds,
    *,
    jobs: int | None = None,
    threads: int | None = None,
    max_jobs: int | None = None,
    named: bool = False,
    seen: Sequence[str] = (),
    export: bool = True,
    gpus: int = 0,
    variants: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    long: Mapping[str, Mapping[str, Any]] | None = None,
    second: Mapping[str, Mapping[str, Any]] | None = None,
    solo: Mapping[str, Mapping[str, Any]] | None = None,
    max_epochs: Mapping[str, int] | None = None,
    gpu_configs: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> Plan:
    """How to spend ``budget`` seconds on ``cores`` cores searching ``families``.

    ``jobs``/``threads``: the user's layout, if given. ``max_jobs``: memory's limit on
    workers. ``named``: the user chose the families (none is skipped). ``seen``: families
    already in the study (resumed; not warm-started again). ``export``: an export follows.
    ``gpus``: CUDA devices the networks train on (WORKERS_PER_GPU each). ``variants``: per
    family, changes to its init for the second, third... network (see ``SearchSpace``).
    ``long``: per family, changes to its init for long budgets (``SearchSpace.long``; used
    where ``speeds`` timed it and one fits in :data:`LONG_SHARE` of a worker's time).
    ``second``: per family, changes to its init for the second round of long networks
    (``SearchSpace.second``; where ``speeds`` timed it and one of each fits that share).
    ``solo``: per family, changes to its init for the one long network a short budget
    trains on every core (``SearchSpace.solo``: ``long`` with a schedule for fewer epochs;
    ``long`` itself where absent).
    ``max_epochs``: per family, the most epochs its search space allows (lengthened
    schedules stop there). ``gpu_configs``: per network family, its configurations for a
    GPU (``SearchSpace.gpu_configs``, as changes to init): with ``gpus``, the plan is
    :func:`~automl_fashion.search.gpu_plan.make_gpu_plan`'s.
    """
    cores = max(1, cores)
    reasons: list[str] = []
    ordered = sorted(families, key=lambda f: WARM_START_ORDER.get(f, len(WARM_START_ORDER)))
    if gpus > 0 and gpu_configs:
        on_gpu = make_gpu_plan(
            budget,
            cores,
            families,
            speeds,
            gpus,
            gpu_configs,
            jobs=jobs,
            threads=threads,
            max_jobs=max_jobs,
            named=named,
            seen=seen,
            export=export,
            order=ordered,
        )
        if on_gpu is not None:
            return on_gpu
    network = next((f for f in NETWORKS if f in families and f not in seen), None)
    net_time = speeds.fit_time(network, 1) if network else None
    # the other architecture whose long configuration partners the network's long ones
    # (where timed: at long budgets, on one-thread workers)
    partner = next(
        (
            f
            for f in NETWORKS
            if network
            and f != network
            and f in families
            and f not in seen
            and f in speeds.long_seconds
            and f in (long or {})
        ),
        None,
    )

    # the members the export will most likely combine: the networks and the fast families
    wide = network is not None and network in speeds.long_seconds and network in (long or {})
    has_second = network is not None and network in (second or {})
    rough = budget - STARTUP_SECONDS - SHUTDOWN_SECONDS - EXPORT_BASE_SECONDS
    members: list[str] = []
    rounds = 0
    if network is not None:
        rounds = long_rounds(speeds.long_time(network, 1), rough) if wide else 0
        members = [f"{network}:long"] * cores * rounds if rounds else [network] * cores
        if rounds == NETWORK_ROUNDS and partner is not None:
            # the partner's long network second, then the second configuration (a bound)
            members = [f"{network}:long", f"{partner}:long"] * cores
            members += [f"{network}:second"] * cores if has_second else []
        elif (
            rounds == NETWORK_ROUNDS and has_second and pairs_with_second(speeds, network, 1, rough)
        ):
            # with a third round where it fits (a bound: counted whether or not it does)
            members = [f"{network}:long", f"{network}:second", f"{network}:second"] * cores
        elif rounds == NETWORK_ROUNDS and has_second and speeds.long_time(network, 1, second=True):
            # two long rounds, then one second configuration where it fits (a bound again)
            members = [f"{network}:long", f"{network}:long", f"{network}:second"] * cores
    partners = [f for f in ordered if f != network][:2]

    def seconds_kept(members: list[str]) -> float:
        """Seconds kept at the end: the workers' shutdown and exporting ``members``."""
        shutdown = min(SHUTDOWN_SECONDS, 0.05 * budget)
        return shutdown + (export_reserve(budget, members, speeds) if export else 0.0)

    reserve = seconds_kept(members + partners)
    work = budget - STARTUP_SECONDS - reserve  # seconds each worker trains

    # where no long configuration fits a one-thread worker: one long network on every core?
    # Judged on ``work``, as the long rounds below are: judged on ``rough`` (the reserve not
    # yet counted), a budget where one fitted ``rough`` but not ``work`` planned neither the
    # lone network nor a long round, but init networks
    lone: Lone | None = None
    ahead = [f for f in ordered if f in PARTNERS and f != network and f not in seen]
    alone = jobs is None and threads is None and gpus == 0 and cores > 1
    one_thread = speeds.long_time(network, 1) if wide and network is not None else None
    if wide and network is not None and alone and not long_rounds(one_thread, work):
        solo_reserve = seconds_kept([f"{network}:long", *partners])
        lone = lone_network(
            network,
            speeds,
            cores,
            budget - STARTUP_SECONDS - solo_reserve,
            sum(speeds.fit_time(f, cores) or 0.0 for f in ahead),
            (long or {})[network],
            most=(max_epochs or {}).get(network),
        )
        if lone is not None:
            reserve = solo_reserve
            work = budget - STARTUP_SECONDS - reserve

    if lone is not None:
        jobs, threads = 1, cores
        why = (
            f"1 worker x {cores} thread(s): one {network} long configuration on every core; "
            f"on one-thread workers it would not fit, and two seeds of a network average to "
            f"little more than either"
        )
    elif gpus > 0 and network is not None and jobs is None and threads is None:
        per_gpu = max(1, min(WORKERS_PER_GPU, cores // (gpus * MIN_GPU_THREADS)))
        jobs = max(1, min(gpus * per_gpu, max_jobs or gpus * per_gpu))
        threads = max(1, cores // jobs)
        why = f"{jobs} worker(s) x {threads} thread(s), {per_gpu} per GPU: "
        why += "networks train while the others run" if per_gpu > 1 else "too few cores for more"
    else:
        jobs, threads, why = layout(cores, jobs, threads, max_jobs, network, net_time, work, speeds)
    reasons.append(why)

    queue: list[Queued] = []
    free = [work] * jobs  # estimated seconds each worker has left
    member = Members(list((variants or {}).get(network or "", [])))

    longer: dict[str, Any] = {}  # the networks' epochs, where the budget lengthens them
    paired = False  # the second round is the family's second configuration
    partnered = False  # ... the partner architecture's long configuration
    round_two = network  # the second round's family
    first: list[str] = []  # queued before the network
    if lone is not None:
        changes = (solo or {}).get(lone.network), (long or {})[lone.network]
        first, why = queue_lone(lone, *changes, ahead, speeds, threads, work, queue, free)
        reasons.append(why)
        planned, per_worker, wide_rounds = None, None, 0
    elif network is not None:
        planned = speeds.epochs.get(network)
        per_worker = speeds.fit_time(network, threads)
        most = (max_epochs or {}).get(network)
        epochs = longer_schedule(planned, per_worker, work, most=most)
        lengthened = ""  # said after the first round (with a long one, of the second)
        if planned and epochs > planned:
            lengthened = (
                f"{network} schedules of {epochs} epochs, not {planned}: the networks may "
                f"take {NETWORK_SHARE:.0%} of this budget"
            )
            longer["epochs"], planned = epochs, epochs
            per_worker = speeds.fit_time(network, threads, epochs)
        wide_cfg = (long or {}).get(network)
        wide_time = speeds.long_time(network, threads) if wide_cfg is not None else None
        wide_rounds = long_rounds(wide_time, work) if wide_cfg is not None else 0
        if wide_cfg is not None and wide_time is not None and wide_rounds:
            cfg: dict[str, Any] = dict(wide_cfg)
            stretched = ""
            base = cfg.get("epochs", speeds.epochs.get(network))
            partner_time = speeds.long_time(partner, threads) if partner else None
            partner_fit = None
            if partner_time and wide_rounds == NETWORK_ROUNDS:
                partner_fit = partner_seconds(partner_time, wide_time, work)
            partnered = partner_fit is not None
            paired = (
                not partnered
                and wide_rounds == NETWORK_ROUNDS
                and has_second
                and pairs_with_second(speeds, network, threads, work)
            )
            second_time = speeds.long_time(network, threads, second=True) if paired else None
            if partnered:
                second_time = partner_fit
            if wide_rounds == NETWORK_ROUNDS and base:  # time to spare: longer schedules
                # (with another network second, in what it leaves of the share)
                room = LONG_SHARE * work - second_time if second_time else None
                e = longer_schedule(base, wide_time, work, share=LONG_SHARE, most=most, room=room)
                if e > base:
                    cfg["epochs"], wide_time = e, wide_time * e / base
                    stretched = f", {e} epochs, not {base}"
            for w in range(jobs):
                queue.append(Queued(network, dict(cfg), wide_time))
                free[w] -= wide_time
            reasons.append(
                f"{jobs} {network} long configuration(s) first, one per worker, different "
                f"seeds{stretched}{about(wide_time)}: this budget has room for the wider "
                "network"
            )
            if wide_rounds > 1:  # the second round is long too: no lengthened init
                lengthened, longer, planned = "", dict(cfg), cfg.get("epochs")
                per_worker, member.variants = wide_time, []
            if partnered and partner is not None:  # ... the partner architecture's long one
                round_two, longer = partner, dict((long or {})[partner])
                planned = longer.get("epochs", speeds.epochs.get(partner))
                per_worker = partner_fit
                if planned and partner_time and partner_fit and partner_fit < partner_time:
                    planned = max(MIN_EPOCHS, int(planned * partner_fit / partner_time))
                    longer["epochs"] = planned
            elif second_time:  # ... or another architecture: the family's second one
                longer = dict((second or {})[network])
                planned = longer.get("epochs", speeds.epochs.get(network))
                per_worker = second_time
            if lengthened:
                lengthened = f"then init's {lengthened}"
        else:
            for w in range(jobs):
                overrides: dict[str, Any] = dict(longer)
                seconds = per_worker
                if planned and per_worker and per_worker > free[w]:
                    fit = max(MIN_EPOCHS, int(planned * free[w] / per_worker))
                    overrides["epochs"] = fit
                    seconds = speeds.fit_time(network, threads, fit)
                queue.append(Queued(network, member(overrides), seconds))
                free[w] -= seconds or 0.0
            epochs = queue[0].overrides.get("epochs", planned)
            kinds = "init and its variants" if member.variants and jobs > 1 else "init(s)"
            reasons.append(
                f"{jobs} {network} {kinds} first, one per worker, different seeds, "
                f"{epochs} epochs{about(queue[0].seconds)} each: an ensemble of networks"
            )
        if lengthened:
            reasons.append(lengthened)
    else:
        planned, per_worker, wide_rounds = None, None, 0

    skipped: dict[str, str] = {}

    def warm_start(fams: Sequence[str]) -> None:
        """Queue each family's init on the worker with the most time left, if it fits."""
        queue_inits(fams, speeds, threads, free, queue, skipped, named=named)

    others = [f for f in ordered if f != network and f not in seen]
    # the families whose models join the networks' ensembles come before the second round of
    # networks; the rest only where time is left after it
    warm_start([f for f in others if (network is None or f in PARTNERS) and f not in first])
    # a second round of the network where it fits: more members for the ensemble before the
    # sampler explores (at longer budgets the sampler has the rest)
    if network is not None and per_worker:
        kind: RoundKind = "long" if wide_rounds > 1 else "init"
        kind = "second" if paired else kind
        kind = "partner" if partnered else kind
        nets = Round(round_two or network, longer, planned, per_worker, kind)
        said = queue_second_round(network, nets, free, queue, member)
        reasons += [said] if said else []
    if network is not None:  # (the partner's init not where its long network trains)
        warm_start([f for f in others if f not in PARTNERS and not (partnered and f == partner)])
    # a third round of the second configuration in what every family's init leaves, or
    # its first where two long rounds left no room to pair it (rounds.py)
    third_cfg, third_time = (longer, per_worker) if paired else ({}, None)
    if network is not None and not paired and wide_rounds == NETWORK_ROUNDS and has_second:
        third_cfg = dict((second or {})[network])
        third_time = speeds.long_time(network, threads, second=True)
    if network is not None and third_time:
        upto = third_cfg.get("epochs", speeds.epochs.get(network))
        said = queue_third_round(
            network, third_cfg, third_time, upto, free, queue, member, more=paired
        )
        reasons += [said] if said else []
    if lone is not None:
        to_deadline = lengthen_last(queue, lone, (max_epochs or {}).get(lone.network))
        reasons += [to_deadline] if to_deadline else []
    reasons += closing_reasons(skipped, reserve)
    return Plan(jobs, threads, tuple(queue), skipped, reserve, tuple(reasons), speeds.source)


__all__ = [
    "LONG_SHARE",
    "NETWORKS",
    "PARTNERS",
    "WARM_START_ORDER",
    "Plan",
    "Queued",
    "long_rounds",
    "longer_schedule",
    "make_plan",
    "solo_epochs",
]
