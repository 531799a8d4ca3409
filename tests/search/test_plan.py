"""The budget planner's decisions, driven with made-up budgets, cores and speeds."""

from __future__ import annotations

import json

import pytest

from automl_fashion.artifacts import KEEP_PER_FAMILY
from automl_fashion.search.plan import Plan, make_plan
from automl_fashion.search.speeds import Speeds

FIVE = ["cnn", "mlp", "svm", "boosting", "linear"]
#: One thread: a 16-epoch cnn init in 400 s, the others as measured on the dev machine.
SPEEDS = Speeds(
    fit_seconds={"cnn": 400.0, "mlp": 64.0, "svm": 48.0, "boosting": 40.0, "linear": 20.0},
    epochs={"cnn": 16, "mlp": 20},
    speedup=1.7,
    predict_seconds={"cnn": 0.8, "mlp": 0.3, "svm": 8.2, "boosting": 1.2, "linear": 0.1},
)


def families_of(plan) -> list[str]:  # type: ignore[no-untyped-def]
    return [q.family for q in plan.queue]


def test_ten_minutes_on_two_cores_trains_two_full_networks_then_every_family() -> None:
    plan = make_plan(600, 2, FIVE, SPEEDS)
    assert (plan.jobs, plan.threads) == (2, 1)
    # the svm (which joins the networks' ensembles) first, then the rest
    assert families_of(plan) == ["cnn", "cnn", "svm", "mlp", "boosting", "linear"]
    assert plan.queue[0].overrides == {} and plan.queue[1].overrides == {}
    assert plan.skipped == {}
    # shutting down + a base + predicting the test images with the likely members
    assert plan.reserve == pytest.approx(5 + 12 + (0.8 + 0.8 + 0.3 + 8.2))


def test_five_minutes_shortens_the_networks_and_skips_what_does_not_fit() -> None:
    plan = make_plan(300, 2, FIVE, SPEEDS)
    assert (plan.jobs, plan.threads) == (2, 1)
    nets = [q for q in plan.queue if q.family == "cnn"]
    assert len(nets) == 2
    epochs = nets[0].overrides["epochs"]
    assert 0.6 * 16 <= epochs < 16  # what fits, not less than the layout's floor
    work = 300 - 10 - plan.reserve
    assert nets[0].seconds is not None and nets[0].seconds <= work
    assert set(plan.skipped) == {"mlp", "svm", "boosting", "linear"}
    assert all("needs ~" in why for why in plan.skipped.values())
    assert any("not warm-started" in line and "svm" in line for line in plan.reasons)


def test_a_short_budget_gives_one_network_all_the_threads() -> None:
    plan = make_plan(240, 2, FIVE, SPEEDS)
    assert (plan.jobs, plan.threads) == (1, 2)
    assert families_of(plan)[0] == "cnn" and families_of(plan).count("cnn") == 1
    assert "1 worker(s) x 2 thread(s)" in plan.reasons[0]


def test_more_cores_mean_more_networks() -> None:
    plan = make_plan(600, 4, FIVE, SPEEDS)
    assert (plan.jobs, plan.threads) == (4, 1)
    assert families_of(plan)[:4] == ["cnn"] * 4
    # memory allows only two workers: two networks on two threads each
    plan = make_plan(600, 4, FIVE, SPEEDS, max_jobs=2)
    assert (plan.jobs, plan.threads) == (2, 2)
    assert families_of(plan)[:2] == ["cnn", "cnn"]


def test_a_second_round_of_networks_where_it_fits_then_the_sampler() -> None:
    assert families_of(make_plan(600, 2, FIVE, SPEEDS)).count("cnn") == 2
    plan = make_plan(1200, 2, FIVE, SPEEDS)
    assert families_of(plan) == ["cnn", "cnn", "svm", "cnn", "cnn", "mlp", "boosting", "linear"]
    assert any("2 more cnn network(s)" in line for line in plan.reasons)
    # a long budget plans no more than two rounds: the sampler explores the rest
    assert families_of(make_plan(7200, 2, FIVE, SPEEDS)).count("cnn") == 4


