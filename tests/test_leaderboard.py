"""Ranking, score and Pareto logic on synthetic trials (ask / tell, no training), and the CLI."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

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


def test_report_writes_valid_pngs_and_a_page_that_shows_them(tmp_path: Path) -> None:
    import base64
    import re

    import matplotlib.image

    make_study(tmp_path)
    out = run_cli(tmp_path, "report", "--study", "synthetic", "--out", str(tmp_path / "rep"))
    assert out.returncode == 0, out.stderr
    pngs = sorted((tmp_path / "rep").glob("*.png"))
    assert [p.name for p in pngs] == [
        "accuracy_vs_time.png",
        "best_over_time.png",
        "family_best.png",
        "pruning.png",
    ]
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert matplotlib.image.imread(png).shape[0] > 100
    page = (tmp_path / "rep" / "index.html").read_text()
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(embedded) == 4
    assert {base64.b64decode(e) for e in embedded} == {p.read_bytes() for p in pngs}
    assert "<table" in page and "cnn" in page


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
