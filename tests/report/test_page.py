"""The report on a small real study: every section, images that resolve, clean cells, a
gallery of real mistakes; and the report without saved models, or while a trial runs."""

from __future__ import annotations

import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import optuna
import pytest
from PIL import Image

from automl_fashion.artifacts import load_meta
from automl_fashion.export import search_split
from automl_fashion.onnx_export import onnx_predict_proba, onnx_session
from automl_fashion.report import write_report
from automl_fashion.storage import artifacts_dir, load_existing_study
from tests.report.conftest import STUDY

SECTIONS = {"summary", "families", "failures", "search", "leaderboard"}
BAD_CELLS = {"nan", "<na>", "none", "true", "false", "nat", "inf", "-inf", ""}


class Parsed(HTMLParser):
    """Section ids, image sources, table cells and gallery entries of a page."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: list[str] = []
        self.cells: list[str] = []
        self.thumbs: list[dict[str, str]] = []
        self._cell: list[str] | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "section":
            self.sections.append(a["id"])
        elif tag == "img":
            self.images.append(a["src"])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "figure" and "data-val-index" in a:
            self.thumbs.append(a)

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append("".join(self._cell).strip())
            self._cell = None


def report(study: optuna.Study, folder: Path, out: Path, **kwargs: object) -> Parsed:
    page = write_report(study, out, artifacts=artifacts_dir(STUDY, folder), **kwargs)  # type: ignore[arg-type]
    assert page == out / "index.html"
    return Parsed(page.read_text(encoding="utf-8"))


def test_the_page_has_every_section_images_that_resolve_and_clean_cells(
    real_study: tuple[optuna.Study, Path], tmp_path: Path
) -> None:
    study, folder = real_study
    parsed = report(study, folder, tmp_path / "rep")
    assert set(parsed.sections) == SECTIONS
    page = (tmp_path / "rep" / "index.html").read_text()
    for heading in (
        "Per-class validation accuracy",
        "Where each family beats the others",
        "Most-confused pairs",
        "Mistakes of the best model",
        "Images every family gets wrong",
        "Where the time went",
        "Which hyperparameters mattered",
    ):
        assert heading in page
    names = {Path(src).name for src in parsed.images}
    assert {
        "accuracy_vs_time.png",
        "confusion.png",
        "learning_curves.png",
        "best_over_time.png",
        "timeline.png",
        "importances.png",
    } <= names
    for src in parsed.images:
        assert not src.startswith(("/", "http", "file:")) and ".." not in src
        path = tmp_path / "rep" / src
        assert path.is_file(), src
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert min(Image.open(path).size) >= 28
    assert parsed.cells
    for cell in parsed.cells:
        assert cell.lower() not in BAD_CELLS, parsed.cells
        assert "nan" not in cell.lower().split() and "NaN" not in cell and "<NA>" not in cell
    assert "budget —;" in page  # the study recorded no deadline: a dash
    for word in ("NaN", "&lt;NA&gt;", ">None<", ">True<", ">False<"):
        assert word not in page


def test_the_gallery_shows_validation_images_the_best_model_gets_wrong(
    real_study: tuple[optuna.Study, Path], tmp_path: Path
) -> None:
    study, folder = real_study
    parsed = report(study, folder, tmp_path / "rep")
    assert parsed.thumbs
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    best = max(complete, key=lambda t: (t.value, -t.number))
    split = search_split(study).split
    index = np.array([int(t["data-val-index"]) for t in parsed.thumbs])
    shown_pred = np.array([int(t["data-pred"]) for t in parsed.thumbs])
    shown_true = np.array([int(t["data-true"]) for t in parsed.thumbs])
    assert (shown_true == split.y_val[index]).all() and (shown_pred != shown_true).all()
    # every caption is the best model's answer, as its saved ONNX graph gives it
    assert (predict(folder, best.number, split.X_val[index]) == shown_pred).all()
    # and the second gallery's images are wrong for the best model of every family
    every = index[[t["data-gallery"] == "all" for t in parsed.thumbs]]
    assert len(every) and {t["data-gallery"] for t in parsed.thumbs} == {"best", "all"}
    for family in ("linear", "cnn"):
        number = max(
            (t for t in complete if t.params["family"] == family),
            key=lambda t: (t.value, -t.number),
        ).number
        assert (predict(folder, number, split.X_val[every]) != split.y_val[every]).all()
    # each thumbnail shows its own image (inverted, scaled up)
    src = next(s for s in parsed.images if s.endswith(f"val-{index[0]}.png"))
    thumb = np.asarray(
        Image.open(tmp_path / "rep" / src).resize((28, 28), Image.Resampling.NEAREST)
    )
    assert (thumb == 255 - split.X_val[index[0]]).all()


def predict(folder: Path, trial: int, images: np.ndarray) -> np.ndarray:
    """The predictions of a trial's saved model (its checked ONNX file)."""
    meta = load_meta(artifacts_dir(STUDY, folder), trial)
    assert meta is not None
    session = onnx_session(Path(meta["folder"]) / "model.onnx")
    return onnx_predict_proba(session, images.astype(np.float32)).argmax(1)


