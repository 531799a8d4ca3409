"""Ranking, score and Pareto logic on synthetic trials (ask / tell, no training), and the CLI."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from automl_fashion import leaderboard as lb
from automl_fashion.errors import ConfigError
from automl_fashion.storage import open_storage

# (family, accuracy, fit seconds)
TRIALS = [
    ("cnn", 0.93, 400.0),
    ("cnn", 0.91, 100.0),
    ("mlp", 0.90, 60.0),
    ("linear", 0.85, 10.0),
    ("linear", 0.84, 20.0),  # dominated by the other linear trial
    ("svm", 0.895, 200.0),  # dominated by mlp
]


FAMILIES = ["cnn", "mlp", "linear", "svm", "boosting"]


def make_study(tmp_path: Path, name: str = "synthetic") -> optuna.Study:
    storage = open_storage(None, name, tmp_path)
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    for family, acc, fit in TRIALS:
        study.enqueue_trial({"family": family})
        trial = study.ask()
        trial.suggest_categorical("family", FAMILIES)
        trial.set_user_attr("fit_seconds", fit)
        trial.set_user_attr("n_val", 10_000)
        study.tell(trial, acc)
    study.enqueue_trial({"family": "cnn"})
    trial = study.ask()
    trial.suggest_categorical("family", FAMILIES)
    trial.report(0.5, 1)
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    trial = study.ask()
    trial.set_user_attr("fail_reason", "RuntimeError: boom")
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return study


def test_pareto_front_marks_the_non_dominated_trials(tmp_path: Path) -> None:
    frame = lb.trials_frame(make_study(tmp_path))
    front = set(frame.loc[frame["pareto"], "trial"])
    assert front == {0, 1, 2, 3}


def test_score_trades_accuracy_for_cost(tmp_path: Path) -> None:
    study = make_study(tmp_path)
    by_accuracy = lb.leaderboard(lb.trials_frame(study, cost_weight=0.25))
    assert by_accuracy["trial"].iloc[0] == 0  # default: accuracy dominates
    cheap = lb.leaderboard(lb.trials_frame(study, cost_weight=5.0))
    assert cheap["trial"].iloc[0] != 0  # a heavy cost weight promotes cheaper trials
    assert lb.score(0.9, 60, 1.0) == pytest.approx(0.9 - 0.01)  # one doubling = W points


def test_sort_by_time_and_filter_by_family(tmp_path: Path) -> None:
    frame = lb.trials_frame(make_study(tmp_path))
    fastest = lb.leaderboard(frame, sort="time")
    assert fastest["fit_seconds"].tolist() == sorted(fastest["fit_seconds"].tolist())
    assert set(lb.leaderboard(frame, family="linear")["family"]) == {"linear"}
    everything = lb.leaderboard(frame, include_unfinished=True)
    assert set(everything["state"]) == {"complete", "pruned", "fail"}


def test_by_family_picks_the_best_of_each(tmp_path: Path) -> None:
    table = lb.by_family(lb.trials_frame(make_study(tmp_path)))
    best = dict(zip(table["family"], table["val_accuracy"], strict=True))
    assert best["cnn"] == 0.93 and best["linear"] == 0.85
    assert table["family"].iloc[0] == "cnn"


def test_by_family_lists_a_family_without_complete_trials_with_integer_trials(
    tmp_path: Path,
) -> None:
    study = make_study(tmp_path)
    study.enqueue_trial({"family": "boosting"})
    trial = study.ask()
    trial.suggest_categorical("family", FAMILIES)
    trial.report(0.7, 10)
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    table = lb.by_family(lb.trials_frame(study))
    row = table.set_index("family").loc["boosting"]
    assert pd.isna(row["trial"]) and row["pruned"] == 1 and row["complete"] == 0
    assert table["trial"].dropna().tolist() == [0, 2, 5, 3]
    shown = run_cli(tmp_path, "leaderboard", "--study", "synthetic", "--by-family")
    assert shown.returncode == 0, shown.stderr
    cnn_line = next(line for line in shown.stdout.splitlines() if " cnn " in line)
    assert " 0 " in cnn_line and "0.0 " not in cnn_line.replace("400.0", "")


def test_by_family_lists_every_family_asked_for_with_why_the_plan_skipped_it(
    tmp_path: Path,
) -> None:
    """The plan may leave a family out on a short budget: the comparison still shows it."""
    study = make_study(tmp_path)
    study.set_user_attr("families", FAMILIES)
    study.set_user_attr("plan", {"skipped": {"boosting": "its init needs ~77 s", "x": 3}})
    asked, notes = lb.planned_families(study)
    assert asked == FAMILIES and notes == {"boosting": "its init needs ~77 s"}
    table = lb.by_family(lb.trials_frame(study), families=asked, notes=notes)
    row = table.set_index("family").loc["boosting"]
    assert row["trials"] == 0 and pd.isna(row["trial"])
    assert row["note"] == "not run: its init needs ~77 s"
    shown = run_cli(tmp_path, "leaderboard", "--study", "synthetic", "--by-family")
    assert shown.returncode == 0, shown.stderr
    assert "boosting" in shown.stdout and "not run" in shown.stdout
    # a study without (or with a malformed) plan: nothing more than its trials
    study.set_user_attr("plan", "garbage")
    study.set_user_attr("families", "cnn")
    assert lb.planned_families(study) == ([], {})


def test_pareto_front_agrees_with_the_pairwise_definition() -> None:
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(0, 15))
        acc = rng.choice([0.8, 0.85, 0.9, 0.95], n).tolist()
        cost = rng.choice([1.0, 2.0, 3.0, 4.0], n).tolist()
        pairwise = [
            not any(
                a2 >= a and c2 <= c and (a2 > a or c2 < c)
                for j, (a2, c2) in enumerate(zip(acc, cost, strict=True))
                if j != i
            )
            for i, (a, c) in enumerate(zip(acc, cost, strict=True))
        ]
        assert lb.pareto_front(acc, cost) == pairwise, (acc, cost)


def test_wilson_interval_contains_the_estimate() -> None:
    lo, hi = lb.wilson_interval(0.9, 10_000)
    assert lo < 0.9 < hi and hi - lo == pytest.approx(0.0118, abs=0.001)
    assert all(math.isnan(v) for v in lb.wilson_interval(0.9, 0))


def run_cli(tmp_path: Path, *args: str, columns: int = 200) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AUTOML_FASHION_STUDIES": str(tmp_path), "COLUMNS": str(columns)}
    return subprocess.run(
        [sys.executable, "-m", "automl_fashion", *args], env=env, capture_output=True, text=True
    )


def test_every_format_parses_back(tmp_path: Path) -> None:
    make_study(tmp_path)
    csv = run_cli(tmp_path, "leaderboard", "--study", "synthetic", "--format", "csv")
    assert csv.returncode == 0, csv.stderr
    frame = pd.read_csv(io.StringIO(csv.stdout))
    assert frame["trial"].tolist()[0] == 0 and len(frame) == len(TRIALS)
    js = run_cli(tmp_path, "leaderboard", "--study", "synthetic", "--format", "json", "--by-family")
    rows = json.loads(js.stdout)
    assert {r["family"] for r in rows} == {"cnn", "mlp", "linear", "svm"}
    md = run_cli(tmp_path, "leaderboard", "--study", "synthetic", "--format", "markdown")
    assert md.stdout.startswith("| rank | trial | family")
    table = run_cli(tmp_path, "leaderboard", "--study", "synthetic", "--all")
    assert "RuntimeError: boom" in table.stdout


def test_unknown_and_empty_studies_are_clear_errors(tmp_path: Path) -> None:
    make_study(tmp_path)
    out = run_cli(tmp_path, "leaderboard", "--study", "nope")
    assert out.returncode != 0
    assert "no study 'nope'" in out.stderr and "existing: synthetic" in out.stderr
    storage = open_storage(None, "empty", tmp_path)
    optuna.create_study(study_name="empty", storage=storage)
    out = run_cli(tmp_path, "leaderboard", "--study", "empty")
    assert out.returncode == 1 and "no finished trials" in out.stdout


def test_only_failed_trials_is_reported_with_reasons(tmp_path: Path) -> None:
    storage = open_storage(None, "broken", tmp_path)
    study = optuna.create_study(study_name="broken", storage=storage)
    trial = study.ask()
    trial.suggest_categorical("family", ["cnn"])
    trial.set_user_attr("fail_reason", "TrainingDiverged: loss is nan")
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    out = run_cli(tmp_path, "leaderboard", "--study", "broken")
    assert out.returncode == 1
    assert "no complete trial" in out.stdout and "loss is nan" in out.stdout


def test_reading_while_another_process_writes(tmp_path: Path) -> None:
    """A writer appends trials while the leaderboard reads the same journal repeatedly."""
    make_study(tmp_path)
    code = f"""
