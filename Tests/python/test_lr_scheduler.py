"""descent.lr_scheduler against torch.optim.lr_scheduler (torch 2.15): for every schedule
and option, the lr (and cycled momentum) of every group over 2,000 steps equals torch's
within 1e-12 relative, also when the run is saved and resumed into a fresh optimizer and
schedule halfway. Both libraries take the same class names and keywords, so one builder
per case makes both."""
import math
import warnings

import numpy as np
import pytest
import torch

import descent
import descent.lr_scheduler as dls
import torch.optim.lr_scheduler as tls

STEPS = 2000
RESUME_AT = 1000
RTOL = 1e-12

# Two groups with different lrs, for every optimizer kind the schedules touch.
OPTIMIZERS = {
    "SGD": dict(lr=0.1, momentum=0.9),
    "Adam": dict(lr=0.01),
    "RMSprop": dict(lr=0.01, momentum=0.5),
}


def make_optimizer(lib, algorithm):
    kwargs = OPTIMIZERS[algorithm]
    if lib == "torch":
        groups = [{"params": [torch.zeros(3, requires_grad=True)]},
                  {"params": [torch.zeros(2, requires_grad=True)], "lr": kwargs["lr"] / 2}]
        return getattr(torch.optim, algorithm)(groups, **kwargs)
    groups = [{"params": [np.zeros(3, np.float32)]},
              {"params": [np.zeros(2, np.float32)], "lr": kwargs["lr"] / 2}]
    return getattr(descent, algorithm)(groups, **kwargs)


def metric(t):
    """A loss curve with noise and plateaus, so ReduceLROnPlateau both waits and reduces."""
    return 1.0 / (1 + t / 50) + 0.05 * math.sin(t * 0.7) + (0.3 if (t // 97) % 3 == 0 else 0.0)


def plateau_steps(scheduler):
    return lambda t: scheduler.step(metric(t))


# name -> (optimizer, builder(L, opt) -> scheduler, needs_metric)
CASES = {
    "StepLR": ("SGD", lambda L, o: L.StepLR(o, step_size=30), False),
    "StepLR-gamma": ("SGD", lambda L, o: L.StepLR(o, step_size=7, gamma=0.97), False),
    "MultiStepLR": ("SGD", lambda L, o: L.MultiStepLR(o, milestones=[10, 300, 300, 1500], gamma=0.5), False),
    "ConstantLR": ("SGD", lambda L, o: L.ConstantLR(o), False),
    "ConstantLR-long": ("SGD", lambda L, o: L.ConstantLR(o, factor=0.25, total_iters=1200), False),
    "LinearLR": ("SGD", lambda L, o: L.LinearLR(o), False),
    "LinearLR-down": ("SGD", lambda L, o: L.LinearLR(o, start_factor=1.0, end_factor=0.05, total_iters=1500), False),
    "ExponentialLR": ("SGD", lambda L, o: L.ExponentialLR(o, gamma=0.998), False),
    "PolynomialLR": ("SGD", lambda L, o: L.PolynomialLR(o), False),
    "PolynomialLR-power": ("SGD", lambda L, o: L.PolynomialLR(o, total_iters=1800, power=2.5), False),
    "CosineAnnealingLR": ("SGD", lambda L, o: L.CosineAnnealingLR(o, T_max=2000), False),
    "CosineAnnealingLR-cycles": ("SGD", lambda L, o: L.CosineAnnealingLR(o, T_max=150, eta_min=1e-4), False),
    "CosineAnnealingWarmRestarts": ("SGD", lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=100), False),
    "CosineAnnealingWarmRestarts-mult": (
        "SGD", lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=2, eta_min=1e-3), False),
    "CyclicLR-triangular": ("SGD", lambda L, o: L.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=150), False),
    "CyclicLR-triangular2": ("SGD", lambda L, o: L.CyclicLR(
        o, base_lr=[0.01, 0.02], max_lr=[0.1, 0.3], step_size_up=100, step_size_down=60, mode="triangular2"), False),
    "CyclicLR-exp_range": ("SGD", lambda L, o: L.CyclicLR(
        o, base_lr=0.001, max_lr=0.1, step_size_up=70, mode="exp_range", gamma=0.999,
        base_momentum=[0.7, 0.75], max_momentum=0.95), False),
    "CyclicLR-no-momentum": ("Adam", lambda L, o: L.CyclicLR(
        o, base_lr=0.001, max_lr=0.01, step_size_up=40, cycle_momentum=False), False),
    "CyclicLR-beta1": ("Adam", lambda L, o: L.CyclicLR(o, base_lr=0.001, max_lr=0.01, step_size_up=90), False),
    "OneCycleLR": ("SGD", lambda L, o: L.OneCycleLR(o, max_lr=1.0, total_steps=STEPS), False),
    "OneCycleLR-linear": ("SGD", lambda L, o: L.OneCycleLR(
        o, max_lr=[0.5, 0.2], epochs=20, steps_per_epoch=101, anneal_strategy="linear", pct_start=0.25), False),
    "OneCycleLR-three_phase": ("Adam", lambda L, o: L.OneCycleLR(
        o, max_lr=0.01, total_steps=STEPS, three_phase=True, div_factor=10.0, final_div_factor=100.0), False),
    "OneCycleLR-RMSprop-no-momentum": ("RMSprop", lambda L, o: L.OneCycleLR(
        o, max_lr=0.05, total_steps=STEPS + 5, cycle_momentum=False), False),
    "ReduceLROnPlateau": ("SGD", lambda L, o: L.ReduceLROnPlateau(o, patience=5, factor=0.8), True),
    "ReduceLROnPlateau-max-abs": ("SGD", lambda L, o: L.ReduceLROnPlateau(
        o, mode="max", threshold_mode="abs", threshold=0.01, patience=3, cooldown=4, factor=0.9,
        min_lr=[1e-3, 2e-3]), True),
    "ReduceLROnPlateau-eps": ("Adam", lambda L, o: L.ReduceLROnPlateau(
        o, patience=2, factor=0.5, min_lr=1e-5, eps=1e-6), True),
    "LambdaLR": ("SGD", lambda L, o: L.LambdaLR(o, lr_lambda=lambda e: 0.999 ** e * (1 + (e % 10) / 10)), False),
    "LambdaLR-list": ("SGD", lambda L, o: L.LambdaLR(o, lr_lambda=[lambda e: 1 / (1 + e), lambda e: 0.99 ** e]), False),
    "MultiplicativeLR": ("SGD", lambda L, o: L.MultiplicativeLR(
        o, lr_lambda=lambda e: 0.997 if e % 3 else 1.002), False),
    "SequentialLR-warmup-cosine": ("SGD", lambda L, o: L.SequentialLR(
        o, [L.LinearLR(o, start_factor=0.01, total_iters=100), L.CosineAnnealingLR(o, T_max=1900)],
        milestones=[100]), False),
    "SequentialLR-three": ("SGD", lambda L, o: L.SequentialLR(
        o, [L.ConstantLR(o, factor=0.5, total_iters=20), L.ExponentialLR(o, gamma=0.999),
            L.StepLR(o, step_size=100, gamma=0.5)], milestones=[50, 700]), False),
    "SequentialLR-lambdas": ("SGD", lambda L, o: L.SequentialLR(
        o, [L.LambdaLR(o, lambda e: (e + 1) / 10), L.MultiplicativeLR(o, lambda e: 0.999)], milestones=[9]), False),
    "ChainedScheduler": ("SGD", lambda L, o: L.ChainedScheduler(
        [L.ConstantLR(o, factor=0.5, total_iters=50), L.ExponentialLR(o, gamma=0.999)]), False),
    "ChainedScheduler-cosine-step": ("SGD", lambda L, o: L.ChainedScheduler(
        [L.CosineAnnealingLR(o, T_max=300), L.StepLR(o, step_size=500, gamma=0.5)], optimizer=o), False),
}


