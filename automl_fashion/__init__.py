"""automl-fashion: AutoML and hyperparameter search for Fashion-MNIST.

Importing the package is cheap: torch, xgboost and scikit-learn load only when a model
family or the data split needs them.
"""

__version__ = "0.1.0"
