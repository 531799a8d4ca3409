"""Find, fetch and verify the four official Fashion-MNIST IDX files.

Search order (first hit wins):

1. an explicit directory (``--data-dir`` / ``data_dir=``) or ``$AUTOML_FASHION_DATA``;
   an explicit directory that lacks the files is an error, never a silent fallback;
2. the user cache (``$AUTOML_FASHION_CACHE``, else ``$XDG_CACHE_HOME/automl-fashion``,
   else ``~/.cache/automl-fashion``), folder ``raw/``;
3. ``/usr/share/datasets/fashion-mnist`` (Debian package ``dataset-fashion-mnist``);
4. a download from the official Zalando location into the user cache.

Files may be gzip-compressed (``.gz``) or not. Debian recompressed the ``.gz`` files, so
the digests here are SHA-256 of the *decompressed* bytes, which are the same everywhere.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

from automl_fashion.errors import DataError

OFFICIAL_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
DEBIAN_HINT = (
    "install the Debian/Ubuntu package (sudo apt-get install dataset-fashion-mnist) "
    "or pass --data-dir DIR holding the four IDX files"
)


@dataclass(frozen=True)
class FileSpec:
    """One official file: its name, decompressed size and SHA-256."""

    key: str
    name: str
    size: int
    sha256: str
    shape: tuple[int, ...]


FILES: dict[str, FileSpec] = {
    spec.key: spec
    for spec in (
        FileSpec(
            "train-images",
            "train-images-idx3-ubyte",
            47_040_016,
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            (60_000, 28, 28),
        ),
        FileSpec(
            "train-labels",
            "train-labels-idx1-ubyte",
            60_008,
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            (60_000,),
        ),
        FileSpec(
            "test-images",
            "t10k-images-idx3-ubyte",
            7_840_016,
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            (10_000, 28, 28),
        ),
        FileSpec(
            "test-labels",
            "t10k-labels-idx1-ubyte",
            10_008,
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            (10_000,),
        ),
    )
}


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

    def path(self, key: str) -> Path:
        found = _find_file(self.directory, FILES[key].name)
        if found is None:  # pragma: no cover - locate() checked all four
            raise DataError(f"{FILES[key].name}(.gz) vanished from {self.directory}")
        return found


def _find_file(directory: Path, name: str) -> Path | None:
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    return None


def _missing(directory: Path) -> list[str]:
    return [s.name for s in FILES.values() if _find_file(directory, s.name) is None]


def locate(data_dir: str | os.PathLike[str] | None = None, *, download: bool = True) -> DataSource:
    """Find the four files, downloading them into the user cache as a last resort."""
    explicit: tuple[Path, str] | None = None
    if data_dir is not None:
        explicit = (Path(data_dir).expanduser(), "argument")
    elif env := os.environ.get("AUTOML_FASHION_DATA"):
        explicit = (Path(env).expanduser(), "environment")
    if explicit is not None:
        directory, origin = explicit
        missing = _missing(directory)
        if missing:
            source = "--data-dir" if origin == "argument" else "$AUTOML_FASHION_DATA"
            raise DataError(
                f"{source}={directory} lacks {', '.join(missing)} (plain or .gz); "
                "expected the four official Fashion-MNIST IDX files there"
            )
        return DataSource(directory, origin)
    raw = cache_dir() / "raw"
    if not _missing(raw):
        return DataSource(raw, "cache")
    if not _missing(SYSTEM_DIR):
        return DataSource(SYSTEM_DIR, "system")
    if not download:
        raise DataError(f"Fashion-MNIST not found in {raw} or {SYSTEM_DIR}: {DEBIAN_HINT}")
    fetch(raw)
    return DataSource(raw, "downloaded")


def fetch(target: Path, base_url: str | None = None) -> None:
    """Download the missing official ``.gz`` files into ``target``, verifying each."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TransferSpeedColumn,
    )

    base_url = base_url or os.environ.get("AUTOML_FASHION_MIRROR") or OFFICIAL_URL
    target.mkdir(parents=True, exist_ok=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        transient=True,
    ) as progress:
        for spec in FILES.values():
            if _find_file(target, spec.name) is not None:
                continue
            url = base_url.rstrip("/") + f"/{spec.name}.gz"
            tmp = Path(tempfile.mkstemp(dir=target, suffix=".part")[1])
            try:
                try:
                    response = urllib.request.urlopen(url, timeout=30)
                except (urllib.error.URLError, OSError) as exc:
                    reason = getattr(exc, "reason", exc)
                    raise DataError(
                        f"could not download {url} ({reason}). Offline? {DEBIAN_HINT}"
                    ) from None
                with response, tmp.open("wb") as out:
                    total = int(response.headers.get("Content-Length") or 0) or None
                    task = progress.add_task(f"{spec.name}.gz", total=total)
                    while chunk := response.read(1 << 16):
                        out.write(chunk)
                        progress.advance(task, len(chunk))
                read_verified(tmp, spec)  # refuse to keep a bad download
                os.replace(tmp, target / f"{spec.name}.gz")
            finally:
                tmp.unlink(missing_ok=True)


def read_bytes(path: Path) -> bytes:
    """Read a file, decompressing it if it is gzip (by content, not by name)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(2)
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    if head != b"\x1f\x8b":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read()
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise DataError(f"{path}: corrupted or truncated gzip file ({exc})") from None


def digest_problem(raw: bytes, spec: FileSpec) -> str | None:
    """Why ``raw`` is not the official file, or None when it is."""
    if len(raw) != spec.size:
        return f"decompressed size {len(raw)} bytes, expected {spec.size}"
    actual = hashlib.sha256(raw).hexdigest()
    if actual != spec.sha256:
        return f"SHA-256 of the decompressed bytes is {actual}, expected {spec.sha256}"
    return None


def read_verified(path: Path, spec: FileSpec) -> bytes:
    """Decompressed bytes of ``path``, or a :class:`DataError` naming what is wrong."""
    raw = read_bytes(path)
    if problem := digest_problem(raw, spec):
        raise DataError(f"{path}: not the official {spec.name}: {problem}")
    return raw


def copy_into(source: DataSource, target: Path) -> None:
    """Copy the four files of ``source`` into ``target`` (used by tests and mirrors)."""
    target.mkdir(parents=True, exist_ok=True)
    for key in FILES:
        shutil.copy2(source.path(key), target / source.path(key).name)
