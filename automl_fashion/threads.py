"""Give a trial exactly the CPU threads it was allotted.

Parallel trials share the machine's cores; each one caps BLAS/OpenMP pools (threadpoolctl)
and torch's intra-op pool, so that N workers x T threads never oversubscribe the cores.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


def available_cores() -> int:
    """Cores this process may run on (respects CPU affinity / cgroups where visible)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


@contextmanager
def limit_threads(threads: int) -> Iterator[None]:
    """Cap BLAS/OpenMP pools and torch (if loaded) to ``threads`` inside the block."""
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    previous = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=threads):
        if torch is not None:
            torch.set_num_threads(threads)
        try:
            yield
        finally:
            if torch is not None and previous is not None:
                torch.set_num_threads(previous)
