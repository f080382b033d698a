"""The gradient utilities and the fused phase against torch itself: clip_grad_norm_,
clip_grad_value_, get_total_norm, GradScaler's fused-optimizer protocol (skip
behaviour and the scale sequence over a run with injected infs), the phase's options,
and the errors for bad input."""
import math

import numpy as np
import pytest
import torch

import descent
import descent.torch as dt
from problem import make_model, objective

# Sizes that cross the engine's 16,384-element chunks and leave every remainder mod 16.
SIZES = [1, 7, 16, 31, 1000, 16_381, 40_000, 70_001]


def random_grads(seed, scale=1.0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(n, generator=generator) * scale for n in SIZES]


def params_with(grads):
    params = []
    for g in grads:
        p = torch.zeros_like(g, requires_grad=True)
        p.grad = g.clone()
        params.append(p)
    return params


def relative(a, b):
    return abs(float(a) - float(b)) / max(abs(float(b)), 1e-30)


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, 2.5, math.inf, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    """Descent reduces in double: its norm is within 1e-6 of torch's norm of the same
    gradients in float64. torch's float32 reductions themselves drift from that by up to
    ~3e-6 on these 128K elements (p = 1, 3), so against torch's float32 result the
    bound is 1e-5; with an equal norm the clipped gradients are the same bits."""
    grads = random_grads(1, scale=0.1)
    ours, theirs = params_with(grads), params_with(grads)
    total = dt.clip_grad_norm_(ours, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    exact = torch.nn.utils.get_total_norm([g.double() for g in grads], norm_type)
    assert total.dtype == torch.float32 and total.shape == ()
    assert relative(total, exact) <= 1e-6
    assert relative(total, expected) <= 1e-5
    for p, q in zip(ours, theirs):
        if total == expected:  # same norm: the same float32 arithmetic, the same bits
            assert torch.equal(p.grad, q.grad)
        else:
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=0)


def test_get_total_norm_matches_torch_and_is_the_same_bits_on_any_thread_count():
    grads = random_grads(2)
    expected = torch.nn.utils.get_total_norm(grads, 2.0)
    try:
        norms = []
        for threads in (1, 2, 3, 7):
            descent.set_num_threads(threads)
            norms.append(dt.get_total_norm(grads).item())
            norms.append(descent.get_total_norm([g.numpy() for g in grads]))
    finally:
        descent.set_num_threads(0)
    assert len({np.float32(n).tobytes() for n in norms}) == 1
    assert relative(norms[0], expected) <= 1e-6


def test_clip_grad_value_matches_torch_bit_for_bit():
    grads = random_grads(3)
    grads[2][5] = float("nan")
    grads[4][9] = float("inf")
    ours, theirs = params_with(grads), params_with(grads)
    dt.clip_grad_value_(ours, 0.7)
    torch.nn.utils.clip_grad_value_(theirs, 0.7)
    for p, q in zip(ours, theirs):
        assert torch.equal(p.grad.nan_to_num(123.0), q.grad.nan_to_num(123.0))
        assert torch.equal(p.grad.isnan(), q.grad.isnan())


def test_nonfinite_norm_errors_like_torch_and_changes_nothing():
    grads = random_grads(4)
    grads[3][2] = float("inf")
    ours, theirs = params_with(grads), params_with(grads)
    with pytest.raises(RuntimeError) as expected:
        torch.nn.utils.clip_grad_norm_(theirs, 1.0, error_if_nonfinite=True)
    with pytest.raises(descent.DescentNonfiniteError) as raised:
        dt.clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    assert str(raised.value) == str(expected.value)
    assert all(torch.equal(p.grad, g) for p, g in zip(ours, grads))
    # Without the error, the inf norm goes through as in torch (coefficient 0).
    assert dt.clip_grad_norm_(ours, 1.0).item() == math.inf
    torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    for p, q in zip(ours, theirs):
        assert torch.equal(p.grad.isnan(), q.grad.isnan())


def test_unsupported_tensors_run_torchs_own():
    p = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    p.grad = torch.full((5,), 2.0, dtype=torch.float64)
    assert dt.clip_grad_norm_([p], 1.0).dtype == torch.float64
    assert torch.allclose(p.grad.norm(), torch.tensor(1.0, dtype=torch.float64))


@pytest.mark.parametrize("call, message", [
    (lambda ps: dt.clip_grad_norm_(ps, -1.0), "max_norm must be >= 0, got -1.0"),
    (lambda ps: dt.clip_grad_norm_(ps, 1.0, norm_type=0.5), "norm_type must be >= 1 or inf, got 0.5"),
    (lambda ps: dt.clip_grad_norm_(ps, float("nan")), "max_norm must be >= 0, got nan"),
    (lambda ps: dt.clip_grad_value_(ps, -0.1), "clip_value must be >= 0, got -0.1"),
    (lambda ps: dt.get_total_norm([p.grad for p in ps], norm_type=-math.inf), "norm_type must be >= 1 or inf, got -inf"),
])
def test_bad_arguments_raise_and_change_nothing(call, message):
    grads = random_grads(5)
    params = params_with(grads)
    with pytest.raises(descent.DescentValueError, match=message.replace("(", r"\(")):
        call(params)
    assert all(torch.equal(p.grad, g) for p, g in zip(params, grads))


