"""descent.lr_scheduler where torch has no equivalent or where it refuses: composition
with ReduceLROnPlateau (against hand-computed sequences), WarmupCosineLR (against its
formula), the invalid-parameter table (torch's message wherever torch has one), and the
all-or-nothing rule for creation, steps, lambdas and loads."""
import math

import numpy as np
import pytest
import torch

import descent
import descent.lr_scheduler as dls
import torch.optim.lr_scheduler as tls


def sgd(lib="descent", lr=1.0, groups=1, algorithm="SGD", **kwargs):
    if lib == "torch":
        params = [{"params": [torch.zeros(2, requires_grad=True)]} for _ in range(groups)]
        return getattr(torch.optim, algorithm)(params, lr=lr, **kwargs)
    params = [{"params": [np.zeros(2, np.float32)]} for _ in range(groups)]
    return getattr(descent, algorithm)(params, lr=lr, **kwargs)


def lrs_of(scheduler, steps, metrics=None):
    out = [scheduler.get_last_lr()[0]]
    for t in range(steps):
        scheduler.step(metrics[t]) if metrics else scheduler.step()
        out.append(scheduler.get_last_lr()[0])
    return out


# ------------------------------------------------------------ composition

def test_sequential_warmup_then_plateau_by_hand():
    opt = sgd(lr=1.0)
    warmup = dls.LinearLR(opt, start_factor=0.25, total_iters=4)
    plateau = dls.ReduceLROnPlateau(opt, patience=1, factor=0.5)
    scheduler = dls.SequentialLR(opt, [warmup, plateau], milestones=[4])
    metrics = [9.0, 9.0, 9.0, 9.0, 1.0, 1.0, 1.0, 0.5, 0.6, 0.6]
    # Warmup 0.25 + 0.75·t/4; at the milestone (t=4) the plateau restarts at the base lr
    # and ignores that metric; then best=1.0, two bad epochs > patience 1 halve it; a
    # better 0.5 resets the count; two more bad epochs halve again.
    expected = [0.25, 0.4375, 0.625, 0.8125, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]
    assert lrs_of(scheduler, 10, metrics) == pytest.approx(expected, rel=1e-12)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.25, rel=1e-12)


def test_chained_exponential_and_plateau_by_hand():
    opt = sgd(lr=1.0)
    scheduler = dls.ChainedScheduler([dls.ExponentialLR(opt, gamma=0.5),
                                      dls.ReduceLROnPlateau(opt, patience=0, factor=0.1)])
    # Each step halves, then the plateau (patience 0) cuts by 10 on a worse metric.
    assert lrs_of(scheduler, 3, [1.0, 2.0, 0.5]) == pytest.approx([1.0, 0.5, 0.025, 0.0125], rel=1e-12)


def test_plateau_inside_a_composite_needs_the_metric():
    opt = sgd()
    scheduler = dls.ChainedScheduler([dls.StepLR(opt, 2), dls.ReduceLROnPlateau(opt)])
    with pytest.raises(descent.DescentValueError, match="contains a ReduceLROnPlateau: step it with a metric"):
        scheduler.step()
    assert scheduler.last_epoch == 0


def test_torch_refuses_what_descent_composes():
    with pytest.raises(ValueError, match="does not support `ReduceLROnPlateau`"):
        opt = sgd("torch")
        tls.SequentialLR(opt, [tls.LinearLR(opt), tls.ReduceLROnPlateau(opt)], milestones=[5])


def test_a_child_cannot_be_stepped_or_reused_alone():
    opt = sgd()
    child = dls.StepLR(opt, 3)
    chained = dls.ChainedScheduler([child])
    with pytest.raises(descent.DescentValueError, match="belongs to a ChainedScheduler; step that one"):
        child.step()
    with pytest.raises(descent.DescentValueError, match="already belongs to a ChainedScheduler"):
        dls.SequentialLR(opt, [child], milestones=[])
    del chained  # freeing the composite lets the child go
    child.step()
    assert child.last_epoch == 1


def seed_warmup_cosine(step, max_lr, min_lr, warmup_steps, decay_steps):
    """The seed document's (004) warmup + cosine, as it writes it."""
    if step < warmup_steps:
        return max_lr * step / warmup_steps
    if step > decay_steps:
        return min_lr
    progress = (step - warmup_steps) / (decay_steps - warmup_steps)
    return min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * progress))


