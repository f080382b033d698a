"""Learning-rate schedules for descent's numpy optimizers, with torch.optim.lr_scheduler's
class names, arguments, defaults and lr sequences; the schedule runs in the engine.

    opt = descent.AdamW(params, lr=3e-4)
    sched = descent.lr_scheduler.CosineAnnealingLR(opt, T_max=1000)
    for _ in range(1000):
        opt.step(grads)
        sched.step()

`state_dict()`/`load_state_dict()` save and restore a schedule (configuration and
progress, as bytes) and the groups' lrs, so a resumed run continues on the same lr
sequence. Deliberate differences from torch: `last_epoch` other than -1 is refused
(resume with load_state_dict instead), the deprecated `epoch` argument of step() is not
taken, CyclicLR has no custom `scale_fn`, arguments torch leaves unchecked are checked,
and ReduceLROnPlateau may sit inside SequentialLR and ChainedScheduler (step those with
the metric). descent.torch optimizers keep using torch.optim.lr_scheduler itself.
"""
from . import _descent
from .hyperparameters import torch_items
from .optim import Optimizer

__all__ = [
    "LRScheduler", "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR",
    "LinearLR", "ExponentialLR", "SequentialLR", "CosineAnnealingLR", "ChainedScheduler",
    "ReduceLROnPlateau", "CyclicLR", "CosineAnnealingWarmRestarts", "OneCycleLR",
    "PolynomialLR", "WarmupCosineLR",
]


def _check_last_epoch(last_epoch):
    if last_epoch != -1:
        raise ValueError("descent schedules start at last_epoch=-1; resume a run with load_state_dict()")


def _choice(value, choices, message):
    if value not in choices:
        raise ValueError(message)
    return choices.index(value)


def _per_group(value):
    return list(value) if isinstance(value, (list, tuple)) else float(value)


class LRScheduler:
    """Base class: a schedule in the engine acting on every group of `optimizer`."""

    def __init__(self, optimizer, kind, *args):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not a descent optimizer "
                            "(descent.torch optimizers work with torch.optim.lr_scheduler)")
        self.optimizer = optimizer
        self._core = _descent.Schedule(optimizer._core, kind, *args)
        self._sync_groups()

    def step(self):
        """Advances the schedule one step; call it after optimizer.step()."""
        self._core.step()
        self._sync_groups()

    def get_last_lr(self):
        """The lr of every group after the last step."""
        return self._core.last_lr()

    @property
    def last_epoch(self):
        return self._core.last_epoch

    def state_dict(self):
        """The schedule's configuration and progress, as engine bytes under one key."""
        return {"descent_schedule": self._core.save_state()}

    def load_state_dict(self, state_dict):
        """Restores a state_dict() of a schedule of the same kind and sets the groups'
        lrs to its last lrs; nothing changes if it does not fit."""
        self._core.load_state(state_dict["descent_schedule"])
        self._sync_groups()

    def _sync_groups(self):
        """Mirrors the engine's lr (and cycled momentum) into optimizer.param_groups."""
        for index, group in enumerate(self.optimizer.param_groups):
            engine = torch_items(self.optimizer.algorithm, self.optimizer._core.get_group(index))
            for key in ("lr", "momentum", "betas"):
                if key in group:
                    dict.__setitem__(group, key, engine[key])

    def __repr__(self):
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, last_lr={self.get_last_lr()})"


class StepLR(LRScheduler):
    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        _check_last_epoch(last_epoch)
        super().__init__(optimizer, "StepLR", step_size, gamma)


class MultiStepLR(LRScheduler):
    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        _check_last_epoch(last_epoch)
        super().__init__(optimizer, "MultiStepLR", list(milestones), gamma)


class ConstantLR(LRScheduler):
    def __init__(self, optimizer, factor=1.0 / 3, total_iters=5, last_epoch=-1):
        _check_last_epoch(last_epoch)
        super().__init__(optimizer, "ConstantLR", factor, total_iters)


class LinearLR(LRScheduler):
    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5, last_epoch=-1):
        _check_last_epoch(last_epoch)
        super().__init__(optimizer, "LinearLR", start_factor, end_factor, total_iters)


class ExponentialLR(LRScheduler):
    def __init__(self, optimizer, gamma, last_epoch=-1):
        _check_last_epoch(last_epoch)
        super().__init__(optimizer, "ExponentialLR", gamma)


class PolynomialLR(LRScheduler):
    def __init__(self, optimizer, total_iters=5, power=1.0, last_epoch=-1):
        _check_last_epoch(last_epoch)
        super().__init__(optimizer, "PolynomialLR", total_iters, power)


class CosineAnnealingLR(LRScheduler):
    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        _check_last_epoch(last_epoch)
        super().__init__(optimizer, "CosineAnnealingLR", T_max, eta_min)


class CosineAnnealingWarmRestarts(LRScheduler):
    def __init__(self, optimizer, T_0, T_mult=1, eta_min=0.0, last_epoch=-1):
        if not isinstance(T_0, int) or T_0 <= 0:
            raise ValueError(f"Expected positive integer T_0, but got {T_0}")
        if not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(f"Expected integer T_mult >= 1, but got {T_mult}")
        _check_last_epoch(last_epoch)
        super().__init__(optimizer, "CosineAnnealingWarmRestarts", T_0, T_mult, eta_min)


