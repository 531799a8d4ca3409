"""What each training-step setting gives on this machine, against its matmul peak.

    python benchmarks/throughput.py [--family cnn] [--steps 40] [--no-compile]

For 1 thread and for every core: the peak float32 matmul (GFLOP/s, best of 2048 x 2048
products), then one training step of the family's init network (forward, backward, AdamW)
in each setting — NCHW or channels_last, batch 128/256/512, eager or ``torch.compile``
(inductor), float32 or bfloat16 autocast where the CPU has bfloat16 instructions — as
GFLOP/s and share of that (float32) peak, and what the step's data handling (slicing
a batch out of the in-memory tensor and augmenting it) costs beside it. FLOPs are counted
from the layers (3 x 2 x multiply-adds: forward, and backward at twice the forward).
Writes benchmarks/results/throughput.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def peak_gflops(threads: int, dtype: str = "float32", sizes: tuple[int, ...] = (2048,)) -> float:
    """The best matmul GFLOP/s in ``dtype`` on ``threads`` threads over square ``sizes``
    and repeats: a peak, not an average."""
    import torch

    torch.set_num_threads(threads)
    kind = getattr(torch, dtype)
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n, dtype=kind), torch.randn(n, n, dtype=kind)
        a @ b
        for _ in range(3):
            t = time.perf_counter()
            for _ in range(3):
                a @ b
            best = max(best, 2 * n**3 * 3 / (time.perf_counter() - t) / 1e9)
    return best


def flops_per_image(net: Any) -> float:
    """Training FLOPs per 28 x 28 image: 3 x 2 x the multiply-adds of convolutions and
    linear layers (forward, and backward at twice the forward); the mode is left as it was."""
    import torch

    macs = 0

    def count(module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(module, torch.nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels
            macs += output.numel() // output.shape[0] * k // module.groups
        elif isinstance(module, torch.nn.Linear):
            macs += module.in_features * module.out_features

    hooks = [m.register_forward_hook(count) for m in net.modules()]
    training = net.training
    with torch.no_grad():
        net.eval()(torch.zeros(2, 1, 28, 28))
    net.train(training)
    for h in hooks:
        h.remove()
    return 3 * 2 * macs


def step_rate(
    family: str,
    threads: int,
    batch: int,
    channels_last: bool,
    compiled: bool,
    steps: int,
    bf16: bool = False,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One training step of the family's init network (or the one ``params`` configure)."""
    import torch
    import torch.nn.functional as F

    from automl_fashion import families

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = families.create(family, params, threads=threads).build_network()  # type: ignore[attr-defined]
    fpi = flops_per_image(net)
    net.train()
    x = torch.randn(batch, 1, 28, 28)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    model = torch.compile(net) if compiled else net
    t0 = time.perf_counter()
    for i in range(steps + 3):
        if i == 3:
            warm = time.perf_counter() - t0
            t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    per_step = (time.perf_counter() - t) / steps
    return {
        "threads": threads,
        "batch": batch,
        "channels_last": channels_last,
        "compiled": compiled,
        "bf16": bf16,
        "warmup_s": round(warm, 1),
        "step_ms": round(1000 * per_step, 2),
        "images_per_s": round(batch / per_step),
        "gflops": round(batch / per_step * fpi / 1e9, 1),
        "mflop_per_image": round(fpi / 1e6, 1),
    }


def data_share(family: str, threads: int, batch: int, step_ms: float) -> float:
    """Time of slicing + augmenting one batch as the init does, as a share of the step."""
    import torch

    from automl_fashion import families
    from automl_fashion.families._torch import augment

    model = families.create(family)
    flip, shift, erase = model.augmentation(int(model.params.get("epochs", 10)))  # type: ignore[attr-defined]

    torch.set_num_threads(threads)
    X = torch.randn(50_000, 1, 28, 28)
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(X), generator=gen)
    t = time.perf_counter()
    n = 50
    for i in range(n):
        idx = order[i * batch : (i + 1) * batch]
        augment(X[idx], gen, flip=flip, shift=shift, erase=erase)
    return (time.perf_counter() - t) / n * 1000 / step_ms


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--family", default="cnn")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--only-bf16", action="store_true", help="only the bfloat16 rows")
    args = parser.parse_args()
    from automl_fashion.families._torch import cpu_has_bf16
    from automl_fashion.threads import available_cores

    bf16 = cpu_has_bf16()
    print(f"bfloat16 instructions: {bf16}", flush=True)

    rows = []
    for threads in sorted({1, available_cores()}):
        peak = peak_gflops(threads)
        peak16 = peak_gflops(threads, "bfloat16") if bf16 else 0.0
        settings = [(128, False, False, False), (128, True, False, False)]
        settings += [(256, True, False, False), (512, True, False, False)]
        if not args.no_compile:
            settings.append((128, True, True, False))
        if args.only_bf16:
            settings = [(128, True, False, False)]
        if bf16:
            settings += [(128, True, False, True), (256, True, False, True)]
        for batch, cl, compiled, half in settings:
            try:
                row = step_rate(args.family, threads, batch, cl, compiled, args.steps, half)
            except Exception as exc:  # e.g. no C++ compiler for inductor
                row = {"threads": threads, "batch": batch, "compiled": compiled, "error": str(exc)}
            else:
                row["share_of_peak"] = round(row["gflops"] / peak, 3)
                if half:  # against the peak of the precision it runs in
                    row["bf16_peak_gflops"] = round(peak16, 1)
                    row["share_of_bf16_peak"] = round(row["gflops"] / peak16, 3)
                row["data_share"] = round(
                    data_share(args.family, threads, batch, row["step_ms"]), 3
                )
            row["peak_gflops"] = round(peak, 1)
            rows.append(row)
            print(json.dumps(row), flush=True)
            RESULTS.mkdir(exist_ok=True)
            name = "throughput-bf16.json" if args.only_bf16 else "throughput.json"
            (RESULTS / name).write_text(json.dumps({"family": args.family, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
