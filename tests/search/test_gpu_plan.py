"""The plan where the networks train on a GPU and their spaces have GPU configurations,
driven with made-up budgets, cores and speeds."""

from __future__ import annotations

import math

import pytest

from automl_fashion.search.gpu_plan import (
    GPU_EXPORT_SHARE,
    gpu_export_reserve,
    gpu_members,
    make_gpu_plan,
)
from automl_fashion.search.layout import EXPORT_BASE_SECONDS
from automl_fashion.search.plan import make_plan
from automl_fashion.search.speeds import Speeds

FAMILIES = ["cnn", "resnet", "mlp", "svm", "boosting", "linear"]
RES = [{"width": 64, "blocks": 2, "epochs": 240}, {"width": 96, "epochs": 240}]
CNN = [{"width": 64, "epochs": 240}, {"width": 96, "stages": 3, "epochs": 240}]
CONFIGS = {"resnet": RES, "cnn": CNN}
#: A 16-core GPU machine: the GPU configurations' whole fits alone on the GPU (240 epochs),
#: and their predictions of the test images on one CPU thread.
GPU = Speeds(
    fit_seconds={
        **{"cnn": 30.0, "resnet": 40.0, "mlp": 64.0, "svm": 80.0, "boosting": 40.0},
        "linear": 20.0,
    },
    epochs={"cnn": 16, "resnet": 13, "mlp": 20},
    speedup=1.7,
    predict_seconds={"cnn": 0.8, "svm": 8.2, "resnet:gpu0": 160.0, "cnn:gpu0": 36.0},
    long_seconds={"resnet:gpu0": 300.0, "cnn:gpu0": 150.0, "resnet:gpu1": 300.0},
    device="cuda",
)


def test_the_networks_alternate_between_families_first_configurations_first() -> None:
    assert gpu_members(CONFIGS) == [("resnet", 0), ("cnn", 0), ("resnet", 1), ("cnn", 1)]
    assert gpu_members({"cnn": CNN}) == [("cnn", 0), ("cnn", 1)]
    assert gpu_members({"zeta": [{}], "cnn": CNN[:1]}) == [("cnn", 0), ("zeta", 0)]


def test_ten_minutes_on_one_gpu_give_each_of_four_workers_one_network_for_all_its_time() -> None:
    plan = make_plan(600, 16, FAMILIES, GPU, gpus=1, gpu_configs=CONFIGS)
    assert (plan.jobs, plan.threads) == (4, 4)
    assert [(q.family, dict(q.overrides)) for q in plan.queue[:4]] == [
        ("resnet", RES[0]),
        ("cnn", CNN[0]),
        ("resnet", RES[1]),
        ("cnn", CNN[1]),
    ]
    # queued whole: no network is planned past the time its worker has
    work = 600 - 10.0 - plan.reserve
    assert all(q.seconds is not None and q.seconds <= work for q in plan.queue[:4])
    assert plan.queue[0].seconds == pytest.approx(work)  # 300 s alone, 1,200 s four at once
    # nothing else fits beside them: the others are skipped, each with why
    assert len(plan.queue) == 4
    assert set(plan.skipped) == {"mlp", "svm", "boosting", "linear"}
    assert "one network each" in plan.reasons[0]
    assert "sized for the GPU" in plan.reasons[1]


def test_the_time_kept_counts_each_members_test_predictions_twice_on_every_core() -> None:
    members = ["resnet:gpu0", "cnn:gpu0"]
    expected = EXPORT_BASE_SECONDS + 2 * (160.0 + 36.0) / 1.7 ** math.log2(16)
    assert gpu_export_reserve(3600, members, GPU, 16) == pytest.approx(expected)
    # unknown members count as the slowest known; a short budget keeps a quarter at most
    assert gpu_export_reserve(3600, ["resnet:gpu9"], GPU, 1) == EXPORT_BASE_SECONDS + 320.0
    assert gpu_export_reserve(600, ["resnet:gpu9"] * 8, GPU, 1) == GPU_EXPORT_SHARE * 600
    plan = make_plan(600, 16, FAMILIES, GPU, gpus=1, gpu_configs=CONFIGS)
    four = ["resnet:gpu0", "cnn:gpu0", "resnet:gpu1", "cnn:gpu1"]
    assert plan.reserve == pytest.approx(5.0 + gpu_export_reserve(600, four, GPU, 16))
    no_export = make_plan(600, 16, FAMILIES, GPU, gpus=1, gpu_configs=CONFIGS, export=False)
    assert no_export.reserve == 5.0


def test_a_long_budget_queues_more_rounds_of_them_then_the_other_families() -> None:
    plan = make_plan(3 * 3600, 16, FAMILIES, GPU, gpus=1, gpu_configs=CONFIGS)
    nets = [q for q in plan.queue if q.family in ("cnn", "resnet")]
    # three rounds of four where whole ones fit (the cnn's second was never timed: it is
    # queued once, in the first round, taking what its worker has)
    assert len(nets) == 4 + 3 + 3
    assert {q.family for q in plan.queue} == set(FAMILIES)
    assert not plan.skipped
    assert "more of them" in plan.reasons[2]


def test_the_users_workers_and_families_still_decide() -> None:
    plan = make_plan(600, 16, FAMILIES, GPU, gpus=1, jobs=2, gpu_configs=CONFIGS)
    assert (plan.jobs, plan.threads) == (2, 8)
    assert [q.family for q in plan.queue[:2]] == ["resnet", "cnn"]
    assert "as given" in plan.reasons[0]
    # the cnn's 240 epochs take 300 s with two workers on the GPU: its worker then runs
    # the other families' inits in what is left
    assert plan.queue[1].seconds == pytest.approx(150.0 * 2)
    assert [q.family for q in plan.queue[2:]] == ["mlp", "svm", "boosting", "linear"]
    # named families are queued, even where they do not fit
    named = make_plan(600, 16, FAMILIES, GPU, gpus=1, named=True, gpu_configs=CONFIGS)
    assert {q.family for q in named.queue} == set(FAMILIES) and not named.skipped
    # only the cnn searched: its two configurations, in turn
    cnn = make_plan(600, 16, ["cnn", "svm"], GPU, gpus=1, gpu_configs=CONFIGS)
    assert [dict(q.overrides) for q in cnn.queue] == [CNN[0], CNN[1], CNN[0], CNN[1]]


def test_fewer_cores_give_fewer_workers_and_without_configurations_the_cpu_plan_runs() -> None:
    assert make_plan(600, 4, FAMILIES, GPU, gpus=1, gpu_configs=CONFIGS).jobs == 2
    assert make_plan(600, 16, FAMILIES, GPU, gpus=2, gpu_configs=CONFIGS).jobs == 8
    assert make_plan(600, 16, FAMILIES, GPU, gpus=1, gpu_configs=CONFIGS, max_jobs=3).jobs == 3
    # no GPU, no configurations, or their families not searched (or already in the study)
    assert make_gpu_plan(600, 16, FAMILIES, GPU, 0, CONFIGS) is None
    assert make_gpu_plan(600, 16, FAMILIES, GPU, 1, {}) is None
    assert make_gpu_plan(600, 16, ["svm"], GPU, 1, CONFIGS) is None
    assert make_gpu_plan(600, 16, FAMILIES, GPU, 1, CONFIGS, seen=["cnn", "resnet"]) is None
    cpu_sized = make_plan(600, 16, FAMILIES, GPU, gpus=1)
    assert "2 per GPU" in cpu_sized.reasons[0]
