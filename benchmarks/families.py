"""Train every family's ``init`` configuration on the 50,000 / 10,000 split.

Reports validation accuracy, fit seconds and prediction time per family: the per-family
comparison in the README. One family at a time (never two trainings at once).

    python benchmarks/families.py [--threads 2] [--families cnn,svm]
    python benchmarks/families.py --device cuda --families cnn,resnet   # on a GPU
    python benchmarks/families.py --device cuda --families cnn --set width=64,batch_size=512

``--set`` changes each family's init (values as YAML reads them) without the search space's
range checks, to try sizes outside it (a GPU's batches); its results go to
``<stem>-set.json``.

Torch families also report training images per second (epochs x training images / fit
seconds). Results: benchmarks/results/families.json and .md for the README's setting (CPU,
2 threads), families-<device>-<threads>t.json/.md for any other.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import time
from pathlib import Path

import numpy as np

from automl_fashion import families
from automl_fashion.data import load_split
from automl_fashion.search_space import load_space

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--families", default=",".join(families.names()))
    parser.add_argument("--device", default="cpu", help="torch families: cpu, cuda, cuda:N")
    parser.add_argument("--set", default="", help="KEY=VALUE[,KEY=VALUE...] over each init")
    args = parser.parse_args()
    changes = parse_set(args.set)
    stem = (
        "families"
        if args.device == "cpu" and args.threads == 2
        else f"families-{args.device.replace(':', '')}-{args.threads}t"
    ) + ("-set" if changes else "")
    split = load_split()
    rows = []
    for name in args.families.split(","):
        if changes:
            space = load_space(name)
            unknown = set(changes) - {p.name for p in space.params}  # init's are among them
            if unknown:
                raise SystemExit(f"--set: {name} has no parameter {', '.join(sorted(unknown))}")
            params = {**space.init, **changes}
            model = families.get(name)(params, threads=args.threads, device=args.device)
        else:
            model = families.create(name, threads=args.threads, device=args.device)
        model.fit(
            split, lambda step, acc, n=name: print(f"  {n} rung {step}: {acc:.4f}", flush=True)
        )
        t0 = time.perf_counter()
        proba = model.predict_proba(split.X_val)
        predict_s = time.perf_counter() - t0
        row = {
            "family": name,
            "val_accuracy": float(np.mean(proba.argmax(1) == split.y_val)),
            "fit_seconds": round(model.fit_seconds_, 1),
            "predict_ms_per_1000": round(predict_s / len(split.y_val) * 1e6, 2),
            "device": args.device if getattr(model, "uses_torch", False) else "cpu",
            "init": dict(model.params),
        }
        if model.fidelity == "epochs":
            epochs = int(model.params.get("epochs", 0))
            row["train_images_per_s"] = round(epochs * len(split.y_train) / model.fit_seconds_)
        rows.append(row)
        print(json.dumps(row), flush=True)
    RESULTS.mkdir(exist_ok=True)
    done = {r["family"] for r in rows}
    if (RESULTS / f"{stem}.json").is_file():  # keep the rows of families not measured now
        kept = json.loads((RESULTS / f"{stem}.json").read_text())["rows"]
        rows = [r for r in kept if r["family"] not in done] + rows
        rows.sort(key=lambda r: families.names().index(r["family"]))
    meta = {
        "threads": args.threads,
        "device": args.device,
        "machine": platform.processor() or platform.machine(),
        "date": time.strftime("%Y-%m-%d"),
    }
    (RESULTS / f"{stem}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    lines = [
        "| family | val accuracy | fit seconds | predict ms / 1,000 images |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['family']} | {r['val_accuracy']:.2%} | {r['fit_seconds']:.0f} | "
        f"{r['predict_ms_per_1000']:.1f} |"
        for r in rows
    ]
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def parse_set(text: str) -> dict[str, object]:
    """``width=64,batch_size=512`` as ``{"width": 64, "batch_size": 512}``."""
    import yaml

    changes: dict[str, object] = {}
    for item in filter(None, text.split(",")):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise SystemExit(f"--set: {item!r} is not KEY=VALUE")
        parsed = yaml.safe_load(value)
        if isinstance(parsed, str):  # YAML 1.1 reads 1e-3 as text
            with contextlib.suppress(ValueError):
                parsed = float(parsed)
        changes[key.strip()] = parsed
    return changes


if __name__ == "__main__":
    main()