@pytest.mark.parametrize("warmup_steps, decay_steps, min_lr", [(10, 110, 0.001), (1, 50, 0.0), (25, 40, 0.02)])
def test_warmup_cosine_is_the_seeds_formula(warmup_steps, decay_steps, min_lr):
    opt = sgd(lr=0.1, groups=2)
    opt.param_groups[1]["lr"] = 0.3
    scheduler = dls.WarmupCosineLR(opt, warmup_steps=warmup_steps, decay_steps=decay_steps, min_lr=min_lr)
    for t in range(decay_steps + 40):
        expected = [seed_warmup_cosine(t, peak, min_lr, warmup_steps, decay_steps) for peak in (0.1, 0.3)]
        assert scheduler.get_last_lr() == pytest.approx(expected, rel=1e-12, abs=0), f"step {t}"
        assert [g["lr"] for g in opt.param_groups] == scheduler.get_last_lr()
        scheduler.step()
    assert opt.param_groups[0]["lr"] == min_lr


def test_warmup_cosine_first_step_start():
    opt = sgd(lr=0.1, groups=2)
    opt.param_groups[1]["lr"] = 0.3
    scheduler = dls.WarmupCosineLR(opt, warmup_steps=10, decay_steps=110, min_lr=0.001, warmup_start="first_step")
    for t in range(150):
        expected = [peak * (t + 1) / 11 if t < 10 else seed_warmup_cosine(t, peak, 0.001, 10, 110)
                    for peak in (0.1, 0.3)]
        assert scheduler.get_last_lr() == pytest.approx(expected, rel=1e-12), f"step {t}"
        scheduler.step()
    with pytest.raises(ValueError, match="warmup_start must be one of"):
        dls.WarmupCosineLR(opt, warmup_steps=1, decay_steps=2, warmup_start="one")


# --------------------------------------------------------- invalid parameters

def other_optimizer_child(L, o):
    other = sgd("torch" if L is tls else "descent")
    return L.SequentialLR(o, [L.StepLR(o, 2), L.StepLR(other, 2)], milestones=[3])


