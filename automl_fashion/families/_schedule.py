"""The clock of a network's training, as pure functions: how many epochs fit before a
deadline, the rung step of an epoch (its share of the schedule), the learning-rate
schedules and the exponential moving average of the weights. Torch is imported only where
tensors are touched (``lr_schedule``, ``update_ema``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

#: A schedule is not shortened below this many epochs.
MIN_EPOCHS = 3
#: Networks report each epoch at the share of their schedule done, in per mille: the last
#: epoch is step SCHEDULE_STEPS, epoch 4 of 16 is step 250.
SCHEDULE_STEPS = 1000
#: The first rung successive halving compares networks at (its later ones are 3x this): a
#: quarter of the schedule, where OneCycle reaches its peak learning rate. Counted in epochs,
#: the 2-hour search with the plan pruned 33 of 54 cnn at epoch 3: 4-to-9-epoch schedules
#: (90.2-91.1% there, already annealing) set the bar, and runs of 10 to 30 epochs, still near
#: their peak learning rate at epoch 3 (80.6-89.2%), were all pruned for being long.
FIRST_RUNG = SCHEDULE_STEPS // 4


#: What a network's trial does after its last epoch, in rung-validation passes per
#: test-time view: the trial's float32 prediction of the validation images and, where the
#: trial is saved, its ONNX graph's on them for the parity check. Measured for the long cnn
#: on one thread of the Xeon (ad-hoc timing, rung passes in bfloat16): 2.9 passes for the
#: prediction, 1.8 for onnxruntime's, 0.1 for export and files; a 1-hour search's last
#: network, keeping half an epoch (15 s), ended 27 s past the time the plan kept for the end.
FINISH_PASSES = 5.0
#: ...and this, for what does not scale with the network: ONNX export, files, the journal,
#: onnxruntime on the CPU when the network trained on a GPU.
FINISH_SECONDS = 2.0


def finish_seconds(validation: float, views: int) -> float:
    """The time to keep after the last epoch, from one rung validation's ``validation``
    seconds and the prediction's ``views`` (test-time augmentation)."""
    return FINISH_SECONDS + FINISH_PASSES * max(1, views) * validation


#: Of the time left after a network's first epoch, the share kept for later epochs that run
#: slower than the first: on a long run it outweighs the quarter epoch kept otherwise. The
#: budget plan's last networks train to the deadline on this check alone (a 40-minute run
#: keeps about one epoch); at 10 minutes (16 epochs or fewer) the half epoch is more.
LATE_SHARE = 0.03


