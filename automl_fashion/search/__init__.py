"""The search: ``config`` (the validated settings), ``join`` (what a study keeps across
runs and machines), ``worker`` (one process), ``pool`` (the workers), ``loop`` (the
parent) and ``at_end`` (the overrun allowed, the export at the end); the budget plan it
starts from: ``calibrate`` measures ``speeds``, ``plan`` decides with ``layout`` (workers x
threads, the time kept for the end), ``lengths`` and ``solo`` (how long its networks train).
"""

from __future__ import annotations

from automl_fashion.search.at_end import allowed_overrun
from automl_fashion.search.config import SAMPLERS, SearchConfig, max_jobs
from automl_fashion.search.join import join_config
from automl_fashion.search.loop import SearchProgress, SearchResult, search
from automl_fashion.search.worker import WORKER_ATTR, open_study

__all__ = [
    "SAMPLERS",
    "WORKER_ATTR",
    "SearchConfig",
    "SearchProgress",
    "SearchResult",
    "allowed_overrun",
    "join_config",
    "max_jobs",
    "open_study",
    "search",
]