# (builder, message when torch has none). Rows with None are checked against torch's
# own message, raised live by the same builder.
INVALID = [
    (lambda L, o: L.ConstantLR(o, factor=1.5), None),
    (lambda L, o: L.LinearLR(o, start_factor=0.0), None),
    (lambda L, o: L.LinearLR(o, end_factor=2.0), None),
    (lambda L, o: L.ReduceLROnPlateau(o, factor=1.0), None),
    (lambda L, o: L.ReduceLROnPlateau(o, mode="avg"), None),
    (lambda L, o: L.ReduceLROnPlateau(o, threshold_mode="pct"), None),
    (lambda L, o: L.ReduceLROnPlateau(o, min_lr=[0.1, 0.2, 0.3]), None),
    (lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=0), None),
    (lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=0), None),
    (lambda L, o: L.OneCycleLR(o, max_lr=1.0, total_steps=0), None),
    (lambda L, o: L.OneCycleLR(o, max_lr=1.0), None),
    (lambda L, o: L.OneCycleLR(o, max_lr=1.0, epochs=0, steps_per_epoch=10), None),
    (lambda L, o: L.OneCycleLR(o, max_lr=1.0, epochs=5, steps_per_epoch=-1), None),
    (lambda L, o: L.OneCycleLR(o, max_lr=1.0, total_steps=100, pct_start=1.5), None),
    (lambda L, o: L.OneCycleLR(o, max_lr=1.0, total_steps=100, anneal_strategy="exp"), None),
    (lambda L, o: L.OneCycleLR(o, max_lr=[1.0, 2.0, 3.0], total_steps=100), None),
    (lambda L, o: L.CyclicLR(o, base_lr=0.1, max_lr=1.0, mode="sawtooth"), None),
    (lambda L, o: L.CyclicLR(o, base_lr=[0.1, 0.2, 0.3], max_lr=1.0), None),
    (lambda L, o: L.CyclicLR(o, base_lr=0.1, max_lr=1.0, base_momentum=[0.8]), None),
    (lambda L, o: L.LambdaLR(o, lr_lambda=[abs, abs, abs]), None),
    (lambda L, o: L.MultiplicativeLR(o, lr_lambda=3), None),
    (lambda L, o: L.SequentialLR(o, [], milestones=[]), None),
    (lambda L, o: L.SequentialLR(o, [L.StepLR(o, 2), L.StepLR(o, 3)], milestones=[]), None),
    (lambda L, o: L.ChainedScheduler([]), None),
    (lambda L, o: L.StepLR(o, step_size=0), "Expected positive integer step_size, but got 0"),
    (lambda L, o: L.StepLR(o, step_size=5, gamma=0.0), "Expected positive gamma, but got 0.0"),
    (lambda L, o: L.MultiStepLR(o, milestones=[5, 3], gamma=-0.5), "Expected milestones in increasing order, but got [5, 3]"),
    (lambda L, o: L.MultiStepLR(o, milestones=[3, 5], gamma=-0.5), "Expected positive gamma, but got -0.5"),
    (lambda L, o: L.ExponentialLR(o, gamma=-1.0), "Expected positive gamma, but got -1.0"),
    (lambda L, o: L.ExponentialLR(o, gamma=float("nan")), "Expected positive gamma, but got nan"),
    (lambda L, o: L.ConstantLR(o, total_iters=-1), "Expected non-negative integer total_iters, but got -1"),
    (lambda L, o: L.PolynomialLR(o, total_iters=-2), "Expected non-negative integer total_iters, but got -2"),
    (lambda L, o: L.CosineAnnealingLR(o, T_max=0), "Expected positive integer T_max, but got 0"),
    (lambda L, o: L.CosineAnnealingLR(o, T_max=10, eta_min=float("inf")), "Expected finite eta_min, but got inf"),
    (lambda L, o: L.CyclicLR(o, base_lr=0.1, max_lr=1.0, step_size_up=0), "Expected positive integer step_size_up, but got 0"),
    (lambda L, o: L.CyclicLR(o, base_lr=0.1, max_lr=1.0, mode="exp_range", gamma=0.0), "Expected positive gamma, but got 0.0"),
    (lambda L, o: L.OneCycleLR(o, max_lr=1.0, total_steps=100, div_factor=0.0), "Expected positive div_factor, but got 0.0"),
    (lambda L, o: L.ReduceLROnPlateau(o, patience=-1), "Expected non-negative integer patience, but got -1"),
    (lambda L, o: L.ReduceLROnPlateau(o, min_lr=-0.1), "Invalid min_lr: -0.1"),
    (lambda L, o: L.SequentialLR(o, [L.StepLR(o, 2), L.StepLR(o, 3), L.StepLR(o, 4)], milestones=[50, 10]),
     "Expected positive milestones in strictly increasing order, but got [50, 10]"),
    (other_optimizer_child, "SequentialLR expects all schedulers to belong to the same optimizer, but got "
                            "scheduler StepLR at index 1 that belongs to another optimizer"),
    (lambda L, o: L.WarmupCosineLR(o, warmup_steps=10, decay_steps=5),
     "Expected decay_steps >= warmup_steps, but got decay_steps=5, warmup_steps=10"),
    (lambda L, o: L.WarmupCosineLR(o, warmup_steps=-1, decay_steps=5), "Expected non-negative integer warmup_steps, but got -1"),
    (lambda L, o: L.WarmupCosineLR(o, warmup_steps=1, decay_steps=5, min_lr=-1.0), "Invalid min_lr: -1.0"),
]


@pytest.mark.parametrize("row", range(len(INVALID)))
def test_invalid_parameters_get_torchs_message(row):
    build, message = INVALID[row]
    torch_error = None
    if message is None:
        with pytest.raises((ValueError, TypeError)) as raised:
            build(tls, sgd("torch", groups=2, momentum=0.9))
        torch_error, message = raised.type, str(raised.value)
    opt = sgd(groups=2, momentum=0.9)
    before = [dict(group) for group in opt.param_groups]
    with pytest.raises((ValueError, TypeError)) as raised:
        build(dls, opt)
    assert str(raised.value) == message
    if torch_error is not None:
        assert isinstance(raised.value, torch_error)
    if isinstance(raised.value, descent.DescentError):
        assert raised.value.status in (3, 4)  # INVALID_ARGUMENT, INVALID_HYPERPARAMETER
    assert [dict(group) for group in opt.param_groups] == before


def test_cycling_momentum_needs_momentum_or_betas():
    for lib, L in (("torch", tls), ("descent", dls)):
        opt = sgd(lib, algorithm="Adagrad")
        with pytest.raises(ValueError) as raised:
            L.CyclicLR(opt, base_lr=0.1, max_lr=1.0)
        assert str(raised.value) == "optimizer must support momentum or beta1 with `cycle_momentum` option enabled"


