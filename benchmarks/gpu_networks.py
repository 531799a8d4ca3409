"""Train GPU-sized networks side by side on one GPU, each to a deadline, and test them.

    python benchmarks/gpu_networks.py --seconds 420 --name h200          # on a GPU
    python benchmarks/gpu_networks.py --summarise DIR --name h200        # from a run's DIR
    python benchmarks/gpu_networks.py --device cpu --configs cnnL,res32 --seconds 1850 \
        --epochs 40 --out DIR --name epyc                                # CPU-sized ones

On the CPU (``--device cpu``) the configurations are :data:`CPU_CONFIGS`: networks a
long search could plan on one-thread workers, to learn which of them add most to each other
(results: ``networks-<name>.json``); run them two at a time on two cores, into one ``--out``,
and the summary averages every subset of all of them.

One process per configuration, all at once (the cores shared among them: 16 cores, four
configurations, four threads each), each trained on the 50,000 / 10,000 split with a
deadline ``--seconds`` after its data is loaded: a network shortens its schedule to the
deadline itself, as in a search. Each process saves its validation and test probabilities
in ``--out``; the summary gives each network's validation and test accuracy, its epochs and
fit seconds, and the test accuracy of the plain average of every subset of them: which
GPU-sized networks to plan, and how their ensemble does, before a 10-minute search.
``nvidia-smi`` samples the GPU's load every 5 s. Results: benchmarks/results/
gpu-networks-<name>.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.gpu import gpu_utilisation, sample_gpus

RESULTS = Path(__file__).parent / "results"
#: name: (family, what changes in its init; "long"/"second": start from that configuration)
CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    # 64-128-256 channels, two blocks a stage, the first stage at full resolution
    "res64b2": (
        "resnet",
        {"width": 64, "stages": 3, "blocks": 2, "first_stride": 1, "batch_size": 512, "erase": 0.3},
    ),
    # 96-192-384 channels, one block a stage
    "res96b1": (
        "resnet",
        {
            "width": 96,
            "stages": 3,
            "blocks": 1,
            "first_stride": 1,
            "batch_size": 512,
            "erase": 0.3,
            "shift": 2,
        },
    ),
    # the cnn's second configuration, twice as wide, four times the batch
    "cnn2w96": ("cnn", {"second": True, "width": 96, "batch_size": 512, "lr": 0.002}),
    # the cnn's long configuration, twice as wide, four times the batch
    "cnnLw64": ("cnn", {"long": True, "width": 64, "batch_size": 512, "lr": 0.0029}),
}

#: CPU-sized networks, each about what a long search gives one network on one thread of this
#: 2-core machine (~30 minutes): the cnn's ``long`` configuration with two seeds, and
#: residual networks of about its cost per epoch (24-40 s on one EPYC thread)
CPU_CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "cnnL": ("cnn", {"long": True, "epochs": 40}),
    "cnnL1": ("cnn", {"long": True, "epochs": 40, "seed": 1}),
    # the resnet init, 32 channels, with erasing (the published 50-epoch recipe's)
    "res32": ("resnet", {"width": 32, "erase": 0.3, "epochs": 40}),
    # the resnet init with two blocks a stage, with erasing
    "res24b2": ("resnet", {"blocks": 2, "erase": 0.3, "epochs": 40}),
}


def configuration(key: str) -> tuple[str, dict[str, Any]]:
    """The family and the whole parameters of configuration ``key`` (its epochs as in the
    configuration it starts from)."""
    from automl_fashion.search_space import load_space

    family, changes = {**CONFIGS, **CPU_CONFIGS}[key]
    changes = dict(changes)
    changes.pop("seed", None)
    space = load_space(family)
    params = dict(space.init)
    for start in ("long", "second"):
        if changes.pop(start, False):
            params = dict(getattr(space, start))
    return family, {**params, **changes}


def train_one(
    key: str, seconds: float, epochs: int, out: Path, threads: int, device: str = "cuda"
) -> None:
    """Train configuration ``key`` to a deadline; save its probabilities and its row."""
    import numpy as np
    import torch

    from automl_fashion import families
    from automl_fashion.data import load_split, load_test

    family, params = configuration(key)
    params["epochs"] = min(epochs, params.get("epochs", epochs)) if device == "cpu" else epochs
    seed = int({**CONFIGS, **CPU_CONFIGS}[key][1].get("seed", 0))
    split = load_split()
    X_test, y_test = load_test()
    model = families.get(family)(params, threads=threads, device=device, seed=seed)
    t0 = time.time()
    rungs: list[tuple[int, float, float]] = []
    model.fit(
        split,
        lambda s, a: rungs.append((s, round(a, 4), round(time.time() - t0, 1))),
        deadline=t0 + seconds,
    )
    fit_s = time.time() - t0
    pv, pt = model.predict_proba(split.X_val), model.predict_proba(X_test)
    row = {
        "key": key,
        "family": family,
        "params": model.params,
        "fit_seconds": round(fit_s, 1),
        "val_accuracy": float(np.mean(pv.argmax(1) == split.y_val)),
        "test_accuracy": float(np.mean(pt.argmax(1) == y_test)),
        "rungs": rungs,
        "seed": seed,
        "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
    }
    np.savez_compressed(out / f"{key}.npz", val=pv.astype(np.float32), test=pt.astype(np.float32))
    (out / f"{key}.json").write_text(json.dumps(row, default=str))
    print(json.dumps({k: row[k] for k in ("key", "fit_seconds", "val_accuracy", "test_accuracy")}))


def summarise(out: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Each network's row, and the test accuracy of the plain average of every subset."""
    import numpy as np

    from automl_fashion.data import load_split, load_test

    # file names from CONFIGS, never from what the files say
    keys = [k for k in sorted({**CONFIGS, **CPU_CONFIGS}) if (out / f"{k}.json").is_file()]
    rows = [{**json.loads((out / f"{k}.json").read_text()), "key": k} for k in keys]
    y_val, y_test = load_split().y_val, load_test()[1]
    probs = {k: np.load(out / f"{k}.npz") for k in keys}
    averages = []
    for n in range(2, len(rows) + 1):
        for members in itertools.combinations(sorted(probs), n):
            val = np.mean([probs[k]["val"] for k in members], axis=0)
            test = np.mean([probs[k]["test"] for k in members], axis=0)
            averages.append(
                {
                    "members": list(members),
                    "val_accuracy": float(np.mean(val.argmax(1) == y_val)),
                    "test_accuracy": float(np.mean(test.argmax(1) == y_test)),
                }
            )
    smi = out / "smi.txt"
    load = gpu_utilisation(smi.read_text()) if smi.is_file() else None
    return {"meta": meta, "networks": rows, "averages": averages, "gpu_load": load}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=420.0, help="each network's deadline")
    parser.add_argument("--epochs", type=int, default=120, help="each network's most epochs")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    which = f"of {','.join(CONFIGS)} (cuda), {','.join(CPU_CONFIGS)} (cpu); all by default"
    parser.add_argument("--configs", help=which)
    parser.add_argument("--out", type=Path, default=Path("gpu-networks-out"))
    parser.add_argument("--name", default="run", help="results file: gpu-networks-NAME.json")
    parser.add_argument("--summarise", type=Path, help="only summarise a finished run's folder")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        threads = int(os.environ.get("GPU_NETWORKS_THREADS", "4"))
        train_one(args.child, args.seconds, args.epochs, args.out, threads, args.device)
        return
    meta: dict[str, Any] = {
        "seconds": args.seconds,
        "epochs": args.epochs,
        "date": time.strftime("%Y-%m-%d"),
    }
    if args.summarise is None:
        known = CONFIGS if args.device == "cuda" else CPU_CONFIGS
        keys = [k for k in (args.configs or ",".join(known)).split(",") if k]
        unknown = sorted(set(keys) - set(known))
        if unknown:
            raise SystemExit(f"--configs: unknown {', '.join(unknown)}; expected {list(known)}")
        args.out.mkdir(parents=True, exist_ok=True)
        threads = max(1, (os.cpu_count() or 1) // len(keys))
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "GPU_NETWORKS_THREADS": str(threads)}
        common = ["--seconds", str(args.seconds), "--epochs", str(args.epochs)]
        common += ["--out", str(args.out), "--device", args.device]
        procs = [
            subprocess.Popen([sys.executable, __file__, "--child", k, *common], env=env)
            for k in keys
        ]
        sampler = sample_gpus()
        codes = [p.wait() for p in procs]
        if sampler is not None:
            sampler.terminate()
            (args.out / "smi.txt").write_text(sampler.communicate(timeout=10)[0])
        meta.update(threads=threads, exit_codes=codes)
    result = summarise(args.summarise or args.out, meta)
    RESULTS.mkdir(exist_ok=True)
    prefix = "gpu-networks" if args.device == "cuda" else "networks"
    (RESULTS / f"{prefix}-{args.name}.json").write_text(json.dumps(result, indent=1))
    for r in result["networks"]:
        print(
            f"{r['key']}: {r['params']['epochs']} epochs, {r['fit_seconds']} s, "
            f"{r['val_accuracy']:.2%} val, {r['test_accuracy']:.2%} test"
        )
    best = max(result["averages"], key=lambda a: a["val_accuracy"], default=None)
    if best:
        print(
            f"best average by validation: {'+'.join(best['members'])}: "
            f"{best['val_accuracy']:.2%} val, {best['test_accuracy']:.2%} test"
        )


if __name__ == "__main__":
    main()
