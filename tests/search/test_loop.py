"""The search loop in real processes: failure streaks, resumes with other families,
Ctrl-C on database storage, and the sampler seed of each worker."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.sleepy_search import (
    load,
    search_cmd,
    set_sleepy,
    wait_for,
)

WORKER = "automl_fashion:worker"


def run(
    cmd: list[str], environ: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=environ, capture_output=True, text=True, timeout=timeout)


def test_a_streak_of_one_failure_stops_the_search_with_it(env: dict[str, str]) -> None:
    set_sleepy(env, rung_seconds=-1.0)  # time.sleep(-1): every trial fails at once
    start = time.monotonic()
    out = run(search_cmd("3m", "--jobs", "1"), env)
    assert time.monotonic() - start < 90  # not the whole budget
    assert out.returncode == 1
    assert (
        "search stopped early: 20 trials in a row failed with: "
        "ValueError: sleep length must be non-negative" in out.stderr
    ), out.stderr
    assert "Traceback" not in out.stderr
    assert 20 <= len(load(env).get_trials()) < 40


def test_resuming_with_other_families_is_refused_and_writes_nothing(env: dict[str, str]) -> None:
    set_sleepy(env, rung_seconds=0.05, epochs=2, diverge=False)
    # long enough for a first trial on a busy machine: the study's families come from it
    assert run(search_cmd("15s", "--jobs", "1"), env).returncode == 0
    assert load(env).get_trials(), "the first search ran no trial"
    journal = Path(env["AUTOML_FASHION_STUDIES"]) / "t.journal"
    before = journal.read_bytes()
    cmd = search_cmd("1m", "--jobs", "1")
    cmd[cmd.index("sleepy")] = "sleepy,linear"
    start = time.monotonic()
    out = run(cmd, env)
    assert time.monotonic() - start < 30
    assert out.returncode == 2
    assert "--families sleepy,linear: study 't' searches sleepy" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert journal.read_bytes() == before
    # the same family twice is the same set; no --families at all resumes the study's
    cmd[cmd.index("sleepy,linear")] = "sleepy,sleepy"
    cmd[cmd.index("1m")] = "4s"
    assert run(cmd, env).returncode == 0
    without = search_cmd("4s", "--jobs", "1")
    del without[without.index("--families") : without.index("--families") + 2]
    assert run(without, env).returncode == 0
    families = {t.params.get("family") for t in load(env).get_trials()}
    assert families == {"sleepy"}


def test_ctrl_c_on_database_storage_before_anything_was_saved(
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    set_sleepy(env, rung_seconds=0.5, epochs=40, diverge=False)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    env["AUTOML_FASHION_STUDIES"] = str(tmp_path / "not-yet")  # no studies folder
    proc = subprocess.Popen(
        search_cmd("5m", "--jobs", "1", "--storage", url),
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def running() -> bool:
            try:
                study = optuna.load_study(study_name="t", storage=url)
            except Exception:
                return False
            return any(
                t.state == TrialState.RUNNING and t.intermediate_values for t in study.get_trials()
            )

        wait_for(running)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert "Traceback" not in err and "FileNotFoundError" not in err, err
    assert "interrupted before a trial completed" in err
    trials = optuna.load_study(study_name="t", storage=url).get_trials()
    assert trials and not [t for t in trials if t.state == TrialState.RUNNING]


def test_each_worker_samples_with_its_own_recorded_seed(env: dict[str, str]) -> None:
    """A new study's first worker uses --seed (a seeded sequential search repeats itself);
    every other worker, and every later run, a seed of its own."""
    set_sleepy(env, rung_seconds=0.05, epochs=2, diverge=False)
    run(search_cmd("15s", "--jobs", "2", "--seed", "5", "--sampler", "random"), env)
    run(search_cmd("10s", "--jobs", "1", "--seed", "5", "--sampler", "random"), env)
    trials = [t for t in load(env).get_trials() if WORKER in t.system_attrs]
    by_pid: dict[int, set[int]] = {}
    for t in trials:
        worker = t.system_attrs[WORKER]
        by_pid.setdefault(worker["pid"], set()).add(worker["sampler_seed"])
    assert len(by_pid) == 3 and all(len(s) == 1 for s in by_pid.values())
    seeds = [s.pop() for s in by_pid.values()]
    assert len(set(seeds)) == 3 and 5 in seeds
    first_run = [t for t in trials if t.system_attrs[WORKER]["sampler_seed"] == 5]
    assert all(t.system_attrs[WORKER]["index"] == 0 for t in first_run)  # the first worker
    drawn = [t.params["sleepy.quality"] for t in trials if "warm_start" not in t.user_attrs]
    assert len(drawn) == len(set(drawn))  # no worker replays another's draws

    # the same seeded sequential search on a new study draws the same parameters
    def sequence(study: str) -> list[float]:
        run(
            search_cmd("10s", "--jobs", "1", "--seed", "5", "--sampler", "random", study=study), env
        )
        return [t.params["sleepy.quality"] for t in load(env, study).get_trials() if t.params]

    a, b = sequence("r1"), sequence("r2")
    n = min(len(a), len(b))
    assert n >= 2 and a[:n] == b[:n]


def test_the_plan_lengthens_networks_only_within_the_spaces_epochs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 2 hours the plan doubles the cnn init's 16 epochs; a user's space that allows
    at most 24 gets 24 (before, 32 was queued and its enqueue refused as out of range)."""
    from automl_fashion.data import sets
    from automl_fashion.search import loop
    from automl_fashion.search.config import SearchConfig
    from automl_fashion.search.speeds import Speeds
    from automl_fashion.search_space import spaces_dir

    spaces = tmp_path / "spaces"
    shutil.copytree(spaces_dir(), spaces)
    cnn = spaces / "cnn.yaml"
    text = cnn.read_text()
    rule = "epochs:          {type: int, low: 3, high: 40}"
    assert rule in text
    second = "erase: 0.14, epochs: 38}"  # the second configuration's, within the new range
    assert second in text
    cnn.write_text(text.replace(rule, rule.replace("40", "24")).replace(second, "epochs: 24}"))
    speeds = Speeds(fit_seconds={"cnn": 300.0, "svm": 80.0}, epochs={"cnn": 16})
    monkeypatch.setattr(loop, "measure_speeds", lambda *a, **k: speeds)
    monkeypatch.setattr(loop, "available_cores", lambda: 2)
    config = SearchConfig(7200, families=["cnn", "svm"], spaces_dir=str(spaces), val_size=10_000)
    info = sets.builtin("fashion-mnist").info
    study = optuna.create_study()
    plan = loop._plan(study, config, False, info, 60_000)
    loop._warm_start(study, plan, str(spaces), info)
    queued = [t.system_attrs["fixed_params"] for t in study.get_trials()]
    assert [q["cnn.epochs"] for q in queued if q["family"] == "cnn"] == [24] * 4


