"""The plan's later rounds of networks, driven with made-up seconds per worker."""

from __future__ import annotations

import pytest

from automl_fashion.search.planned import Queued
from automl_fashion.search.rounds import Members, Round, queue_second_round, queue_third_round


def test_members_cycle_through_init_and_its_variants_with_the_rounds_changes_on_top() -> None:
    members = Members([{"width": 48}, {"dropout": 0.1}])
    got = [members({"epochs": 20}) for _ in range(4)]
    assert got == [
        {"epochs": 20},
        {"width": 48, "epochs": 20},
        {"dropout": 0.1, "epochs": 20},
        {"epochs": 20},  # init again: a new seed (trial numbers differ)
    ]
    assert members({"width": 64}) == {"width": 64}  # the round's change wins over a variant


def test_the_second_round_goes_to_the_worker_with_most_time_first_and_is_cut_to_fit() -> None:
    queue: list[Queued] = []
    free = [200.0, 1000.0]
    nets = Round("cnn", {"width": 48}, 16, 400.0, "init")
    said = queue_second_round("cnn", nets, free, queue, Members())
    # 1000 s holds a whole one; 200 s holds less than MIN_EPOCH_SHARE (0.6) of it: none
    assert [(q.family, dict(q.overrides), q.seconds) for q in queue] == [
        ("cnn", {"width": 48}, 400.0)
    ]
    assert free == [200.0, 600.0]
    assert said == "then 1 more cnn network(s), new seeds"

    queue.clear()
    free = [1000.0, 300.0]  # ... now 300 s of a 480 s network: cut to 10 of its 16 epochs
    nets = Round("cnn", {}, 16, 480.0, "long")
    said = queue_second_round("cnn", nets, free, queue, Members())
    assert queue[0].overrides == {} and queue[0].seconds == 480.0
    assert free[1] < 300.0 and queue[1].overrides == {"epochs": 10}
    # timed by its own estimate: 10 of its 16 epochs of 480 s (not of the 400 s init's)
    assert queue[1].seconds == pytest.approx(300.0)
    assert free[1] == pytest.approx(0.0)
    assert said == "then 2 more cnn long configuration(s), new seeds"


def test_a_partner_round_is_timed_from_its_own_estimate_and_named_in_the_reason() -> None:
    queue: list[Queued] = []
    free = [1000.0]
    nets = Round("resnet", {"width": 32, "epochs": 40}, 40, 1200.0, "partner")
    said = queue_second_round("cnn", nets, free, queue, Members([{"width": 48}]))
    epochs = int(40 * 1000.0 / 1200.0)  # 33
    assert queue == [Queued("resnet", {"width": 32, "epochs": epochs}, 1200.0 * epochs / 40)]
    assert said is not None
    assert said.startswith("then 1 resnet long configuration(s) (~1200 s): another")
    assert "the cnn's ensemble" in said


def test_no_second_round_says_nothing() -> None:
    queue: list[Queued] = []
    nets = Round("cnn", {}, 16, 400.0, "second")
    assert queue_second_round("cnn", nets, [100.0], queue, Members()) is None
    assert queue == []


def test_the_third_round_is_queued_whole_where_enough_of_it_fits() -> None:
    queue: list[Queued] = []
    free = [500.0, 2000.0, 1000.0]
    said = queue_third_round("cnn", {"stages": 3}, 1500.0, 38, free, queue, Members(), more=False)
    # 2000 s: all of it; 1000 s: two thirds (>= MIN_EPOCH_SHARE), its schedule whole (the
    # network shortens it after its first epoch); 500 s: none
    assert [(dict(q.overrides), q.seconds) for q in queue] == [
        ({"stages": 3}, 1500.0),
        ({"stages": 3}, 1000.0),
    ]
    assert free == [500.0, 500.0, 0.0]
    assert said is not None and said.startswith("then 2 cnn second configuration(s)")
    assert "up to 38 epochs" in said and "another architecture in" in said
    more = queue_third_round("cnn", {}, 400.0, 38, [400.0], [], Members(), more=True)
    assert more is not None and more.startswith("then 1 more cnn second configuration(s)")
    assert queue_third_round("cnn", {}, 400.0, 38, [100.0], [], Members(), more=True) is None
