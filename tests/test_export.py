"""Export / evaluate / predict round trip for every family, on small models of real data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from automl_fashion import families, load_model
from automl_fashion.data import Split, load_test
from automl_fashion.export import export_model
from tests.families.test_contract import quick_params

FAMILIES = families.names()


@pytest.fixture(scope="module", params=FAMILIES)
def exported(request: pytest.FixtureRequest, tiny_split: Split, tmp_path_factory) -> tuple:  # type: ignore[no-untyped-def]
    name = request.param
    model = families.create(name, quick_params(name), threads=1, device="cpu").fit(tiny_split)
    out = tmp_path_factory.mktemp(name)
    result = export_model(model, out, study="t", trial=0, val_accuracy=0.5)
    return name, model, out, result


def test_folder_holds_onnx_safe_weights_and_a_card(exported) -> None:  # type: ignore[no-untyped-def]
    name, _, out, result = exported
    files = {p.name for p in out.iterdir()}
    assert {"model.onnx", "model_card.json", "MODEL_CARD.md", "confusion.png"} <= files
    assert ("model.ubj" if name == "boosting" else "model.safetensors") in files
    assert not [f for f in files if f.endswith((".pkl", ".joblib", ".pt", ".pth"))]
    card = json.loads((out / "model_card.json").read_text())
    assert card["family"] == name and len(card["confusion_matrix"]) == 10
    assert card["test_accuracy"] == pytest.approx(result.test_accuracy)
    assert sum(map(sum, card["confusion_matrix"])) == 10_000


def test_onnx_agrees_with_the_native_model(exported) -> None:  # type: ignore[no-untyped-def]
    _, _, _, result = exported
    assert result.parity >= 0.999
    assert result.test_accuracy > 0.6  # 300 images per class is enough to beat chance by far


def test_onnxruntime_alone_runs_it(exported) -> None:  # type: ignore[no-untyped-def]
    _, model, out, _ = exported
    code = f"""
import sys, numpy as np, onnxruntime as ort
assert "automl_fashion" not in sys.modules and "torch" not in sys.modules
s = ort.InferenceSession({str(out / "model.onnx")!r}, providers=["CPUExecutionProvider"])
assert s.get_inputs()[0].shape == ["N", 1, 28, 28], s.get_inputs()[0].shape
x = np.load(sys.argv[1])
a = s.run(None, {{"pixels": x[:, None]}})[0]
assert a.shape == (len(x), 10) and np.allclose(a.sum(1), 1, atol=1e-4)
np.save(sys.argv[2], a)
"""
    X, _ = load_test()
    np.save(out / "x.npy", X[:64].astype(np.float32))
    run = subprocess.run(
        [sys.executable, "-c", code, str(out / "x.npy"), str(out / "p.npy")],
        capture_output=True,
        text=True,
        cwd=out,
    )
    assert run.returncode == 0, run.stderr
    onnx_pred = np.load(out / "p.npy").argmax(1)
    assert np.mean(onnx_pred == model.predict(X[:64])) >= 0.98


def test_evaluate_and_predict_commands(exported, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, _, out, result = exported
    ev = subprocess.run(
        [sys.executable, "-m", "automl_fashion", "evaluate", str(out), "--format", "json"],
        capture_output=True,
        text=True,
    )
    assert ev.returncode == 0, ev.stderr
    assert json.loads(ev.stdout)["test_accuracy"] == pytest.approx(result.test_accuracy)
    # a real test image, saved as an RGB photo-like PNG on a white background, 4x larger
    X, _ = load_test()
    photo = Image.fromarray(255 - X[0]).resize((112, 112)).convert("RGB")
    photo.save(tmp_path / "item.png")
    Image.fromarray(X[0]).save(tmp_path / "item.jpg", quality=95)
    pr = subprocess.run(
        [
            sys.executable,
            "-m",
            "automl_fashion",
            "predict",
            str(out),
            str(tmp_path / "item.png"),
            str(tmp_path / "item.jpg"),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
    )
    assert pr.returncode == 0, pr.stderr
    rows = json.loads(pr.stdout)
    assert len(rows) == 2 and all(0 < r["probability"] <= 1 for r in rows)
    assert load_model(out).predict(X[:5].astype(np.float32)).shape == (5,)


def test_bad_model_folders_and_images_are_one_line_errors(exported, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, _, out, _ = exported
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.onnx").write_bytes((out / "model.onnx").read_bytes()[:100])
    (broken / "model_card.json").write_text((out / "model_card.json").read_text())
    (tmp_path / "notes.txt").write_text("not an image")
    cases = [
        (["evaluate", str(tmp_path / "nowhere")], "is not a folder"),
        (["evaluate", str(tmp_path)], "is not an exported model: model.onnx, model_card.json"),
        (["evaluate", str(broken)], "cannot load the ONNX model"),
        (["predict", str(out), str(tmp_path / "notes.txt")], "not an image that can be decoded"),
        (["predict", str(out), str(tmp_path / "missing.png")], "no such file"),
    ]
    for args, message in cases:
        run = subprocess.run(
            [sys.executable, "-m", "automl_fashion", *args], capture_output=True, text=True
        )
        assert run.returncode == 2, (args, run.stdout, run.stderr)
        assert message in run.stderr and "Traceback" not in run.stderr


def test_export_of_a_trial_without_a_saved_model_retrains_it(tmp_path: Path) -> None:
    """What happens for a trial that ran on another machine: refit from stored parameters."""
    import optuna

    from automl_fashion.export import export_trial
    from automl_fashion.search_space import load_space
    from automl_fashion.storage import open_storage

    study = optuna.create_study(
        study_name="remote", storage=open_storage(None, "remote", tmp_path), direction="maximize"
    )
    space = load_space("linear")
    params = {**space.init, "features": "pixels", "epochs": 1}
    params.pop("hog_cell", None)
    study.enqueue_trial({"family": "linear", **space.trial_params(params)})
    trial = study.ask()
    trial.suggest_categorical("family", ["linear"])
    space.suggest(trial)
    study.tell(trial, 0.84)
    result = export_trial(study, tmp_path / "model", threads=1, studies_dir=str(tmp_path))
    card = json.loads((tmp_path / "model" / "model_card.json").read_text())
    assert card["params"]["features"] == "pixels" and card["params"]["epochs"] == 1
    assert "50000 training images" in card["trained_on"]
    assert result.parity >= 0.999 and 0.75 < result.test_accuracy < 0.9


def test_a_shortened_trial_is_exported_with_what_it_trained() -> None:
    import optuna

    from automl_fashion.export import trial_config
    from automl_fashion.search_space import load_space

    space = load_space("mlp")
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"family": "mlp", **space.trial_params({**space.init, "epochs": 30})})
    trial = study.ask()
    trial.suggest_categorical("family", ["mlp"])
    space.suggest(trial)
    trial.set_user_attr("shortened_to", {"epochs": 7})
    study.tell(trial, 0.9)
    family, params = trial_config(study.best_trial)
    assert family == "mlp" and params["epochs"] == 7
    assert params["width"] == space.init["width"]
