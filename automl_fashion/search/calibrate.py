"""A few seconds of measurement before a search: how fast this machine trains each family.

Torch families are timed directly: a few training steps of their init network on one
thread (and on two, for the speedup), scaled to their init's epochs; their long
configurations too where the budget could hold one (on two threads as well: it may train
alone on every core, and wider networks gain more from a second thread). The other families'
init fit times were measured on the reference machine (:data:`REFERENCE`) and are scaled by
how fast this machine multiplies matrices on one thread compared with it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from automl_fashion import families as family_registry
from automl_fashion.data.info import FASHION_MNIST, DatasetInfo
from automl_fashion.search.speeds import NETWORKS, Speeds
from automl_fashion.search_space import load_space
from automl_fashion.threads import limit_threads

#: Init fit seconds (one thread, 50,000 training images) and predict ms per 1,000 images,
#: measured on the 2-core development machine (``benchmarks/families.py --threads 1``, in
#: benchmarks/results/families-cpu-1t.json;
#: 2026-11-25) when it multiplied float32 matrices at :data:`REFERENCE_GFLOPS` on one thread.
#: The svm's is what its init trial takes in a search (median of 26 full-data svm trials in
#: the 10-minute to 2-hour benchmark searches, 59-114 s), not its lone fit (48.4 s): it fits
#: and predicts the validation images at four rungs, beside a network on the other core.
#: Planned at 48 s, it pushed the plan's last network past the deadline.
REFERENCE = {
    "linear": (20.4, 12.4),
    "svm": (82.0, 821.2),
    "boosting": (77.5, 9.95),
    "mlp": (63.6, 34.9),
    "cnn": (384.0, 77.3),
    "resnet": (600.0, 285.0),
}
REFERENCE_GFLOPS = 106.0
REFERENCE_IMAGES = 50_000
#: A network's trial on a one-thread worker takes this much more than its epochs of timed
#: steps: validation at every rung, augmentation, the first epoch's warm-up, the finish. Set
#: from what the 2-hour searches' networks took against their plans (made at 1.3, the
#: figure of older code): 1.09-1.16 for the EPYC's long cnn (1,633-1,703 s planned at
#: 1,908 and 1,940), 1.16-1.20 for the Xeon's second configuration (2,803 and 2,892 s
#: planned at 3,147). At 1.3 the EPYC's estimates ran 12-19% high, and its 2-hour plan's
#: `second` round hung on 5% (60% of one planned at ~5,070 s had to fit ~3,200 s). A
#: worker beside another does not slow it here: two of the `second` configuration side by
#: side trained at the pace of one alone (ad hoc, 2026-11-29).
EPOCH_OVERHEAD = 1.15
#: The same for a worker alone on the machine (the plan's one worker on every core): six
#: 10-minute searches on the EPYC trained the long cnn at 24.5-26.4 s an epoch on two
#: threads, 23.4 s of steps (timed on two threads). With 1.3, and the init's speedup on two
#: threads (1.39x, where the long network's is 1.64x), one planned 39.6 s an epoch and left
#: out the svm (2026-11-28).
ALONE_OVERHEAD = 1.1
#: How much faster the families other than networks fit on two threads than their
#: :data:`REFERENCE` time, where less than a network's speedup: the svm's SVC fit is
#: libsvm's one thread (its features and predictions are split across threads).
TWO_THREAD_GAIN = {"svm": 1.1}
#: The same on a GPU, where a step's kernels take less time than launching them: what the
#: timed steps leave out weighs more. Measured once, on an H200 (a 10-minute search,
#: 2026-11-27): its 40-epoch cnn, timed at 40 s of steps, took 88 and 94 s.
GPU_EPOCH_OVERHEAD = 2.3
#: Timed steps per measurement, after as many warm-up steps.
STEPS = 5
#: Measurements per network, alternating one and two threads, the fastest kept. One burst
#: of steps lasts a fraction of a second, and on a shared machine a disturbance can slow
#: all of it: two of seven 10-minute searches planned their 16-epoch cnn at 428 and 477 s
#: where the others measured 307-325 s (the networks took 289-328 s), so their plans left
#: out the second round of networks.
BURSTS = 3


def matmul_gflops() -> float:
    """float32 matrix multiplication on one thread, GFLOP/s (best of a few, ~0.1 s)."""
    a = np.random.default_rng(0).standard_normal((384, 384)).astype(np.float32)
    best = math.inf
    with limit_threads(1):
        for _ in range(5):
            t = time.perf_counter()
            a @ a
            best = min(best, time.perf_counter() - t)
    return 2 * 384**3 / best / 1e9


def step_seconds(
    family: str,
    threads: int,
    spaces_dir: str | None = None,
    device: str = "cpu",
    info: DatasetInfo = FASHION_MNIST,
    params: Mapping[str, Any] | None = None,
) -> tuple[float, int]:
    """(seconds per training step, batch size) of ``family``'s init network (or the one
    ``params`` configure) on ``device``, for inputs of the data set ``info`` describes, in
    the precision it trains in there (:func:`~automl_fashion.families._torch.amp_dtype`)."""
    import torch
    import torch.nn.functional as F

    from automl_fashion.families._torch import amp_dtype

    dev = torch.device(device)
    amp = amp_dtype(dev)  # timed in the precision the family trains in
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    params = dict(load_space(family, spaces_dir).init if params is None else params)
    model = family_registry.get(family)(params, seed=0, threads=threads)
    model.info_ = info  # what fit would set: the network follows the data set's shape
    batch = int(params.get("batch_size", 128))
    with limit_threads(threads, torch=True):
        net = model.build_network().to(dev)  # type: ignore[attr-defined]
        x = torch.randn(batch, *info.shape, device=dev)
        if getattr(model, "channels_last", False):
            net = net.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, info.n_classes, (batch,), device=dev)
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
        timings = []
        for i in range(2 * STEPS):
            t = time.perf_counter()
            with torch.autocast(dev.type, dtype=amp, enabled=amp is not None):
                loss = F.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sync()
            if i >= STEPS:
                timings.append(time.perf_counter() - t)
    return min(timings), batch


def measure_speeds(
    families: Sequence[str],
    n_train: int,
    cores: int,
    spaces_dir: str | None = None,
    device: str = "cpu",
    info: DatasetInfo = FASHION_MNIST,
    long_within: float = 0.0,
    second_within: float = 0.0,
) -> Speeds:
    """:class:`Speeds` for ``families`` on this machine, training on ``n_train`` images of
    the data set ``info`` describes; torch families on ``device`` (a GPU's speed does not
    depend on the CPU threads). The other families' reference times scale with the number
    of images and of values per image.

    A network's ``long`` configuration (:attr:`SearchSpace.long`) is timed too where it
    could take at most ``long_within`` seconds on one thread: at least its epochs at the
    init's speed (it is never smaller). On short budgets it is not timed at all. Its
    ``second`` one (:attr:`SearchSpace.second`) the same way, within ``second_within``
    (the plan runs it only on one-thread workers, at long budgets).

    On a CPU, a network family after the first of :data:`~automl_fashion.search.speeds.NETWORKS`
    (the resnet beside the cnn) is the plan's partner for the first's long networks only:
    it is timed, on one thread, only where its ``long`` configuration could fit within
    ``second_within`` as its reference time estimates it; elsewhere its init's time is that
    reference's, scaled as the other families' are (timing it would take seconds that a
    short budget's networks need)."""
    factor = REFERENCE_GFLOPS / max(1e-3, matmul_gflops())
    overhead = EPOCH_OVERHEAD if device == "cpu" else GPU_EPOCH_OVERHEAD
    scale = n_train / REFERENCE_IMAGES * math.prod(info.shape) / math.prod(FASHION_MNIST.shape)
    fit: dict[str, float] = {}
    epochs: dict[str, int] = {}
    predict: dict[str, float] = {}
    speedup = 1.7
    networks = []
    primary = next((f for f in NETWORKS if f in families), None)
    partners = []  # networks timed only as the primary's partner (one thread, long budgets)
    # the networks' long configurations, keyed as Speeds.long_seconds: (family, config, limit)
    longs: dict[str, tuple[str, Mapping[str, Any], float]] = {}
    for fam in families:
        cls = family_registry.get(fam)
        ref = REFERENCE.get(fam)
        if ref is not None:
            predict[fam] = ref[1] * 10 / 1000 * factor  # 10,000 test images
        if getattr(cls, "uses_torch", False) and hasattr(cls, "build_network"):
            space = load_space(fam, spaces_dir)
            epochs[fam] = int(space.init.get("epochs", 10))
            if fam in NETWORKS and fam != primary and device == "cpu" and ref is not None:
                guess = ref[0] * factor * scale
                if space.long is None or (
                    guess * int(space.long.get("epochs", 10)) / epochs[fam] > second_within
                ):
                    fit[fam] = guess  # not timed: no long budget to partner in
                    continue
                partners.append(fam)
            networks.append(fam)
            if space.long is not None:
                within = second_within if fam in partners else long_within
                longs[fam] = (fam, space.long, within)
            if space.second is not None:
                longs[f"{fam}:second"] = (fam, space.second, second_within)
        elif ref is not None:
            fit[fam] = ref[0] * factor * scale
    one: dict[str, float] = {}  # the fastest step of each network on one thread
    two = math.inf  # ... and of the slowest of them on two
    batches: dict[str, int] = {}
    slowest = None  # the network that matters for the speedup (from the first burst)
    long_one: dict[str, float] = {}  # ... and of their long configurations
    long_batch: dict[str, int] = {}
    long_two: dict[str, float] = {}  # ... the long one's on two threads (not the second's)
    for b in range(BURSTS):  # interleaved, so that one disturbance cannot slow them all
        for fam in networks:
            step, batches[fam] = step_seconds(fam, 1, spaces_dir, device, info)
            one[fam] = min(one.get(fam, math.inf), step)
        if b == 0:  # which long configurations could fit: no smaller than init, per epoch
            longs = {
                key: (fam, cfg, within)
                for key, (fam, cfg, within) in longs.items()
                if _fit(one[fam], n_train, batches[fam], int(cfg.get("epochs", 10)), overhead)
                <= within
            }
        for key, (fam, cfg, _) in longs.items():
            step, long_batch[key] = step_seconds(fam, 1, spaces_dir, device, info, params=cfg)
            long_one[key] = min(long_one.get(key, math.inf), step)
            lone = key == fam and fam not in partners  # it may train on every core
            if lone and cores >= 2 and device == "cpu":
                step = step_seconds(fam, 2, spaces_dir, device, info, params=cfg)[0]
                long_two[key] = min(long_two.get(key, math.inf), step)
        if cores >= 2 and device == "cpu":  # the speedup: the primary's (not a partner's)
            slowest = slowest or max(
                (f for f in one if f not in partners), key=lambda f: one[f], default=None
            )
            if slowest is not None:
                two = min(two, step_seconds(slowest, 2, spaces_dir, info=info)[0])
    for fam in networks:
        fit[fam] = _fit(one[fam], n_train, batches[fam], epochs[fam], overhead)
    long_fit = {
        key: _fit(long_one[key], n_train, long_batch[key], int(cfg.get("epochs", 10)), overhead)
        for key, (_, cfg, _) in longs.items()
    }
    for key, (fam, _, _) in longs.items():  # predicting costs what a step does, as init's
        if fam in predict:
            label = key if key != fam else f"{fam}:long"
            predict[label] = predict[fam] * long_one[key] / one[fam]
    if slowest is not None:
        speedup = min(2.0, max(1.0, one[slowest] / two))
    long_speedup = {key: min(2.0, max(1.0, long_one[key] / t)) for key, t in long_two.items()}
    if device != "cpu":
        for fam in networks:
            timed = gpu_config_seconds(fam, n_train, spaces_dir, device, info)
            for key, (fit_s, predict_s) in timed.items():
                long_fit[key], predict[key] = fit_s, predict_s
    return Speeds(
        fit_seconds=fit,
        epochs=epochs,
        speedup=speedup,
        predict_seconds=predict,
        long_seconds=long_fit,
        long_speedup=long_speedup,
        gains={fam: gain for fam, gain in TWO_THREAD_GAIN.items() if fam in fit},
        alone=ALONE_OVERHEAD / EPOCH_OVERHEAD if device == "cpu" else 1.0,
        source=f"measured: matmul x{1 / factor:.2f} of the reference machine, "
        + (f"{speedup:.2f}x on 2 threads" if device == "cpu" else f"networks on {device}")
        + "".join(f" ({key} long {gain:.2f}x)" for key, gain in long_speedup.items()),
        device=device,
    )


def gpu_config_seconds(
    family: str,
    n_train: int,
    spaces_dir: str | None = None,
    device: str = "cuda",
    info: DatasetInfo = FASHION_MNIST,
) -> dict[str, tuple[float, float]]:
    """Per GPU configuration of ``family`` (:attr:`SearchSpace.gpu_configs`), keyed
    ``"<family>:gpu<k>"``: (its whole fit on ``device``, its prediction of 10,000 test
    images on one CPU thread, all its test-time views). The export runs the ensemble's ONNX
    graph on the CPU, and these networks cost far more there than the CPU-sized ones."""
    timed = {}
    for k, cfg in enumerate(load_space(family, spaces_dir, info, gpu=True).gpu_configs):
        step, batch = min(
            step_seconds(family, 1, spaces_dir, device, info, params=cfg) for _ in range(BURSTS)
        )
        fit = _fit(step, n_train, batch, int(cfg.get("epochs", 10)), GPU_EPOCH_OVERHEAD)
        model = family_registry.get(family)(cfg, seed=0, threads=1)
        model.info_ = info
        with limit_threads(1, torch=True):
            model.model_ = model.build_network()  # type: ignore[attr-defined]
            predict = model.cpu_prediction_seconds(10_000, sample=8)  # type: ignore[attr-defined]
        timed[f"{family}:gpu{k}"] = (fit, predict)
    return timed


def _fit(
    step: float, n_train: int, batch: int, epochs: int, overhead: float = EPOCH_OVERHEAD
) -> float:
    """Seconds for ``epochs`` of ``n_train`` images, in steps of ``batch`` taking ``step``."""
    return step * math.ceil(n_train / batch) * overhead * epochs


__all__ = ["matmul_gflops", "measure_speeds", "step_seconds"]
