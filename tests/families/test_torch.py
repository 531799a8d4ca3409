"""The shared torch training loop (families/_torch.py): settings that must reach the optimizer."""

from __future__ import annotations

import pytest
import torch

from automl_fashion import families
from automl_fashion.data import Split
from tests.families.test_contract import quick_params


@pytest.mark.parametrize(("optimizer", "cycles"), [("sgd", False), ("adamw", True)])
def test_onecycle_keeps_the_tuned_sgd_momentum(
    optimizer: str, cycles: bool, tiny_split: Split, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[torch.optim.Optimizer, bool]] = []
    original = torch.optim.lr_scheduler.OneCycleLR

    def spy(opt: torch.optim.Optimizer, **kwargs: object) -> object:
        seen.append((opt, bool(kwargs.get("cycle_momentum", True))))
        return original(opt, **kwargs)

    monkeypatch.setattr(torch.optim.lr_scheduler, "OneCycleLR", spy)
    params = {
        **quick_params("mlp"),
        "optimizer": optimizer,
        "schedule": "onecycle",
        "epochs": 5,
    }
    if optimizer == "sgd":
        params["momentum"] = 0.83
    model = families.create("mlp", params, seed=0, threads=1, device="cpu")
    model.fit(tiny_split, lambda step, acc: None)
    assert seen, "the onecycle schedule was not built"
    opt, cycle = seen[-1]
    assert cycle is cycles
    if optimizer == "sgd":
        assert all(group["momentum"] == 0.83 for group in opt.param_groups)
