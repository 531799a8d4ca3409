"""The benchmark suite's quick mode runs end to end, so that it cannot rot (slow: ~2 min)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent


def test_compare_quick_runs_every_system_and_writes_its_results(tmp_path: Path) -> None:
    # run a copy so that the committed results are not overwritten by a CI run
    shutil.copytree(
        REPO / "benchmarks", tmp_path / "benchmarks", ignore=shutil.ignore_patterns("results")
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, str(tmp_path / "benchmarks" / "compare.py"), "--quick"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    results = tmp_path / "benchmarks" / "results"
    report = json.loads((results / "compare-quick.json").read_text())
    assert [r["system"] for r in report["rows"]] == ["automl-fashion", "flaml", "optuna", "random"]
    for row in report["rows"]:
        assert 0.1 < row["test_accuracy"] <= 1.0 and row["curve"]
    assert report["throughput"]["peak_matmul_gflops"] > 0
    # the step of the network a 10-minute search trains, not only the init's
    assert report["throughput"]["long"]["train_gflops"] > 0
    assert report["throughput"]["long"]["width"] > report["throughput"]["cnn_width"]
    assert report["orchestration"]["trivial_trials"] > 0
    assert (results / "compare-quick-anytime.png").read_bytes()[:4] == b"\x89PNG"
    markdown = (results / "compare-quick.md").read_text()
    assert "| automl-fashion | 0 |" in markdown
    assert "The long configuration's step (32 channels" in markdown
    # the per-system summary over seeds; the partial file is gone once the report is whole
    assert [m["system"] for m in report["summary"]] == [r["system"] for r in report["rows"]]
    assert all(m["seeds"] == [0] for m in report["summary"])
    assert not (results / "compare-quick-partial.json").exists()


def test_the_search_benchmark_summarises_each_gpus_utilisation() -> None:
    """nvidia-smi's readings while a GPU search runs: how often each GPU was busy, and how
    busy then (an H200 search read 0% in half its samples and 18% in the rest)."""
    from benchmarks.gpu import gpu_utilisation

    readings = "0, 0\n1, 50\n0, 20\n1, 50\n0, 30\n1, [N/A]\n0, 0\n1,"
    assert gpu_utilisation(readings) == {
        "0": {"samples": 4, "busy_share": 0.5, "mean_percent_when_busy": 25.0},
        "1": {"samples": 2, "busy_share": 1.0, "mean_percent_when_busy": 50.0},
    }
    assert gpu_utilisation("") is None


def test_the_families_benchmark_reads_its_changes_to_the_inits() -> None:
    from benchmarks.families import parse_set

    assert parse_set("width=64,batch_size=512,flip=false,lr=1e-3,schedule=cosine") == {
        "width": 64,
        "batch_size": 512,
        "flip": False,
        "lr": 0.001,
        "schedule": "cosine",
    }
    assert parse_set("") == {}
    with pytest.raises(SystemExit, match="--set: 'width' is not KEY=VALUE"):
        parse_set("width")


def test_the_gpu_networks_benchmark_summarises_each_network_and_their_averages(
    tmp_path: Path,
) -> None:
    """Each network's row as its process left it, and the plain average of every subset of
    them on the validation and test images: two networks, one right on the test images
    and one wrong, average to what the sum of their probabilities says."""
    import numpy as np

    from automl_fashion.data import load_split, load_test
    from benchmarks.gpu_networks import summarise

    y_val, y_test = load_split().y_val, load_test()[1]
    sure = {"val": np.eye(10)[y_val], "test": np.eye(10)[y_test]}
    wrong = {"val": 0.6 * np.eye(10)[(y_val + 1) % 10], "test": 0.6 * np.eye(10)[(y_test + 1) % 10]}
    for key, probs in (("res64b2", sure), ("cnnLw64", wrong)):
        np.savez(tmp_path / f"{key}.npz", **probs)
        (tmp_path / f"{key}.json").write_text(json.dumps({"key": key, "val_accuracy": 0.5}))
    (tmp_path / "notes.json").write_text("{}")  # not a configuration: not a network
    # a row naming another file is read under its own file's name
    (tmp_path / "res64b2.json").write_text(json.dumps({"key": "../notes", "val_accuracy": 0.5}))
    (tmp_path / "smi.txt").write_text("0, 0\n0, 80\n")
    result = summarise(tmp_path, {"seconds": 1.0})
    assert [r["key"] for r in result["networks"]] == ["cnnLw64", "res64b2"]
    assert result["averages"] == [
        {"members": ["cnnLw64", "res64b2"], "val_accuracy": 1.0, "test_accuracy": 1.0}
    ]
    assert result["gpu_load"] == {
        "0": {"samples": 2, "busy_share": 0.5, "mean_percent_when_busy": 80.0}
    }
    assert result["meta"] == {"seconds": 1.0}
