"""Where an export writes: check ``--out`` first, build the folder beside it, then swap it in.

An export never leaves half a model and never touches a file it did not write:

- the whole folder is written to ``<out>.tmp-<pid>`` next to ``<out>`` (one file system, so
  the rename is atomic), and only then put in place;
- a new or empty ``<out>`` is replaced by one rename; an earlier export is swapped with the
  new one in one step (``renameat2(RENAME_EXCHANGE)`` where the kernel has it, else two
  renames), and then exactly the files the old export listed in its card are deleted;
- any other non-empty folder, or an earlier export to which someone added files, is refused
  unless ``force``: then the new files are moved in one by one (``os.replace``), the files
  of an earlier export there that the new one does not write are deleted, and every other
  file is kept. Files of the user that have the same names as the model's are replaced:
  that is what ``--force`` allows.

An export recognises its own folders by ``model_card.json``: ``"format":
"automl-fashion-model"`` and ``"written"``, the names of the files it wrote (exports made
before this had no such fields and are recognised by their fixed file names).
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from automl_fashion.errors import AutoMLFashionError, ConfigError

FORMAT = "automl-fashion-model"
CARD = "model_card.json"
#: What an export may write; anything else in a folder is someone else's.
_FIXED = {
    "model.onnx",
    "model.safetensors",
    "model.ubj",
    CARD,
    "MODEL_CARD.md",
    "confusion.png",
    "reliability.png",
}
_MEMBER = re.compile(r"member-\d+-[A-Za-z0-9_]+\.(safetensors|ubj)")
_STAGING = re.compile(r"(?P<name>.+)\.(tmp|old)-(?P<pid>\d+)")
_INNER_STAGING = ".automl-fashion.tmp-"
_MAX_CARD_BYTES = 16 << 20


class ExportError(AutoMLFashionError):
    """The model folder could not be written; whatever was at ``--out`` is unchanged."""


def is_export_file(name: str) -> bool:
    """Whether ``name`` is a file name an export writes (a plain name, never a path)."""
    return name in _FIXED or _MEMBER.fullmatch(name) is not None


def earlier_export(directory: Path) -> list[str] | None:
    """The files an earlier export wrote into ``directory``, or None if it is not one."""
    try:
        with open(directory / CARD, "rb") as f:
            card = json.loads(f.read(_MAX_CARD_BYTES + 1)[:_MAX_CARD_BYTES])
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(card, dict):
        return None
    if card.get("format") == FORMAT:
        written = card.get("written")
    else:  # written before cards said so: the fixed names, and the weights its card lists
        files = card.get("files")
        if not isinstance(files, dict) or files.get("onnx") != "model.onnx":
            return None
        native = files.get("native")
        natives = native if isinstance(native, list) else [native]
        written = [*natives, "model.onnx", CARD, "MODEL_CARD.md", "confusion.png"]
    if not isinstance(written, list) or not all(
        isinstance(n, str) and is_export_file(n) for n in written
    ):
        return None
    return list(dict.fromkeys(written))


def check_out_dir(
    path: str | os.PathLike[str], *, force: bool = False, flag: str = "--out"
) -> Path:
    """Check that an export may write to ``path`` (``--out``), before any work is done.

    Accepted: a new folder inside an existing one, an empty folder, or an earlier export
    holding only its own files; with ``force`` also any other folder (its files are kept).
    Returns the absolute path (symbolic links resolved); raises ConfigError otherwise."""
    target = Path(path).expanduser().resolve()
    expected = "expected a new folder, an empty one, or an earlier export"
    if target.parent == target:
        raise ConfigError(f"{flag}: {str(path)!r} is the root of the file system; {expected}")
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{flag}: {str(path)!r} is a file, not a folder; {expected}")
    if not target.parent.is_dir():
        raise ConfigError(
            f"{flag}: {str(path)!r}: its parent folder {str(target.parent)!r} does not exist; "
            "create it first"
        )
    entries, written, in_place = _plan(target)
    if in_place and not force:
        if written is None:
            raise ConfigError(
                f"{flag}: {str(path)!r} is not empty and is not an earlier export (it holds "
                f"{_some(entries)}); name a new or empty folder, or give --force to add the "
                "model's files to it (nothing else in it is touched)"
            )
        raise ConfigError(
            f"{flag}: {str(path)!r} is an earlier export that also holds files it did not "
            f"write ({_some([e for e in entries if e not in written])}); move them out, or "
            "give --force to export into it and keep them"
        )
    where = target if in_place else target.parent
    if not os.access(where, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag}: {str(path)!r}: cannot write into {str(where)!r}")
    return target


@contextlib.contextmanager
def staged_folder(out: str | os.PathLike[str], *, force: bool = False) -> Iterator[Path]:
    """A fresh folder to write a model into; on success it becomes ``out`` (see module doc).

    On any error, or a kill, ``out`` is as it was: the partial folder is removed (or, after
    a kill, by the next export to the same place)."""
    target = check_out_dir(out, force=force)
    if _restore_swapped_out(target):
        target = check_out_dir(out, force=force)
    _, written, in_place = _plan(target)
    _remove_stale(target)
    if in_place:
        tmp = target / f"{_INNER_STAGING}{os.getpid()}"
    else:
        tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    installed = moving = False
    try:
        tmp.mkdir()
        yield tmp
        new = _new_files(tmp)
        _sync(tmp, new)  # on the disk before anything of the earlier export is replaced
        if in_place:
            moving = True
            _move_in(tmp, target, new, written or [])
        else:
            installed = _swap_in(tmp, target, written)
    except OSError as exc:
        what = exc.strerror or str(exc)
        what += f": {Path(exc.filename).name}" if exc.filename else ""
        left = "some of the model's files there were replaced" if moving else "it is unchanged"
        raise ExportError(
            f"--out {str(out)!r}: could not export the model ({what}); {left}"
        ) from None
    finally:
        if not installed:  # else ``tmp`` is gone, or holds what is left of the earlier export
            shutil.rmtree(tmp, ignore_errors=True)


def _plan(target: Path) -> tuple[list[str], list[str] | None, bool]:
    """What is at ``target``: its entries, the files of an earlier export there (None if it
    is not one), and whether the new files must be moved in one by one (other files there)."""
    entries = sorted(_entries(target)) if target.is_dir() else []
    written = earlier_export(target) if entries else None
    foreign = bool(entries) and (written is None or not set(entries) <= set(written))
    return entries, written, foreign


def _entries(directory: Path) -> set[str]:
    return {e.name for e in os.scandir(directory) if not e.name.startswith(_INNER_STAGING)}


def _some(names: list[str]) -> str:
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _new_files(tmp: Path) -> list[str]:
    names = sorted(p.name for p in tmp.iterdir())
    bad = [n for n in names if not is_export_file(n)]
    if bad:
        raise AssertionError(f"an export wrote files it does not declare: {bad}")
    return sorted(names, key=lambda n: n == CARD)  # the card last: it marks a complete folder


def _sync(folder: Path, names: list[str]) -> None:
    """fsync the files and the folder: after a power cut, a renamed folder whose data was
    still in memory could hold empty files, and the earlier export would be gone."""
    for path in [*(folder / n for n in names), folder]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _swap_in(tmp: Path, target: Path, old_files: list[str] | None) -> bool:
    """Put the folder ``tmp`` at ``target`` (new, empty, or an earlier export's folder)."""
    if old_files is None:
        os.rename(tmp, target)  # atomic; replaces an empty folder
        return True
    if _exchange(tmp, target):
        old = tmp  # the earlier export now lies where the new one was built
    else:
        old = target.with_name(f"{target.name}.old-{os.getpid()}")
        os.rename(target, old)
        try:
            os.rename(tmp, target)
        except OSError:
            os.rename(old, target)
            raise
    for name in old_files:
        with contextlib.suppress(OSError):
            (old / name).unlink()
    with contextlib.suppress(OSError):
        old.rmdir()  # kept if someone put a file of their own in it meanwhile
    return True


def _move_in(tmp: Path, target: Path, new: list[str], old_files: list[str]) -> None:
    """``--force`` into a folder with other files: replace the model's files one by one."""
    if CARD in old_files:  # until the new card is in, the folder is no complete export
        (target / CARD).unlink(missing_ok=True)
    pending = list(new)
    try:
        while pending:
            os.replace(tmp / pending[0], target / pending[0])
            pending.pop(0)
    except KeyboardInterrupt:  # a few renames are left: finish them, or no export is left
        for name in pending:
            if (tmp / name).exists():
                os.replace(tmp / name, target / name)
        raise
    for name in set(old_files) - set(new):
        (target / name).unlink(missing_ok=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _remove_stale(target: Path) -> None:
    """Folders that a killed export left beside ``target`` (or inside it, with --force):
    removed when their process is gone and they hold nothing but an export's files."""
    candidates = list(target.parent.glob(f"{glob.escape(target.name)}.*-*"))
    if target.is_dir():
        candidates += list(target.glob(f"{_INNER_STAGING}*"))
    for folder in candidates:
        match = _STAGING.fullmatch(folder.name)
        inner = folder.name.startswith(_INNER_STAGING)
        if not inner and (match is None or match["name"] != target.name):
            continue
        tail = folder.name.rsplit("-", 1)[1]
        if not tail.isdigit() or _alive(int(tail)) or folder.is_symlink() or not folder.is_dir():
            continue
        files = list(os.scandir(folder))
        if all(f.is_file(follow_symlinks=False) and is_export_file(f.name) for f in files):
            for f in files:
                os.unlink(f.path)
            with contextlib.suppress(OSError):
                folder.rmdir()


def _restore_swapped_out(target: Path) -> bool:
    """Where two renames stand in for an atomic swap, a kill between them leaves the earlier
    export at ``<out>.old-<pid>`` and nothing at ``out``: put it back."""
    if target.exists():
        return False
    for folder in target.parent.glob(f"{glob.escape(target.name)}.old-*"):
        tail = folder.name.rsplit("-", 1)[1]
        if tail.isdigit() and not _alive(int(tail)) and earlier_export(folder) is not None:
            os.rename(folder, target)
            return True
    return False


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
