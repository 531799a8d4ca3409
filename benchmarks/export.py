"""Export every family's init model and check ONNX against the native model on the test set.

    python benchmarks/export.py [--threads 2] [--families linear,svm]

Trains each init configuration on the 50,000 / 10,000 split, exports it (ONNX + native
weights + card) and reports: agreement of ONNX and native predictions on the 10,000 test
images, export seconds, ONNX inference throughput (images per second) and test accuracy.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from automl_fashion import families
from automl_fashion.data import load_split
from automl_fashion.export import export_model

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--families", default=",".join(families.names()))
    args = parser.parse_args()
    split = load_split()
    rows = []
    for name in args.families.split(","):
        model = families.create(name, threads=args.threads).fit(split)
        out = Path(tempfile.mkdtemp(prefix=f"export-{name}-"))
        t0 = time.perf_counter()
        result = export_model(model, out, study="benchmark", trial=-1)
        card = json.loads((out / "model_card.json").read_text())
        row = {
            "family": name,
            "onnx_native_agreement_test": result.parity,
            "export_seconds": round(result.export_seconds, 2),
            "export_and_test_seconds": round(time.perf_counter() - t0, 1),
            "onnx_images_per_second": card["onnx_images_per_second"],
            "test_accuracy": result.test_accuracy,
            "onnx_bytes": (out / "model.onnx").stat().st_size,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    RESULTS.mkdir(exist_ok=True)
    # keep earlier rows of families not run this time (families can be measured separately)
    previous = RESULTS / "export.json"
    if previous.is_file():
        ran = {r["family"] for r in rows}
        kept = [r for r in json.loads(previous.read_text())["rows"] if r["family"] not in ran]
        order = families.names()
        rows = sorted(kept + rows, key=lambda r: order.index(r["family"]))
    (RESULTS / "export.json").write_text(
        json.dumps({"threads": args.threads, "rows": rows}, indent=2)
    )
    lines = [
        "| family | ONNX = native on test | export s | ONNX images/s | test acc | ONNX size |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['family']} | {r['onnx_native_agreement_test']:.2%} | {r['export_seconds']:.1f}"
        f" | {r['onnx_images_per_second']:,.0f} | {r['test_accuracy']:.2%} | "
        f"{r['onnx_bytes'] / 1e6:.1f} MB |"
        for r in rows
    ]
    (RESULTS / "export.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