def test_a_second_network_comes_before_the_families_that_rarely_join_the_ensemble() -> None:
    # bfloat16 on this machine: the 16-epoch cnn init in ~320 s on one thread
    fast = Speeds(
        fit_seconds={**SPEEDS.fit_seconds, "cnn": 320.0},
        epochs=SPEEDS.epochs,
        predict_seconds=SPEEDS.predict_seconds,
    )
    plan = make_plan(600, 2, FIVE, fast)
    assert families_of(plan) == ["cnn", "cnn", "svm", "cnn", "cnn"]
    second = [q.overrides["epochs"] for q in plan.queue[3:]]
    # ~563 s per worker: 320 s of network leave 243 s, less the svm's 48 s on one of them;
    # each second network gets the epochs that fit (16 x 195 / 320 and 16 x 243 / 320)
    # the worker without the svm is free first and takes the next network from the queue:
    # the longer one
    assert second == [12, 9]
    assert set(plan.skipped) == {"mlp", "boosting", "linear"}
    assert any("2 more cnn network(s)" in line for line in plan.reasons)
    # where the second round does not fit, the other families still get the time
    assert make_plan(600, 2, FIVE, SPEEDS).skipped == {}


def test_a_slower_machine_plans_fewer_epochs() -> None:
    slow = Speeds(
        fit_seconds={k: 2 * v for k, v in SPEEDS.fit_seconds.items()},
        epochs=SPEEDS.epochs,
        predict_seconds=SPEEDS.predict_seconds,
    )
    fast_epochs = make_plan(600, 2, FIVE, SPEEDS).queue[0].overrides.get("epochs", 16)
    slow_epochs = make_plan(600, 2, FIVE, slow).queue[0].overrides.get("epochs", 16)
    assert slow_epochs < fast_epochs == 16


def test_named_families_are_all_queued_even_when_they_do_not_fit() -> None:
    plan = make_plan(300, 2, FIVE, SPEEDS, named=True)
    assert plan.skipped == {}
    assert sorted(families_of(plan)) == sorted(["cnn", "cnn", *FIVE[1:]])


def test_the_users_layout_wins() -> None:
    plan = make_plan(240, 2, FIVE, SPEEDS, jobs=2)
    assert (plan.jobs, plan.threads) == (2, 1)
    plan = make_plan(600, 2, FIVE, SPEEDS, threads=2)
    assert (plan.jobs, plan.threads) == (1, 2)
    assert "as given" in plan.reasons[0]


def test_without_a_network_every_core_runs_a_worker_and_nothing_is_skipped() -> None:
    plan = make_plan(120, 2, ["svm", "linear"], SPEEDS)
    assert (plan.jobs, plan.threads) == (2, 1)
    assert families_of(plan) == ["svm", "linear"]


def test_a_family_of_unknown_cost_is_never_skipped() -> None:
    plan = make_plan(30, 2, ["sleepy", "cnn"], SPEEDS)
    assert "sleepy" in families_of(plan) and "sleepy" not in plan.skipped


def test_a_resumed_study_does_not_warm_start_its_families_again() -> None:
    plan = make_plan(600, 2, FIVE, SPEEDS, seen=["cnn", "svm"])
    assert families_of(plan) == ["mlp", "boosting", "linear"]


def test_no_export_keeps_only_the_shutdown_time() -> None:
    assert make_plan(600, 2, FIVE, SPEEDS, export=False).reserve == 5.0
    assert make_plan(20, 2, ["sleepy"], SPEEDS, export=False).reserve == pytest.approx(1.0)


def test_the_plan_is_json_for_the_study() -> None:
    plan = make_plan(300, 2, FIVE, SPEEDS)
    d = json.loads(json.dumps(plan.as_dict()))
    assert d["jobs"] == 2 and d["queue"][0]["family"] == "cnn"
    assert d["skipped"].keys() == plan.skipped.keys()


