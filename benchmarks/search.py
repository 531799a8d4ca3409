"""Benchmark `automl-fashion search` at a given budget, then test the best model once.

    python benchmarks/search.py --budget 10m

Runs the real CLI in a subprocess (default settings, a fresh study), measures its wall
clock against the budget and the CPU time of the whole process tree, and reads the test
accuracy of the model the search exported at its end (measured once on the 10,000 test
images; selection never saw them). With --refit-check it also retrains the best trial's
configuration and tests that. Writes benchmarks/results/search-<budget>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import TrialState

from automl_fashion import families
from automl_fashion.budget import parse_budget
from automl_fashion.data import load_split, load_test
from automl_fashion.export import trial_config
from automl_fashion.onnx_export import onnx_predict_proba, onnx_session
from automl_fashion.storage import open_storage
from automl_fashion.threads import available_cores
from benchmarks.gpu import gpu_utilisation, sample_gpus

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", default="10m")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--extra", default="", help="extra flags for search")
    parser.add_argument("--refit-check", action="store_true", help="also retrain the best")
    parser.add_argument("--name", help="results file name without .json (default: search-<budget>)")
    args = parser.parse_args()
    budget = parse_budget(args.budget)
    studies = Path(tempfile.mkdtemp(prefix="bench-"))
    env = {**os.environ, "AUTOML_FASHION_STUDIES": str(studies)}
    cmd = [
        sys.executable,
        "-m",
        "automl_fashion",
        "search",
        "--budget",
        args.budget,
        "--study",
        "bench",
        "--quiet",
        "--seed",
        str(args.seed),
        *args.extra.split(),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    sampler = sample_gpus()
    start = time.monotonic()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - start
    gpus = None
    if sampler is not None:
        sampler.terminate()
        gpus = gpu_utilisation(sampler.communicate(timeout=10)[0])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(out.stdout, out.stderr, sep="\n")

    study = optuna.load_study(study_name="bench", storage=open_storage(None, "bench", studies))
    trials = study.get_trials()
    cores = available_cores()
    in_trials = sum(t.user_attrs.get("trial_seconds", 0.0) for t in trials)
    per_family = {
        fam: dict(Counter(t.state.name.lower() for t in trials if t.params.get("family") == fam))
        # a trial still waiting in the queue at the end has no family yet
        for fam in sorted({str(t.params["family"]) for t in trials if "family" in t.params})
    }
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = max(complete, key=lambda t: t.value or 0.0)
    fam, params = trial_config(best)
    card_path = studies / "bench.model" / "model_card.json"
    exported = json.loads(card_path.read_text()) if card_path.is_file() else None
    test_acc = refit_s = None
    if args.refit_check or exported is None:
        t0 = time.monotonic()
        model = families.get(fam)(params, seed=args.seed + best.number, threads=cores)
        model.fit(load_split(seed=args.seed))
        refit_s = round(time.monotonic() - t0, 1)
        X_test, y_test = load_test()
        test_acc = float(np.mean(model.predict(X_test) == y_test))
    # the best single model the search saved, tested too: what the ensemble adds
    single_test = None
    single_onnx = studies / "bench.artifacts" / f"trial-{best.number}" / "model.onnx"
    if single_onnx.is_file():
        X_test, y_test = load_test()
        proba = onnx_predict_proba(onnx_session(single_onnx, cores), X_test.astype(np.float32))
        single_test = float(np.mean(proba.argmax(1) == y_test))
    members = (
        [
            {k: m[k] for k in ("trial", "family", "weight", "val_accuracy")}
            for m in exported["params"]["members"]
        ]
        if exported and exported["family"] == "ensemble"
        else None
    )
    result = {
        "budget_s": budget,
        "elapsed_s": round(elapsed, 1),
        "overrun_s": round(elapsed - budget, 1),
        "cpu_utilisation": round(cpu / (elapsed * cores), 3),
        "share_of_core_time_in_trials": round(in_trials / (elapsed * cores), 3),
        "trials": len(trials),
        "per_family": per_family,
        "pruned_share": round(sum(t.state == TrialState.PRUNED for t in trials) / len(trials), 3),
        "best_trial": best.number,
        "best_family": fam,
        "best_val_accuracy": best.value,
        "best_params": params,
        "test_accuracy_of_exported_model": exported["test_accuracy"] if exported else None,
        "exported_trial": exported["trial"] if exported else None,
        "exported_family": exported["family"] if exported else None,
        "exported_val_accuracy": exported["validation_accuracy"] if exported else None,
        "exported_members": members,
        "test_accuracy_of_best_single_saved_model": single_test,
        "test_accuracy_of_refit": test_acc,
        "refit_seconds": refit_s,
        "command": " ".join(cmd[1:]),
        "machine": machine(cores),
        "gpu_utilisation": gpus,
        "plan": study.user_attrs.get("plan"),  # what the planner queued, and why
    }
    RESULTS.mkdir(exist_ok=True)
    name = args.name or f"search-{args.budget}"
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


def machine(cores: int) -> dict[str, object]:
    """What the numbers were measured on: cores, and the GPU if torch sees one."""
    import platform

    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cores": cores, "cpu": platform.machine(), "gpu": gpu, "torch": torch.__version__}


if __name__ == "__main__":
    main()
