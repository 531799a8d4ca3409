"""Two machines on one PostgreSQL study: a search, and a worker that joins it. Each
process samples with its own seed, the search's sampler and pruner are carried over, and
no parameter set is drawn twice.

Skipped unless $AUTOML_FASHION_TEST_PG holds a storage URL (.ci/run sets it).
"""

from __future__ import annotations

import subprocess
import uuid

from tests.sleepy_search import set_sleepy

# pytestmark: skipped without $AUTOML_FASHION_TEST_PG, as test_distributed is
from tests.test_distributed import cmd, load, pytestmark, wait_for  # noqa: F401

WORKER = "automl_fashion:worker"


def test_a_joining_machine_draws_its_own_parameters(env: dict[str, str]) -> None:
    set_sleepy(env, rung_seconds=0.1, epochs=2, diverge=False)
    study = f"scale-{uuid.uuid4().hex[:8]}"
    search = subprocess.Popen(
        cmd(
            "search", study, "--budget", "30s", "--families", "sleepy", "--jobs", "1",
            "--seed", "3", "--sampler", "random", "--pruner", "none", "--no-export",
        ),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    wait_for(lambda: "deadline" in load(study).user_attrs, search)
    # the second machine: same --seed flag, no --sampler: it must still differ and follow
    worker = subprocess.run(
        cmd("worker", study, "--jobs", "1", "--seed", "3"), env=env, capture_output=True, text=True
    )
    _, err = search.communicate(timeout=120)
    assert search.returncode == 0, err
    assert worker.returncode == 0, worker.stderr

    trials = [t for t in load(study).get_trials() if WORKER in t.system_attrs]
    drawn = [
        t.params["sleepy.quality"]
        for t in trials
        if "warm_start" not in t.user_attrs and "retry_of" not in t.user_attrs
    ]
    assert len(drawn) >= 4 and len(drawn) == len(set(drawn))  # no parameter set twice
    by_process: dict[int, set[int]] = {}
    for t in trials:
        by_process.setdefault(t.system_attrs[WORKER]["pid"], set()).add(
            t.system_attrs[WORKER]["sampler_seed"]
        )
    assert len(by_process) == 2, "both machines ran trials"
    seeds = [s for group in by_process.values() for s in group]
    assert len(seeds) == 2 and len(set(seeds)) == 2 and 3 in seeds  # distinct, recorded
    assert {t.system_attrs[WORKER]["sampler"] for t in trials} == {"random"}
    assert load(study).user_attrs["pruner"] == "none"