def test_two_workers_per_gpu_with_the_cores_shared_among_them() -> None:
    plan = make_plan(600, 16, FIVE, SPEEDS, gpus=2)
    assert (plan.jobs, plan.threads) == (4, 4)
    assert families_of(plan)[:4] == ["cnn"] * 4
    assert "2 per GPU" in plan.reasons[0]
    # each worker keeps two threads at least: fewer workers on fewer cores
    assert (
        make_plan(600, 6, FIVE, SPEEDS, gpus=2).jobs,
        make_plan(600, 2, FIVE, SPEEDS, gpus=1).jobs,
    ) == (2, 1)
    assert make_plan(600, 16, FIVE, SPEEDS, gpus=2, max_jobs=3).jobs == 3  # memory's limit
    # without a network, the GPUs do not decide the layout
    assert make_plan(600, 16, ["svm"], SPEEDS, gpus=2).jobs == 16


def test_on_a_gpu_the_networks_are_planned_at_their_measured_time_on_any_threads() -> None:
    """As measured on a 16-core H200 machine (10 minutes): the 22-epoch long cnn at ~52 s,
    the svm's reference fit. Its plan had divided both by 1.7 per doubling of 16 threads:
    the long cnn planned at 6 s took 88-94 s (40 epochs), the svm at 10 s took 115 s."""
    gpu = Speeds(
        **{
            **SPEEDS.__dict__,
            "fit_seconds": {**SPEEDS.fit_seconds, "cnn": 31.0, "svm": 80.0},
            "long_seconds": {"cnn": 52.0},
            "device": "cuda",
        }
    )
    plan = make_plan(600, 16, FIVE, gpu, gpus=1, long={"cnn": WIDE}, max_epochs={"cnn": 40})
    assert (plan.jobs, plan.threads) == (2, 8)
    nets = [q for q in plan.queue if q.family == "cnn"]
    assert len(nets) == 4  # two rounds on each worker
    for q in nets:
        assert q.seconds == pytest.approx(52.0 * q.overrides["epochs"] / 22)
    svm = next(q for q in plan.queue if q.family == "svm")
    assert svm.seconds == pytest.approx(80.0 / 1.7)  # gains nothing past two threads


def test_the_second_network_is_the_familys_variant_then_init_again() -> None:
    variant = {"shift": 1, "label_smoothing": 0.0}
    plan = make_plan(1200, 2, FIVE, SPEEDS, variants={"cnn": [variant]})
    nets = [q.overrides for q in plan.queue if q.family == "cnn"]
    assert nets == [{}, variant, {}, variant]
    assert "init and its variants" in plan.reasons[1]
    # a shortened variant keeps its changes and gets the plan's epochs
    short = make_plan(300, 2, FIVE, SPEEDS, variants={"cnn": [variant]})
    second = [q.overrides for q in short.queue if q.family == "cnn"][1]
    assert second["shift"] == 1 and second["epochs"] < 16


@pytest.mark.parametrize(
    ("budget", "epochs"),
    [
        (1800, 16),  # the init's 16 epochs (two rounds of 400 s) already take 47% of the time
        (3600, 28),  # 40% of ~3560 s per worker in two rounds: 16 x 1425 / 800 s = 28.5...
        (7200, 32),  # ...at most twice the init's epochs
    ],
)
def test_long_budgets_train_the_warm_start_networks_longer(budget: int, epochs: int) -> None:
    plan = make_plan(budget, 2, FIVE, SPEEDS)
    nets = [q for q in plan.queue if q.family == "cnn"]
    assert len(nets) == 4  # two rounds on two workers, all of the same length
    assert {q.overrides.get("epochs", 16) for q in nets} == {epochs}
    assert nets[0].seconds == pytest.approx(400 * epochs / 16)
    assert any(f"schedules of {epochs} epochs" in r for r in plan.reasons) is (epochs > 16)


WIDE = {"width": 32, "schedule": "cosine", "epochs": 22}


