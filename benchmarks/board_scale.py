"""How long ``leaderboard`` and ``report`` take on a study with thousands of trials.

Writes synthetic journal studies (what a long search with cheap families leaves: complete,
pruned, budget-stopped and failed trials with rung values, worker identities and the user
attributes ``run_trial`` records) into a temporary folder, then times the commands as a
user runs them (a fresh process each, so Optuna's journal replay is counted).

    python benchmarks/board_scale.py               # 2,000 and 20,000 trials
    python benchmarks/board_scale.py --trials 500  # one size
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from automl_fashion.pruning import FAMILY_PARAM
from automl_fashion.search.worker import WORKER_ATTR
from automl_fashion.storage import open_storage
from automl_fashion.trial import CLASS_ACCURACY_ATTR

FAMILIES = ["linear", "svm", "boosting", "mlp", "cnn"]
WORKERS = 8


def synthetic_study(folder: Path, name: str, n_trials: int, seed: int = 0) -> None:
    """A study of ``n_trials`` finished trials, written through Optuna's own storage API."""
    rng = np.random.default_rng(seed)
    storage = open_storage(None, name, folder)
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    for key, value in {"seed": 0, "val_size": 10_000, "train_per_class": None}.items():
        study.set_user_attr(key, value)
    family_dist = CategoricalDistribution(FAMILIES)
    start = dt.datetime(2026, 11, 25, 12, 0, 0)
    clock = [start] * WORKERS
    trials = []
    for _ in range(n_trials):
        family = FAMILIES[int(rng.integers(len(FAMILIES)))]
        worker = int(rng.integers(WORKERS))
        fit = float(rng.lognormal(2.0, 1.0))
        rungs = int(rng.integers(1, 8))
        ceiling = {"linear": 0.85, "svm": 0.89, "boosting": 0.9, "mlp": 0.89, "cnn": 0.93}[family]
        curve = ceiling - 0.2 * np.exp(-np.arange(1, rungs + 1)) - rng.uniform(0, 0.05)
        draw = rng.uniform()
        state, attrs = TrialState.COMPLETE, {}
        if draw < 0.3:
            state, attrs = TrialState.PRUNED, {"stop_reason": "pruned"}
        elif draw < 0.33:
            state, attrs = TrialState.PRUNED, {"stop_reason": "budget"}
        elif draw < 0.36:
            state, attrs = TrialState.FAIL, {"fail_reason": "RuntimeError: synthetic"}
        began = clock[worker]
        clock[worker] = began + dt.timedelta(seconds=fit + 1)
        attrs |= {"n_val": 10_000, "n_train": 50_000, "trial_seconds": round(fit + 0.5, 3)}
        if state == TrialState.COMPLETE:
            attrs |= {
                "fit_seconds": round(fit, 3),
                "predict_ms_per_1000": round(float(rng.uniform(1, 200)), 3),
                "model_bytes": int(rng.integers(10_000, 5_000_000)),
                CLASS_ACCURACY_ATTR: [round(float(v), 4) for v in rng.uniform(0.6, 1.0, 10)],
            }
        trials.append(
            create_trial(
                state=state,
                value=float(curve[-1]) if state == TrialState.COMPLETE else None,
                params={
                    FAMILY_PARAM: family,
                    f"{family}.lr": float(rng.uniform(1e-4, 1e-1)),
                    f"{family}.width": int(rng.integers(8, 256)),
                },
                distributions={
                    FAMILY_PARAM: family_dist,
                    f"{family}.lr": FloatDistribution(1e-4, 1e-1, log=True),
                    f"{family}.width": IntDistribution(8, 256),
                },
                user_attrs=attrs,
                system_attrs={WORKER_ATTR: {"host": "bench", "pid": 99 + worker, "index": worker}},
                intermediate_values={i + 1: float(v) for i, v in enumerate(curve)},
            )
        )
        # create_trial stamps now(); give each trial its place on its worker's timeline
        trials[-1].datetime_start = began
        trials[-1].datetime_complete = clock[worker]
    study.add_trials(trials)


def timed(folder: Path, *args: str) -> float:
    env = {**os.environ, "AUTOML_FASHION_STUDIES": str(folder), "COLUMNS": "160"}
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "automl_fashion", *args], env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {out.stderr[-2000:]}")
    return seconds


def replay(folder: Path, name: str) -> float:
    """A fresh process that only imports, opens the study and reads its trials: the floor
    under both commands (Optuna replays the whole journal on open)."""
    code = (
        "from automl_fashion.storage import load_existing_study\n"
        f"load_existing_study({name!r}, None, {str(folder)!r}).get_trials(deepcopy=False)"
    )
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[2_000, 20_000])
    args = parser.parse_args()
    if Path("/tmp/BENCH_RUNNING").exists():
        raise SystemExit("/tmp/BENCH_RUNNING exists: another benchmark is running; try later")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for n in args.trials:
            name = f"scale{n}"
            t0 = time.perf_counter()
            synthetic_study(folder, name, n)
            made = time.perf_counter() - t0
            floor = replay(folder, name)
            board = timed(folder, "leaderboard", "--study", name)
            family = timed(folder, "leaderboard", "--study", name, "--by-family")
            report = timed(folder, "report", "--study", name, "--out", str(folder / f"r{n}"))
            print(
                f"{n:>6} trials: leaderboard {board:.1f} s, --by-family {family:.1f} s, "
                f"report {report:.1f} s; opening the study alone {floor:.1f} s "
                f"(study written in {made:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
