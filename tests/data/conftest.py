"""Small synthetic data sets: IDX files served from 127.0.0.1, folders of pictures."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.server
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from automl_fashion.data.builtin import MNIST
from automl_fashion.data.idxset import FileSpec, IdxSet


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_set(
    directory: Path, *, n_train: int = 50, n_test: int = 20, seed: int = 0, label_max: int = 9
) -> dict[str, bytes]:
    """Four gzip IDX files (10 balanced classes); returns file name -> .gz bytes."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    for part, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % (label_max + 1)
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{part}-{kind}-ubyte"
            packed = gzip.compress(idx_bytes(array), mtime=0)
            (directory / f"{name}.gz").write_bytes(packed)
            written[name] = packed
    return written


def entry_for(written: dict[str, bytes], url: str, *, gz_digests: bool = True) -> IdxSet:
    """A test-only registry entry (MNIST's description) for files from write_idx_set."""
    files = []
    for spec in MNIST.files:
        packed = written[spec.name]
        raw = gzip.decompress(packed)
        n = struct.unpack(">I", raw[4:8])[0]
        shape = (n, *spec.shape[1:])
        if gz_digests:
            digest, gz_size = hashlib.sha256(packed).hexdigest(), len(packed)
        else:
            digest, gz_size = hashlib.sha256(raw).hexdigest(), None
        files.append(FileSpec(spec.key, spec.name, len(raw), digest, shape, gz_size))
    return dataclasses.replace(
        MNIST, name="tiny-mnist", url=url, files=tuple(files), raw_dir="tiny-mnist/raw"
    )


@pytest.fixture
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("AUTOML_FASHION_CACHE", str(cache))
    monkeypatch.delenv("AUTOML_FASHION_DATA", raising=False)
    monkeypatch.delenv("AUTOML_FASHION_MIRROR", raising=False)
    return cache


@pytest.fixture
def serve() -> Iterator[Callable[[Path], str]]:
    """serve(directory) -> the base URL of a loopback HTTP server holding its files."""
    servers = []

    def start(directory: Path) -> str:
        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
                super().__init__(*args, directory=str(directory), **kwargs)

            def log_message(self, *args):  # type: ignore[no-untyped-def]
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def make_folder(
    root: Path,
    counts: dict[str, int],
    *,
    part: str = "train",
    seed: int = 0,
    ext: str = ".png",
) -> Path:
    """root/part/<class>/<i><ext>: small pictures of varied sizes and modes; each class
    has its own brightness, so that its pictures differ from the others'."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    modes = ("L", "RGB", "RGBA", "P") if ext == ".png" else ("L", "RGB")
    for label, (name, n) in enumerate(counts.items()):
        folder = root / part / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            h, w = rng.integers(10, 40, 2)
            level = 20 + (50 * label) % 190
            pixels = rng.integers(level, level + 40, (h, w, 3), dtype=np.uint8)
            picture = Image.fromarray(pixels, "RGB").convert(modes[i % len(modes)])
            picture.save(folder / f"{i}{ext}")
    return root