@pytest.mark.parametrize("options, message", [
    (dict(grad_scale=0.0), "grad_scale must be a finite number > 0"),
    (dict(grad_scale=float("nan")), "grad_scale must be a finite number > 0"),
    (dict(grad_scale=-2.0), "grad_scale must be a finite number > 0"),
    (dict(max_norm=-1.0), "max_norm must be >= 0"),
    (dict(max_norm=1.0, norm_type=0.0), "norm_type must be >= 1 or inf"),
    (dict(clip_value=float("nan")), "clip_value must be >= 0"),
    (dict(max_norm=1.0, clip_value=1.0), "not both"),
    (dict(nonfinite="sometimes"), "nonfinite must be 'propagate', 'skip' or 'error'"),
])
def test_bad_step_options_raise_and_change_nothing(options, message):
    p = np.ones(40, dtype=np.float32)
    g = np.full(40, 0.5, dtype=np.float32)
    opt = descent.Adam([p], lr=0.1)
    with pytest.raises(descent.DescentValueError, match=message):
        opt.step([g], **options)
    assert (p == 1).all() and (g == 0.5).all() and opt.step_count(0) == 0


# -- GradScaler: the fused-optimizer protocol

FUSED = [("Adam", dict(lr=1e-3)), ("AdamW", dict(lr=1e-3, weight_decay=0.1)),
         ("SGD", dict(lr=0.05, momentum=0.9)), ("Adagrad", dict(lr=0.05))]


def scaled_run(make_optimizer, steps=30, infs=(3, 4, 11, 20), clip=None):
    """A training run under GradScaler with overflows injected at `infs`; returns the
    model, the scale after each update, and the parameters after each step."""
    model = make_model()
    opt = make_optimizer(model.parameters())
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 12, growth_interval=4)
    scales, snapshots = [], []
    for step in range(steps):
        opt.zero_grad()
        scaler.scale(objective(model, step, False)).backward()
        if step in infs:
            model[0].weight.grad[1, 2] = float("inf") if step % 2 else float("nan")
        if clip == "torch":
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            scaler.step(opt)
        elif clip == "fused":
            scaler.step(opt, max_norm=0.5)
        else:
            scaler.step(opt)
        scaler.update()
        scales.append(scaler.get_scale())
        snapshots.append([p.detach().clone() for p in model.parameters()])
    return model, opt, scales, snapshots


@pytest.mark.parametrize("name, kwargs", FUSED, ids=[n for n, _ in FUSED])
def test_grad_scaler_matches_torch_fused_bit_for_bit(name, kwargs):
    """torch's fused optimizers take grad_scale/found_inf from GradScaler, divide by the
    scale in their kernel and skip on inf; descent.torch does the same, to the bit."""
    _, theirs, ref_scales, ref = scaled_run(lambda p: getattr(torch.optim, name)(p, fused=True, **kwargs))
    _, ours, scales, got = scaled_run(lambda p: getattr(dt, name)(p, **kwargs))
    assert scales == ref_scales
    assert scales[3] < scales[2] and scales[4] < scales[3]  # the injected infs backed off
    for step, (a, b) in enumerate(zip(got, ref)):
        assert all(torch.equal(x, y) for x, y in zip(a, b)), f"step {step}"
    assert ours.last_step_report.skipped is None
    steps = [ours.state[p].get("step") for p in ours.param_groups[0]["params"]]
    ref_steps = [theirs.state[p].get("step") for p in theirs.param_groups[0]["params"]]
    assert steps == ref_steps


@pytest.mark.parametrize("name, torch_kwargs", [("Adam", {"fused": True}), ("Adafactor", {})])
def test_fused_clip_under_grad_scaler_matches_unscale_then_clip(name, torch_kwargs):
    """scaler.step(opt, max_norm=…) unscales and clips in the step's passes; torch needs
    scaler.unscale_ + clip_grad_norm_ + step. With GradScaler's power-of-two scales the
    unscaled gradients are the same bits; the norms agree to ~1e-6. Adafactor's passes
    rewrite the gradient tile by tile, its matrices' tiles row by row."""
    _, _, ref_scales, ref = scaled_run(lambda p: getattr(torch.optim, name)(p, lr=1e-3, **torch_kwargs), clip="torch")
    _, ours, scales, got = scaled_run(lambda p: getattr(dt, name)(p, lr=1e-3), clip="fused")
    assert scales == ref_scales
    for a, b in zip(got, ref):
        for x, y in zip(a, b):
            torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-7)
    assert ours.last_step_report.clip_coef <= 1.0