@pytest.mark.parametrize(
    ("budget", "long_seconds", "rounds"),
    [
        (1800, 1400.0, 0),  # 1,400 s of ~1,750 per worker: over LONG_SHARE of it
        (1800, 1075.0, 1),  # this machine's: 61% of a 30-minute worker
        (3600, 1400.0, 1),  # 1,400 s of ~3,540: one fits the share, two do not
        (7200, 1400.0, 2),
    ],
)
def test_a_long_budget_first_trains_the_familys_long_configuration(
    budget: int, long_seconds: float, rounds: int
) -> None:
    predict = {**SPEEDS.predict_seconds, "cnn:long": 2.0}
    speeds = Speeds(
        **{**SPEEDS.__dict__, "long_seconds": {"cnn": long_seconds}, "predict_seconds": predict}
    )
    # one-thread workers (on two, a long network that does not fit them trains alone: below)
    plan = make_plan(budget, 2, FIVE, speeds, long={"cnn": WIDE}, threads=1)
    nets = [q for q in plan.queue if q.family == "cnn"]
    wide = [q for q in nets if q.overrides.get("width") == WIDE["width"]]
    assert len(wide) == 2 * rounds
    if not rounds:
        assert all(q.overrides.get("width") is None for q in nets)
        return
    # one wide network per worker, then the svm, then the second round
    assert families_of(plan)[:3] == ["cnn", "cnn", "svm"]
    assert nets[:2] == wide[:2] and "long configuration" in plan.reasons[1]
    if rounds == 1:  # one round: its own schedule, and init's make the second round
        assert nets[0].overrides == WIDE and nets[0].seconds == pytest.approx(long_seconds)
        assert len(nets) == 4 and all("width" not in q.overrides for q in nets[2:])
        if budget > 1800:
            assert plan.reasons[2].startswith("then init's cnn schedules of ")
    else:  # the second round is long too, with new seeds, and no init; both rounds lengthened
        # to fill LONG_SHARE of ~7,157 s per worker: 22 x 0.65 x 7,157 / (2 x 1,400) = 36.6
        assert nets == wide and families_of(plan)[3:5] == ["cnn", "cnn"]
        assert all(q.overrides == {**WIDE, "epochs": 36} for q in nets)
        assert nets[0].seconds == pytest.approx(long_seconds * 36 / 22)
        assert "36 epochs, not 22" in plan.reasons[1]
        assert plan.reasons[2] == "then 2 more cnn long configuration(s), new seeds"
    # the export reserve counts the long networks it will most likely combine
    assert plan.reserve == pytest.approx(min(0.1 * budget, 5 + 12 + 2 * rounds * 2.0 + 0.3 + 8.2))


def test_lengthened_schedules_stay_within_the_search_spaces_epochs() -> None:
    """A space that allows at most 30 epochs never gets a 32-epoch init or a 36-epoch long
    network queued (its enqueue would be refused as out of range)."""
    inits = make_plan(7200, 2, FIVE, SPEEDS, max_epochs={"cnn": 30})
    assert {q.overrides.get("epochs") for q in inits.queue if q.family == "cnn"} == {30}
    timed = Speeds(**{**SPEEDS.__dict__, "long_seconds": {"cnn": 1400.0}})
    wide = make_plan(7200, 2, FIVE, timed, long={"cnn": WIDE}, max_epochs={"cnn": 30})
    nets = [q for q in wide.queue if q.family == "cnn"]
    assert len(nets) == 4 and all(q.overrides == {**WIDE, "epochs": 30} for q in nets)
    # a long configuration with room for only one round keeps its own schedule
    one = make_plan(3600, 2, FIVE, timed, long={"cnn": WIDE}, max_epochs={"cnn": 40})
    assert one.queue[0].overrides == WIDE


def test_the_long_configuration_needs_its_timing_and_counts_in_the_export_reserve() -> None:
    untimed = make_plan(7200, 2, FIVE, SPEEDS, long={"cnn": WIDE})
    assert all("width" not in q.overrides for q in untimed.queue)
    slow_predict = {**SPEEDS.predict_seconds, "cnn:long": 30.0}
    timed = Speeds(
        **{**SPEEDS.__dict__, "long_seconds": {"cnn": 1400.0}, "predict_seconds": slow_predict}
    )
    plan = make_plan(3600, 2, FIVE, timed, long={"cnn": WIDE})
    assert plan.reserve == pytest.approx(5 + 12 + (30.0 + 30.0 + 0.3 + 8.2))


