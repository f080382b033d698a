"""bfloat16 and float16 parameters in descent.torch, with and without a float32 master copy
(master_weights=True): the master steps exactly as a float32 parameter (torch's own
arithmetic, held bit for bit by the other tests), and the parameter is the master rounded
to nearest even, every step; without a master the update runs in float32 from the
parameter's own values and is rounded back, as torch's fused kernels do for bfloat16."""
import io

import pytest
import torch
from torch.testing._internal.common_optimizers import optim_db

import descent.torch as dt
from descent.hyperparameters import DESCENTS_OWN

LOW = (torch.bfloat16, torch.float16)
# Those that take state formats take parameter formats (state_dtype is their mark).
FORMATTED = sorted(name for name in dt.ALGORITHM_CLASSES if "state_dtype" in DESCENTS_OWN[name])
INFOS = {info.optim_cls.__name__: info for info in optim_db if info.optim_cls.__name__ in FORMATTED}
# Shapes with every remainder class of torch's 8-wide scalar tail and a 1,024-element
# piece boundary inside them.
SHAPES = [(33, 31), (1030,), (7,)]


def starting_values(seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=generator) for shape in SHAPES]


def step_gradients(step, dtype):
    generator = torch.Generator().manual_seed(100 + step)
    return [torch.randn(shape, generator=generator).to(dtype) for shape in SHAPES]


def step_both(ours, theirs, ours_params, theirs_params, step, dtype):
    """One step of both optimizers, with the same step gradients (`dtype`), widened to
    the dtype of `theirs_params`."""
    for p, q, g in zip(ours_params, theirs_params, step_gradients(step, dtype)):
        p.grad, q.grad = g, g.to(q.dtype)
    ours.step()
    theirs.step()


def test_every_algorithm_with_state_formats_is_in_torchs_matrix():
    assert set(INFOS) == set(FORMATTED)


def master_cases():
    for name, info in INFOS.items():
        for optim_input in info.optim_inputs_func(device="cpu", dtype=torch.float32):
            for dtype in LOW:
                yield pytest.param(name, dict(optim_input.kwargs), dtype,
                                   id=f"{name}-{optim_input.desc}-{str(dtype)[6:]}")


@pytest.mark.parametrize("name, kwargs, dtype", list(master_cases()))
def test_master_steps_as_float32_and_the_parameter_is_it_rounded(name, kwargs, dtype):
    """Every input of torch's option matrix: a bfloat16 / float16 parameter with a master
    copy against a float32 parameter that starts at the same (widened) values and gets
    the same (widened) gradients. The float32 run is Descent's, held to torch's bits by
    test_optim_db and the parity tests."""
    cls = dt.ALGORITHM_CLASSES[name]
    low = [torch.nn.Parameter(v.to(dtype)) for v in starting_values()]
    full = [torch.nn.Parameter(p.detach().float()) for p in low]
    ours, reference = cls(low, master_weights=True, **kwargs), cls(full, **kwargs)
    for step in range(5):
        step_both(ours, reference, low, full, step, dtype)
        for p, q in zip(low, full):
            assert torch.equal(ours.state[p]["master_param"], q.detach()), f"step {step}: the master left float32's path"
            assert torch.equal(p.detach(), q.detach().to(dtype)), f"step {step}: the parameter is not its master rounded"


@pytest.mark.parametrize("name", ["AdamW", "Adam"])
@pytest.mark.parametrize("dtype", LOW)
def test_master_equals_torch_on_a_float32_master(name, dtype):
    """The issue's check: bfloat16 parameters with master_weights=True equal, bit for bit,
    an fp32 master updated by torch's own optimizer and rounded each step (torch's fused
    kernel: the implementation whose arithmetic Descent's follows)."""
    low = [torch.nn.Parameter(v.to(dtype)) for v in starting_values(1)]
    master = [torch.nn.Parameter(p.detach().float()) for p in low]
    ours = dt.ALGORITHM_CLASSES[name](low, lr=1e-2, weight_decay=0.1, master_weights=True)
    theirs = getattr(torch.optim, name)(master, lr=1e-2, weight_decay=0.1, fused=True)
    for step in range(30):
        step_both(ours, theirs, low, master, step, dtype)
        for p, q in zip(low, master):
            assert torch.equal(p.detach(), q.detach().to(dtype)), f"step {step}"


