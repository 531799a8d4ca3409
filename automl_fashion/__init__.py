"""automl-fashion: AutoML and hyperparameter search for Fashion-MNIST.

Importing the package is cheap: torch, xgboost and scikit-learn load only when a model
family or the data split needs them.
"""

__version__ = "0.1.0"


def load_model(directory: str, threads: int | None = None):  # type: ignore[no-untyped-def]
    """Load an exported model folder: ``load_model(DIR).predict(images)`` (onnxruntime only)."""
    from automl_fashion.model import load_model as _load

    return _load(directory, threads)
