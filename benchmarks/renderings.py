"""Classify the test set saved as pictures, each way a user might save them, against the
raw arrays: how faithful ``read_image`` is (issue 15).

    python benchmarks/renderings.py MODEL_DIR [--limit 10000]
    python benchmarks/renderings.py --quick-export /tmp/linear-model   # make a cheap model

Every test image is written to a file in each rendering (``RENDERINGS``), read back with
``read_image`` and classified by the exported model; the table gives the accuracy per
rendering, the raw arrays' accuracy on the same images, and how often the two predictions
agree. ``--quick-export`` first trains the linear family's init configuration on the
50,000 / 10,000 split and exports it to the folder (calibrated on the 10,000).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image


def png28(x: np.ndarray, path: Path) -> Path:
    """The image as it is: 8-bit grayscale PNG, 28 x 28."""
    Image.fromarray(x).save(path := path.with_suffix(".png"))
    return path


def alpha(x: np.ndarray, path: Path) -> Path:
    """A cut-out: the product's own grey (dark object, 255 - x) where it is, transparent
    around it (grayscale + alpha PNG, 28 x 28)."""
    pixels = np.stack([255 - x, np.where(x > 0, 255, 0).astype(np.uint8)], axis=-1)
    Image.fromarray(pixels, "LA").save(path := path.with_suffix(".png"))
    return path


def jpeg2x(x: np.ndarray, path: Path) -> Path:
    """RGB JPEG (Pillow's default quality 75) at twice the size, resized bicubically."""
    img = Image.fromarray(x).resize((56, 56), Image.Resampling.BICUBIC).convert("RGB")
    img.save(path := path.with_suffix(".jpg"))
    return path


def white100(x: np.ndarray, path: Path) -> Path:
    """The dark object on white: 255 - x, 84 pixels across, on a 100 x 100 white page."""
    page = Image.new("L", (100, 100), 255)
    page.paste(Image.fromarray(255 - x).resize((84, 84), Image.Resampling.BICUBIC), (8, 8))
    page.save(path := path.with_suffix(".png"))
    return path


RENDERINGS: dict[str, Callable[[np.ndarray, Path], Path]] = {
    "png28": png28,
    "alpha": alpha,
    "jpeg2x": jpeg2x,
    "white100": white100,
}


def _render_and_read(job: tuple[str, np.ndarray, str, int]) -> np.ndarray:
    from automl_fashion.model import read_image

    way, images, folder, chunk = job
    out = np.empty((len(images), 28, 28), np.float32)
    for i, x in enumerate(images):
        out[i] = read_image(RENDERINGS[way](x, Path(folder) / f"{way}-{chunk}-{i}"))
    return out


def read_back(way: str, images: np.ndarray, workers: int = 2) -> np.ndarray:
    """``images`` (N x 28 x 28 uint8) rendered ``way`` into files and read back."""
    with tempfile.TemporaryDirectory() as folder:
        chunks = np.array_split(images, max(1, workers * 4))
        jobs = [(way, chunk, folder, k) for k, chunk in enumerate(chunks)]
        if workers == 1:
            return np.concatenate([_render_and_read(j) for j in jobs])
        with ProcessPoolExecutor(workers) as pool:
            return np.concatenate(list(pool.map(_render_and_read, jobs)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", help="an exported model folder")
    parser.add_argument("--limit", type=int, default=10_000, help="test images (default all)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick-export", action="store_true", help="train and export first")
    args = parser.parse_args()

    from automl_fashion import load_model
    from automl_fashion.data import load_test

    if args.quick_export:
        from automl_fashion import families
        from automl_fashion.data import load_split
        from automl_fashion.export import export_model

        split = load_split()
        model = families.create("linear", threads=args.workers).fit(split)
        val = (split.X_val, split.y_val)  # calibrates the probabilities
        export_model(model, args.model, study="renderings", force=True, val=val)
    exported = load_model(args.model, threads=args.workers)
    X, y = load_test()
    X, y = X[: args.limit], y[: args.limit]
    raw = exported.predict(X.astype(np.float32))
    rows = [{"rendering": "raw arrays", "accuracy": float(np.mean(raw == y)), "agreement": 1.0}]
    for way in RENDERINGS:
        t0 = time.perf_counter()
        pred = exported.predict(read_back(way, X, args.workers))
        rows.append(
            {
                "rendering": way,
                "accuracy": float(np.mean(pred == y)),
                "agreement": float(np.mean(pred == raw)),
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
    card = exported.card
    print(f"model: {card.get('family')} from {args.model}; {len(y)} test images")
    print("| rendering | accuracy | vs raw | agrees with raw |\n|---|---|---|---|")
    for row in rows:
        delta = row["accuracy"] - rows[0]["accuracy"]
        print(
            f"| {row['rendering']} | {row['accuracy']:.2%} | {delta:+.2%} "
            f"| {row['agreement']:.2%} |"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
