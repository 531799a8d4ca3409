"""Exceptions that reach users: each carries a one-line message that says what to do."""

from __future__ import annotations


class AutoMLFashionError(Exception):
    """Base class: the CLI prints these as one line and exits non-zero."""


class DataError(AutoMLFashionError):
    """The Fashion-MNIST files are missing, corrupted or cannot be fetched."""


class ConfigError(AutoMLFashionError, ValueError):
    """A bad argument, search-space file or parameter value."""