# ----------------------------------------------------------- all or nothing

def test_failed_creation_after_setup_changes_nothing():
    opt = sgd(lr=0.1, momentum=0.5)
    # pct_start * total_steps == 1 makes the first phase empty: torch divides by zero at
    # its initial step, after it has already set the momentum. Descent undoes that.
    with pytest.raises(descent.DescentValueError, match="float division by zero"):
        dls.OneCycleLR(opt, max_lr=1.0, total_steps=10, pct_start=0.1)
    engine = opt._core.get_group(0)
    assert (engine["lr"], engine["momentum"]) == (0.1, 0.5)
    dls.StepLR(opt, 2)  # initial_lr was not left behind either: a later schedule starts from 0.1
    assert opt.param_groups[0]["lr"] == 0.1


def test_one_cycle_past_total_steps_is_refused_and_changes_nothing():
    opt = sgd()
    scheduler = dls.OneCycleLR(opt, max_lr=1.0, total_steps=4)
    for _ in range(4):
        scheduler.step()
    lr, epoch = scheduler.get_last_lr(), scheduler.last_epoch
    for _ in range(2):
        with pytest.raises(descent.DescentValueError, match="Tried to step 5 times. The specified number of total steps is 4"):
            scheduler.step()
    assert (scheduler.get_last_lr(), scheduler.last_epoch) == (lr, epoch)


@pytest.mark.filterwarnings(r"ignore:Detected call of `lr_scheduler.step\(\)` before")
def test_linear_one_cycle_refuses_torchs_negative_last_lr():
    # Stepped exactly total_steps times, linear annealing extrapolates past min_lr: torch
    # sets a negative lr there; Descent refuses it with torch's own lr message.
    opt_t, opt_d = sgd("torch"), sgd()
    t = tls.OneCycleLR(opt_t, max_lr=1.0, total_steps=10, anneal_strategy="linear")
    d = dls.OneCycleLR(opt_d, max_lr=1.0, total_steps=10, anneal_strategy="linear")
    for _ in range(9):
        t.step()
        d.step()
    assert d.get_last_lr() == pytest.approx(t.get_last_lr(), rel=1e-12)
    t.step()
    assert t.get_last_lr()[0] < 0
    with pytest.raises(descent.DescentValueError, match="Invalid learning rate: -"):
        d.step()


def test_a_raising_lambda_propagates_and_changes_nothing():
    opt = sgd(lr=1.0)
    scheduler = dls.LambdaLR(opt, lambda e: 1.0 / (3 - e))
    scheduler.step()
    scheduler.step()
    with pytest.raises(ZeroDivisionError):
        scheduler.step()
    assert scheduler.last_epoch == 2 and opt.param_groups[0]["lr"] == 1.0


def test_a_lambda_calling_back_into_its_optimizer_is_refused_not_deadlocked():
    opt = sgd()
    scheduler = dls.LambdaLR(opt, lambda e: opt._core.get_group(0)["lr"] if e else 1.0)
    with pytest.raises(descent.DescentError, match="called from a callback that this optimizer is running"):
        scheduler.step()
    assert scheduler.last_epoch == 0


def sealed(fields):
    """Schedule state fields with their CRC-32C (Castagnoli, bitwise) appended."""
    crc = 0xFFFFFFFF
    for byte in fields:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return fields + (crc ^ 0xFFFFFFFF).to_bytes(4, "little")


def test_a_saved_state_is_checksummed():
    scheduler = dls.StepLR(sgd(lr=1.0), 2, gamma=0.5)
    scheduler.step()
    saved = scheduler.state_dict()["descent_schedule"]
    assert sealed(saved[:-4]) == saved
    flipped = bytearray(saved)
    flipped[20] ^= 4
    with pytest.raises(descent.DescentValueError, match="schedule state fails its CRC-32C check"):
        scheduler.load_state_dict({"descent_schedule": bytes(flipped)})
    scheduler.load_state_dict({"descent_schedule": saved})


