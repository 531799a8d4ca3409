"""The budget plan where the networks train on a GPU and their search spaces have ``gpu``
configurations (:attr:`~automl_fashion.search_space.SearchSpace.gpu_configs`).

Networks sized for a CPU leave a GPU idle: a 10-minute search on an H200 with the cnn's
CPU configurations kept it busy in 85% of its samples at 57% (94.76% test). Four GPU-sized
networks side by side, one process each, kept it busy in 94% of them at 99%, and their plain
average scored 95.83-95.95% (``benchmarks/gpu_networks.py``). So the plan gives every worker
one of those networks, queued whole (each measures its own pace and shortens its schedule
to the time left: :class:`~automl_fashion.families._schedule.Pacer`), more rounds of them
where whole ones fit, then the other families' inits where time is left.

Their ensemble is exported as an ONNX graph and checked on the CPU, where these networks
cost far more than the CPU-sized ones: the time kept for the end counts each member's
prediction of the test images twice (the merged graph, then the members' own for the
check), on every core, from the calibration's timing of each on one CPU thread.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from automl_fashion.search.layout import EXPORT_BASE_SECONDS, SHUTDOWN_SECONDS, STARTUP_SECONDS
from automl_fashion.search.lengths import NETWORK_ROUNDS
from automl_fashion.search.planned import Plan, Queued, closing_reasons, queue_inits
from automl_fashion.search.speeds import Speeds

#: The order of the networks on a GPU, alternating between families: on an H200 the
#: resnet's first configuration averaged best with the cnn's first (95.84% and 95.88% test as
#: a pair in two runs), then came the resnet's second and the cnn's second.
GPU_ORDER = ("resnet", "cnn")
#: Workers per GPU where each gets MIN_GPU_THREADS threads: four GPU-sized networks side by
#: side kept an H200 busy at 99% (16 cores, four threads each).
GPU_WORKERS = 4
MIN_GPU_THREADS = 2
#: At most this share of the budget is kept for the export (a tenth on a CPU).
GPU_EXPORT_SHARE = 0.25


def gpu_members(configs: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[tuple[str, int]]:
    """(family, index of its GPU configuration), alternating families in GPU_ORDER (then
    the others by name): each family's first, then each one's second..."""
    names = sorted(configs, key=lambda f: (GPU_ORDER.index(f) if f in GPU_ORDER else 99, f))
    most = max((len(configs[f]) for f in names), default=0)
    return [(f, k) for k in range(most) for f in names if k < len(configs[f])]


def gpu_export_reserve(budget: float, members: Sequence[str], speeds: Speeds, cores: int) -> float:
    """Seconds for exporting ``members``: a base plus their predictions of the test images,
    twice, on ``cores`` threads (the calibration's speedup per doubling), at most
    :data:`GPU_EXPORT_SHARE` of the budget."""
    slowest = max(speeds.predict_seconds.values(), default=2.0)
    predict = sum(speeds.predict_seconds.get(m, slowest) for m in members)
    on_cores = 2 * predict / speeds.speedup ** math.log2(max(1, cores))
    return min(GPU_EXPORT_SHARE * budget, EXPORT_BASE_SECONDS + on_cores)


def make_gpu_plan(
    budget: float,
    cores: int,
    families: Sequence[str],
    speeds: Speeds,
    gpus: int,
    configs: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    jobs: int | None = None,
    threads: int | None = None,
    max_jobs: int | None = None,
    named: bool = False,
    seen: Sequence[str] = (),
    export: bool = True,
    order: Sequence[str] = (),
) -> Plan | None:
    """The plan on ``gpus`` GPUs where ``configs`` (per network family, its GPU
    configurations as changes to its init) has some for a family being searched; None
    where none has. ``order``: the other families' warm-start order."""
    nets = {f: list(c) for f, c in configs.items() if c and f in families and f not in seen}
    items = gpu_members(nets)
    if gpus <= 0 or not items:
        return None
    cores = max(1, cores)
    if jobs is None and threads is None:
        per_gpu = max(1, min(GPU_WORKERS, cores // (gpus * MIN_GPU_THREADS)))
        jobs = max(1, min(gpus * per_gpu, max_jobs or gpus * per_gpu))
        threads = max(1, cores // jobs)
        why = f"{jobs} worker(s) x {threads} thread(s), {per_gpu} per GPU: one network each"
    else:
        jobs = jobs or max(1, cores // (threads or 1))
        threads = threads or max(1, cores // jobs)
        why = f"{jobs} worker(s) x {threads} thread(s) as given"
    reasons = [why]

    def key(item: tuple[str, int]) -> str:
        return f"{item[0]}:gpu{item[1]}"

    def seconds_of(item: tuple[str, int]) -> float | None:
        """Its calibrated time alone on a GPU, times the workers sharing one (a GPU busy
        at 99% with four of them: each runs at a quarter of its speed alone, at best)."""
        alone = speeds.long_seconds.get(key(item))
        return None if alone is None else alone * jobs / gpus

    # the queue's networks: the first round, one per worker, then more rounds where a whole
    # network fits what the worker has left (by the calibration; unknown: none)
    first = [items[w % len(items)] for w in range(jobs)]
    shutdown = min(SHUTDOWN_SECONDS, 0.05 * budget)

    def kept(members: Sequence[tuple[str, int]]) -> float:
        reserve = gpu_export_reserve(budget, [key(m) for m in members], speeds, cores)
        return shutdown + (reserve if export else 0.0)

    first_kept = kept(first)
    work = budget - STARTUP_SECONDS - first_kept
    free = [work] * jobs
    queue: list[Queued] = []
    rounds = 0
    for r in range(NETWORK_ROUNDS + 1):
        placed = 0
        for w in range(jobs):
            item = items[(r * jobs + w) % len(items)]
            seconds = seconds_of(item)
            if r > 0 and (seconds is None or seconds > free[w]):
                continue
            seconds = min(seconds, free[w]) if seconds is not None else free[w]
            queue.append(Queued(item[0], dict(nets[item[0]][item[1]]), seconds))
            free[w] -= seconds
            placed += 1
        if not placed:
            break
        rounds += 1
    members = [(q.family, _index(nets, q)) for q in queue]
    reserve = kept(members)
    if reserve > first_kept:  # more members to export: the time kept grows, if it can
        free = [f - (reserve - first_kept) for f in free]
    epochs = ", ".join(f"{q.family} {q.overrides.get('epochs', '?')}" for q in queue[:jobs])
    reasons.append(
        f"{len(queue[:jobs])} network(s) sized for the GPU first, one per worker ({epochs} "
        "epochs at most), each fitting its schedule to the time left as it trains: on a GPU "
        "these beat the CPU's networks trained longer"
    )
    if rounds > 1:
        reasons.append(f"then {len(queue) - jobs} more of them, new seeds, where whole ones fit")

    skipped: dict[str, str] = {}
    others = [f for f in order if f not in nets and f not in seen]
    queue_inits(
        others, speeds, threads, free, queue, skipped, named=named, left_by="the GPU's networks"
    )
    reasons += closing_reasons(skipped, reserve)
    return Plan(jobs, threads, tuple(queue), skipped, reserve, tuple(reasons), speeds.source)


def _index(nets: Mapping[str, Sequence[Mapping[str, Any]]], q: Queued) -> int:
    """Which of its family's GPU configurations ``q`` is."""
    return next(k for k, c in enumerate(nets[q.family]) if dict(c) == dict(q.overrides))


__all__ = ["GPU_ORDER", "GPU_WORKERS", "gpu_export_reserve", "gpu_members", "make_gpu_plan"]
