"""How fast a folder data set (``--data DIR``) is read: cold, then from the array cache.

    python benchmarks/folder_read.py [--count 100000] [--classes 10] [--compare 20000]

Makes ``--count`` small PNGs in a temporary folder (``train/<class>/``; sides 16 to 64
pixels, gray and RGB), then times ``open_folder`` cold (scan, parallel decode to 28 x 28
gray, cache write) and again from the cache. ``--compare N`` first times the decode of N
pictures with threads and with processes (how the default executor was chosen). The
files were just written, so they are in the OS page cache: a cold disk is slower.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def make_pictures(root: Path, count: int, classes: int, seed: int = 0) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in range(classes):
        (root / "train" / f"class{c}").mkdir(parents=True)
    for i in range(count):
        c = i % classes
        h, w = rng.integers(16, 65, 2)
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        picture = Image.fromarray(pixels, "RGB")
        if i % 2:
            picture = picture.convert("L")
        picture.save(root / "train" / f"class{c}" / f"{i:06d}.png", compress_level=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--compare", type=int, default=0, help="pictures for threads vs processes")
    args = parser.parse_args()

    from automl_fashion.data.folder import open_folder
    from automl_fashion.data.pictures import read_pictures
    from automl_fashion.threads import available_cores

    cores = available_cores()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["AUTOML_FASHION_CACHE"] = str(Path(tmp) / "cache")
        root = Path(tmp) / "pictures"
        t0 = time.perf_counter()
        make_pictures(root, args.count, args.classes)
        print(
            f"made {args.count:,} PNGs ({args.classes} classes, 16-64 px, gray and RGB) "
            f"in {time.perf_counter() - t0:.1f} s; {cores} core(s)"
        )
        if args.compare:
            paths = sorted(root.glob("train/*/*.png"))[: args.compare]
            for executor in ("threads", "processes"):
                t0 = time.perf_counter()
                read_pictures(paths, (28, 28), "gray", executor=executor)
                print(
                    f"decode {len(paths):,} pictures with {executor} x{cores}: "
                    f"{time.perf_counter() - t0:.1f} s"
                )
            t0 = time.perf_counter()
            read_pictures(paths, (28, 28), "gray", workers=1)
            print(f"decode {len(paths):,} pictures in one thread: {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        cold = open_folder(root)
        cold_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        cached = open_folder(root)
        cached_s = time.perf_counter() - t0
        assert cached.from_cache and not cold.from_cache
        print(f"open_folder cold (scan, decode, stats, cache write): {cold_s:.1f} s")
        print(f"open_folder cached (scan, cache read, stats): {cached_s:.2f} s")
        print(f"arrays: train {cold.train()[0].shape}, test {cold.test()[0].shape}")


if __name__ == "__main__":
    main()
