"""SearchConfig.validated: every bad flag is one ConfigError naming the flag, the value
and the rule, raised before anything is written."""

from __future__ import annotations

import subprocess
import sys

import pytest

from automl_fashion.errors import ConfigError
from automl_fashion.search import config as config_module
from automl_fashion.search.config import SearchConfig, check_device, max_jobs


def checked(**changes: object) -> SearchConfig:
    settings: dict[str, object] = {"budget": 60, "families": ["linear"], **changes}
    return SearchConfig(**settings).validated()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"seed": -1}, "--seed: -1; expected an integer from 0 to 4294967295"),
        ({"seed": 2**32}, "--seed: 4294967296; expected an integer from 0 to 4294967295"),
        ({"study": "x" * 300}, "--study: 'xxxx"),
        ({"study": ".hidden"}, "not starting with '.'"),
        ({"study": "a/b"}, "is not a valid study name"),
        ({"study": ""}, "is not a valid study name"),
        ({"train_per_class": -5}, "--train-per-class: -5; expected an integer from 1 to 1000000"),
        ({"train_per_class": 0}, "--train-per-class: 0; expected an integer from 1 to 1000000"),
        ({"train_per_class": 99999999}, "expected an integer from 1 to 1000000"),
        ({"jobs": 0}, "--jobs must be at least 1; got 0"),
        ({"jobs": 10_000}, "--jobs must be at most"),
        ({"threads": 10_000}, "--threads must be at most"),
        ({"device": "tpu"}, "--device: 'tpu' is not a device; expected auto, cpu, cuda"),
        ({"families": []}, "--families: give at least one family"),
        ({"families": ["linear", "transformer"]}, "unknown family 'transformer'"),
        ({"sampler": "grid"}, "--sampler: 'grid'"),
    ],
)
def test_bad_settings_are_one_line_errors(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        checked(**changes)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_good_settings_pass_and_family_lists_lose_repeats() -> None:
    config = checked(families=["linear", "svm", "linear", "linear"], study="ok.name_1-2")
    assert config.families == ["linear", "svm"]
    assert checked(seed=2**32 - 1, train_per_class=5000, device="cuda:1").seed == 2**32 - 1


def test_jobs_are_capped_by_cores_and_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_module, "available_cores", lambda: 2)
    monkeypatch.setattr(config_module, "total_memory", lambda: 64 << 30)
    assert max_jobs() == 4
    monkeypatch.setattr(config_module, "total_memory", lambda: 3 << 30)
    assert max_jobs() == 3
    monkeypatch.setattr(config_module, "total_memory", lambda: 1 << 20)
    assert max_jobs() == 1
    with pytest.raises(ConfigError, match=r"--jobs must be at most 1 on this machine .*got 32"):
        checked(jobs=32)
    monkeypatch.setattr(config_module, "total_memory", lambda: 64 << 30)
    with pytest.raises(ConfigError, match="oversubscribe"):
        checked(jobs=4, threads=2)
    assert SearchConfig(budget=1).workers() == (2, 1)


def test_a_gpu_device_is_checked_only_for_torch_families() -> None:
    # nothing here runs on the device, and torch is not imported to find that out
    code = (
        "import sys; from automl_fashion.search.config import check_device; "
        "check_device('cuda', ['linear', 'svm']); assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="--device cuda: this machine has 0 CUDA device"):
            check_device("cuda", ["mlp"])
    with pytest.raises(ConfigError, match=r"--device cuda:99: this machine has \d+ CUDA"):
        check_device("cuda:99", ["cnn"])


def test_an_export_folder_is_checked_before_the_search(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`search --export X` used to fail only after the whole budget."""
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    with pytest.raises(ConfigError, match=r"--export: .*notes.txt' is a file, not a folder"):
        checked(export_dir=str(a_file))
    theirs = tmp_path / "photos"
    theirs.mkdir()
    (theirs / "cat.jpg").write_text("mine")
    with pytest.raises(
        ConfigError, match=r"--export: .* is not empty and is not an earlier export"
    ):
        checked(export_dir=str(theirs))
    with pytest.raises(ConfigError, match=r"--export: .* its parent folder .* does not exist"):
        checked(export_dir=str(tmp_path / "no" / "such" / "model"))
    # the default, studies/<study>.model, waits for the studies folder to be made
    monkeypatch.setenv("AUTOML_FASHION_STUDIES", str(tmp_path / "studies"))
    config = checked(export_dir=str(tmp_path / "studies" / "fashion.model"))
    assert config.export_dir is not None
    assert (theirs / "cat.jpg").read_text() == "mine"


def test_search_with_a_bad_export_folder_fails_at_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    a_file = tmp_path / "model"
    a_file.write_text("mine")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "automl_fashion",
            "search",
            "--budget",
            "10m",
            "--families",
            "linear",
            "--studies-dir",
            str(tmp_path / "studies"),
            "--export",
            str(a_file),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and "--export:" in out.stderr
    assert not (tmp_path / "studies").exists()