import optuna
from automl_fashion.storage import open_storage
storage = open_storage(None, "synthetic", {str(tmp_path)!r})
study = optuna.load_study(study_name="synthetic", storage=storage)
family = optuna.distributions.CategoricalDistribution({FAMILIES!r})
for _ in range(200):
    study.tell(study.ask({{"family": family}}), 0.5)
"""
    writer = subprocess.Popen([sys.executable, "-c", code])
    seen = []
    while writer.poll() is None or not seen:
        out = run_cli(tmp_path, "leaderboard", "--study", "synthetic", "--format", "csv")
        assert out.returncode == 0, out.stderr
        seen.append(len(pd.read_csv(io.StringIO(out.stdout))))
    assert writer.wait() == 0
    final = run_cli(tmp_path, "leaderboard", "--study", "synthetic", "--format", "csv")
    assert len(pd.read_csv(io.StringIO(final.stdout))) == len(TRIALS) + 200
    assert seen == sorted(seen)


def test_report_on_a_study_without_complete_trials_is_an_error(tmp_path: Path) -> None:
    storage = open_storage(None, "none", tmp_path)
    optuna.create_study(study_name="none", storage=storage)
    out = run_cli(tmp_path, "report", "--study", "none", "--out", str(tmp_path / "rep"))
    assert out.returncode == 2 and "no complete trial" in out.stderr


@pytest.mark.parametrize("width", [80, 200])
def test_the_table_fits_the_terminal_and_says_what_it_hid(tmp_path: Path, width: int) -> None:
    make_study(tmp_path)
    for extra in ([], ["--all"]):
        out = run_cli(tmp_path, "leaderboard", "--study", "synthetic", *extra, columns=width)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert max(len(line) for line in lines) <= width
        assert "…" not in out.stdout  # whole values, never truncated cells
        header = next(line for line in lines if "val acc" in line)
        assert "family" in header and "score" in header and "fit s" in header
        if width == 80:
            assert "Hidden to fit 80 columns: 95% CI" in out.stdout
        else:
            assert "95% CI" in header and "front" in header and "Hidden" not in out.stdout
        if extra:
            assert "RuntimeError: boom" in out.stdout


@pytest.mark.parametrize("top", ["0", "-1"])
def test_top_must_be_at_least_one(tmp_path: Path, top: str) -> None:
    make_study(tmp_path)
    out = run_cli(tmp_path, "leaderboard", "--study", "synthetic", "--top", top)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip() == (
        f"automl-fashion: error: --top: expected a number of trials >= 1; got {top}"
    )
    with pytest.raises(ConfigError, match="--top"):
        lb.leaderboard(lb.trials_frame(make_study(tmp_path, "other")), top=int(top))


def test_machine_formats_stay_parseable_when_no_trial_is_complete(tmp_path: Path) -> None:
    optuna.create_study(study_name="empty", storage=open_storage(None, "empty", tmp_path))
    storage = open_storage(None, "broken", tmp_path)
    study = optuna.create_study(study_name="broken", storage=storage)
    trial = study.ask()
    trial.suggest_categorical("family", ["cnn"])
    trial.set_user_attr("fail_reason", "TrainingDiverged: loss is nan")
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    for name, why in [("empty", "no finished trials"), ("broken", "loss is nan")]:
        for extra in ([], ["--by-family"], ["--all"]):
            js = run_cli(tmp_path, "leaderboard", "--study", name, "--format", "json", *extra)
            assert js.returncode == 1 and why in js.stderr, (name, extra)
            rows = json.loads(js.stdout)
            assert all(r["val_accuracy"] is None for r in rows)
            csv = run_cli(tmp_path, "leaderboard", "--study", name, "--format", "csv", *extra)
            assert csv.returncode == 1 and why in csv.stderr
            header = pd.read_csv(io.StringIO(csv.stdout)).columns
            assert "val_accuracy" in header and "family" in header
    assert (
        json.loads(run_cli(tmp_path, "leaderboard", "--study", "empty", "--format", "json").stdout)
        == []
    )


def test_text_from_the_study_reaches_the_terminal_escaped(tmp_path: Path) -> None:
    """Reasons (and any text a study holds) are untrusted: no terminal escapes, no markup."""
    study = make_study(tmp_path)
    trial = study.ask()
    trial.suggest_categorical("family", FAMILIES)
    trial.set_user_attr("fail_reason", "\x1b[2J[bold red]wiped[/bold red]")
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    for fmt in ("table", "markdown"):
        out = run_cli(tmp_path, "leaderboard", "--study", "synthetic", "--all", "--format", fmt)
        assert out.returncode == 0, out.stderr
        assert "\x1b" not in out.stdout
        assert "\\x1b[2J[bold red]wiped[/bold red]" in out.stdout


def test_report_out_naming_a_file_is_a_one_line_error(tmp_path: Path) -> None:
    make_study(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    for out in (tmp_path / "notes.txt", tmp_path / "notes.txt" / "sub"):
        run = run_cli(tmp_path, "report", "--study", "synthetic", "--out", str(out))
        assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
        assert run.stderr.startswith(f"automl-fashion: error: --out {out}: ")
        assert len(run.stderr.strip().splitlines()) == 1
    assert (tmp_path / "notes.txt").read_text() == "mine"


def add_complete(
    study: optuna.Study, n: int, per_class: list[float] | None = None, base: float = 0.8
) -> None:
    for i in range(n):
        study.enqueue_trial({"family": "mlp"})
        trial = study.ask()
        trial.suggest_categorical("family", FAMILIES)
        trial.set_user_attr("fit_seconds", 30.0 + i)
        trial.set_user_attr("n_val", 10_000)
        if per_class is not None:
            trial.set_user_attr("val_class_accuracy", per_class)
        study.tell(trial, base + i / 1000)


def test_a_table_shows_the_best_20_and_says_how_many_more(tmp_path: Path) -> None:
    add_complete(make_study(tmp_path), 24)  # 6 + 24 complete trials
    out = run_cli(tmp_path, "leaderboard", "--study", "synthetic")
    assert out.returncode == 0, out.stderr
    ranks = [line.split()[0] for line in out.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert ranks[:20] == [str(r) for r in range(1, 21)] and "21" not in ranks
    assert "10 more trials (--top 30 to show them)" in out.stdout
    more = run_cli(tmp_path, "leaderboard", "--study", "synthetic", "--top", "25")
    assert "5 more trials (--top 30 to show them)" in more.stdout
    everything = run_cli(tmp_path, "leaderboard", "--study", "synthetic", "--top", "30")
    assert "more trials" not in everything.stdout
    csv = run_cli(tmp_path, "leaderboard", "--study", "synthetic", "--format", "csv")
    assert len(pd.read_csv(io.StringIO(csv.stdout))) == 30 and "more" not in csv.stderr
    md = run_cli(tmp_path, "leaderboard", "--study", "synthetic", "--format", "markdown")
    assert len(md.stdout.splitlines()) == 22 and "10 more trials" in md.stderr


def test_missing_values_show_a_dash_never_nan_none_or_booleans(tmp_path: Path) -> None:
    study = make_study(tmp_path)
    study.enqueue_trial({"family": "boosting"})
    trial = study.ask()
    trial.suggest_categorical("family", FAMILIES)
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)  # a family without numbers
    for args in (["--by-family"], ["--all"], ["--per-class"], []):
        for fmt in ("table", "markdown"):
            out = run_cli(tmp_path, "leaderboard", "--study", "synthetic", *args, "--format", fmt)
            assert out.returncode == 0, out.stderr
            for word in ("nan", "NaN", "<NA>", "None", "True", "False", "NaT"):
                assert word not in out.stdout, (args, fmt, word)
            assert "—" in out.stdout, (args, fmt)
    header = run_cli(tmp_path, "leaderboard", "--study", "synthetic", "--by-family").stdout
    assert "ms/1k" in header and "size" in header


def test_per_class_shows_each_family_best_and_a_dash_for_older_trials(tmp_path: Path) -> None:
    study = make_study(tmp_path)  # trials without per-class accuracy (an older version)
    add_complete(study, 1, [0.5, 0.99, 0.8, 0.85, 0.8, 0.95, 0.6, 0.96, 0.97, 0.95], base=0.95)
    table = lb.per_class(lb.trials_frame(study))
    assert list(table.columns) == ["class", "mlp #8", "cnn #0", "svm #5", "linear #3"]
    rows = table.set_index("class")
    assert rows.loc["Trouser", "mlp #8"] == 0.99 and pd.isna(rows.loc["Trouser", "cnn #0"])
    assert rows.loc["all", "cnn #0"] == 0.93
    out = run_cli(tmp_path, "leaderboard", "--study", "synthetic", "--per-class")
    assert out.returncode == 0, out.stderr
    trouser = next(line for line in out.stdout.splitlines() if "Trouser" in line).split()
    assert trouser == ["Trouser", "99.00%", "—", "—", "—"]
    js = json.loads(
        run_cli(
            tmp_path, "leaderboard", "--study", "synthetic", "--per-class", "--format", "json"
        ).stdout
    )
    assert js[1]["class"] == "Trouser" and js[1]["mlp #8"] == 0.99 and js[1]["cnn #0"] is None


@pytest.mark.parametrize(
    "recorded", [[0.5] * 9, ["0.5"] * 10, [True] * 10, [1.5] * 10, {"Trouser": 0.9}, "0.9"]
)
def test_a_malformed_per_class_record_reads_as_missing(tmp_path: Path, recorded: object) -> None:
    study = make_study(tmp_path)
    add_complete(study, 1, recorded, base=0.95)  # type: ignore[arg-type]
    table = lb.per_class(lb.trials_frame(study)).set_index("class")
    assert table["mlp #8"].iloc[:10].isna().all() and table.loc["all", "mlp #8"] == 0.95


def test_per_class_speaks_the_class_names_the_study_recorded(tmp_path: Path) -> None:
    """A study of another data set: its own class names, one accuracy per class; a
    tampered description of it is a one-line error."""
    from automl_fashion.data.info import FASHION_MNIST
    from automl_fashion.data.spec import INFO_ATTR

    study = make_study(tmp_path)
    shop = {**FASHION_MNIST.as_dict(), "name": "folder:shop", "classes": ["bag", "hat", "shoe"]}
    study.set_user_attr(INFO_ATTR, shop)
    add_complete(study, 1, [0.5, 0.75, 1.0], base=0.95)
    table = lb.per_class(lb.trials_frame(study)).set_index("class")
    assert table.index.tolist() == ["bag", "hat", "shoe", "all"]
    assert table.loc["hat", "mlp #8"] == 0.75 and table.loc["all", "mlp #8"] == 0.95
    out = run_cli(tmp_path, "leaderboard", "--study", "synthetic", "--per-class")
    assert out.returncode == 0, out.stderr
    assert [line.split()[0] for line in out.stdout.splitlines() if line.split()[:1] in (
        ["bag"], ["hat"], ["shoe"], ["Trouser"])] == ["bag", "hat", "shoe"]  # fmt: skip
    study.set_user_attr(INFO_ATTR, {**shop, "shape": [2, 28, 28]})  # tampered
    bad = run_cli(tmp_path, "leaderboard", "--study", "synthetic", "--per-class")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "its data set: 'shape' is [2, 28, 28]" in bad.stderr


def test_numbers_read_back_that_are_not_numbers_do_not_stop_the_board(tmp_path: Path) -> None:
    """A study read back is untrusted: an n_val of "10k" or 10**400, a fit_seconds that is
    text, or a value that is not an accuracy was a traceback in leaderboard and report.
    They show as missing; the trial's other columns stay."""
    study = make_study(tmp_path)
    for attrs, value in (
        ({"n_val": "10k", "fit_seconds": "12.5"}, 0.9),
        ({"n_val": 10**400, "fit_seconds": 10**400, "model_bytes": [1]}, 0.9),
        ({"n_val": 10_000, "fit_seconds": 3.0}, 7.0),
    ):
        trial = study.ask()
        trial.suggest_categorical("family", FAMILIES)
        for key, attr in attrs.items():
            trial.set_user_attr(key, attr)
        study.tell(trial, value)
    frame = lb.trials_frame(study)
    odd = frame.tail(3)
    assert odd["fit_seconds"].isna().tolist() == [True, True, False]
    assert odd["ci_low"].isna().all() and odd["model_bytes"].isna().all()
    assert odd["val_accuracy"].isna().tolist() == [False, False, True]  # 7.0 is no accuracy
    board = lb.leaderboard(frame)
    assert board.iloc[0]["val_accuracy"] == 0.93  # the real trials still rank
