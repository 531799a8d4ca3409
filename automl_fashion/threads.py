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