def momentum_of(group):
    if "betas" in group:
        return group["betas"][0]
    return group.get("momentum", 0.0)


def record(opt, scheduler):
    return [*scheduler.get_last_lr(), *(momentum_of(g) for g in opt.param_groups)]


def run(lib, name, resume_at=None):
    algorithm, build, needs_metric = CASES[name]
    L = tls if lib == "torch" else dls
    opt = make_optimizer(lib, algorithm)
    scheduler = build(L, opt)
    rows = [record(opt, scheduler)]
    for t in range(1, STEPS + 1):
        if t == resume_at:
            state = scheduler.state_dict()
            opt = make_optimizer(lib, algorithm)
            scheduler = build(L, opt)
            scheduler.load_state_dict(state)
            assert record(opt, scheduler) == rows[-1]
        scheduler.step(metric(t)) if needs_metric else scheduler.step()
        rows.append(record(opt, scheduler))
    return np.array(rows, dtype=np.float64)


def assert_same_sequence(ours, reference):
    assert ours.shape == reference.shape
    scale = np.maximum(np.abs(reference), np.finfo(np.float64).tiny)
    worst = np.max(np.abs(ours - reference) / scale)
    bad = np.argwhere(np.abs(ours - reference) > RTOL * scale)
    assert bad.size == 0, f"step {bad[0][0]}: {ours[bad[0][0]]} vs torch {reference[bad[0][0]]} (worst rel {worst:.3g})"


@pytest.fixture(scope="module")
def torch_sequences():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that the optimizer never stepped
        return {name: run("torch", name) for name in CASES}


@pytest.mark.parametrize("name", CASES)
def test_lr_sequence_equals_torch(name, torch_sequences):
    assert_same_sequence(run("descent", name), torch_sequences[name])


@pytest.mark.parametrize("name", CASES)
def test_resumed_run_continues_the_same_sequence(name, torch_sequences):
    assert_same_sequence(run("descent", name, resume_at=RESUME_AT), torch_sequences[name])
