"""bfloat16 and 8-bit optimizer state in descent.torch (state_dtype), and the drop-ins for
bitsandbytes' Adam8bit and AdamW8bit, against bitsandbytes itself (it runs on CPU). The
arithmetic is held to torch's and bitsandbytes' definitions in
Tests/parity/test_state_formats.py."""
import inspect
import io
import logging
import warnings

import numpy as np
import pytest
import torch

import descent.torch as dt
from problem import X, Y

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)  # bitsandbytes' notice about an optional CPU kernel package
    import bitsandbytes as bnb
    logging.disable(logging.NOTSET)


def tensors(*shapes, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [(torch.randn(shape, generator=generator) * 0.1).requires_grad_() for shape in shapes]


def gradients(params, seed):
    generator = torch.Generator().manual_seed(seed)
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator) * 0.01


def run(opt, params, steps, first=0):
    for step in range(first, first + steps):
        gradients(params, step)
        opt.step()


def test_state_shows_in_its_format():
    big, small = tensors((64, 80), (10, 10))
    opt = dt.AdamW([big, small], state_dtype="int8")
    run(opt, [big, small], 1)
    state = opt.state[big]
    assert state["exp_avg"].dtype == torch.uint8 and state["exp_avg"].shape == big.shape
    assert state["exp_avg_absmax"].dtype == torch.float32 and state["exp_avg_absmax"].shape == (20,)
    assert state["exp_avg_sq_absmax"].shape == (20,)
    assert opt.state[small]["exp_avg"].dtype == torch.float32, "under min_8bit_size: float32, as bitsandbytes keeps it"
    assert "exp_avg_absmax" not in opt.state[small]
    assert opt.param_groups[0]["state_dtype"] == "int8"
    assert "min_8bit_size" not in opt.param_groups[0], "Descent's own options are group keys where given"
    (p,) = tensors((64, 80))
    opt = dt.RMSprop([p], momentum=0.9, state_dtype="bfloat16")
    run(opt, [p], 1)
    assert opt.state[p]["square_avg"].dtype == torch.bfloat16
    assert opt.state[p]["momentum_buffer"].dtype == torch.bfloat16


def test_torch_options_stay_torchs():
    """Without state_dtype, groups and state_dicts are torch's own."""
    (p,) = tensors((64, 80))
    opt, reference = dt.AdamW([p]), torch.optim.AdamW([p.detach().clone().requires_grad_()])
    assert opt.param_groups[0].keys() == reference.param_groups[0].keys()
    signature = inspect.signature(dt.AdamW)
    assert signature.parameters["state_dtype"].kind is inspect.Parameter.KEYWORD_ONLY
    with pytest.raises(TypeError):
        dt.AdamW([p], 1e-3, (0.9, 0.999), 1e-8, 0.01, False, "int8")  # Descent's own options are keyword-only


def test_groups_have_their_own_format_and_bad_values_are_refused():
    a, b = tensors((64, 80), (64, 80))
    opt = dt.Adam([{"params": [a], "state_dtype": "int8"}, {"params": [b]}], lr=1e-3)
    run(opt, [a, b], 1)
    assert opt.state[a]["exp_avg"].dtype == torch.uint8
    assert opt.state[b]["exp_avg"].dtype == torch.float32
    with pytest.raises(ValueError, match="'float32' or 'bfloat16' or 'int8'"):
        dt.Adam([a], state_dtype="int4")
    with pytest.raises(ValueError, match="min_8bit_size"):
        dt.Adam([a], state_dtype="int8", min_8bit_size=-1)


@pytest.mark.parametrize("state_dtype", ["bfloat16", "int8"])
def test_a_state_dict_resumes_bit_for_bit(state_dtype):
    params = tensors((64, 80), (300,), (7, 40))
    straight = dt.AdamW(params, state_dtype=state_dtype, min_8bit_size=100)
    run(straight, params, 5)
    buffer = io.BytesIO()
    torch.save(straight.state_dict(), buffer)
    copies = [p.detach().clone().requires_grad_() for p in params]
    resumed = dt.AdamW(copies, state_dtype=state_dtype, min_8bit_size=100)
    buffer.seek(0)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    run(straight, params, 5, first=5)
    run(resumed, copies, 5, first=5)
    for p, q in zip(params, copies):
        assert torch.equal(p, q)
        for key, value in straight.state[p].items():
            assert torch.equal(value, resumed.state[q][key]), key


def test_a_state_dict_switches_formats():
    """float32 state loads into 8-bit state quantized, 8-bit into float32 decoded (code
    value × absmax, exactly)."""
    (p,) = tensors((64, 80))
    full = dt.AdamW([p])
    run(full, [p], 3)
    eight = dt.AdamW([p.detach().clone().requires_grad_()], state_dtype="int8")
    eight.load_state_dict(full.state_dict())
    (q,) = eight.param_groups[0]["params"]
    codes, absmax = eight.state[q]["exp_avg"], eight.state[q]["exp_avg_absmax"]
    decoded = torch.tensor(eight._core.state_code_map(0, "exp_avg"))[codes.long()] * absmax.repeat_interleave(256).view(
        codes.shape)
    assert (decoded - full.state[p]["exp_avg"]).abs().max() <= 0.01 * absmax.max()
    back = dt.AdamW([p.detach().clone().requires_grad_()])
    back.load_state_dict(eight.state_dict())
    (r,) = back.param_groups[0]["params"]
    assert torch.equal(back.state[r]["exp_avg"], decoded)
    assert "exp_avg_absmax" not in back.state[r]


