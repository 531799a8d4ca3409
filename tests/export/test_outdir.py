"""Where an export writes (issue 12, item 2): never half a model, never someone else's files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from automl_fashion import families
from automl_fashion.data import Split
from automl_fashion.errors import ConfigError
from automl_fashion.export import check_out_dir, export_model
from automl_fashion.export.outdir import CARD, FORMAT, earlier_export, staged_folder


@pytest.fixture(scope="module")
def linear(tiny_split: Split) -> families.Family:
    params = families.get("linear")  # the cheapest family, one epoch on raw pixels
    from automl_fashion.search_space import load_space

    space = load_space("linear")
    chosen = {**space.init, "features": "pixels", "epochs": 1}
    chosen.pop("hog_cell", None)
    return params(space.validate(chosen), seed=0, threads=1, device="cpu").fit(tiny_split)


def _user_folder(path: Path) -> dict[str, bytes]:
    path.mkdir()
    files = {"member-list.txt": b"mine", "model.onnx": b"my own onnx", "MODEL_CARD.md": b"notes"}
    for name, data in files.items():
        (path / name).write_bytes(data)
    return files


def _fake_export(tmp: Path, *names: str) -> None:
    """What an export writes, in miniature: its files, then a card that lists them."""
    for name in names:
        (tmp / name).write_text(name)
    written = sorted({*names, CARD})
    (tmp / CARD).write_text(json.dumps({"format": FORMAT, "written": written}))


def test_a_folder_of_the_users_files_is_refused_and_left_alone(
    linear: families.Family, tmp_path: Path
) -> None:
    out = tmp_path / "mine"
    files = _user_folder(out)
    with pytest.raises(ConfigError, match=r"--out: .* is not empty and is not an earlier export"):
        export_model(linear, out, study="s", trial=0)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no temporary folder left


def test_force_adds_the_model_and_keeps_every_other_file(
    linear: families.Family, tmp_path: Path
) -> None:
    out = tmp_path / "mine"
    _user_folder(out)
    (out / "member-x.cfg").write_text("mine too")
    export_model(linear, out, study="s", trial=0, force=True)
    assert (out / "member-list.txt").read_text() == "mine"
    assert (out / "member-x.cfg").read_text() == "mine too"
    card = json.loads((out / CARD).read_text())
    assert card["format"] == FORMAT and set(card["written"]) <= {p.name for p in out.iterdir()}
    assert "member-list.txt" not in card["written"]  # a later export will not delete it
    # the model's own names were replaced: that is what --force allows
    assert (out / "model.onnx").read_bytes() != b"my own onnx"


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("/", "is the root of the file system"),
        ("file", "is a file, not a folder"),
        ("missing/model", "its parent folder .* does not exist"),
    ],
)
def test_bad_out_paths_are_one_line_errors(tmp_path: Path, where: str, message: str) -> None:
    (tmp_path / "file").write_text("keep")
    path = where if where == "/" else str(tmp_path / where)
    with pytest.raises(ConfigError, match=f"--out: .*{message}"):
        check_out_dir(path, force=True)
    assert (tmp_path / "file").read_text() == "keep"
    assert not (tmp_path / "missing").exists()


def test_out_dot_in_a_folder_of_the_users_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "member-x.cfg").write_text("mine")
    run = subprocess.run(
        [sys.executable, "-m", "automl_fashion", "export", "--out", ".", "--studies-dir", "s"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "--out: '.' is not empty and is not an earlier export" in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["member-x.cfg"]


def test_an_earlier_export_is_replaced_whole(tmp_path: Path) -> None:
    out = tmp_path / "model"
    with staged_folder(out) as tmp:
        _fake_export(tmp, "model.onnx", "member-1-mlp.safetensors", "member-2-cnn.safetensors")
    with staged_folder(out) as tmp:  # an earlier export: no --force needed
        _fake_export(tmp, "model.onnx", "model.safetensors")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [CARD, "model.onnx", "model.safetensors"]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_an_earlier_export_with_a_users_file_needs_force_and_keeps_it(tmp_path: Path) -> None:
    out = tmp_path / "model"
    with staged_folder(out) as tmp:
        _fake_export(tmp, "model.onnx", "member-1-mlp.safetensors")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"also holds files it did not write \(notes.txt\)"):
        check_out_dir(out)
    with staged_folder(out, force=True) as tmp:
        _fake_export(tmp, "model.onnx", "model.ubj")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [CARD, "model.onnx", "model.ubj", "notes.txt"]
    )
    assert earlier_export(out) == sorted([CARD, "model.onnx", "model.ubj"])


def test_a_failure_midway_leaves_the_earlier_export_as_it_was(tmp_path: Path) -> None:
    out = tmp_path / "model"
    with staged_folder(out) as tmp:
        _fake_export(tmp, "model.onnx", "model.safetensors")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(RuntimeError), staged_folder(out) as tmp:
        (tmp / "model.onnx").write_text("half")
        raise RuntimeError("disk full, say")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_killed_exports_leftovers_are_removed_only_when_they_are_its_own(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)
    ours, theirs = tmp_path / f"model.tmp-{pid}", tmp_path / f"model.old-{pid}"
    for folder in (ours, theirs):
        folder.mkdir()
        (folder / "model.onnx").write_text("partial")
    (theirs / "diary.txt").write_text("not an export's file")
    with staged_folder(tmp_path / "model") as tmp:
        _fake_export(tmp, "model.onnx", "model.safetensors")
    assert not ours.exists()
    assert (theirs / "diary.txt").is_file() and (theirs / "model.onnx").is_file()


def test_an_export_from_before_cards_listed_their_files_is_recognised(tmp_path: Path) -> None:
    out = tmp_path / "model"
    out.mkdir()
    for name in ("model.onnx", "member-3-svm.safetensors", "MODEL_CARD.md", "confusion.png"):
        (out / name).write_text(name)
    legacy = {
        "family": "ensemble",
        "files": {"onnx": "model.onnx", "native": ["member-3-svm.safetensors"]},
    }
    (out / CARD).write_text(json.dumps(legacy))
    assert check_out_dir(out) == out.resolve()
    crafted = {"files": {"onnx": "model.onnx", "native": "../../etc/passwd"}}
    (out / CARD).write_text(json.dumps(crafted))
    assert earlier_export(out) is None
    with pytest.raises(ConfigError, match="not an earlier export"):
        check_out_dir(out)


def test_a_symlinked_out_is_followed_not_replaced(tmp_path: Path) -> None:
    real = tmp_path / "real"
    with staged_folder(real) as tmp:
        _fake_export(tmp, "model.onnx")
    os.symlink(real, tmp_path / "link")
    with staged_folder(tmp_path / "link") as tmp:
        _fake_export(tmp, "model.onnx", "model.ubj")
    assert (tmp_path / "link").is_symlink()
    assert sorted(p.name for p in real.iterdir()) == sorted([CARD, "model.onnx", "model.ubj"])


def test_without_an_atomic_exchange_two_renames_do_the_swap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from automl_fashion.export import outdir

    monkeypatch.setattr(outdir, "_exchange", lambda a, b: False)
    out = tmp_path / "model"
    for native in ("model.ubj", "model.safetensors"):
        with staged_folder(out) as tmp:
            _fake_export(tmp, "model.onnx", native)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert sorted(p.name for p in out.iterdir()) == sorted([CARD, "model.onnx", native])


def test_an_earlier_export_left_aside_by_a_killed_swap_is_put_back(tmp_path: Path) -> None:
    """Without an atomic exchange a kill between the two renames leaves nothing at --out."""
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    aside = tmp_path / f"model.old-{int(dead.stdout)}"
    with staged_folder(aside) as tmp:
        _fake_export(tmp, "model.onnx", "member-1-mlp.safetensors")
    with pytest.raises(RuntimeError), staged_folder(tmp_path / "model") as tmp:
        raise RuntimeError("this export fails too")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert "member-1-mlp.safetensors" in earlier_export(tmp_path / "model")


def test_the_new_files_are_on_the_disk_before_the_earlier_export_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a power cut, a swapped-in folder whose data was still in memory could hold
    empty files, with the earlier export already deleted."""
    from automl_fashion.export import outdir

    out = tmp_path / "model"
    with staged_folder(out) as tmp:
        _fake_export(tmp, "model.onnx", "model.ubj")
    synced: list[str] = []
    real_fsync, real_exchange = os.fsync, outdir._exchange

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    def exchange(a: Path, b: Path) -> bool:
        staged = [str(p) for p in a.iterdir()]
        assert set(staged) | {str(a)} <= set(synced), (staged, synced)
        return real_exchange(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(outdir, "_exchange", exchange)
    with staged_folder(out) as tmp:
        _fake_export(tmp, "model.onnx", "model.safetensors")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [CARD, "model.onnx", "model.safetensors"]
    )


def test_ctrl_c_while_force_moves_files_in_still_leaves_a_whole_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--force into a folder with the user's files moves the model's files in one by one;
    a Ctrl-C among those renames finishes them, so the folder holds the new export whole
    (before, the rest were deleted with the staging folder, and no export was left)."""
    out = tmp_path / "model"
    with staged_folder(out) as tmp:
        _fake_export(tmp, "model.onnx", "model.ubj")
    (out / "notes.txt").write_text("mine")
    real_replace, calls = os.replace, []

    def replace(a: object, b: object) -> None:
        calls.append(a)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real_replace(a, b)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(KeyboardInterrupt), staged_folder(out, force=True) as tmp:
        _fake_export(tmp, "model.onnx", "model.safetensors")
    monkeypatch.undo()
    assert earlier_export(out) == sorted([CARD, "model.onnx", "model.safetensors"])
    assert all((out / name).read_text() == name for name in ("model.onnx", "model.safetensors"))
    assert (out / "notes.txt").read_text() == "mine"
