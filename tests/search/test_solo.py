"""The lone network of a short budget (one long configuration on every core), as the
budget planner decides it, driven with made-up budgets and speeds."""

from __future__ import annotations

import pytest

from automl_fashion.search.lengths import timing_limit
from automl_fashion.search.plan import Plan, make_plan
from automl_fashion.search.planned import Queued
from automl_fashion.search.solo import Lone, lengthen_last, queue_lone
from automl_fashion.search.speeds import Speeds
from tests.search.test_plan import FIVE, SPEEDS, WIDE, families_of, timed_long


def test_a_long_network_too_slow_for_one_thread_trains_alone_on_every_core() -> None:
    """10 minutes here: one-thread workers have no time for the long configuration (~1,075 s),
    so one worker trains it on both threads (1,075 / 1.7 = 632 s for 22 epochs) for as many
    epochs as fit after the svm, instead of four init networks: two seeds of one network
    average to little more than either (README)."""
    plan = make_plan(600, 2, FIVE, timed_long(1075.0), long={"cnn": WIDE}, max_epochs={"cnn": 40})
    assert (plan.jobs, plan.threads) == (1, 2)
    assert families_of(plan)[:2] == ["svm", "cnn"]
    net = plan.queue[1]
    work = 600 - 10 - plan.reserve
    svm = 48.0 / 1.7
    assert net.overrides == {**WIDE, "epochs": int((work - svm) / (1075.0 / 1.7 / 22))}  # 18
    assert net.seconds == pytest.approx(1075.0 / 1.7 * 18 / 22)
    assert families_of(plan).count("cnn") == 1  # no second network: no time for one
    assert plan.reserve == pytest.approx(5 + 12 + 2.0 + 0.3 + 8.2)  # the long one, mlp, svm
    assert "1 worker x 2 thread(s): one cnn long configuration" in plan.reasons[0]
    assert plan.reasons[1].startswith("svm first, then one cnn long configuration, 18 epochs")


def solo_plan(budget: int, solo: dict[str, object]) -> Plan:
    return make_plan(
        budget,
        2,
        FIVE,
        timed_long(1075.0),
        long={"cnn": WIDE},
        solo={"cnn": solo},
        max_epochs={"cnn": 40},
    )


def test_the_lone_network_of_a_short_budget_trains_the_solo_schedule() -> None:
    """``solo`` (SearchSpace.solo: long with a schedule for 15-25 epochs) replaces long's
    changes for the one network on every core, and only there: where rounds of long
    networks fit one-thread workers, they train long as it is."""
    solo = {**WIDE, "schedule": "onecycle", "lr": 0.005}
    plan = solo_plan(600, solo)
    (net,) = [q for q in plan.queue if q.family == "cnn"]
    assert {k: v for k, v in net.overrides.items() if k != "epochs"} == {
        k: v for k, v in solo.items() if k != "epochs"
    }
    assert "one cnn long configuration (its solo schedule), " in plan.reasons[1]
    # a solo that changes nothing in init is still solo, not long
    (plain,) = [q for q in solo_plan(600, {}).queue if q.family == "cnn"]
    assert set(plain.overrides) == {"epochs"}
    longer = solo_plan(3600, solo)
    assert longer.jobs == 2
    nets = [q for q in longer.queue if q.family == "cnn"]
    assert any(q.overrides.get("width") == 32 for q in nets)
    assert all(q.overrides.get("schedule") != "onecycle" for q in nets)
    assert all("lr" not in q.overrides for q in nets)


@pytest.mark.parametrize(
    ("budget", "epochs"),
    [
        (900, 22),  # (~862 s - the svm's 28) / 37.4 s an epoch on two threads
        (1500, 38),  # more epochs than its 22 where they fit...
        (1700, 40),  # ...up to the search space's most (MAX_EPOCH_FACTOR would allow 44)
    ],
)
def test_a_lone_long_network_gets_the_time_its_partner_leaves(budget: int, epochs: int) -> None:
    plan = make_plan(
        budget, 2, FIVE, timed_long(1400.0), long={"cnn": WIDE}, max_epochs={"cnn": 40}
    )
    assert (plan.jobs, plan.threads) == (1, 2)
    nets = [q for q in plan.queue if q.family == "cnn"]
    assert len(nets) == 1 and nets[0].seconds == pytest.approx(1400.0 / 1.7 * epochs / 22)
    # the families that fit after it are queued, the rest skipped with a reason; with none
    # after it, the network may fill the time, up to the space's most epochs, on its pace
    assert plan.queue[0].family == "svm"
    last = plan.queue[-1] is nets[0]
    assert nets[0].overrides["epochs"] == (40 if last else epochs)
    assert last == (budget == 900) and last == any("nothing after it" in r for r in plan.reasons)