def test_a_changed_state_dtype_moves_the_state_and_shows_it():
    (p,) = tensors((64, 80))
    opt = dt.AdamW([p])
    run(opt, [p], 2)
    opt.param_groups[0]["state_dtype"] = "bfloat16"
    run(opt, [p], 1, first=2)
    assert opt.state[p]["exp_avg"].dtype == torch.bfloat16
    opt.param_groups[0]["state_dtype"] = "int8"
    run(opt, [p], 1, first=3)
    assert opt.state[p]["exp_avg"].dtype == torch.uint8 and "exp_avg_absmax" in opt.state[p]


# -- the drop-ins for bitsandbytes


@pytest.mark.parametrize("name", ["Adam8bit", "AdamW8bit"])
def test_signatures_and_refusals_are_bitsandbytes(name):
    ours, theirs = inspect.signature(getattr(dt, name)), inspect.signature(getattr(bnb.optim, name))
    assert [(p.name, p.default) for p in ours.parameters.values()] == \
        [(p.name, p.default) for p in theirs.parameters.values() if p.name != "self"]
    (p,) = tensors((64, 80))
    for options in (dict(amsgrad=True), dict(optim_bits=8)):
        with pytest.raises(ValueError) as ours_error:
            getattr(dt, name)([p], **options)
        with pytest.raises(ValueError) as their_error:
            getattr(bnb.optim, name)([p], **options)
        assert str(ours_error.value) == str(their_error.value)


def bnb_pair(name, shape, seed=0, **options):
    (p,) = tensors(shape, seed=seed)
    q = p.detach().clone().requires_grad_()
    return p, getattr(dt, name)([p], **options), q, getattr(bnb.optim, name)([q], **options)


@pytest.mark.parametrize("name, weight_decay", [("Adam8bit", 0.0), ("AdamW8bit", 1e-2), ("Adam8bit", 0.1)])
def test_updates_follow_bitsandbytes(name, weight_decay):
    """Each step from the same parameters, with each optimizer's state on its own: the
    updates agree within bitsandbytes' own bounds against torch (mean |err| < 6e-5,
    Σ|err|/Σ|p| < 6e-4). Both decay weights decoupled, also Adam8bit."""
    p, ours, q, theirs = bnb_pair(name, (256, 300), weight_decay=weight_decay, lr=1e-3)
    for step in range(30):
        with torch.no_grad():
            q.copy_(p)
        gradients([p], step)
        gradients([q], step)
        ours.step()
        theirs.step()
        err = (p - q).abs()
        assert err.mean() < 6e-5 and err.sum() / q.abs().sum() < 6e-4, f"step {step}: {err.mean():.3g}"
    assert ours.param_groups[0]["weight_decay"] == weight_decay


def test_bitsandbytes_state_dicts_load_both_ways():
    """bitsandbytes' state_dict loads into AdamW8bit (its codes kept as they are) and the
    run continues within bitsandbytes' bounds; Descent's loads into bitsandbytes'."""
    p, ours, q, theirs = bnb_pair("AdamW8bit", (64, 80), lr=1e-3)
    gradients([q], 0)
    theirs.step()
    saved = theirs.state_dict()
    quant = saved["state"][0]["__bnb_optimizer_quant_state__"]
    with torch.no_grad():
        p.copy_(q)
    ours.load_state_dict(saved)
    state = ours.state[p]
    assert torch.equal(state["exp_avg"], quant["state1"]) and torch.equal(state["exp_avg_absmax"], quant["absmax1"])
    assert torch.equal(state["exp_avg_sq"], quant["state2"])
    assert int(state["step"]) == saved["state"][0]["step"] == 1
    gradients([p], 1)
    gradients([q], 1)
    ours.step()
    theirs.step()
    assert (p - q).abs().mean() < 6e-5
    # And back: Descent's state_dict in bitsandbytes' layout, into bitsandbytes.
    mine = ours.state_dict()
    assert set(mine["state"][0]) == {"step", "__bnb_optimizer_quant_state__"}
    assert set(mine["state"][0]["__bnb_optimizer_quant_state__"]) == {"state1", "state2", "absmax1", "absmax2",
                                                                     "qmap1", "qmap2"}
    r = p.detach().clone().requires_grad_()
    again = bnb.optim.AdamW8bit([r], lr=1e-3)
    again.load_state_dict(mine)
    assert torch.equal(again.state[r]["state1"], ours.state[p]["exp_avg"])
    gradients([r], 2)
    again.step()


def test_a_real_model_trains_within_the_float32_runs_noise():
    """A 64-256-256-10 MLP on the 8x8 digits, 300 steps of AdamW (lr 1e-3, batches of
    64): the final loss (mean of the last 30 steps) with 8-bit state, and with bfloat16
    state, lies within mean ± 3 standard deviations of five float32 runs that differ
    only in their initial weights and batch order (the noise)."""
    def train(seed, **options):
        torch.manual_seed(seed)
        model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.Tanh(), torch.nn.Linear(256, 256),
                                    torch.nn.Tanh(), torch.nn.Linear(256, 10))
        opt = dt.AdamW(model.parameters(), lr=1e-3, **options)
        order = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))
        losses = []
        for step in range(300):
            batch = order[(step * 64) % (len(X) - 64):][:64]
            loss = torch.nn.functional.cross_entropy(model(X[batch].float()), Y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return float(np.mean(losses[-30:]))

    baseline = [train(seed) for seed in range(5)]
    mean, spread = np.mean(baseline), np.std(baseline)
    for state_dtype in ("int8", "bfloat16"):
        final = train(0, state_dtype=state_dtype)
        assert abs(final - mean) <= 3 * spread, f"{state_dtype}: {final:.4f}, float32 runs {baseline}"
