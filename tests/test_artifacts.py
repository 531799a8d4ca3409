"""The validation probabilities a saved trial keeps (artifacts.load_val): read back from
disk, so untrusted. A crafted val.npz comes with matching digests in its meta.json; it must
be refused as unreadable (None), never allocate what its header declares, and never be a
traceback in export, search or report."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from automl_fashion.artifacts import VAL_FILE, load_val


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


PROBA = np.full((20, 10), 0.1, np.float32)
LABELS = np.arange(20, dtype=np.uint8) % 10


def _write(folder: Path, members: dict[str, bytes], compress: bool = False) -> dict:
    folder.mkdir(exist_ok=True)
    mode = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(folder / VAL_FILE, "w", mode) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return {"folder": str(folder)}


def test_what_a_search_saves_reads_back(tmp_path: Path) -> None:
    for compress in (False, True):
        meta = _write(
            tmp_path / str(compress),
            {"proba.npy": _npy(PROBA), "labels.npy": _npy(LABELS)},
            compress,
        )
        proba, labels = load_val(meta)  # type: ignore[misc]
        np.testing.assert_array_equal(proba, PROBA)
        np.testing.assert_array_equal(labels, LABELS)
        proba[0, 0] = 1.0  # a copy of its own, writable


@pytest.mark.parametrize(
    "members",
    [
        {"proba.npy": b"", "labels.npy": _npy(LABELS)},  # an empty member
        {"proba.npy": b"hello", "labels.npy": _npy(LABELS)},  # no .npy header: raw bytes
        {"proba.npy": _npy(PROBA), "labels.npy": _npy(LABELS.astype(np.float32))},  # float labels
        {"proba.npy": _npy(PROBA.astype("<U4")), "labels.npy": _npy(LABELS)},  # strings
        {"proba.npy": _npy(PROBA[:0]), "labels.npy": _npy(LABELS[:0])},  # no images
        {"proba.npy": _npy(PROBA), "labels.npy": _npy(LABELS.astype(np.int8) - 1)},  # negative
        {"proba.npy": _npy(PROBA)},  # no labels
    ],
    ids=["empty", "raw-bytes", "float-labels", "strings", "no-images", "negative", "missing"],
)
def test_a_crafted_archive_is_unreadable_not_a_traceback(tmp_path: Path, members: dict) -> None:
    assert load_val(_write(tmp_path / "t", members)) is None


def test_a_header_declaring_terabytes_is_refused_before_allocating(tmp_path: Path) -> None:
    import tracemalloc

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (2**41, 10)}
    )
    huge = header.getvalue()  # about 100 bytes declaring 80 TiB (numpy allocated them first)
    meta = _write(tmp_path / "t", {"proba.npy": huge, "labels.npy": _npy(LABELS)})
    tracemalloc.start()
    try:
        assert load_val(meta) is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_a_member_longer_than_its_header_says_is_refused_unread(tmp_path: Path) -> None:
    """A zip bomb behind a small header: the member's size must be the header's."""
    padded = _npy(PROBA) + bytes(50_000_000)
    meta = _write(tmp_path / "t", {"proba.npy": padded, "labels.npy": _npy(LABELS)}, True)
    assert load_val(meta) is None


def test_a_plain_npy_named_val_npz_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    np.save(tmp_path / "t" / VAL_FILE, PROBA, allow_pickle=False)
    (tmp_path / "t" / f"{VAL_FILE}.npy").rename(tmp_path / "t" / VAL_FILE)
    assert load_val({"folder": str(tmp_path / "t")}) is None


def test_saving_a_trial_does_not_predict_the_validation_images_again(
    tmp_path: Path, tiny_split
) -> None:
    """The ONNX parity check compares the graph with the trial's own validation
    probabilities: predicting them again cost a 1-hour search's last network ~8 s past the
    time it kept for the end."""
    import json

    import optuna

    from automl_fashion import families
    from automl_fashion.artifacts import META_FILE, save_if_top
    from automl_fashion.search_space import load_space
    from tests.families.test_contract import quick_params

    params = {**quick_params("linear"), "features": "pixels"}
    params.pop("hog_cell", None)
    params = load_space("linear").validate(params)
    model = families.create("linear", params, seed=0, threads=1, device="cpu").fit(tiny_split)
    proba = model.predict_proba(tiny_split.X_val)
    calls = []
    model.predict_proba = lambda X: calls.append(len(X)) or proba  # type: ignore[method-assign]
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    saved = save_if_top(study, trial, model, 0.5, proba, tiny_split, str(tmp_path))
    assert saved is not None, trial.user_attrs.get("artifact_error")
    assert calls == []
    assert json.loads((saved / META_FILE).read_text())["onnx_native_agreement_val"] == 1.0