@pytest.mark.parametrize("name, kwargs", [("AdamW", {}), ("Adam", {"amsgrad": True}), ("SGD", {"momentum": 0.9}),
                                          ("Adagrad", {})])
def test_bfloat16_parameters_and_state_equal_torchs_fused_bfloat16_step(name, kwargs):
    """No master, bfloat16 state: torch's fused kernels on bfloat16 parameters keep
    bfloat16 state and compute in float32; so does Descent with state_dtype="bfloat16"."""
    ours_params = [torch.nn.Parameter(v.to(torch.bfloat16)) for v in starting_values(2)]
    theirs_params = [torch.nn.Parameter(p.detach().clone()) for p in ours_params]
    ours = dt.ALGORITHM_CLASSES[name](ours_params, lr=1e-2, state_dtype="bfloat16", **kwargs)
    theirs = getattr(torch.optim, name)(theirs_params, lr=1e-2, fused=True, **kwargs)
    for step in range(20):
        step_both(ours, theirs, ours_params, theirs_params, step, torch.bfloat16)
        for p, q in zip(ours_params, theirs_params):
            assert torch.equal(p.detach(), q.detach()), f"step {step}"


@pytest.mark.parametrize("dtype", LOW)
def test_without_a_master_each_step_starts_from_the_rounded_parameter(dtype):
    """master_weights off, float32 state: each step is float32's step from the widened
    parameter, rounded back (so small updates can round away, which is what the master
    copy is for)."""
    low = [torch.nn.Parameter(v.to(dtype)) for v in starting_values(3)]
    ours = dt.AdamW(low, lr=1e-3)
    full = [torch.nn.Parameter(p.detach().float()) for p in low]
    reference = dt.AdamW(full, lr=1e-3)
    for step in range(5):
        step_both(ours, reference, low, full, step, dtype)
        for p, q in zip(low, full):
            assert torch.equal(p.detach(), q.detach().to(dtype)), f"step {step}"
            with torch.no_grad():
                q.copy_(p.float())  # the float32 run restarts from the rounded values
        assert "master_param" not in ours.state[low[0]]


def test_master_weights_turned_off_and_on():
    (p,) = [torch.nn.Parameter(v.to(torch.bfloat16)) for v in starting_values()[:1]]
    opt = dt.AdamW([p], lr=1e-2, master_weights=True)
    p.grad = step_gradients(0, torch.bfloat16)[0]
    opt.step()
    assert opt.state[p]["master_param"].dtype == torch.float32
    assert not torch.equal(opt.state[p]["master_param"], p.detach().float()), "the master keeps what rounding drops"
    opt.param_groups[0]["master_weights"] = False
    opt.step()
    assert "master_param" not in opt.state[p], "let go at the next step"
    opt.param_groups[0]["master_weights"] = True
    before = p.detach().float()
    opt.param_groups[0]["lr"] = 0.0  # a step that changes nothing: the new master is the parameter
    opt.step()
    assert torch.equal(opt.state[p]["master_param"], before), "made afresh from the parameter"


