"""Faults in the saved models and the export folder, with real searches and exports in
real processes (issue 12, items 2 and 3).

A saved model whose weights were corrupted, or whose meta.json names a file outside its
folder, is trained again on its trial's own split, with one line saying why, and nothing
is written outside --out. An export killed with SIGKILL, or stopped by a full disk, leaves
the earlier export at --out, whole, and the next export clears what a killed one left.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from automl_fashion.storage import load_existing_study
from tests.sleepy_search import REPO

CLI = [sys.executable, "-m", "automl_fashion"]
PER_CLASS = 20  # the searched split: 200 training images


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    """A real 15-second search of the linear family on 20 images per class, its models saved."""
    folder = tmp_path_factory.mktemp("artifacts")
    env = {
        **os.environ,
        "AUTOML_FASHION_STUDIES": str(folder / "studies"),
        "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    search = ["search", "--budget", "15s", "--families", "linear", "--study", "t", "--quiet"]
    run = subprocess.run(
        [*CLI, *search, "--train-per-class", str(PER_CLASS), "--jobs", "1", "--no-export"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    return env, folder


def _saved(folder: Path) -> list[int]:
    """The trials with a saved model, best first."""
    study = load_existing_study("t", None, folder / "studies")
    root = folder / "studies" / "t.artifacts"
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    ranked = sorted(done, key=lambda t: (-(t.value or 0.0), t.number))
    return [t.number for t in ranked if (root / f"trial-{t.number}" / "meta.json").is_file()]


def _export(env: dict[str, str], out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "export", "--study", "t", "--out", str(out), "--single", "--threads", "1", *extra],
        env=env,
        capture_output=True,
        text=True,
    )


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _complete_export(out: Path) -> dict:
    card = json.loads((out / "model_card.json").read_text())
    assert sorted(card["written"]) == sorted(p.name for p in out.iterdir())
    return card


def test_corrupt_and_crafted_artifacts_are_retrained_and_nothing_leaves_out(
    searched: tuple[dict[str, str], Path],
) -> None:
    env, folder = searched
    saved = _saved(folder)
    assert len(saved) >= 2, "the search saved fewer than two models"
    best, other = saved[0], saved[1]
    root = folder / "studies" / "t.artifacts"
    weights = root / f"trial-{best}" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-16:] = bytes(b ^ 0xFF for b in data[-16:])
    weights.write_bytes(bytes(data))
    meta_path = root / f"trial-{other}" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["native"] = "../../../payload.txt"
    meta_path.write_text(json.dumps(meta))
    (root / f"trial-{other}" / "../../../payload.txt").write_text("payload")

    (folder / "o" / "a" / "b").mkdir(parents=True)
    out = folder / "o" / "a" / "b" / "model"
    before = _files(folder)
    run = _export(env, out)  # the best trial: its weights are corrupt
    assert run.returncode == 0, run.stderr
    assert (
        f"trial {best}: saved model is corrupt (sha256 mismatch on model.safetensors); "
        f"retraining on its {10 * PER_CLASS}-image split"
    ) in run.stdout.splitlines()
    card = _complete_export(out)
    assert card["trial"] == best
    assert card["trained_on"].startswith(f"{10 * PER_CLASS} training images (the split trial")

    crafted = folder / "o" / "a" / "crafted"
    run = _export(env, crafted, "--trial", str(other))
    assert run.returncode == 0, run.stderr
    lines = [line for line in run.stdout.splitlines() if "saved model is corrupt" in line]
    assert len(lines) == 1 and "'../../../payload.txt'" in lines[0], run.stdout
    _complete_export(crafted)
    assert not (folder / "o" / "payload.txt").exists()
    after = {
        k: v
        for k, v in _files(folder).items()
        if not k.startswith(("o/a/b/model/", "o/a/crafted/"))
    }
    assert after == before


@contextlib.contextmanager
def _started(cmd: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


def test_an_export_killed_midway_leaves_the_earlier_export_whole(
    searched: tuple[dict[str, str], Path],
) -> None:
    env, folder = searched
    out = folder / "killed" / "model"
    out.parent.mkdir()
    first = _export(env, out, "--trial", str(_saved(folder)[-1]))
    assert first.returncode == 0, first.stderr
    before = _files(out)
    cmd = [*CLI, "export", "--study", "t", "--out", str(out), "--single", "--threads", "1"]
    for _ in range(3):  # the write window is short; a miss is retried, never failed
        with _started(cmd, env) as proc:
            staging = out.with_name(f"{out.name}.tmp-{proc.pid}")
            while proc.poll() is None and not staging.exists():
                time.sleep(0.002)
            if proc.poll() is not None:
                assert proc.returncode == 0
                before = _files(out)  # it finished: the new export, whole
                continue
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        # the earlier export, untouched; or, killed in the instant after the swap, the new
        # one: whole either way
        _complete_export(out)
        assert _files(out) == before or not staging.exists()
        break
    else:
        pytest.skip("the export's write window was never caught in three tries")
    again = _export(env, out)
    assert again.returncode == 0, again.stderr
    _complete_export(out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["model"]  # the leftover is gone


def _small_files_only() -> None:  # in the child: a file system that takes 16 kB a file
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (16_000, 16_000))


def test_a_full_disk_is_one_line_and_leaves_the_earlier_export_whole(
    searched: tuple[dict[str, str], Path],
) -> None:
    env, folder = searched
    out = folder / "full" / "model"
    out.parent.mkdir()
    first = _export(env, out, "--trial", str(_saved(folder)[-1]))
    assert first.returncode == 0, first.stderr
    before = _files(out)
    run = subprocess.run(
        [*CLI, "export", "--study", "t", "--out", str(out), "--single", "--threads", "1"],
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=_small_files_only,
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.strip().splitlines() == [
        f"automl-fashion: error: --out {str(out)!r}: could not export the model (File too "
        "large); it is unchanged"
    ]
    assert _files(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["model"]


def test_on_a_tie_the_earliest_trials_keep_their_models_as_export_picks_the_earliest(
    tmp_path: Path,
) -> None:
    """A data set every trial gets right (a tiny folder of pictures): the search and export
    take the earliest of the tied best trials, so its model must be one of those kept."""
    import optuna

    from automl_fashion.artifacts import KEEP_PER_FAMILY, drop_outside_top, save_if_top

    study = optuna.create_study(direction="maximize")
    for _ in range(KEEP_PER_FAMILY + 2):
        trial = study.ask()
        trial.suggest_categorical("family", ["linear"])
        (tmp_path / f"trial-{trial.number}").mkdir()
        study.tell(trial, 1.0)
    drop_outside_top(study, "linear", str(tmp_path))
    kept = sorted(int(p.name.removeprefix("trial-")) for p in tmp_path.iterdir())
    assert kept == list(range(KEEP_PER_FAMILY))

    class _Linear:
        name = "linear"

    late = study.ask()  # ties the kept ones: nothing is written for it
    saved = save_if_top(study, late, _Linear(), 1.0, None, None, str(tmp_path))  # type: ignore[arg-type]
    assert saved is None and not (tmp_path / f"trial-{late.number}").exists()
    assert "artifact_error" not in late.user_attrs  # not even tried
