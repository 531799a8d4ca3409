"""The one exception the storage raises for a study it cannot read or write."""

from __future__ import annotations

import errno
import os

from automl_fashion.errors import AutoMLFashionError


class StorageError(AutoMLFashionError):
    """A study's storage is corrupt, full, locked, read-only or otherwise unusable."""


def reason(exc: OSError) -> str:
    """``disk full (No space left on device)``: what an OS error means here, in a few words."""
    text = exc.strerror or os.strerror(exc.errno or 0)
    meaning = {
        errno.ENOSPC: "disk full",
        errno.EDQUOT: "disk quota exceeded",
        errno.EFBIG: "file size limit reached",
        errno.EROFS: "read-only file system",
        errno.EACCES: "no permission",
        errno.EPERM: "no permission",
    }.get(exc.errno or 0)
    return f"{meaning} ({text})" if meaning else text
