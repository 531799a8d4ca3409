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


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_deploying_leaves_the_trained_network_untouched(name: str, tiny_split: Split) -> None:
    """deploy_module() must copy: .cpu() and .eval() in place would move a network trained
    on a GPU to the CPU, and every later predict_proba would then fail."""
    params = {**quick_params(name), "epochs": 1, "flip": True}  # below the space's range
    model = families.get(name)(params, seed=0, threads=1, device="cpu").fit(tiny_split)
    before = model.predict_proba(tiny_split.X_val[:16])
    network = model.model_
    network.train()
    state = {k: v.clone() for k, v in network.state_dict().items()}
    tensors = {
        k: (p.data_ptr(), p.device, p.dtype, p.requires_grad) for k, p in network.named_parameters()
    }

    deployed = model.deploy_module()

    assert model.model_ is network and network.training
    assert {
        k: (p.data_ptr(), p.device, p.dtype, p.requires_grad) for k, p in network.named_parameters()
    } == tensors
    assert all(torch.equal(v, state[k]) for k, v in network.state_dict().items())
    assert not {p.data_ptr() for p in deployed.parameters()} & {v[0] for v in tensors.values()}
    assert not deployed.training
    assert all(p.device.type == "cpu" for p in deployed.parameters())
    torch.testing.assert_close(model.predict_proba(tiny_split.X_val[:16]), before)
    x = torch.from_numpy(tiny_split.X_val[:16].astype("float32"))
    torch.testing.assert_close(deployed(x).detach().double().numpy(), before, atol=1e-5, rtol=1e-4)


def test_mixed_precision_is_bfloat16_on_a_gpu_that_has_it_else_float16_and_off_on_cpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The dtype choice runs on CPU; only the kernels need the GPU."""
    import torch

    from automl_fashion.families._torch import amp_dtype

    assert amp_dtype(torch.device("cpu")) is None
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert amp_dtype(torch.device("cuda")) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert amp_dtype(torch.device("cuda:1")) == torch.float16