def test_loading_a_state_that_does_not_fit_changes_nothing():
    opt = sgd(lr=1.0, groups=2)
    scheduler = dls.StepLR(opt, 2, gamma=0.5)
    for _ in range(3):
        scheduler.step()
    saved = scheduler.state_dict()["descent_schedule"]
    cosine = dls.CosineAnnealingLR(sgd(groups=2), T_max=10)
    one_group = dls.StepLR(sgd(), 2)
    fields = saved[:-4]  # a state ends with the CRC-32C of the bytes before it
    cases = [
        (cosine, saved, "schedule state is for StepLR, this schedule is a CosineAnnealingLR"),
        (one_group, saved, "schedule state has 2 base_lrs for 1 param groups"),
        (scheduler, saved[:-3], "schedule state fails its CRC-32C check"),
        (scheduler, sealed(fields[:-3]), "schedule state is truncated"),
        (scheduler, sealed(fields + b"\0"), "schedule state has 1 unexpected trailing bytes"),
        (scheduler, b"PK\3\4" + saved[4:], "not a Descent schedule state (bad magic)"),
    ]
    for target, state, message in cases:
        before = (target.get_last_lr(), target.last_epoch, target.state_dict())
        with pytest.raises(descent.DescentValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            target.load_state_dict({"descent_schedule": state})
        assert (target.get_last_lr(), target.last_epoch, target.state_dict()) == before


def test_schedules_need_a_descent_optimizer():
    with pytest.raises(TypeError, match="is not a descent optimizer"):
        dls.StepLR(sgd("torch"), 3)
    with pytest.raises(ValueError, match="resume a run with load_state_dict"):
        dls.StepLR(sgd(), 3, last_epoch=5)


def test_the_extension_checks_what_it_reads_per_group():
    opt = sgd(groups=2)
    with pytest.raises(descent.DescentValueError, match="Expected 2 lr_lambdas, but got 3"):
        descent._descent.Schedule(opt._core, "LambdaLR", (abs, abs, abs))
    with pytest.raises(descent.DescentValueError, match="max_lr has 3 values, param_groups has 2"):
        descent._descent.Schedule(opt._core, "OneCycleLR", [1.0, 1.0, 1.0], 10, 0.3, 0, True, 0.85, 0.95,
                                  25.0, 1e4, False)


def test_a_lambda_that_lets_go_of_the_gil_does_not_deadlock_other_threads():
    """A Python lr_lambda runs while the engine holds the optimizer's lock. Another
    thread that calls the optimizer meanwhile gets an error instead of waiting for that
    lock while holding the GIL, which the lambda needs back (a deadlock)."""
    import threading
    import time

    opt = sgd()
    started, results = threading.Event(), []

    def slow_lambda(epoch):
        started.set()
        time.sleep(0.2)  # lets go of the GIL: the other thread runs now
        return 1.0

    def other():
        started.wait()
        try:
            results.append(opt._core.get_group(0)["lr"])
        except descent.DescentError as error:
            results.append(str(error))

    thread = threading.Thread(target=other, daemon=True)
    thread.start()
    creator = threading.Thread(target=lambda: results.append(dls.LambdaLR(opt, slow_lambda)), daemon=True)
    creator.start()
    creator.join(10)
    thread.join(10)
    assert not creator.is_alive() and not thread.is_alive(), "deadlocked"
    assert "the optimizer is running a step in another thread" in results


def test_a_warmup_cosine_state_of_format_2_resumes_with_the_first_step_form():
    """Format 2 knew one warmup, max_lr·(t+1)/(warmup_steps+1): a state saved then (no
    warmup_start field; built here from a format-3 state) resumes with it."""
    saved_by = dls.WarmupCosineLR(sgd(lr=0.1), warmup_steps=10, decay_steps=110)
    for _ in range(3):
        saved_by.step()
    state = saved_by.state_dict()["descent_schedule"]
    assert state[4:8] == (3).to_bytes(4, "little")
    assert state[-12:-4] == (0).to_bytes(8, "little")  # warmup_start "zero", the last field
    version_2 = sealed(state[:4] + (2).to_bytes(4, "little") + state[8:-12])
    resumed = dls.WarmupCosineLR(sgd(lr=0.1), warmup_steps=10, decay_steps=110)
    resumed.load_state_dict({"descent_schedule": version_2})
    resumed.step()
    assert resumed.get_last_lr() == pytest.approx([0.1 * 5 / 11], rel=1e-15)
    saved_by.step()
    assert saved_by.get_last_lr() == pytest.approx([0.1 * 4 / 10], rel=1e-15)