def test_two_hours_queue_the_cnns_long_then_its_second_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shipped cnn space's ``second`` configuration reaches the queue whole (3 stages,
    48 channels, no flips) after one long network per worker, where the calibration timed
    both and one of each fits."""
    from automl_fashion.data import sets
    from automl_fashion.search import loop
    from automl_fashion.search.config import SearchConfig
    from automl_fashion.search.speeds import Speeds
    from automl_fashion.search_space import load_space

    limits: dict[str, object] = {}

    def measured(*args: object, **kwargs: object) -> Speeds:
        limits.update(kwargs)
        return Speeds(
            fit_seconds={"cnn": 300.0, "svm": 80.0},
            epochs={"cnn": 16},
            long_seconds={"cnn": 1400.0, "cnn:second": 2700.0},
        )

    monkeypatch.setattr(loop, "measure_speeds", measured)
    monkeypatch.setattr(loop, "available_cores", lambda: 2)
    config = SearchConfig(7200, families=["cnn", "svm"], val_size=10_000)
    info = sets.builtin("fashion-mnist").info
    study = optuna.create_study()
    plan = loop._plan(study, config, False, info, 60_000)
    assert limits["second_within"] == pytest.approx(0.65 * 7200)
    loop._warm_start(study, plan, None, info)
    queued = [t.system_attrs["fixed_params"] for t in study.get_trials()]
    space = load_space("cnn")
    assert space.long is not None and space.second is not None
    nets = [
        {k.removeprefix("cnn."): v for k, v in q.items() if k != "family"}
        for q in queued
        if q["family"] == "cnn"
    ]
    assert [q["family"] for q in queued][:5] == ["cnn", "cnn", "svm", "cnn", "cnn"]
    assert all(n["width"] == space.long["width"] and n["stages"] == 2 for n in nets[:2])
    assert nets[2:4] == [dict(space.second)] * 2
    # then a third round of it, whole: each network shortens itself to the time left
    assert len(nets) == 6
    assert nets[4:] == [dict(space.second)] * 2


def test_on_a_gpu_the_networks_sized_for_it_are_queued_and_drawn_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a GPU, the shipped spaces' GPU configurations reach the queue (resnet and cnn in
    turn, one per worker) in their GPU ranges, and the trial that takes each from the queue
    trains it whole: 96 channels and batches of 512 are outside the CPU's ranges."""
    from automl_fashion.data import sets
    from automl_fashion.errors import ConfigError
    from automl_fashion.search import loop
    from automl_fashion.search.config import SearchConfig
    from automl_fashion.search.speeds import Speeds
    from automl_fashion.search_space import load_space
    from automl_fashion.trial import TrialSettings, suggest

    speeds = Speeds(
        fit_seconds={"cnn": 30.0, "resnet": 40.0, "svm": 80.0},
        epochs={"cnn": 16, "resnet": 13},
        device="cuda",
    )
    monkeypatch.setattr(loop, "measure_speeds", lambda *a, **k: speeds)
    monkeypatch.setattr(loop, "available_cores", lambda: 16)
    monkeypatch.setattr(loop, "search_gpus", lambda *a: 1)
    config = SearchConfig(600, families=["cnn", "resnet", "svm"], val_size=10_000)
    info = sets.builtin("fashion-mnist").info
    study = optuna.create_study()
    plan = loop._plan(study, config, False, info, 60_000)
    assert (plan.jobs, plan.threads) == (4, 4)
    with pytest.raises(ConfigError, match="width"):  # the CPU's ranges refuse them
        loop._warm_start(optuna.create_study(), plan, None, info)
    loop._warm_start(study, plan, None, info, gpu=True)
    settings = TrialSettings(["cnn", "resnet", "svm"], 4, 0, gpu=True)
    drawn = [suggest(study.ask(), settings, info) for _ in range(4)]
    res, cnn = load_space("resnet", gpu=True), load_space("cnn", gpu=True)
    assert drawn == [
        ("resnet", dict(res.gpu_configs[0])),
        ("cnn", dict(cnn.gpu_configs[0])),
        ("resnet", dict(res.gpu_configs[1])),
        ("cnn", dict(cnn.gpu_configs[1])),
    ]
    assert drawn[3][1]["width"] == 96 and drawn[3][1]["batch_size"] == 512