def test_a_lone_long_network_needs_most_of_its_epochs_and_the_layout_free() -> None:
    """Below MIN_EPOCH_SHARE of the long configuration's epochs, the inits as before; the
    same where the user gave the layout, on one core, on a GPU or without its timing."""
    short = make_plan(300, 2, FIVE, timed_long(1400.0), long={"cnn": WIDE})
    assert all("width" not in q.overrides for q in short.queue)
    for kwargs in ({"jobs": 2}, {"threads": 2}, {"gpus": 1}):
        plan = make_plan(600, 2, FIVE, timed_long(1075.0), long={"cnn": WIDE}, **kwargs)
        assert all("width" not in q.overrides for q in plan.queue), kwargs
    one_core = make_plan(600, 1, FIVE, timed_long(1075.0), long={"cnn": WIDE})
    assert all("width" not in q.overrides for q in one_core.queue)
    untimed = make_plan(600, 2, FIVE, SPEEDS, long={"cnn": WIDE})
    assert (untimed.jobs, untimed.threads) == (2, 1)


def test_a_lone_long_network_puts_its_partner_after_it_where_both_do_not_fit() -> None:
    """Where the svm would cut the network below MIN_EPOCH_SHARE of its epochs, the network
    has the worker and the svm is not queued before it (here: not at all, no time left)."""
    slow_svm = Speeds(
        **{**timed_long(1075.0).__dict__, "fit_seconds": {**SPEEDS.fit_seconds, "svm": 600.0}}
    )
    plan = make_plan(600, 2, FIVE, slow_svm, long={"cnn": WIDE}, max_epochs={"cnn": 40})
    assert (plan.jobs, plan.threads) == (1, 2)
    assert families_of(plan)[0] == "cnn" and "svm" in plan.skipped
    assert not plan.reasons[1].startswith("svm first")


def test_a_lone_long_network_is_planned_at_its_own_speed_alone_and_keeps_its_partner() -> None:
    """A 10-minute search on the EPYC (2026-11-28) planned its lone long cnn at 39.6 s an
    epoch, from a one-thread step timed slow, divided by the init's speedup (1.39x) and
    with two workers' overhead; it ran 26.1 s an epoch, and the plan had left out the svm
    (82 s on one thread; its fit gains ~1.1x on two, not the networks' 1.7x). Planned at the
    long network's own speedup and a lone worker's overhead, the svm is kept before it."""
    one_thread = 0.116 * 391 * 1.3 * 22  # a slow minute's step; 22 epochs, shared overhead
    svm = {**SPEEDS.fit_seconds, "svm": 82.0}
    old = Speeds(**{**timed_long(one_thread).__dict__, "speedup": 1.39, "fit_seconds": svm})
    before = make_plan(600, 2, FIVE, old, long={"cnn": WIDE}, max_epochs={"cnn": 40})
    assert families_of(before)[0] == "cnn" and "svm" in before.skipped
    new = Speeds(
        **{**old.__dict__, "long_speedup": {"cnn": 1.66}, "alone": 1.1 / 1.3, "gains": {"svm": 1.1}}
    )
    plan = make_plan(600, 2, FIVE, new, long={"cnn": WIDE}, max_epochs={"cnn": 40})
    assert (plan.jobs, plan.threads) == (1, 2)
    assert families_of(plan)[:2] == ["svm", "cnn"]
    assert plan.queue[0].seconds == pytest.approx(82.0 / 1.1)
    per_epoch = one_thread / 22 * (1.1 / 1.3) / 1.66  # 30.0 s, where 26.1 s were run
    work = 600 - 10 - plan.reserve
    assert plan.queue[1].seconds == pytest.approx(per_epoch * int((work - 82.0 / 1.1) / per_epoch))
    assert plan.reasons[1].startswith("svm first, then one cnn long configuration, 16 epochs")


def test_a_resumed_lone_long_network_keeps_no_time_for_a_partner_it_has() -> None:
    fresh = make_plan(600, 2, FIVE, timed_long(1075.0), long={"cnn": WIDE}, max_epochs={"cnn": 40})
    resumed = make_plan(
        600, 2, FIVE, timed_long(1075.0), long={"cnn": WIDE}, max_epochs={"cnn": 40}, seen=["svm"]
    )
    assert "svm" not in families_of(resumed) and families_of(resumed)[0] == "cnn"
    epochs = [q.overrides["epochs"] for q in (fresh.queue[1], resumed.queue[0])]
    assert epochs[1] > epochs[0]  # the svm's time goes to the network