@pytest.mark.parametrize("stochastic_rounding", [False, True])
@pytest.mark.parametrize("state_dtype", ["float32", "bfloat16", "int8"])
def test_state_dict_resumes_bit_for_bit(state_dtype, stochastic_rounding):
    torch.manual_seed(5)
    params = [torch.nn.Parameter(v.to(torch.bfloat16)) for v in (torch.randn(64, 80), torch.randn(10))]
    options = dict(lr=1e-2, master_weights=True, state_dtype=state_dtype, stochastic_rounding=stochastic_rounding)
    opt = dt.AdamW(params, **options)
    grads = [[torch.randn(p.shape).to(torch.bfloat16) for p in params] for _ in range(10)]
    for step_grads in grads[:5]:
        for p, g in zip(params, step_grads):
            p.grad = g
        opt.step()
    buffer = io.BytesIO()
    torch.save({"params": [p.detach().clone() for p in params], "opt": opt.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer)
    resumed_params = [torch.nn.Parameter(v) for v in saved["params"]]
    resumed = dt.AdamW(resumed_params, **options)
    resumed.load_state_dict(saved["opt"])
    assert resumed.state[resumed_params[0]]["master_param"].dtype == torch.float32
    for step_grads in grads[5:]:
        for p, q, g in zip(params, resumed_params, step_grads):
            p.grad, q.grad = g, g.clone()
        opt.step()
        resumed.step()
    for p, q in zip(params, resumed_params):
        assert torch.equal(p.detach(), q.detach())
        assert torch.equal(opt.state[p]["master_param"], resumed.state[q]["master_param"])


@pytest.mark.parametrize("dtype, start, ulp", [
    (torch.bfloat16, 1.0, torch.finfo(torch.bfloat16).eps),  # the spacing above 1.0
    (torch.float16, 1.0, torch.finfo(torch.float16).eps),
    (torch.float16, 2.0 ** -20, 2.0 ** -24),  # float16's subnormals, in steps of 2^-24
], ids=["bfloat16", "float16", "float16-subnormal"])
def test_stochastic_rounding_keeps_small_updates_on_average(dtype, start, ulp):
    """SGD steps of a tenth of a unit in the last place: rounding to nearest even loses
    every one; stochastic rounding keeps them on average (unbiased: the mean over 65,536
    elements is float32's within a few of its standard errors, ~0.01 unit)."""
    lr, steps = 0.1 * ulp, 50
    ends = {}
    for stochastic in (False, True):
        p = torch.nn.Parameter(torch.full((1 << 16,), start, dtype=dtype))
        opt = dt.SGD([p], lr=lr, stochastic_rounding=stochastic)
        for _ in range(steps):
            p.grad = -torch.ones_like(p)
            opt.step()
        ends[stochastic] = p.detach().double()
    assert torch.equal(ends[False], torch.full((1 << 16,), start, dtype=torch.float64)), "nearest even drops them"
    mean_steps = (ends[True].mean().item() - start) / ulp
    assert mean_steps == pytest.approx(steps * 0.1, abs=0.05), "stochastic rounding keeps them on average"
    assert ends[True].unique().numel() > 3, "each element rounds on its own noise"


def test_stochastic_rounding_of_bfloat16_state_is_unbiased():
    """A momentum buffer of bfloat16 state under a constant gradient: 0.9·b + 1 has its
    fixed point at 10, which rounding to nearest even never reaches (it stalls at 9.75,
    where the step is under half a unit); rounded stochastically its mean is 10."""
    ends = {}
    for stochastic in (False, True):
        p = torch.nn.Parameter(torch.zeros(1 << 16))
        opt = dt.SGD([p], lr=1e-3, momentum=0.9, state_dtype="bfloat16", stochastic_rounding=stochastic)
        for _ in range(300):
            p.grad = torch.ones_like(p)
            opt.step()
        ends[stochastic] = opt.state[p]["momentum_buffer"].double()
    assert torch.equal(ends[False], torch.full((1 << 16,), 9.75, dtype=torch.float64))
    assert ends[True].mean().item() == pytest.approx(10, abs=0.005)


def test_stochastic_rounding_is_the_same_noise_every_run():
    def run():
        p = torch.nn.Parameter(torch.linspace(-1, 1, 5000).to(torch.bfloat16))
        opt = dt.AdamW([p], lr=1e-3, state_dtype="bfloat16", stochastic_rounding=True)
        for step in range(3):
            p.grad = torch.sin(torch.arange(5000.0) * (step + 1)).to(torch.bfloat16)
            opt.step()
        return p.detach().clone(), opt.state[p]["exp_avg"].clone()

    (a, m), (b, n) = run(), run()
    assert torch.equal(a, b) and torch.equal(m, n)


def test_unscale_and_clip_read_and_write_the_gradient_in_its_format():
    """The fused phase rewrites a bfloat16 gradient in float32 and rounds it back, as
    torch's in-place unscale and clip round it; the step reads the rounded gradient."""
    low = [torch.nn.Parameter(v.to(torch.bfloat16)) for v in starting_values(6)]
    master = [torch.nn.Parameter(p.detach().float()) for p in low]
    ours = dt.AdamW(low, lr=1e-2, master_weights=True)
    theirs = torch.optim.AdamW(master, lr=1e-2, fused=True)
    for step in range(5):
        grads = step_gradients(step, torch.bfloat16)
        for p, g in zip(low, grads):
            p.grad = (g.float() * 1024).to(torch.bfloat16)  # scaled, as GradScaler's backward leaves it
        ours.grad_scale = torch.tensor(1024.0)
        ours.step(max_norm=1.0)
        del ours.grad_scale
        report = ours.last_step_report
        widened = [(g.float() * 1024).to(torch.bfloat16).float() / 1024 for g in grads]
        norm = torch.linalg.vector_norm(torch.cat([w.reshape(-1) for w in widened]).double()).item()
        assert report.total_norm == pytest.approx(norm, rel=1e-6)
        unscaled = [(w * report.clip_coef).to(torch.bfloat16) for w in widened]
        for p, q, u in zip(low, master, unscaled):
            assert torch.equal(p.grad, u), "the gradient left as torch's in-place ops would leave it"
            q.grad = u.float()
        theirs.step()
        for p, q in zip(low, master):
            assert torch.equal(p.detach(), q.detach().to(torch.bfloat16)), f"step {step}"


def test_eight_bit_state_with_bfloat16_parameters_and_a_master():
    """A master over 8-bit state steps as a float32 parameter over 8-bit state, bit for
    bit (Tests/parity/test_state_formats.py holds that to torch's and bitsandbytes'
    bounds)."""
    torch.manual_seed(7)
    low = torch.nn.Parameter(torch.randn(256, 64).to(torch.bfloat16))
    full = torch.nn.Parameter(low.detach().float())
    ours = dt.AdamW([low], lr=1e-3, master_weights=True, state_dtype="int8")
    reference = dt.AdamW([full], lr=1e-3, state_dtype="int8")
    for step in range(20):
        g = torch.randn(256, 64).to(torch.bfloat16)
        low.grad, full.grad = g, g.float()
        ours.step()
        reference.step()
        assert torch.equal(ours.state[low]["master_param"], full.detach()), f"step {step}"
        assert torch.equal(low.detach(), full.detach().to(torch.bfloat16)), f"step {step}"
    assert torch.equal(ours.state[low]["exp_avg"], reference.state[full]["exp_avg"])
    assert ours.state[low]["exp_avg"].dtype == torch.uint8


def test_grad_arena_keeps_each_dtype_in_its_own_arena():
    params = [torch.nn.Parameter(torch.randn(10, 3).to(torch.bfloat16)), torch.nn.Parameter(torch.randn(5)),
              torch.nn.Parameter(torch.randn(4).to(torch.float16))]
    opt = dt.SGD(params, lr=0.1, grad_arena=True)
    assert [p.grad.dtype for p in params] == [torch.bfloat16, torch.float32, torch.float16]
    before = [p.detach().clone() for p in params]
    for p in params:
        p.grad.fill_(1.0)
    opt.step()
    for p, b in zip(params, before):
        assert torch.equal(p.detach(), (b.float() - 0.1).to(p.dtype))
    opt.zero_grad()
    assert all(not p.grad.any() for p in params)


def test_refusals_name_the_tensor():
    p = torch.nn.Parameter(torch.randn(4, 4).to(torch.bfloat16))
    with pytest.raises(TypeError, match=r"float32 tensors; parameter 0 of group 0 is a tensor of dtype torch.bfloat16"):
        dt.Adafactor([p])
    opt = dt.AdamW([p])
    p.grad_dtype = None  # torch refuses a gradient of another dtype unless told
    p.grad = torch.randn(4, 4)
    with pytest.raises(TypeError, match=r"the gradient of parameter 0 of group 0 is a tensor of dtype torch.float32"):
        opt.step()
    q = torch.nn.Parameter(torch.randn(4).to(torch.float64))
    with pytest.raises(TypeError, match="float32 or bfloat16 or float16 tensors"):
        dt.AdamW([q])
