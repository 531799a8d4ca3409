"""The end of a search: the overrun a budget allows, whether the time left still fits the
export, and the export of the best model from its saved artifacts (never a retraining
inside the budget)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from automl_fashion.search.layout import SHUTDOWN_SECONDS
from automl_fashion.storage import artifacts_dir

if TYPE_CHECKING:
    import optuna

    from automl_fashion.search.config import SearchConfig


def allowed_overrun(budget: float) -> float:
    return max(30.0, 0.02 * budget)


def no_time_to_export(started: float, budget: float, reserve: float, now: float) -> str | None:
    """Why the export would end past the budget's allowance, or None. The plan keeps
    ``reserve`` seconds at the end (the workers' shutdown and the export); a worker stuck in
    one long rung can hold the search until the hard deadline and use them up, and an
    export started then ended past budget + max(30 s, 2%)."""
    need = reserve - min(SHUTDOWN_SECONDS, 0.05 * budget)
    left = started + budget + allowed_overrun(budget) - now
    if left >= need:
        return None
    return f"the budget had {max(0.0, left):.0f} s left and the export needs about {need:.0f} s"


def export_best(study: optuna.Study, number: int, config: SearchConfig) -> tuple[Any, str | None]:
    """Export the ensemble of the saved models, or the best trial alone when the ensemble
    does not beat it out of sample, from saved artifacts (no retraining): ``(result,
    None)``, or ``(None, why)`` when the best trial's model is not usable on this machine
    (``export`` retrains it later, outside the budget)."""
    from automl_fashion.artifacts import check_artifact
    from automl_fashion.export import LimitError, Limits, export_trial

    limits = Limits(config.max_predict_ms, config.max_size_mb)
    if not limits.active:  # with limits, export chooses among the saved models itself
        meta, corrupt = check_artifact(artifacts_dir(config.study, config.studies_dir), number)
        if corrupt is not None:
            return None, f"its saved model is corrupt ({corrupt})"
        if meta is None:  # trained on another machine, or saving its artifact failed
            return None, "its model was not saved on this machine"
    assert config.export_dir is not None
    try:
        result = export_trial(
            study,
            config.export_dir,
            selected_by=None
            if limits.active
            else "best complete trial by validation accuracy (end of search)",
            data_dir=config.data_dir,
            spaces_dir=config.spaces_dir,
            studies_dir=config.studies_dir,
            limits=limits,
        )
    except LimitError as exc:
        return None, str(exc)
    return result, None


__all__ = ["allowed_overrun", "export_best", "no_time_to_export"]
