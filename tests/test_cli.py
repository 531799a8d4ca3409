"""Every command has help text and is documented in the README; bad input is one clean line."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from automl_fashion.cli import build_parser

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def commands() -> list[list[str]]:
    found: list[list[str]] = []

    def walk(parser: argparse.ArgumentParser, prefix: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found.append([*prefix, name])
                    walk(sub, [*prefix, name])

    walk(build_parser(), [])
    return found


@pytest.mark.parametrize("command", commands(), ids=" ".join)
def test_every_command_has_help_and_is_in_the_readme(command: list[str]) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "automl_fashion", *command, "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "usage:" in out.stdout
    assert f"automl-fashion {' '.join(command)}" in README


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "--budget", "2x"], "--budget: '2x' is not a duration"),
        (["search", "--budget", "1m", "--families", "cnn,vit"], "unknown family 'vit'"),
        (["search", "--budget", "1m", "--jobs", "0"], "--jobs must be at least 1; got 0"),
        (["search", "--budget", "1m", "--storage", "nonsense"], "is not a storage URL"),
        (["data", "verify", "--data-dir", "/nonexistent"], "--data-dir=/nonexistent lacks"),
        (
            ["search", "--budget", "1m", "--dataset", "cifar"],
            "--dataset: 'cifar' is not a built-in",
        ),
        (["search", "--budget", "1m", "--image-size", "32"], "--image-size 32: only for a folder"),
        (["data", "verify", "--data", "/nonexistent"], "/nonexistent"),
        (
            ["search", "--budget", "1m", "--data", "/x", "--image-size", "4"],
            "--image-size: 4; expected an integer 8 to 256",
        ),
    ],
)
def test_bad_input_is_one_clear_line(args: list[str], message: str, tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "automl_fashion", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_storage_password_is_never_printed(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "automl_fashion",
            "leaderboard",
            "--storage",
            "postgresql://me:s3cret@127.0.0.1:9/none",
            "--study",
            "x",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 2
    assert "s3cret" not in out.stdout + out.stderr and "me:***@" in out.stderr


def test_data_verify_speaks_a_folder_data_set_s_class_names(tmp_path: Path) -> None:
    from PIL import Image

    for name in ("boots", "hats"):
        (tmp_path / "train" / name).mkdir(parents=True)
        for i in range(10):
            Image.new("RGB", (12 + i, 9), (20 * i, 0, 0)).save(
                tmp_path / "train" / name / f"{i}.png"
            )
    out = subprocess.run(
        [sys.executable, "-m", "automl_fashion", "data", "verify", "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "AUTOML_FASHION_CACHE": str(tmp_path / "cache")},
    )
    assert out.returncode == 0, out.stderr
    assert "0 boots" in out.stdout and "1 hats" in out.stdout
    assert "held out 20%, seed 0" in out.stdout