def timed_long(long_seconds: float) -> Speeds:
    predict = {**SPEEDS.predict_seconds, "cnn:long": 2.0}
    return Speeds(
        **{**SPEEDS.__dict__, "long_seconds": {"cnn": long_seconds}, "predict_seconds": predict}
    )


SECOND = {"width": 48, "stages": 3, "batch_size": 256, "epochs": 38}


def timed_pair(long_seconds: float, second_seconds: float) -> Speeds:
    predict = {**SPEEDS.predict_seconds, "cnn:long": 2.0, "cnn:second": 5.0}
    times = {"cnn": long_seconds, "cnn:second": second_seconds}
    return Speeds(**{**SPEEDS.__dict__, "long_seconds": times, "predict_seconds": predict})


def two_hours(speeds: Speeds) -> Plan:
    """The 2-hour plan on two cores with the cnn's long and second configurations."""
    return make_plan(
        7200, 2, FIVE, speeds, long={"cnn": WIDE}, second={"cnn": SECOND}, max_epochs={"cnn": 40}
    )


def test_the_second_round_is_the_second_configuration_where_one_of_each_fits() -> None:
    """2 hours: one long network and one of the family's second configuration per worker,
    instead of two seeds of the long one (seeds of one network make nearly the same
    mistakes); the long one's schedule fills what the second leaves of LONG_SHARE."""
    plan = two_hours(timed_pair(1400.0, 2600.0))
    assert (plan.jobs, plan.threads) == (2, 1)
    assert families_of(plan)[:5] == ["cnn", "cnn", "svm", "cnn", "cnn"]
    nets = [q for q in plan.queue if q.family == "cnn"]
    work = 7200 - 10 - plan.reserve
    epochs = int(22 * (0.65 * work - 2600.0) / 1400.0)  # 32
    assert all(q.overrides == {**WIDE, "epochs": epochs} for q in nets[:2])
    assert nets[0].seconds == pytest.approx(1400.0 * epochs / 22)
    assert all(q.overrides == SECOND and q.seconds == 2600.0 for q in nets[2:4])
    assert f"{epochs} epochs, not 22" in plan.reasons[1]
    assert plan.reasons[2].startswith("then 2 cnn second configuration(s) (~2600 s): another")
    # the export reserve counts the three kinds: 2 x (long 2.0 + 2 x second 5.0), svm, mlp
    assert plan.reserve == pytest.approx(5 + 12 + 2 * (2.0 + 2 * 5.0) + 0.3 + 8.2)


def test_a_third_round_of_the_second_configuration_takes_what_the_inits_leave() -> None:
    """2 hours: after the long and the second networks and every family's init, each
    worker's time left goes to one more second configuration, new seed, queued whole (each
    shortens its own schedule to the time left after its first epoch: the plan's estimate
    may be high); not where less than MIN_EPOCH_SHARE of it fits."""
    plan = two_hours(timed_pair(1400.0, 2600.0))
    assert families_of(plan) == ["cnn", "cnn", "svm", "cnn", "cnn", "mlp", "boosting", "linear",
                                 "cnn", "cnn"]  # fmt: skip
    work = 7200 - 10 - plan.reserve
    first = plan.queue[0].seconds or 0.0
    left = [work - first - 2600.0 - 48.0 - 40.0, work - first - 2600.0 - 64.0 - 20.0]
    assert all(0.6 * 2600.0 <= f < 2600.0 for f in left)  # both fit, neither whole
    third = plan.queue[-2:]
    assert all(q.overrides == SECOND for q in third)  # all its epochs
    assert sorted(q.seconds or 0.0 for q in third) == pytest.approx(sorted(left))
    assert "then 2 more cnn second configuration(s), new seeds, up to 38 epochs" in plan.reasons[3]
    # a slow mlp leaves its worker less than 60% of the second configuration: one third
    slow = timed_pair(1400.0, 2600.0)
    slow = Speeds(**{**slow.__dict__, "fit_seconds": {**slow.fit_seconds, "mlp": 1000.0}})
    tight = two_hours(slow)
    widths = [q.overrides.get("width") for q in tight.queue if q.family == "cnn"]
    assert widths == [32, 32, 48, 48, 48]
    assert "then 1 more cnn second configuration(s)" in tight.reasons[3]


