"""Find, fetch and verify the four IDX files of a built-in data set (Fashion-MNIST by default).

Search order (first hit wins):

1. an explicit directory (``--data-dir`` / ``data_dir=``) or, for Fashion-MNIST,
   ``$AUTOML_FASHION_DATA``; an explicit directory that lacks the files is an error,
   never a silent fallback;
2. the user cache (``$AUTOML_FASHION_CACHE``, else ``$XDG_CACHE_HOME/automl-fashion``,
   else ``~/.cache/automl-fashion``), folder ``raw/`` (Fashion-MNIST) or ``<name>/raw/``;
3. for Fashion-MNIST, ``/usr/share/datasets/fashion-mnist`` (Debian package
   ``dataset-fashion-mnist``);
4. a download from the official location into the user cache.

Files may be gzip-compressed (``.gz``) or not. Debian recompressed the ``.gz`` files, so
Fashion-MNIST's digests are SHA-256 of the *decompressed* bytes, which are the same
everywhere. Where only the official ``.gz`` file's digest is published (MNIST, KMNIST),
that file is what is checked, and it must be the ``.gz``.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from automl_fashion.data.builtin import FASHION_MNIST
from automl_fashion.data.idxset import FileSpec, IdxSet
from automl_fashion.errors import DataError

__all__ = [
    "DEBIAN_HINT",
    "FILES",
    "OFFICIAL_URL",
    "SYSTEM_DIR",
    "DataSource",
    "FileSpec",
    "cache_dir",
    "copy_into",
    "digest_problem",
    "fetch",
    "file_problem",
    "locate",
    "read_bytes",
    "read_verified",
    "write_atomic",
]

OFFICIAL_URL = FASHION_MNIST.url
SYSTEM_DIR = FASHION_MNIST.system_dir or Path("/usr/share/datasets/fashion-mnist")
DEBIAN_HINT = FASHION_MNIST.hint
#: Fashion-MNIST's four files by key.
FILES: dict[str, FileSpec] = {spec.key: spec for spec in FASHION_MNIST.files}
_GZIP_MAGIC = b"\x1f\x8b"
#: How far past the decompressed size a download of a file known only by that size may run
#: (its .gz is smaller): a server that sends more is refused before it fills the disk.
DOWNLOAD_SLACK = 1 << 20


def cache_dir() -> Path:
    """The user cache folder (raw downloads and parsed arrays)."""
    if env := os.environ.get("AUTOML_FASHION_CACHE"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "automl-fashion"


@dataclass(frozen=True)
class DataSource:
    """Where the files were found: a folder and how it was chosen."""

    directory: Path
    origin: str  # "argument", "environment", "cache", "system" or "downloaded"
    dataset: IdxSet = field(default=FASHION_MNIST, repr=False)

    def path(self, key: str) -> Path:
        name = self.dataset.file(key).name
        found = _find_file(self.directory, name)
        if found is None:  # pragma: no cover - locate() checked all four
            raise DataError(f"{name}(.gz) vanished from {self.directory}")
        return found


def _find_file(directory: Path, name: str) -> Path | None:
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    return None


def _missing(directory: Path, dataset: IdxSet) -> list[str]:
    return [s.name for s in dataset.files if _find_file(directory, s.name) is None]


def locate(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    dataset: IdxSet = FASHION_MNIST,
) -> DataSource:
    """Find the four files, downloading them into the user cache as a last resort."""
    explicit: tuple[Path, str] | None = None
    if data_dir is not None:
        explicit = (Path(data_dir).expanduser(), "argument")
    elif dataset.data_env and (env := os.environ.get(dataset.data_env)):
        explicit = (Path(env).expanduser(), "environment")
    if explicit is not None:
        directory, origin = explicit
        missing = _missing(directory, dataset)
        if missing:
            source = "--data-dir" if origin == "argument" else f"${dataset.data_env}"
            raise DataError(
                f"{source}={directory} lacks {', '.join(missing)} (plain or .gz); "
                f"expected the four official {dataset.title} IDX files there"
            )
        return DataSource(directory, origin, dataset)
    raw = cache_dir() / dataset.raw_dir
    if not _missing(raw, dataset):
        return DataSource(raw, "cache", dataset)
    system = dataset.system_dir
    if system is not None and not _missing(system, dataset):
        return DataSource(system, "system", dataset)
    if not download:
        where = f"{raw} or {system}" if system is not None else str(raw)
        raise DataError(f"{dataset.title} not found in {where}: {dataset.help}")
    fetch(raw, dataset=dataset)
    return DataSource(raw, "downloaded", dataset)


def fetch(target: Path, base_url: str | None = None, *, dataset: IdxSet = FASHION_MNIST) -> None:
    """Download the missing official ``.gz`` files into ``target``, verifying each before
    it is kept (a bad or partial download never lands under its real name)."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TransferSpeedColumn,
    )

    mirror = os.environ.get(dataset.mirror_env) if dataset.mirror_env else None
    base_url = base_url or mirror or dataset.url
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create {target} ({exc.strerror})") from None
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        transient=True,
    ) as progress:
        for spec in dataset.files:
            if _find_file(target, spec.name) is not None:
                continue
            url = base_url.rstrip("/") + f"/{spec.name}.gz"
            try:
                fd, name = tempfile.mkstemp(dir=target, suffix=".part")
            except OSError as exc:
                raise DataError(f"cannot write into {target} ({exc.strerror})") from None
            os.close(fd)
            tmp = Path(name)
            # the official .gz is smaller than the file; no more than this is ever taken
            cap = spec.gz_size if spec.gz_size is not None else spec.size + DOWNLOAD_SLACK
            try:
                with tmp.open("wb") as out:
                    try:
                        with urllib.request.urlopen(url, timeout=30) as response:
                            total = int(response.headers.get("Content-Length") or 0) or None
                            task = progress.add_task(f"{dataset.name}: {spec.name}.gz", total=total)
                            got = 0
                            while chunk := response.read(1 << 16):
                                got += len(chunk)
                                if got > cap:
                                    raise DataError(
                                        f"could not download {url}: over {cap} bytes, more "
                                        f"than the official file; {dataset.help}"
                                    )
                                _write(out, tmp, chunk)
                                progress.advance(task, len(chunk))
                    except (
                        urllib.error.URLError,
                        http.client.HTTPException,  # not HTTP, or a reply cut off
                        OSError,
                        ValueError,
                    ) as exc:
                        web = isinstance(exc, urllib.error.HTTPError)
                        reason = exc if web else getattr(exc, "reason", None) or exc
                        raise DataError(
                            f"could not download {url} ({str(reason)[:200]}). Offline? "
                            f"{dataset.help}"
                        ) from None
                    _sync(out, tmp)
                read_verified(tmp, spec)  # refuse to keep a bad download
                os.replace(tmp, target / f"{spec.name}.gz")
            finally:
                tmp.unlink(missing_ok=True)


