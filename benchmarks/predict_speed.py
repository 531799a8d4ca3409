"""How fast `predict` classifies picture files end to end: decode, preprocess, ONNX.

    python benchmarks/predict_speed.py MODEL_DIR [--count 10000] [--rendering png28]

Writes ``--count`` test images as files (a rendering of benchmarks/renderings.py), then
times ``automl-fashion predict MODEL_DIR FILE...`` as a user runs it (one process, its
start-up included, JSON output) and ``load_model(...).predict_files`` in this process.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.renderings import RENDERINGS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rendering", default="png28", choices=list(RENDERINGS))
    args = parser.parse_args()

    from automl_fashion import load_model
    from automl_fashion.data import load_test

    X, y = load_test()
    X, y = X[: args.count], y[: args.count]
    with tempfile.TemporaryDirectory() as folder:
        paths = [str(RENDERINGS[args.rendering](x, Path(folder) / f"{i}")) for i, x in enumerate(X)]
        t0 = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "automl_fashion",
                "predict",
                args.model,
                *paths,
                "--format",
                "json",
            ],
            capture_output=True,
            text=True,
        )
        cli_seconds = time.perf_counter() - t0
        assert proc.returncode == 0, proc.stderr[-2000:]
        model = load_model(args.model)
        t0 = time.perf_counter()
        pred = [int(np.argmax(r.proba)) for r in model.predict_files(paths)]
        library_seconds = time.perf_counter() - t0
    print(
        f"{len(paths)} {args.rendering} files, model {model.card.get('family')}: "
        f"predict CLI {cli_seconds:.1f} s ({len(paths) / cli_seconds:,.0f} files/s, start-up "
        f"included), predict_files {library_seconds:.1f} s; accuracy "
        f"{np.mean(np.array(pred) == y):.2%}"
    )


if __name__ == "__main__":
    main()
