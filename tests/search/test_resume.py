"""What a resume reads back from the study (search/loop.py, storage/_recovery.py): the
trials a stopped search left, queued again once; the attrs it reads are untrusted."""

from __future__ import annotations

import socket

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from automl_fashion.search.loop import _requeue_interrupted, family_of
from automl_fashion.search.worker import PARENT_ENDED
from automl_fashion.storage import recover_stale_trials

LINEAR = {"family": "linear"}
CHOICE = {"family": CategoricalDistribution(["linear", "svm"])}


def failed(reason: object) -> optuna.trial.FrozenTrial:
    return create_trial(
        state=TrialState.FAIL, params=LINEAR, distributions=CHOICE,
        user_attrs={"fail_reason": reason},
    )  # fmt: skip


def test_trials_a_kill_of_the_search_process_stopped_are_queued_again() -> None:
    """A kill -9 of the search alone: its workers record 'the search process ended' and
    exit. Those trials were never queued again, so a warm-start init was lost."""
    study = optuna.create_study(direction="maximize")
    for reason in (PARENT_ENDED, "interrupted by the user", "TrainingDiverged: nan"):
        study.add_trial(failed(reason))
    assert _requeue_interrupted(study) == 2
    waiting = study.get_trials(states=[TrialState.WAITING])
    assert sorted(t.user_attrs["retry_of"] for t in waiting) == [0, 1]
    assert _requeue_interrupted(study) == 0  # once


def test_untrusted_attrs_do_not_stop_a_resume() -> None:
    """A fail_reason that is not text, an unhashable retry_of, or a pid no process can have
    made every resume a traceback before its first trial."""
    study = optuna.create_study(direction="maximize")
    for reason in (None, 3, ["interrupted"]):
        study.add_trial(failed(reason))
    study.enqueue_trial(LINEAR, user_attrs={"retry_of": [1]})
    running = study.ask()
    for pid in (2**40, 1e400, "x"):
        study._storage.set_trial_system_attr(
            running._trial_id, "automl_fashion:worker", {"host": socket.gethostname(), "pid": pid}
        )
        assert recover_stale_trials(study) == []  # not ours to judge: left running
    assert _requeue_interrupted(study) == 0


def test_a_queued_trial_counts_as_its_family() -> None:
    """Optuna keeps a queued trial's parameters aside until it starts: a resume after an
    early Ctrl-C did not see the waiting inits and queued each of them again."""
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"family": "svm", "svm.C": 10.0}, user_attrs={"warm_start": True})
    study.add_trial(failed("x"))
    study.enqueue_trial({"family": 3})  # untrusted: not a family
    assert [family_of(t) for t in study.get_trials(deepcopy=False)] == ["svm", "linear", None]