def test_without_saved_models_the_failure_section_says_why(
    real_study: tuple[optuna.Study, Path], tmp_path: Path
) -> None:
    study, _ = real_study
    page = write_report(study, tmp_path / "rep", artifacts=tmp_path / "elsewhere")
    parsed = Parsed(page.read_text())
    assert set(parsed.sections) == SECTIONS and not parsed.thumbs
    assert "Left out: no saved models of this study on this machine." in page.read_text()
    for src in parsed.images:
        assert (tmp_path / "rep" / src).is_file()


def test_a_study_with_a_running_trial_is_reported_read_only(
    real_study: tuple[optuna.Study, Path], tmp_path: Path
) -> None:
    """A search still writing: a trial asked and not told shows on the timeline, and the
    report neither changes the journal nor fails."""
    _, folder = real_study
    live = tmp_path / "live"
    live.mkdir()
    for name in (f"{STUDY}.journal",):
        (live / name).write_bytes((folder / name).read_bytes())
    writer = optuna.load_study(study_name=STUDY, storage=_storage(live))
    writer.ask()  # running: never told
    before = (live / f"{STUDY}.journal").read_bytes()
    study = load_existing_study(STUDY, None, live)
    page = write_report(study, tmp_path / "rep").read_text()
    assert "1 running" in page
    assert (live / f"{STUDY}.journal").read_bytes() == before


def _storage(folder: Path) -> optuna.storages.BaseStorage:
    from automl_fashion.storage import open_storage

    return open_storage(None, STUDY, folder)


def test_the_cli_writes_the_page_and_takes_the_test_accuracy_from_an_export(
    real_study: tuple[optuna.Study, Path], tmp_path: Path
) -> None:
    _, folder = real_study
    exported = tmp_path / "model"
    exported.mkdir()
    (exported / "model_card.json").write_text(
        '{"study": "r", "family": "linear", "trial": 0, "test_accuracy": 0.8123,'
        ' "test_accuracy_95ci": [0.80, 0.82]}'
    )
    env = {**os.environ, "AUTOML_FASHION_STUDIES": str(folder)}
    out = subprocess.run(
        [sys.executable, "-m", "automl_fashion", "report", "--study", STUDY, "--out",
         str(tmp_path / "rep"), "--export", str(exported)],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"wrote {tmp_path / 'rep' / 'index.html'}"
    assert "81.23%" in (tmp_path / "rep" / "index.html").read_text()
    missing = subprocess.run(
        [sys.executable, "-m", "automl_fashion", "report", "--study", STUDY, "--out",
         str(tmp_path / "rep2"), "--export", str(tmp_path)],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.startswith(f"automl-fashion: error: --export {tmp_path}: ")


def test_every_complete_trial_records_its_per_class_accuracy(
    real_study: tuple[optuna.Study, Path],
) -> None:
    study, _ = real_study
    split = search_split(study).split
    for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        per_class = t.user_attrs["val_class_accuracy"]
        assert len(per_class) == 10 and all(0 <= v <= 1 for v in per_class)
        counts = np.bincount(split.y_val, minlength=10)
        assert sum(v * n for v, n in zip(per_class, counts, strict=True)) / counts.sum() == (
            pytest.approx(t.value, abs=1e-3)
        )


@pytest.mark.skipif(
    not os.environ.get("AUTOML_FASHION_TEST_PG"),
    reason="no PostgreSQL server: set AUTOML_FASHION_TEST_PG (CI does)",
)
def test_a_postgresql_study_searched_elsewhere_is_reported_without_its_models(
    real_study: tuple[optuna.Study, Path], tmp_path: Path
) -> None:
    import uuid

    from automl_fashion.storage import open_storage

    study, _ = real_study
    url = os.environ["AUTOML_FASHION_TEST_PG"]
    name = f"report-{uuid.uuid4().hex[:8]}"
    optuna.copy_study(
        from_study_name=study.study_name,
        from_storage=study._storage,
        to_storage=open_storage(url, name),
        to_study_name=name,
    )
    env = {**os.environ, "AUTOML_FASHION_STUDIES": str(tmp_path / "here")}
    out = subprocess.run(
        [sys.executable, "-m", "automl_fashion", "report", "--storage", url, "--study", name,
         "--out", str(tmp_path / "rep")],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    page = (tmp_path / "rep" / "index.html").read_text()
    parsed = Parsed(page)
    assert set(parsed.sections) == SECTIONS and not parsed.thumbs
    assert "Left out: no saved models of this study on this machine." in page
    assert all((tmp_path / "rep" / src).is_file() for src in parsed.images)


def test_the_family_comparison_lists_a_family_the_plan_did_not_run_and_an_ensemble_export(
    real_study: tuple[optuna.Study, Path], tmp_path: Path
) -> None:
    study, folder = real_study
    study.set_user_attr("families", ["linear", "cnn", "svm"])
    study.set_user_attr("plan", {"skipped": {"svm": "its init needs ~48 s"}})
    exported = tmp_path / "model"
    exported.mkdir()
    (exported / "model_card.json").write_text(
        '{"study": "r", "family": "ensemble", "trial": -1, "test_accuracy": 0.8123}'
    )
    try:
        page = report(study, folder, tmp_path / "rep", export_dir=exported)
    finally:
        study.set_user_attr("families", [])
        study.set_user_attr("plan", {})
    assert "svm" in page.cells and "not run: its init needs ~48 s" in page.cells
    assert not BAD_CELLS & {c.lower() for c in page.cells}
    html = (tmp_path / "rep" / "index.html").read_text()
    assert "exported ensemble" in html and "#-1" not in html