def _write(out: BinaryIO, path: Path, chunk: bytes) -> None:
    try:
        out.write(chunk)
    except OSError as exc:  # a full disk is not a network problem
        raise DataError(f"cannot write {path} ({exc.strerror})") from None


def _sync(out: BinaryIO, path: Path) -> None:
    """Flush ``out`` to the disk, so that a file renamed into place after a power loss is
    whole, not empty."""
    try:
        out.flush()
        os.fsync(out.fileno())
    except OSError as exc:
        raise DataError(f"cannot write {path} ({exc.strerror})") from None


def read_bytes(path: Path, limit: int | None = None) -> bytes:
    """Read a file, decompressing it if it is gzip (by content, not by name). With ``limit``,
    no more than ``limit + 1`` bytes are read or decompressed, so that a file longer than
    the official one is refused without being held whole (a 10 MB gzip of zeros
    decompresses to 10 GB)."""
    size = -1 if limit is None else limit + 1
    try:
        with path.open("rb") as fh:
            if fh.read(2) != _GZIP_MAGIC:
                fh.seek(0)
                return fh.read(size)
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read(size)
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise DataError(f"{path}: corrupted or truncated gzip file ({exc})") from None


def digest_problem(raw: bytes, spec: FileSpec) -> str | None:
    """Why ``raw`` (decompressed bytes) is not the official file, or None when it is.
    For a spec with only a ``.gz`` digest, the size is all that can be checked here."""
    if len(raw) != spec.size:
        size = f"over {spec.size}" if len(raw) > spec.size else len(raw)
        return f"decompressed size {size} bytes, expected {spec.size}"
    if spec.gz_size is not None:
        return None
    actual = hashlib.sha256(raw).hexdigest()
    if actual != spec.sha256:
        return f"SHA-256 of the decompressed bytes is {actual}, expected {spec.sha256}"
    return None


def _gz_problem(packed: bytes, spec: FileSpec) -> str | None:
    if packed[:2] != _GZIP_MAGIC:
        return (
            f"not gzip-compressed; only the digest of the official {spec.digest_name} is "
            "published, so that file is needed"
        )
    if len(packed) != spec.gz_size:
        size = f"over {spec.gz_size}" if len(packed) > (spec.gz_size or 0) else len(packed)
        return f"size {size} bytes, expected {spec.gz_size} for {spec.digest_name}"
    actual = hashlib.sha256(packed).hexdigest()
    if actual != spec.sha256:
        return f"SHA-256 of {spec.digest_name} is {actual}, expected {spec.sha256}"
    return None


def read_verified(path: Path, spec: FileSpec) -> bytes:
    """Decompressed bytes of ``path``, or a :class:`DataError` naming what is wrong."""
    if spec.gz_size is None:
        raw = read_bytes(path, limit=spec.size)
    else:
        try:
            with path.open("rb") as fh:
                packed = fh.read(spec.gz_size + 1)  # a longer file is refused unread
        except OSError as exc:
            raise DataError(f"{path}: cannot read ({exc.strerror})") from None
        if problem := _gz_problem(packed, spec):
            raise DataError(f"{path}: not the official {spec.digest_name}: {problem}")
        try:
            raw = gzip.decompress(packed)
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
            raise DataError(f"{path}: corrupted or truncated gzip file ({exc})") from None
    if problem := digest_problem(raw, spec):
        raise DataError(f"{path}: not the official {spec.name}: {problem}")
    return raw


def file_problem(path: Path, spec: FileSpec) -> str | None:
    """What is wrong with ``path`` as the official file, or None (for ``data verify``)."""
    try:
        read_verified(path, spec)
    except DataError as exc:
        return str(exc)
    return None


def write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> bool:
    """Write a cache file through a temporary file and a rename, so that a reader never
    sees half of it. False (and nothing left behind) when it cannot be written: a cache is
    an optimisation, and a read-only home must not stop a search."""
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        tmp = Path(name)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())  # whole on the disk before it has its real name
        os.replace(tmp, path)
        tmp = None
        return True
    except OSError:
        return False
    finally:  # nothing left behind, whatever stopped the write (Ctrl-C too)
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def copy_into(source: DataSource, target: Path) -> None:
    """Copy the four files of ``source`` into ``target`` (used by tests and mirrors)."""
    target.mkdir(parents=True, exist_ok=True)
    for spec in source.dataset.files:
        shutil.copy2(source.path(spec.key), target / source.path(spec.key).name)
