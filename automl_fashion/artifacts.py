"""Keep the trained models of the best trials of each family, so export needs no retraining.

When a trial completes among the ``KEEP_PER_FAMILY`` best of its family so far, its worker
writes ``<artifacts>/trial-<n>/`` (model.onnx, the code-free native weights, the validation
probabilities, meta.json) before telling the study, and removes the folders of its family
that fell out of that top. ``export`` then reuses the folders instead of fitting again, and
``ensemble`` combines them: that is what lets ``search`` export its best model inside its
budget. Written to a temporary folder and renamed, so a kill never leaves half an artifact.

Everything read back is untrusted: file names are fixed here, never taken from meta.json;
meta.json's fields are type-checked, and every file's SHA-256 (recorded at save time) is
checked before a model is reused, so a corrupt or crafted artifact is refused with a reason
and the trial is trained again instead.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from automl_fashion.data import Split
from automl_fashion.errors import AutoMLFashionError
from automl_fashion.families import Family


def artifact_dir(root: str | os.PathLike[str], trial_number: int) -> Path:
    return Path(root) / f"trial-{trial_number}"


#: Models kept per family: the ensemble draws on them (several CNNs of different shapes
#: average better than one), and the disk holds at most this many per family. At least as
#: many as the budget plan queues networks (six at 2 hours here): with five, the 2-hour
#: search lost one of its planned networks (94.77% validation) before the ensemble was built.
KEEP_PER_FAMILY = 8
VAL_FILE = "val.npz"  # validation probabilities and the labels they were scored on
ONNX_FILE = "model.onnx"
META_FILE = "meta.json"
#: The names a family's code-free weights may have (``onnx_export.save_native``).
NATIVE_FILES = ("model.safetensors", "model.ubj")
_MAX_META_BYTES = 1 << 20


class ArtifactError(AutoMLFashionError):
    """A saved model's files are not what the search wrote (corrupt, changed or crafted)."""


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _family_values(study: optuna.Study, family: str) -> list[tuple[float, int]]:
    """The family's complete trials, best first; on a tie the earlier trial first, as the
    search and export choose the best trial (so that the best one is always kept)."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return sorted(
        (
            (t.value, t.number)
            for t in done
            if t.value is not None and t.params.get("family") == family
        ),
        key=lambda vn: (-vn[0], vn[1]),
    )


def save_if_top(
    study: optuna.Study,
    trial: optuna.Trial,
    model: Family,
    value: float,
    proba_val: np.ndarray,
    data: Split,
    root: str | None,
) -> Path | None:
    """Write the trial's model if fewer than ``KEEP_PER_FAMILY`` complete trials of its
    family beat or tie ``value`` (they came first); ``proba_val`` are its validation
    probabilities."""
    if root is None:
        return None
    ranked = _family_values(study, model.name)
    if len(ranked) >= KEEP_PER_FAMILY and value <= ranked[KEEP_PER_FAMILY - 1][0]:
        return None
    from automl_fashion.onnx_export import onnx_predict_proba, onnx_session, save_native, to_onnx

    final = artifact_dir(root, trial.number)
    tmp = final.with_name(final.name + f".tmp{os.getpid()}")
    try:
        import onnx

        tmp.mkdir(parents=True, exist_ok=True)
        onnx.save(to_onnx(model), str(tmp / "model.onnx"))
        native = save_native(model, tmp)
        if native.name not in NATIVE_FILES or native.parent != tmp:
            raise ArtifactError(f"native weights saved as {native}; expected one of {NATIVE_FILES}")
        onnx_pred = onnx_predict_proba(
            onnx_session(tmp / "model.onnx", model.threads), data.X_val.astype(np.float32)
        ).argmax(1)
        meta: dict[str, Any] = {
            "family": model.name,
            "params": model.params,
            "seed": model.seed,
            "trial": trial.number,
            "val_accuracy": value,
            "fit_seconds": round(model.fit_seconds_, 1),
            "n_train": len(data.y_train),
            "native": native.name,
            # the trial's own probabilities: predicting the images again took a long
            # network's last trial ~8 s past the time it kept for the end
            "onnx_native_agreement_val": float(np.mean(onnx_pred == proba_val.argmax(1))),
        }
        np.savez(
            tmp / VAL_FILE,
            proba=np.asarray(proba_val, dtype=np.float32),
            labels=np.asarray(
                data.y_val, dtype=np.uint8 if data.info.n_classes <= 256 else np.int64
            ),
        )
        meta["sha256"] = {
            name: sha256_file(tmp / name) for name in (ONNX_FILE, native.name, VAL_FILE)
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    except Exception as exc:  # an export problem must not fail a good trial
        shutil.rmtree(tmp, ignore_errors=True)
        trial.set_user_attr("artifact_error", f"{type(exc).__name__}: {exc}"[:300])
        return None
    trial.set_user_attr("artifact", str(final))
    return final


def drop_outside_top(study: optuna.Study, family: str, root: str | None) -> None:
    """Remove the saved models of complete trials no longer among their family's best.

    Called after ``tell``: a worker killed between saving and telling leaves the older
    models in place, and trials not yet told are never touched."""
    if root is None:
        return
    for _, number in _family_values(study, family)[KEEP_PER_FAMILY:]:
        shutil.rmtree(artifact_dir(root, number), ignore_errors=True)


def check_artifact(
    root: str | os.PathLike[str] | None, trial_number: int
) -> tuple[dict[str, Any] | None, str | None]:
    """A trial's saved model, checked: ``(meta, None)`` when it can be reused, ``(None,
    reason)`` when it is corrupt or crafted, ``(None, None)`` when none was saved here.

    ``meta`` is rebuilt from checked fields only; its ``folder`` and ``native`` are set by
    this code, so no path in it comes from the file."""
    if root is None:
        return None, None
    folder = artifact_dir(root, trial_number)
    if not (folder / META_FILE).is_file():
        return None, None
    try:
        with open(folder / META_FILE, "rb") as f:
            raw = json.loads(f.read(_MAX_META_BYTES + 1)[:_MAX_META_BYTES])
        meta = _checked_meta(raw, trial_number)
    except (OSError, ValueError, RecursionError) as exc:
        return None, f"{META_FILE} is not valid ({str(exc)[:200]})"
    for name, expected in meta["sha256"].items():
        try:
            actual = sha256_file(folder / name)
        except OSError:
            return None, f"{name} is missing or unreadable"
        if actual != expected:
            return None, f"sha256 mismatch on {name}"
    meta["folder"] = str(folder)
    return meta, None


def load_meta(root: str | os.PathLike[str] | None, trial_number: int) -> dict[str, Any] | None:
    """The saved artifact of a trial, if this machine has it and it is intact."""
    return check_artifact(root, trial_number)[0]


def _checked_meta(raw: Any, trial_number: int) -> dict[str, Any]:
    """The fields of meta.json that export and the ensemble use, type- and range-checked
    (ValueError names the first bad one)."""

    def bad(key: str, expected: str) -> ValueError:
        shown = repr(raw.get(key))[:80] if isinstance(raw, dict) else ""
        return ValueError(f"field {key!r} is {shown}, expected {expected}")

    def number(key: str, low: float, high: float) -> float:
        value = raw.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad(key, f"a number in [{low}, {high}]")
        if not (math.isfinite(value) and low <= value <= high):
            raise bad(key, f"a number in [{low}, {high}]")
        return float(value)

    def integer(key: str, low: int) -> int:
        value = raw.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise bad(key, f"an integer >= {low}")
        return value

    if not isinstance(raw, dict):
        raise ValueError(f"expected a JSON object, got {type(raw).__name__}")
    if raw.get("trial") != trial_number or isinstance(raw.get("trial"), bool):
        raise bad("trial", f"{trial_number} (the folder's trial)")
    family, params = raw.get("family"), raw.get("params")
    if not isinstance(family, str) or not re.fullmatch(r"[A-Za-z0-9_]{1,64}", family):
        raise bad("family", "a family name")
    if not isinstance(params, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, str | int | float | bool))
        for k, v in params.items()
    ):
        raise bad("params", "an object of parameter names to plain values")
    native = raw.get("native")
    if native not in NATIVE_FILES:
        raise bad("native", f"one of {list(NATIVE_FILES)}")
    digests = raw.get("sha256")
    names = {ONNX_FILE, native, VAL_FILE}
    if not isinstance(digests, dict) or set(digests) != names:
        raise bad("sha256", f"the digests of {sorted(names)} (saved by an older version?)")
    for value in digests.values():
        if not (
            isinstance(value, str) and len(value) == 64 and set(value) <= set("0123456789abcdef")
        ):
            raise bad("sha256", "hexadecimal SHA-256 digests")
    return {
        "family": family,
        "params": dict(params),
        "seed": integer("seed", 0),
        "trial": trial_number,
        "val_accuracy": number("val_accuracy", 0.0, 1.0),
        "fit_seconds": number("fit_seconds", 0.0, 1e9),
        "n_train": integer("n_train", 1),
        "native": str(native),
        "onnx_native_agreement_val": number("onnx_native_agreement_val", 0.0, 1.0),
        "sha256": {str(k): str(v) for k, v in digests.items()},
    }


def read_verified(path: str | os.PathLike[str], sha256: str) -> bytes:
    """A saved file's bytes, if they still have the digest recorded for them."""
    data = Path(path).read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ArtifactError(f"{path}: changed since the search saved it (sha256 mismatch)")
    return data


