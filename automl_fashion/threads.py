"""Give a trial exactly the CPU threads it was allotted.

Parallel trials share the machine's cores; each one caps BLAS/OpenMP pools (threadpoolctl)
and torch's intra-op pool, so that N workers x T threads never oversubscribe the cores.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

_T = TypeVar("_T")
_R = TypeVar("_R")


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity, and a cgroup v2 CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    quota = _read("/sys/fs/cgroup/cpu.max").split()  # "max 100000" or "200000 100000"
    if len(quota) == 2 and quota[0].isdigit() and quota[1].isdigit() and int(quota[1]) > 0:
        cores = min(cores, max(1, int(quota[0]) // int(quota[1])))
    return max(1, cores)


def total_memory() -> int:
    """Bytes of memory this process may use: the machine's, or a cgroup v2 limit."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not on Linux
        total = 0
    limit = _read("/sys/fs/cgroup/memory.max").strip()
    if limit.isdigit() and int(limit) > 0:
        total = min(total, int(limit)) if total else int(limit)
    return total or 1 << 34  # unknown: assume 16 GiB rather than refuse everything


def map_threads(fn: Callable[[_T], _R], items: Sequence[_T], threads: int) -> list[_R]:
    """``[fn(item) for item in items]``, on up to ``threads`` threads where there are two
    or more items (for work that releases the GIL: numpy's loops, libsvm), in order."""
    workers = min(max(1, threads), len(items))
    if workers < 2:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


def _read(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return ""


@contextmanager
def limit_threads(threads: int, *, torch: bool = False) -> Iterator[None]:
    """Cap BLAS/OpenMP pools and torch to ``threads`` inside the block.

    torch's pool is capped when torch is already loaded, or loaded here if ``torch=True``
    (a torch family imports it lazily, after the block has started).
    """
    from threadpoolctl import threadpool_limits

    if torch:
        import torch as _torch  # noqa: F401

    torch_mod = sys.modules.get("torch")
    previous = torch_mod.get_num_threads() if torch_mod is not None else None
    with threadpool_limits(limits=threads):
        if torch_mod is not None:
            torch_mod.set_num_threads(threads)
        try:
            yield
        finally:
            if torch_mod is not None and previous is not None:
                torch_mod.set_num_threads(previous)
