"""Export a study's model as a self-contained folder, tested once on the test set.

Four parts: ``select`` (which trial, with exactly what it trained), ``pipeline`` (build
the model files and measure them), ``card`` (the model card) and ``outdir`` (where the
folder goes, without ever leaving half a model or touching other files).
"""

from automl_fashion.export.limits import LimitError, Limits
from automl_fashion.export.outdir import ExportError, check_out_dir
from automl_fashion.export.pipeline import (
    ExportResult,
    export_ensemble,
    export_model,
    export_trial,
    reuse_artifact,
)
from automl_fashion.export.select import (
    CRITERIA,
    Recipe,
    pick_trial,
    search_split,
    trial_config,
    trial_recipe,
)

__all__ = [
    "CRITERIA",
    "ExportError",
    "ExportResult",
    "LimitError",
    "Limits",
    "Recipe",
    "check_out_dir",
    "export_ensemble",
    "export_model",
    "export_trial",
    "pick_trial",
    "reuse_artifact",
    "search_split",
    "trial_config",
    "trial_recipe",
]