def test_muon_under_grad_scaler_matches_torch():
    """torch has no fused Muon, so GradScaler unscales its gradients itself (by the
    reciprocal of the scale); descent.torch.Muon takes the scale into its step (a
    division: the same bits with GradScaler's powers of two) and skips on the injected
    infs as torch's scaler does. Muon takes the model's 2-D weights; the step is held to
    Muon's bound, 2e-2 of the weights' movement (Tests/parity/test_muon.py)."""
    def matrices(params):
        return [p for p in params if p.ndim == 2]

    start = [p.detach().clone() for p in matrices(make_model().parameters())]
    _, _, ref_scales, ref = scaled_run(lambda p: torch.optim.Muon(matrices(p), lr=0.02))
    _, ours, scales, got = scaled_run(lambda p: dt.Muon(matrices(p), lr=0.02))
    assert scales == ref_scales
    assert scales[3] < scales[2] and scales[4] < scales[3]  # the injected infs backed off
    for step, (a, b) in enumerate(zip(got, ref)):
        for x, y, s in zip(matrices(a), matrices(b), start):
            assert (x - y).norm() <= 2e-2 * (y - s).norm(), f"step {step}"
    assert ours.last_step_report.skipped is None


# -- the phase's options

@pytest.mark.parametrize("name, torch_kwargs", [("AdamW", {"fused": True}), ("Adafactor", {})])
def test_phase_equals_torchs_separate_passes(name, torch_kwargs):
    """descent.torch's step(max_norm, zero_grad) against torch's clip_grad_norm_ + step
    (fused where torch has it) + zero_grad over a training run."""
    def run(ours):
        model = make_model()
        opt = (getattr(dt, name)(model.parameters(), lr=1e-2) if ours
               else getattr(torch.optim, name)(model.parameters(), lr=1e-2, **torch_kwargs))
        norms = []
        for step in range(25):
            objective(model, step, False).backward()
            if ours:
                opt.step(max_norm=0.3, zero_grad=True)
                norms.append(opt.last_step_report.total_norm)
            else:
                norms.append(torch.nn.utils.clip_grad_norm_(model.parameters(), 0.3).item())
                opt.step()
                opt.zero_grad(set_to_none=False)
        return model, norms
    ours, norms = run(True)
    theirs, ref_norms = run(False)
    np.testing.assert_allclose(norms, ref_norms, rtol=1e-6)
    for x, y in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-7)
        assert (x.grad == 0).all()


def test_nonfinite_policies():
    def setup():
        p = np.ones(100, dtype=np.float32)
        g = np.full(100, 0.25, dtype=np.float32)
        g[50] = np.nan
        return p, g, descent.SGD([p], lr=0.1, momentum=0.9)

    p, g, opt = setup()
    report = opt.step([g])  # propagate: torch's behaviour
    assert np.isnan(p[50]) and report.skipped is None and report.elements_updated == 100

    p, g, opt = setup()
    report = opt.step([g], nonfinite="skip")
    assert report.skipped == "nonfinite" and report.found_inf and report.params_updated == 0
    assert (p == 1).all() and opt.step_count(0) == 0 and opt.state(0, "momentum_buffer") is None

    p, g, opt = setup()
    with pytest.raises(descent.DescentNonfiniteError, match="nonfinite policy: error"):
        opt.step([g], nonfinite="error", zero_grad=True)
    assert (p == 1).all() and g[0] == 0.25

    p, g, opt = setup()
    report = opt.step([g], found_inf=True, zero_grad=True)
    assert report.skipped == "found_inf" and (p == 1).all() and (g == 0).all()


def test_unscale_clip_value_and_zero_in_one_step():
    rng = np.random.default_rng(0)
    p = rng.standard_normal(5000).astype(np.float32)
    g = (rng.standard_normal(5000) * 1024).astype(np.float32)
    expected_g = torch.from_numpy(g / np.float32(1024)).clamp(-0.5, 0.5)
    ref_p = torch.from_numpy(p.copy()).requires_grad_()
    ref_p.grad = expected_g.clone()
    torch.optim.Adam([ref_p], lr=0.01, fused=True).step()

    opt = descent.Adam([p], lr=0.01)
    report = opt.step([g], grad_scale=1024.0, clip_value=0.5, zero_grad=True)
    assert report.skipped is None and math.isnan(report.total_norm) and report.clip_coef == 1.0
    assert torch.equal(torch.from_numpy(p), ref_p.detach())
    assert (g == 0).all()


def test_rewritten_gradients_are_written_back_like_torch():
    """Without zero_grad, the unscaled and clipped gradients stay in the buffers, as
    torch's fused step (unscale) and clip_grad_norm_ leave them."""
    rng = np.random.default_rng(1)
    g = (rng.standard_normal(3000) * 8).astype(np.float32)
    expected = torch.from_numpy(g / np.float32(8))
    ref = torch.zeros(3000, requires_grad=True)
    ref.grad = expected.clone()
    total = torch.nn.utils.clip_grad_norm_([ref], 2.0)

    p = np.zeros(3000, dtype=np.float32)
    report = descent.SGD([p], lr=0.1).step([g], grad_scale=8.0, max_norm=2.0)
    assert relative(report.total_norm, total) <= 1e-6 and report.clip_coef < 1
    torch.testing.assert_close(torch.from_numpy(g), ref.grad, rtol=2e-6, atol=0)