def epochs_within(
    deadline: float,
    now: float,
    per_epoch: float,
    planned: int,
    finish: float = 0.0,
    done: int = 1,
) -> int:
    """How many epochs in all (``done`` done) fit before ``deadline``, keeping ``finish``
    seconds (:func:`finish_seconds`) and a quarter epoch for an epoch slower than the
    others, or half an epoch, or :data:`LATE_SHARE` of the time left, whichever is most:
    ``planned`` if all do, never fewer than ``MIN_EPOCHS`` nor than one more."""
    time_left = deadline - now
    left = time_left - max(0.5 * per_epoch, finish + 0.25 * per_epoch, LATE_SHARE * time_left)
    fit = done + int(left // per_epoch) if per_epoch > 0 else planned
    return planned if fit >= planned else max(MIN_EPOCHS, done + 1, fit)


#: The epoch after which a network measures its pace again, from the epochs after the first:
#: the first is slower, by 8-10% for the 2-hour search's last networks on two CPU threads
#: (the other worker's inits beside it) and 3-7 times on an H200 (8-11 s against 1.3-3.1 s
#: for the second and later epochs, four networks starting at once), and a schedule cut to
#: it ends far from the deadline: an H200's resnet cut to 102 epochs ended at 266 s of its
#: 420. The second epoch already runs at the later ones' pace there (within 0.1 s). Not
#: later: a schedule cut to MIN_EPOCHS would end before it.
RECHECK_EPOCH = 2


#: Past RECHECK_EPOCH, a network's recent pace is the mean of its last this many epochs: one
#: slow epoch (the other worker's trial starting beside it) weighs a third.
RECENT_EPOCHS = 3
#: ... and it shortens its schedule only where that pace would end it more than this share
#: of an epoch past the deadline (the time to finish kept), since the time kept is already
#: generous: a 10-minute search's 17-epoch cnn, cut to 16 after epoch 6 on its last epochs'
#: pace, ended 46 s before the deadline, where 17 would have ended 19 s before it.
OVERRUN_TOLERANCE = 0.5
#: ... and, in the first this share of a schedule shortened below what was planned, it
#: lengthens it again where even that slower pace fits more epochs (at most the planned
#: ones, keeping what :func:`epochs_within` keeps). One slow epoch cut the 10-minute
#: search's lone network for good: a cnn cut from 17 to 15 epochs after its 9th (29.6 s
#: against 25.7 s), and one cut to 13 after a slow second epoch, ended 36 s and 58 s before
#: a 450-s deadline (the EPYC, 2026-11-28). Not later: each change moves the learning rate
#: along the schedule (cosine: from 0.50 to 0.55 of its peak for one epoch more at 8 of 16).
LENGTHEN_SHARE = 0.5


class Pacer:
    """When a network training to a deadline changes its number of epochs.

    After the first epoch, to what fits at that epoch's pace (never more than planned: a
    schedule too long must be cut before its learning rate anneals). After
    :data:`RECHECK_EPOCH`, to what fits at the pace since the first epoch, up to the planned
    number again. After any later epoch, shorter where the slower of that pace and the
    recent one (:data:`RECENT_EPOCHS`) would end more than :data:`OVERRUN_TOLERANCE` of an
    epoch past the deadline (the time to finish kept); longer, up to the planned number,
    where the schedule is shorter than planned, at most :data:`LENGTHEN_SHARE` done, and
    that slower pace fits more. Times are ``time.time()`` values, so that tests drive it
    with made-up ones.
    """

    def __init__(self, deadline: float, planned: int) -> None:
        self.deadline = deadline
        self.planned = planned
        self._ends: list[float] = []  # when each epoch ended, from the first

    def epochs_after(
        self, epoch: int, epochs: int, started: float, now: float, finish: float
    ) -> int:
        """The schedule's epochs after epoch ``epoch`` (begun at ``started``, ended at
        ``now``) of ``epochs``, keeping ``finish`` seconds after the last."""
        if epoch == 1:
            self._ends = [now]
            fit = epochs_within(self.deadline, now, now - started, epochs, finish)
            return min(fit, epochs)
        self._ends.append(now)
        if len(self._ends) != epoch or epoch < RECHECK_EPOCH or epoch >= epochs:
            return epochs
        pace = (now - self._ends[0]) / (epoch - 1)
        if epoch == RECHECK_EPOCH:
            return epochs_within(self.deadline, now, pace, self.planned, finish, done=epoch)
        recent = min(RECENT_EPOCHS, epoch - 1)
        slower = max(pace, (now - self._ends[-1 - recent]) / recent)
        if epochs < self.planned and epoch <= LENGTHEN_SHARE * epochs:
            longer = epochs_within(self.deadline, now, slower, self.planned, finish, done=epoch)
            if longer > epochs:
                return longer
        if now + (epochs - epoch - OVERRUN_TOLERANCE) * slower + finish <= self.deadline:
            return epochs
        return min(epochs, epochs_within(self.deadline, now, slower, epochs, finish, done=epoch))


def resumed_schedule(
    make: Callable[[int], Any], optimizer: Any, peaks: Sequence[float], steps: int, done: int
) -> Any:
    """A schedule of ``steps`` in all made by ``make`` (or None), at step ``done``: a
    network's schedule changed mid-run goes on from where it is. The learning rates are set
    back to their ``peaks`` first, since torch's cosine schedule steps from the current rate
    (it would decay twice)."""
    for group, peak in zip(optimizer.param_groups, peaks, strict=True):
        group["lr"] = peak
    schedule = make(steps)
    if schedule is not None:
        for _ in range(done):
            schedule.step()
    return schedule


def schedule_step(epoch: int, epochs: int) -> int:
    """The rung step of ``epoch`` in a schedule of ``epochs``: its share, per mille."""
    return SCHEDULE_STEPS * epoch // max(1, epochs)


def lr_schedule(
    optimizer: torch.optim.Optimizer,
    kind: str,
    peaks: Sequence[float],
    steps: int,
    warmup: float = 0.0,
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The learning-rate schedule ``kind`` (onecycle, cosine, linear; None for constant)
    over ``steps`` optimiser steps, peaking at ``peaks`` (one per parameter group);
    ``warmup``: the linear schedule's warm-up fraction."""
    import torch

    if kind == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=list(peaks),
            # at 4 steps its warm-up ends at step 0: a division by zero
            total_steps=max(steps, 5),
            pct_start=0.25,
            # cycling would overwrite the tuned SGD momentum; AdamW's beta1 cycles
            cycle_momentum=not isinstance(optimizer, torch.optim.SGD),
        )
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    if kind == "linear":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, linear_schedule(steps, warmup))
    return None


def linear_schedule(steps: int, warmup: float) -> Any:
    """Learning-rate factor per step: a linear warm-up over the first ``warmup`` fraction of
    ``steps``, then a linear decay that reaches zero after the last step."""
    warm = max(1, int(warmup * steps))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (steps - step) / max(1, steps - warm))

    return factor


def ema_decay(decay: float, updates: int) -> float:
    """The EMA decay for update number ``updates`` (0 first): ramped up over the first
    updates, so that the random initial weights are forgotten in short runs."""
    return min(decay, (1 + updates) / (10 + updates))


def update_ema(pairs: tuple[list[torch.Tensor], list[torch.Tensor]], decay: float) -> None:
    """``average = decay * average + (1 - decay) * current``, tensor by tensor."""
    import torch

    averages, currents = pairs
    with torch.no_grad():
        torch._foreach_lerp_(averages, currents, 1.0 - decay)


__all__ = [
    "FINISH_PASSES",
    "FINISH_SECONDS",
    "FIRST_RUNG",
    "LATE_SHARE",
    "LENGTHEN_SHARE",
    "MIN_EPOCHS",
    "OVERRUN_TOLERANCE",
    "RECENT_EPOCHS",
    "RECHECK_EPOCH",
    "SCHEDULE_STEPS",
    "Pacer",
    "ema_decay",
    "epochs_within",
    "finish_seconds",
    "linear_schedule",
    "lr_schedule",
    "resumed_schedule",
    "schedule_step",
    "update_ema",
]