def test_the_planned_networks_are_all_among_the_models_a_search_keeps() -> None:
    """The ensemble draws on the saved models; a planned network evicted by the others
    (KEEP_PER_FAMILY per family) is one the export cannot use."""
    plan = two_hours(timed_pair(1400.0, 2600.0))
    assert 6 == families_of(plan).count("cnn") <= KEEP_PER_FAMILY


@pytest.mark.parametrize(
    ("budget", "times", "second", "after"),
    [
        # one of each needs 3,600 s of ~3,540; two long ones leave < 60% of the second
        (3600, (1000.0, 2600.0), {"cnn": SECOND}, 0),
        # 5,000 s: over 65% of a worker; the second comes after the long ones (next test)
        (7200, (1400.0, 3600.0), {"cnn": SECOND}, 2),
        (7200, (1400.0, None), {"cnn": SECOND}, 0),  # not timed (a short budget's calibration)
        (7200, (1400.0, 2600.0), None, 0),  # the family has none
    ],
)
def test_without_room_or_timing_for_the_second_the_long_one_runs_again(
    budget: int, times: tuple[float, float | None], second: dict | None, after: int
) -> None:
    speeds = timed_pair(*times) if times[1] else timed_long(times[0])
    plan = make_plan(
        budget, 2, FIVE, speeds, long={"cnn": WIDE}, second=second, max_epochs={"cnn": 40}
    )
    widths = [q.overrides.get("width") for q in plan.queue if q.family == "cnn"]
    assert widths == [WIDE["width"]] * 4 + [48] * after
    assert not any("another architecture, other mistakes" in r for r in plan.reasons)


def test_where_two_long_rounds_leave_no_room_to_pair_the_second_it_comes_after_them() -> None:
    """A slower machine (the EPYC's 2-hour plan of 2026-11-28: 40-epoch long networks of
    ~1,900 s, no room for a second configuration beside one): two long rounds and every
    init, then one second configuration per worker in what is left (another architecture
    rather than the sampler's luck), queued whole where MIN_EPOCH_SHARE of it fits."""
    plan = two_hours(timed_pair(1400.0, 3600.0))
    assert families_of(plan) == ["cnn", "cnn", "svm", "cnn", "cnn", "mlp", "boosting", "linear",
                                 "cnn", "cnn"]  # fmt: skip
    third = plan.queue[-2:]
    assert all(q.overrides == SECOND for q in third)  # all its epochs
    assert all(0.6 * 3600.0 <= (q.seconds or 0.0) < 3600.0 for q in third)
    work = 7200 - 10 - plan.reserve
    assert sum(q.seconds or 0.0 for q in plan.queue) == pytest.approx(2 * work)  # both full
    assert plan.reasons[-2].startswith(
        "then 2 cnn second configuration(s), new seeds, up to 38 epochs, fewer if the first "
        "epoch shows they do not fit: another architecture in what the inits leave"
    )
    # the export reserve counts them: 2 x (2 x long 2.0 + second 5.0), svm, mlp
    assert plan.reserve == pytest.approx(5 + 12 + 2 * (2 * 2.0 + 5.0) + 0.3 + 8.2)


SIX = [*FIVE, "resnet"]
RES_LONG = {"width": 32, "erase": 0.3, "epochs": 40}


def timed_partner(long_seconds: float, second_seconds: float, resnet_seconds: float) -> Speeds:
    """timed_pair's speeds, with the resnet's init and its long configuration timed."""
    base = timed_pair(long_seconds, second_seconds)
    return Speeds(
        **{
            **base.__dict__,
            "fit_seconds": {**base.fit_seconds, "resnet": 320.0},
            "epochs": {**base.epochs, "resnet": 13},
            "long_seconds": {**base.long_seconds, "resnet": resnet_seconds},
            "predict_seconds": {**base.predict_seconds, "resnet": 2.8, "resnet:long": 3.0},
        }
    )


