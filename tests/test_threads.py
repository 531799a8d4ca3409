"""Thread helpers (automl_fashion/threads.py)."""

from __future__ import annotations

from automl_fashion.threads import map_threads


def test_map_threads_runs_the_items_side_by_side_and_keeps_their_order() -> None:
    """Two items on two threads meet at a barrier (one thread would wait there forever:
    the barrier's timeout fails it); one thread, or one item, runs them in this thread."""
    import threading

    barrier = threading.Barrier(2, timeout=10)

    def meet(item: int) -> tuple[int, int]:
        barrier.wait()
        return item, threading.get_ident()

    out = map_threads(meet, [1, 2], threads=2)
    assert [item for item, _ in out] == [1, 2]
    assert len({ident for _, ident in out}) == 2
    here = threading.get_ident()
    assert map_threads(lambda i: (i, threading.get_ident()), [3, 4], 1) == [
        (3, here),
        (4, here),
    ]
    assert map_threads(lambda i: i, [], 4) == []
