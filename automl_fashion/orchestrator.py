"""The search's public names, where they were before ``automl_fashion.search`` split them
into config, join, worker and loop. New code imports from ``automl_fashion.search``.
"""

from __future__ import annotations

from automl_fashion.search import (
    SAMPLERS,
    WORKER_ATTR,
    SearchConfig,
    SearchProgress,
    SearchResult,
    allowed_overrun,
    join_config,
    max_jobs,
    open_study,
    search,
)

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