@pytest.mark.parametrize("budget", [300, 600, 900, 1200])
def test_the_calibration_times_every_long_configuration_the_plan_could_run(budget: int) -> None:
    """A long configuration the plan would train (here: alone on both cores) is timed: the
    calibration's limit is at least its one-thread seconds. With the one-thread share
    alone (0.65 x 600 s = 390 s) a 10-minute search on a slow hour left out one whose epochs
    took ~418 s at the init's speed, and planned four short networks instead."""
    chosen = []
    for seconds in range(100, 6000, 25):
        plan = make_plan(
            budget, 2, FIVE, timed_long(float(seconds)), long={"cnn": WIDE}, max_epochs={"cnn": 40}
        )
        if any(q.overrides.get("width") == WIDE["width"] for q in plan.queue):
            chosen.append(seconds)
    assert chosen  # some long configurations run at every one of these budgets
    assert max(chosen) <= timing_limit(budget, 2)


LONE = Lone("cnn", epochs=18, long_epochs=22, seconds=520.0)


def test_the_lone_network_lengthens_to_the_spaces_most_only_where_nothing_follows_it() -> None:
    queue = [Queued("svm", {}, 28.0), Queued("cnn", {**WIDE, "epochs": 18}, 520.0)]
    line = lengthen_last(queue, LONE, 40)
    assert queue[-1].overrides == {**WIDE, "epochs": 40}
    assert queue[-1].seconds == 520.0  # the plan's estimate: the pacer decides the rest
    assert line is not None and "up to 40 epochs" in line
    followed = [Queued("cnn", {**WIDE, "epochs": 18}, 520.0), Queued("mlp", {}, 40.0)]
    assert lengthen_last(followed, LONE, 40) is None
    assert followed[0].overrides["epochs"] == 18
    for most in (None, 18, 12):  # no more epochs allowed than planned
        kept = [Queued("cnn", {"epochs": 18}, 520.0)]
        assert lengthen_last(kept, LONE, most) is None and kept[0].overrides["epochs"] == 18


def test_queue_lone_puts_its_partners_first_only_where_both_fit() -> None:
    """Its solo changes where given (``{}``: init's own), else long's; the partners' time
    comes off the one worker's."""
    for work, first in ((600.0, ["svm"]), (540.0, [])):
        queue: list[Queued] = []
        free = [work]
        queued, line = queue_lone(LONE, {"lr": 0.005}, WIDE, ["svm"], SPEEDS, 2, work, queue, free)
        assert queued == first
        assert [q.family for q in queue] == [*first, "cnn"]
        assert queue[-1].overrides == {"lr": 0.005, "epochs": 18}
        assert free[0] == pytest.approx(work - 520.0 - (48.0 / 1.7 if first else 0.0))
        assert "(its solo schedule), 18 epochs (~520 s)" in line
        assert line.startswith("svm first, then ") == bool(first)
    queue = []
    queue_lone(LONE, None, WIDE, [], SPEEDS, 2, 600.0, queue, [600.0])
    assert queue == [Queued("cnn", {**WIDE, "epochs": 18}, 520.0)]
    queue = []
    queue_lone(LONE, {}, WIDE, [], SPEEDS, 2, 600.0, queue, [600.0])
    assert queue == [Queued("cnn", {"epochs": 18}, 520.0)]


@pytest.mark.parametrize(("long_seconds", "layout"), [(953.0, (1, 2)), (945.0, (2, 1))])
def test_a_long_network_that_fits_before_the_reserve_but_not_after_it_trains_alone(
    long_seconds: float, layout: tuple[int, int]
) -> None:
    """25 minutes: 953 s on one thread fits LONG_SHARE of a worker's time before the time
    kept for the end is counted (0.65 x 1,473 s) but not after it (0.65 x ~1,460 s). Judged
    on the first, the plan planned no lone network, and on the second no long round, but
    init networks; now both are judged on the second: the long network alone on every
    core. A little faster (945 s), one long network per one-thread worker, as before."""
    plan = make_plan(
        1500, 2, FIVE, timed_long(long_seconds), long={"cnn": WIDE}, max_epochs={"cnn": 40}
    )
    assert (plan.jobs, plan.threads) == layout
    nets = [q for q in plan.queue if q.family == "cnn"]
    assert nets[0].overrides["width"] == WIDE["width"]  # the long configuration either way
    if layout == (1, 2):
        # kept for two workers' end: shutdown, export, two long networks, svm, mlp
        work = 1500 - 10 - (5 + 12 + 2 * 2.0 + 8.2 + 0.3)
        assert 0.65 * work < long_seconds <= 0.65 * (1500 - 10 - 5 - 12)
        assert len(nets) == 1