def with_resnet(budget: int, speeds: Speeds) -> Plan:
    """make_plan on two cores with every family and their long configurations."""
    return make_plan(
        budget,
        2,
        SIX,
        speeds,
        long={"cnn": WIDE, "resnet": RES_LONG},
        second={"cnn": SECOND},
        max_epochs={"cnn": 40, "resnet": 40},
    )


def test_the_resnets_long_network_partners_the_cnns_where_one_of_each_fits() -> None:
    """2 hours on the EPYC's speeds (the cnn's second configuration too slow to pair): the
    second round is the resnet's long configuration, another architecture, not a second
    seed of the cnn's (on one EPYC thread each, 40 epochs: the pair 94.68% test, two cnn
    seeds 94.39-94.56%), and no resnet init; the cnn's long schedules fill what it leaves of
    LONG_SHARE, and the cnn's second configuration takes what the inits leave."""
    plan = with_resnet(7200, timed_partner(1400.0, 3600.0, 1300.0))
    assert families_of(plan) == ["cnn", "cnn", "svm", "resnet", "resnet", "mlp", "boosting",
                                 "linear", "cnn", "cnn"]  # fmt: skip
    nets = [q for q in plan.queue if q.family == "cnn"]
    assert all(q.overrides == {**WIDE, "epochs": 40} for q in nets[:2])  # the space's most
    assert all(q.overrides == SECOND for q in nets[2:])
    resnets = [q for q in plan.queue if q.family == "resnet"]
    assert all(q.overrides == RES_LONG and q.seconds == 1300.0 for q in resnets)
    assert plan.reasons[2].startswith("then 2 resnet long configuration(s) (~1300 s): another")
    # the export reserve counts them: 2 x (cnn long 2.0 + resnet long 3.0 + second 5.0) ...
    assert plan.reserve == pytest.approx(5 + 12 + 2 * (2.0 + 3.0 + 5.0) + 0.3 + 8.2)


def test_the_partner_is_cut_to_what_one_long_network_leaves_of_the_share() -> None:
    """1 hour: the resnet's 40 epochs (1,600 s) do not fit beside the cnn's long network in
    LONG_SHARE of a worker, but more than MIN_EPOCH_SHARE of them do: cut to fit; where not
    even that fits, two cnn seeds as before."""
    plan = with_resnet(3600, timed_partner(1000.0, 3600.0, 1600.0))
    work = 3600 - 10 - plan.reserve
    fit = 0.65 * work - 1000.0
    resnets = [q for q in plan.queue if q.family == "resnet"]
    assert len(resnets) == 2
    epochs = int(40 * fit / 1600.0)  # 32
    assert all(q.overrides == {**RES_LONG, "epochs": epochs} for q in resnets)
    assert all(q.seconds == pytest.approx(fit) for q in resnets)
    assert [q.overrides for q in plan.queue if q.family == "cnn"][:2] == [WIDE, WIDE]
    slow = with_resnet(3600, timed_partner(1000.0, 3600.0, 2500.0))
    widths = [(q.family, q.overrides.get("width")) for q in slow.queue[:5]]
    assert widths == [("cnn", 32), ("cnn", 32), ("svm", None), ("cnn", 32), ("cnn", 32)]
    assert not any("resnet long" in r for r in slow.reasons)


def test_an_untimed_or_resumed_resnet_partners_nothing() -> None:
    """The calibration times the resnet's long configuration only at long budgets; a resumed
    study that has resnet trials does not plan it again."""
    speeds = timed_partner(1400.0, 3600.0, 1300.0)
    untimed = Speeds(**{**speeds.__dict__, "long_seconds": timed_pair(1400.0, 3600.0).long_seconds})
    for plan in (
        with_resnet(7200, untimed),
        make_plan(7200, 2, SIX, speeds, long={"cnn": WIDE, "resnet": RES_LONG}, seen=["resnet"]),
    ):
        assert [q.overrides.get("width") for q in plan.queue if q.family == "cnn"][:4] == [32] * 4
        assert not any(q.family == "resnet" and q.overrides for q in plan.queue)
