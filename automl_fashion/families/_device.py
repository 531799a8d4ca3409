"""Where a torch family trains and in what precision: the device ``auto`` picks, and the
autocast dtype on it. Plain functions, run and tested on any machine (only the kernels need
the GPU)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def pick_device(device: str) -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU."""
    import torch

    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast dtype for training on ``device``.

    On a GPU, bfloat16 where it has it, else float16 (with a gradient scaler). On a CPU,
    bfloat16 where it has bfloat16 instructions (AVX512-BF16, AMX), on which oneDNN runs
    the convolutions natively: the cnn's step is 1.5x faster on one thread of this machine's
    EPYC (``benchmarks/throughput.py --only-bf16``). Elsewhere None (float32): emulated
    bfloat16 is slower than float32. Weights, optimizer state and predictions stay
    float32; the rungs' validation (pruning only) runs in this dtype too.
    """
    import torch

    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_bf16():
        return torch.bfloat16
    return None


def cpu_has_bf16() -> bool:
    """Whether oneDNN has native bfloat16 kernels on this CPU (False if torch cannot say)."""
    import torch

    try:
        return bool(torch.backends.mkldnn.is_available()) and bool(
            torch.ops.mkldnn._is_mkldnn_bf16_supported()
        )
    except (AttributeError, RuntimeError):  # a private check: gone in some torch build
        return False


__all__ = ["amp_dtype", "cpu_has_bf16", "pick_device"]
