"""One training loop for the torch families (mlp, cnn, resnet), read top to bottom.

Batches are sliced from in-memory tensors (no per-sample DataLoader: on 28x28 images the
Python overhead of one would cost more than the arithmetic). Augmentations work on a whole
batch at once. After every epoch the validation accuracy is reported, at the share of the
schedule done (per mille, :func:`schedule_step`): the rungs a pruner compares.

Everything follows the data set the model is fitted on (``info``): networks take its
C x H x W and give one logit per class; pixels are normalised, augmented and viewed at test
time as :mod:`~automl_fashion.families._images` does it for that data set; flips, in
training and at test time, only where a mirror image keeps its label (``info.flips``).
"""

from __future__ import annotations

import copy
import math
import time
from abc import abstractmethod
from typing import TYPE_CHECKING, Any

import numpy as np

from automl_fashion.data import Split
from automl_fashion.families._base import Family, NotLearning, Report, TrainingDiverged
from automl_fashion.families._device import amp_dtype, cpu_has_bf16, pick_device
from automl_fashion.families._images import (
    augment,
    background,
    normalize,
    pad,
    shifted,
    to_tensor,
    view_average,
)
from automl_fashion.families._schedule import (
    FIRST_RUNG,
    Pacer,
    ema_decay,
    finish_seconds,
    lr_schedule,
    resumed_schedule,
    schedule_step,
    update_ema,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

EVAL_BATCH = 1024
#: Images a network trained off the CPU predicts on the CPU after its first epoch, to time
#: the check of its ONNX graph there (:meth:`TorchFamily.cpu_prediction_seconds`).
CPU_SAMPLE = 32
#: A network that, once it has taken STALL_STEPS optimiser steps, is no better than always
#: answering the commonest class (plus STALL_MARGIN) for STALL_EPOCHS epochs in a row has
#: stopped learning: the fit raises NotLearning. In a 1-hour search a width-48 cnn (AdamW at a
#: constant lr 0.09) sat at 10.00% validation accuracy for 3 epochs and 446 s until successive
#: halving reached it; it would have stopped after 2. One epoch is not enough: an mlp at SGD
#: lr 1.4e-4 was at 8.8% after epoch 1, then 26% and 57%. The 47 networks of four earlier
#: benchmark studies hold no other case below 11% after 300 steps. Small subsets (tests,
#: smoke runs) rarely take 300 steps.
STALL_STEPS = 300
STALL_EPOCHS = 2
STALL_MARGIN = 0.01


class TorchFamily(Family):
    """A torch classifier trained by SGD/AdamW with an optional OneCycle/cosine schedule.

    Params read here (each family's YAML declares the ones it searches): ``epochs``,
    ``batch_size``, ``optimizer`` (sgd|adamw), ``lr``, ``momentum``, ``weight_decay``,
    ``schedule`` (onecycle|cosine|linear|constant), ``label_smoothing``, and the
    augmentation switches ``flip``, ``shift``, ``erase``. Opt-in, off when absent:
    ``warmup`` (the linear schedule's warm-up fraction), ``bn_lr`` (a learning-rate factor
    for BatchNorm parameters), ``ema`` (the decay of an exponential moving average of the
    weights, which is then what is evaluated and exported) and ``tta_shift`` (test-time
    views moved by one pixel up and down, besides the flips).

    On a data set whose labels a mirror image changes (``info.flips`` false: digits),
    ``fit`` turns ``flip`` off and records that in ``params``: no flipped training images,
    no flip test-time augmentation.
    """

    fidelity = "‰ of schedule"
    uses_torch = True
    #: Learning-rate schedules of runs with different lengths are in different phases at the
    #: same epoch (a 40-epoch OneCycle run is still warming up at epoch 3): compared there,
    #: long runs are pruned for being long. So rungs are shares of the schedule.
    min_resource = FIRST_RUNG
    #: Convolutions run ~1.6x faster on CPU in NHWC layout (measured, torch 2.13, 1 thread).
    channels_last = False

    @abstractmethod
    def build_network(self) -> nn.Module:
        """The untrained network for ``self.params`` and the data set ``self.info``: input
        N x C x H x W (``info.shape``), one logit per class (``info.n_classes``)."""

    #: Augmentation matched to the run's length: random erasing only in schedules of at
    #: least this many epochs (0: in all). A family sets it from its own measurements.
    erase_from_epochs = 0

    def augmentation(self, epochs: int) -> tuple[bool, int, float]:
        """``(flip, shift, erase)`` for a schedule of ``epochs`` epochs: the params, without
        random erasing where the schedule is shorter than :attr:`erase_from_epochs`. Asked
        again whenever a network paces its schedule to its deadline."""
        p = self._param
        erase = float(p("erase", 0.0)) if epochs >= self.erase_from_epochs else 0.0
        return bool(p("flip", False)), int(p("shift", 0)), erase

    def _param(self, key: str, default: Any) -> Any:
        return self.params.get(key, default)

    def _optimizer(self, model: nn.Module, lr: float, wd: float) -> torch.optim.Optimizer:
        import torch
        from torch import nn

        bn_lr = float(self._param("bn_lr", 1.0))
        groups: list[dict[str, Any]] = [{"params": list(model.parameters())}]
        if bn_lr != 1.0:
            norms = (nn.BatchNorm1d, nn.BatchNorm2d)
            bn = [x for m in model.modules() if isinstance(m, norms) for x in m.parameters()]
            bn_ids = {id(x) for x in bn}
            other = [x for x in model.parameters() if id(x) not in bn_ids]
            # the same decay per step (lr x weight decay) at the higher learning rate
            groups = [
                {"params": other},
                {"params": bn, "lr": lr * bn_lr, "weight_decay": wd / bn_lr},
            ]
        if self._param("optimizer", "adamw") == "sgd":
            return torch.optim.SGD(
                groups,
                lr=lr,
                momentum=float(self._param("momentum", 0.9)),
                nesterov=True,
                weight_decay=wd,
            )
        return torch.optim.AdamW(groups, lr=lr, weight_decay=wd)

    def _fit(self, data: Split, report: Report) -> None:
        import torch
        import torch.nn.functional as F

        p = self._param
        info = self.info
        if not info.flips and p("flip", False):
            self.params["flip"] = False  # a mirrored digit is another digit, or none
        torch.manual_seed(self.seed)
        device = pick_device(self.device)
        gen = torch.Generator(device=device).manual_seed(self.seed)
        X = to_tensor(data.X_train, device, info)
        y = torch.from_numpy(data.y_train).to(device)
        X_val = to_tensor(data.X_val, device, info)
        y_val = torch.from_numpy(data.y_val).to(device)
        self.device_ = device
        model = self.build_network().to(device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            X = X.contiguous(memory_format=torch.channels_last)
            X_val = X_val.contiguous(memory_format=torch.channels_last)
        # with ``ema``, the average is the model: evaluated at every rung and exported
        decay = float(p("ema", 0.0))
        average = copy.deepcopy(model).requires_grad_(False) if decay > 0 else None
        self.model_ = model if average is None else average
        pairs = (
            zip(average.state_dict().values(), model.state_dict().values(), strict=True)
            if average is not None
            else ()
        )
        floats = [(a, m) for a, m in pairs if a.is_floating_point()]  # not BN's batch count
        ema_pairs = ([a for a, _ in floats], [m for _, m in floats])
        updates = 0

        epochs, batch = int(p("epochs", 10)), int(p("batch_size", 128))
        steps_per_epoch = math.ceil(len(X) / batch)
        lr, wd = float(p("lr", 1e-3)), float(p("weight_decay", 0.0))
        opt = self._optimizer(model, lr, wd)
        peaks = [group["lr"] for group in opt.param_groups]
        schedule = p("schedule", "onecycle")

        def make_schedule(steps: int) -> torch.optim.lr_scheduler.LRScheduler | None:
            return lr_schedule(opt, schedule, peaks, steps, warmup=float(p("warmup", 0.0)))

        sched = make_schedule(epochs * steps_per_epoch)
        pacer = Pacer(self.deadline, epochs) if self.deadline is not None else None
        flip, shift, erase = self.augmentation(epochs)  # matched to the schedule's length
        on_cpu = 0.0  # off the CPU, its ONNX graph's check there (measured after epoch 1)

        def pace(epoch: int, started: float, validation: float) -> None:
            """Fit the schedule to the deadline at the pace measured so far (Pacer)."""
            nonlocal epochs, sched, on_cpu, flip, shift, erase
            if pacer is None:
                return
            if epoch == 1 and device.type != "cpu":
                on_cpu = self.cpu_prediction_seconds(len(y_val))
            # the trial predicts (and may save and check) after the last epoch
            finish = finish_seconds(validation, len(self.tta_views)) + on_cpu
            fit = pacer.epochs_after(epoch, epochs, started, time.time(), finish)
            if fit == epochs:
                return
            # a schedule cut off by the deadline leaves a model at a high learning rate:
            # rather run a whole schedule over the epochs that fit, from where this one is
            epochs = fit
            self.params["epochs"] = fit
            total, done = fit * steps_per_epoch, epoch * steps_per_epoch
            sched = resumed_schedule(make_schedule, opt, peaks, total, done)
            # from the next epoch, the augmentation of the schedule's new length
            flip, shift, erase = self.augmentation(fit)

        smoothing = float(p("label_smoothing", 0.0))
        # mixed precision (amp_dtype); float16 needs its gradients scaled (bfloat16 does not)
        amp = amp_dtype(device)
        scaler = torch.amp.GradScaler("cuda", enabled=amp == torch.float16)
        fill = background(info)

        commonest = float(torch.bincount(y_val).max()) / len(y_val) if len(y_val) else 1.0
        stalled = 0  # epochs in a row at chance level (after STALL_STEPS steps)
        epoch = reported = 0
        while epoch < epochs:
            epoch += 1
            started = time.time()
            model.train()
            order = torch.randperm(len(X), generator=gen, device=device)
            total = torch.zeros((), device=device)
            for step, start in enumerate(range(0, len(X), batch)):
                if step % 20 == 0:
                    self.check_deadline()  # an epoch can take a minute on a CPU
                idx = order[start : start + batch]
                xb = augment(X[idx], gen, flip=flip, shift=shift, erase=erase, fill=fill)
                if self.channels_last:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                    loss = F.cross_entropy(model(xb), y[idx], label_smoothing=smoothing)
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                if average is not None:
                    update_ema(ema_pairs, ema_decay(decay, updates))
                    updates += 1
                if sched is not None:
                    sched.step()
                total += loss.detach()
            mean_loss = float(total) / steps_per_epoch
            if not math.isfinite(mean_loss):
                raise TrainingDiverged(
                    f"{self.name}: training loss is {mean_loss} in epoch {epoch} (lr={lr:g})"
                )
            self.last_loss_ = mean_loss
            # the rung's accuracy in the training's precision: half float32's time here
            # (1.5 s against 3.1 s of a 22-s epoch of the long cnn on two threads); the
            # trial's value and the export are float32 predictions (``_predict_proba``)
            validating = time.time()
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                val_pred = self._logits(X_val).argmax(1)
            acc = float((val_pred == y_val).float().mean())
            validation = time.time() - validating
            if epoch > 1:  # paced first: reported at its share of the schedule it is in now
                pace(epoch, started, validation)
            if (rung := schedule_step(epoch, epochs)) > reported:  # equal past 1000 epochs
                reported = rung
                report(rung, acc)
            chance = epoch * steps_per_epoch >= STALL_STEPS and acc <= commonest + STALL_MARGIN
            stalled = stalled + 1 if chance else 0
            if stalled >= STALL_EPOCHS:
                raise NotLearning(
                    f"{self.name}: validation accuracy {acc:.4f} for {stalled} epochs in a row "
                    f"is no better than always answering the commonest class "
                    f"({commonest:.4f}) (lr={lr:g})"
                )
            if epoch == 1:  # reported at its share of the planned schedule, then paced
                pace(epoch, started, validation)
        if erase != float(p("erase", 0.0)):  # the model card tells what the model trained with
            self.params["erase"] = erase  # (all but the first epoch(s), where it changed)

    @property
    def flip_tta(self) -> bool:
        """Average the predictions for each image and its mirror image (test-time
        augmentation) when the network was trained with flips: +0.2% validation accuracy
        measured on a 6-epoch CNN, for a second forward pass. Never where a mirror image
        changes the label (``info.flips``)."""
        return bool(self._param("flip", False)) and self.info.flips

    @property
    def tta_views(self) -> list[tuple[bool, int, int]]:
        """The test-time views ``(flip, dy, dx)`` whose probabilities are averaged.

        The shifts are vertical: a set closed under mirroring, so that an image and its
        mirror image still get the same prediction.
        """
        flips = [False, True] if self.flip_tta else [False]
        moves = [(0, 0), (1, 0), (-1, 0)] if self._param("tta_shift", False) else [(0, 0)]
        return [(f, dy, dx) for dy, dx in moves for f in flips]

    def deploy_module(self) -> nn.Module:
        """A CPU copy of the network in eval mode, with normalisation and softmax around it.

        A copy, because ``.cpu()`` and ``.eval()`` work in place: on the trained network
        they would move it off its GPU, and the next ``predict_proba`` (validation
        probabilities, the saved artifact) would send CUDA inputs to a CPU network.
        """
        from torch import nn

        from automl_fashion.families._deploy import FlipAverage, Softmax

        info = self.info

        class Normalize(nn.Module):
            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return normalize(x.reshape(-1, *info.shape).float() / 255.0, info)

        net: nn.Module = nn.Sequential(copy.deepcopy(self.model_).cpu(), Softmax())
        views = self.tta_views
        if views == [(False, 0, 0), (True, 0, 0)]:
            net = FlipAverage(net, width=info.size[1])
        elif len(views) > 1:
            net = view_average(net, views, info)
        return nn.Sequential(Normalize(), net).eval().cpu()

    def cpu_prediction_seconds(self, n: int, sample: int = CPU_SAMPLE) -> float:
        """Seconds the CPU takes to predict ``n`` images with a copy of this network (all its
        test-time views), on this fit's threads: where the network trains on a GPU, what
        the check of its ONNX graph on the validation images costs after its last epoch
        (onnxruntime on the CPU): the GPU's 64-128-256 resnet takes some 70 times the
        multiply-adds of the CPU's 16-channel cnn."""
        from automl_fashion.families._deploy import cpu_seconds  # imports torch

        return cpu_seconds(self.deploy_module(), self.info.shape, n, sample)

    def _logits(self, X: torch.Tensor) -> torch.Tensor:
        import torch

        self.model_.eval()
        with torch.inference_mode():
            return torch.cat(
                [self.model_(X[i : i + EVAL_BATCH]) for i in range(0, len(X), EVAL_BATCH)]
            )

    def _predict_proba(self, X: np.ndarray) -> np.ndarray:
        import torch

        x = to_tensor(X, self.device_, self.info)
        fill = background(self.info)
        probas = []
        for flip, dy, dx in self.tta_views:
            view = shifted(x, dy, dx, fill)
            view = view.flip(3) if flip else view
            if self.channels_last:
                view = view.contiguous(memory_format=torch.channels_last)
            probas.append(self._logits(view).softmax(1))
        proba_t = probas[0] if len(probas) == 1 else sum(probas[1:], probas[0]) / len(probas)
        proba: np.ndarray = proba_t.double().cpu().numpy()
        return proba


__all__ = [
    "TorchFamily",
    "amp_dtype",
    "augment",
    "background",
    "cpu_has_bf16",
    "normalize",
    "pad",
    "pick_device",
    "shifted",
    "to_tensor",
    "view_average",
]
