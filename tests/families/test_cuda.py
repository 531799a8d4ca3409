"""The CUDA path on a real GPU (skipped without one; the device choice, dtypes and copies
are tested on CPU in test_torch.py). A network trained on the GPU stays there, in float32
weights, through prediction, deployment and export, and its exported ONNX graph (run on
the CPU) agrees with it on the 10,000 test images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from automl_fashion import families
from automl_fashion.data import Split
from automl_fashion.export import export_model
from automl_fashion.families._torch import TorchFamily
from tests.families.test_contract import quick_params

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

NETWORKS = [n for n in families.names() if issubclass(families.get(n), TorchFamily)]


def on_gpu(model: TorchFamily) -> bool:
    return all(t.device.type == "cuda" for t in model.model_.state_dict().values())


@pytest.mark.parametrize("name", NETWORKS)
def test_a_network_trained_on_the_gpu_stays_there_and_exports_an_agreeing_graph(
    name: str, tiny_split: Split, tmp_path: Path
) -> None:
    params = quick_params(name)
    if "ema" in params:
        params["ema"] = 0.99  # the average is the model: it must live on the GPU too
    model = families.create(name, params, seed=0, threads=1, device="cuda")
    reports: list[tuple[int, float]] = []
    model.fit(tiny_split, lambda step, acc: reports.append((step, acc)))

    assert isinstance(model, TorchFamily) and model.device_.type == "cuda"
    assert on_gpu(model)
    weights = [t for t in model.model_.state_dict().values() if t.is_floating_point()]
    assert all(t.dtype == torch.float32 for t in weights)  # autocast leaves weights alone
    assert reports and all(0.0 <= acc <= 1.0 for _, acc in reports)
    proba = model.predict_proba(tiny_split.X_val)
    assert proba.shape == (len(tiny_split.y_val), 10) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-5)

    result = export_model(model, tmp_path / name, study="t", trial=0, val_accuracy=0.5)

    assert on_gpu(model)  # deploy_module copied; nothing was moved to the CPU
    np.testing.assert_array_equal(model.predict_proba(tiny_split.X_val), proba)
    assert result.parity >= 0.999
    assert result.test_accuracy > 0.6


def test_float16_training_scales_its_gradients_and_learns(
    tiny_split: Split, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GPUs without bfloat16 train in float16 with a GradScaler (bfloat16 needs none)."""
    from automl_fashion.families import _torch

    monkeypatch.setattr(_torch, "amp_dtype", lambda device: torch.float16)
    scaled: list[bool] = []
    original = torch.amp.GradScaler.scale

    def spy(self: torch.amp.GradScaler, outputs: torch.Tensor) -> torch.Tensor:
        scaled.append(self.is_enabled())
        return original(self, outputs)

    monkeypatch.setattr(torch.amp.GradScaler, "scale", spy)
    model = families.get("cnn")({**quick_params("cnn"), "epochs": 2}, seed=0, device="cuda")
    reports: list[tuple[int, float]] = []
    model.fit(tiny_split, lambda step, acc: reports.append((step, acc)))
    assert scaled and all(scaled)
    assert reports[-1][1] > 0.5  # 3,000 images, two epochs: far above chance (0.1)