def copy_verified(src: str | os.PathLike[str], dst: str | os.PathLike[str], sha256: str) -> None:
    """Copy a saved file, checking the digest of the bytes actually copied."""
    digest = hashlib.sha256()
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while chunk := fin.read(1 << 20):
            digest.update(chunk)
            fout.write(chunk)
    if digest.hexdigest() != sha256:
        Path(dst).unlink(missing_ok=True)
        raise ArtifactError(f"{src}: changed since the search saved it (sha256 mismatch)")


def saved_trials(root: str | os.PathLike[str] | None) -> list[int]:
    """Numbers of the trials whose artifacts are on this machine."""
    if root is None or not Path(root).is_dir():
        return []
    numbers = []
    for path in Path(root).glob("trial-*"):
        suffix = path.name.removeprefix("trial-")
        if suffix.isdigit() and (path / META_FILE).is_file():
            numbers.append(int(suffix))
    return sorted(numbers)


#: The most numbers an artifact's validation probabilities may hold (a million images of a
#: hundred classes, or 200,000 of a thousand): a header that declares more is refused unread.
MAX_VAL_VALUES = 2 * 10**8


def load_val(meta: dict[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """The validation probabilities saved with an artifact, and the labels of those images
    (None when missing or unreadable). The archive is untrusted: each array's header is
    checked against the member's size before anything is allocated, so a crafted file can
    neither declare terabytes nor decompress without end."""
    try:
        with zipfile.ZipFile(Path(meta["folder"]) / VAL_FILE) as archive:
            proba = _read_npy(archive, "proba.npy", "f")
            labels = _read_npy(archive, "labels.npy", "iu")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error):
        return None
    # N x number of classes; the labels index the columns
    if labels.ndim != 1 or proba.ndim != 2 or len(proba) != len(labels) or proba.shape[1] < 2:
        return None
    if not labels.size or int(labels.min()) < 0 or int(labels.max()) >= proba.shape[1]:
        return None
    return proba, labels


def _read_npy(archive: zipfile.ZipFile, name: str, kinds: str) -> np.ndarray:
    """One .npy member of an archive, of a numeric dtype of ``kinds``; ValueError for one
    that is not, or whose header does not match its size."""
    info = archive.getinfo(name)
    with archive.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"{name}: .npy version {version}")
        count = math.prod(shape)
        if dtype.kind not in kinds or dtype.hasobject or not 0 <= count <= MAX_VAL_VALUES:
            raise ValueError(f"{name}: {dtype} x {shape}")
        size = count * dtype.itemsize
        if info.file_size != fh.tell() + size:
            raise ValueError(f"{name}: {info.file_size} bytes for {dtype} x {shape}")
        data = fh.read(size)
    if len(data) != size:
        raise ValueError(f"{name}: truncated")
    return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C").copy()