class WarmupCosineLR(LRScheduler):
    """Descent's own, the seed document's formula: at step t (0 at creation), with
    max_lr each group's lr at creation,

        t < warmup_steps:                max_lr * t / warmup_steps
        warmup_steps <= t < decay_steps: min_lr + 0.5 * (max_lr - min_lr) * (1 + cos(pi * p)),
                                         p = (t - warmup_steps) / (decay_steps - warmup_steps)
        t >= decay_steps:                min_lr

    so the first step uses lr 0, as transformers' get_cosine_schedule_with_warmup.
    warmup_start="first_step" warms up as max_lr * (t + 1) / (warmup_steps + 1) instead
    (the first step already moves; Descent's only form before 2026-11-30)."""

    WARMUP_STARTS = ("zero", "first_step")  # the C interface's descent_warmup_start, in order

    def __init__(self, optimizer, warmup_steps, decay_steps, min_lr=0.0, warmup_start="zero"):
        start = _choice(warmup_start, self.WARMUP_STARTS,
                        f"warmup_start must be one of {self.WARMUP_STARTS}, got {warmup_start!r}")
        super().__init__(optimizer, "WarmupCosineLR", warmup_steps, decay_steps, min_lr, start)


class CyclicLR(LRScheduler):
    def __init__(self, optimizer, base_lr, max_lr, step_size_up=2000, step_size_down=None,
                 mode="triangular", gamma=1.0, scale_fn=None, scale_mode="cycle",
                 cycle_momentum=True, base_momentum=0.8, max_momentum=0.9, last_epoch=-1):
        if scale_fn is not None:
            raise NotImplementedError("descent's CyclicLR has no custom scale_fn")
        mode_id = _choice(mode, ["triangular", "triangular2", "exp_range"], "mode is invalid and scale_fn is None")
        _check_last_epoch(last_epoch)
        super().__init__(optimizer, "CyclicLR", _per_group(base_lr), _per_group(max_lr), step_size_up,
                         -1 if step_size_down is None else step_size_down, mode_id, gamma,
                         bool(cycle_momentum), _per_group(base_momentum), _per_group(max_momentum))


class OneCycleLR(LRScheduler):
    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
                 pct_start=0.3, anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85,
                 max_momentum=0.95, div_factor=25.0, final_div_factor=1e4, three_phase=False,
                 last_epoch=-1):
        # torch's argument checks, in torch's order and words.
        if total_steps is not None:
            if not isinstance(total_steps, int) or total_steps <= 0:
                raise ValueError(f"Expected positive integer total_steps, but got {total_steps}")
        elif epochs is not None and steps_per_epoch is not None:
            if not isinstance(epochs, int) or epochs <= 0:
                raise ValueError(f"Expected positive integer epochs, but got {epochs}")
            if not isinstance(steps_per_epoch, int) or steps_per_epoch <= 0:
                raise ValueError(f"Expected positive integer steps_per_epoch, but got {steps_per_epoch}")
            total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
        if not isinstance(pct_start, float) or pct_start < 0 or pct_start > 1:
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        strategy = _choice(anneal_strategy, ["cos", "linear"],
                           f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
        _check_last_epoch(last_epoch)
        super().__init__(optimizer, "OneCycleLR", _per_group(max_lr), total_steps, pct_start, strategy,
                         bool(cycle_momentum), _per_group(base_momentum), _per_group(max_momentum),
                         div_factor, final_div_factor, bool(three_phase))


class ReduceLROnPlateau(LRScheduler):
    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8):
        if factor >= 1.0:
            raise ValueError("Factor should be < 1.0.")
        mode_id = _choice(mode, ["min", "max"], f"mode {mode} is unknown!")
        threshold_id = _choice(threshold_mode, ["rel", "abs"], f"threshold mode {threshold_mode} is unknown!")
        super().__init__(optimizer, "ReduceLROnPlateau", mode_id, factor, patience, threshold, threshold_id,
                         cooldown, _per_group(min_lr), eps)

    def step(self, metrics):
        """Compares `metrics` (a number) with the best so far; may reduce the lrs."""
        self._core.step(float(metrics))
        self._sync_groups()


def _lambdas(optimizer, lr_lambda, check_callable):
    lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda]
    groups = len(optimizer.param_groups)
    if isinstance(lr_lambda, (list, tuple)) and len(lambdas) != groups:
        raise ValueError(f"Expected {groups} lr_lambdas, but got {len(lambdas)}")
    for function in lambdas:
        if check_callable and not callable(function):
            raise TypeError(f"lr_lambda should be a function, but got {type(function).__name__}")
    return tuple(lambdas)


class LambdaLR(LRScheduler):
    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        _check_last_epoch(last_epoch)
        self.lr_lambdas = _lambdas(optimizer, lr_lambda, check_callable=False)
        super().__init__(optimizer, "LambdaLR", self.lr_lambdas)


class MultiplicativeLR(LRScheduler):
    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        _check_last_epoch(last_epoch)
        self.lr_lambdas = _lambdas(optimizer, lr_lambda, check_callable=True)
        super().__init__(optimizer, "MultiplicativeLR", self.lr_lambdas)


class _Composite(LRScheduler):
    """Steps with a metric when a ReduceLROnPlateau is inside."""

    def step(self, metrics=None):
        self._core.step(None if metrics is None else float(metrics))
        self._sync_groups()


class SequentialLR(_Composite):
    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        _check_last_epoch(last_epoch)
        self._schedulers = list(schedulers)
        super().__init__(optimizer, "SequentialLR", [s._core for s in self._schedulers], list(milestones))


class ChainedScheduler(_Composite):
    def __init__(self, schedulers, optimizer=None):
        self._schedulers = list(schedulers)
        if not self._schedulers:
            raise ValueError("ChainedScheduler expects at least one scheduler to be chained, but got no scheduler.")
        optimizer = optimizer or self._schedulers[0].optimizer
        super().__init__(optimizer, "ChainedScheduler", [s._core for s in self._schedulers])
