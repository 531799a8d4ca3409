"""Export a study's model as a self-contained folder, tested once on the test set.

Five parts: ``study`` (from a study to a folder: what to export, with what data),
``select`` (which trial, with exactly what it trained, on which split of which data set),
``pipeline`` (build the model files and measure them), ``card`` (the model card) and
``outdir`` (where the folder goes, without ever leaving half a model or touching other
files); ``limits`` and ``calibration`` narrow the choice and calibrate the probabilities.
"""

from automl_fashion.export.limits import LimitError, Limits
from automl_fashion.export.measure import ExportData, ExportResult
from automl_fashion.export.outdir import ExportError, check_out_dir
from automl_fashion.export.pipeline import (
    export_ensemble,
    export_model,
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
from automl_fashion.export.study import export_trial

__all__ = [
    "CRITERIA",
    "ExportData",
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
