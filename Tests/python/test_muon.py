"""descent.torch.Muon and MuonWithAdamW against torch's Muon (and torch's AdamW for the
rest of a model), and descent.Muon on numpy arrays. Muon's arithmetic, bit for bit
around its products, is in Tests/parity/test_muon.py; its optim_db inputs in
test_optim_db.py."""
import copy
import pathlib

import numpy as np
import pytest
import torch

import descent
import descent.torch as dt
from descent.muon_adamw import split_parameters

DIGITS = pathlib.Path(__file__).resolve().parents[2] / "bindings" / "c" / "data" / "digits.csv"


def digits():
    data = np.loadtxt(DIGITS, delimiter=",", dtype=np.float32)
    return torch.from_numpy(data[:, :-1] / 16.0), torch.from_numpy(data[:, -1]).long()


def mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 128), torch.nn.ReLU(),
                               torch.nn.Linear(128, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))


def losses(model, step, steps=200, batch=64):
    """The loss at each of `steps` minibatch steps over the digits, `step()` between."""
    x, y = digits()
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(1))
    out = []
    for t in range(steps):
        rows = order[(t * batch) % (len(x) - batch):][:batch]
        model.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x[rows]), y[rows])
        loss.backward()
        step()
        out.append(loss.item())
    return np.array(out)


MUON = dict(lr=0.02, momentum=0.95, weight_decay=0.01)
ADAMW = dict(lr=3e-3, betas=(0.9, 0.95), weight_decay=0.01)


def test_a_model_trains_as_with_torchs_muon_and_adamw():
    """200 steps of an MLP on the 8x8 digits: MuonWithAdamW against the pair of torch
    optimizers a user builds by hand with the same split (the hidden 128x64 and 128x128
    weights to Muon; biases and the output layer to AdamW, torch's fused one, whose
    arithmetic descent's AdamW follows). Every loss within 1%."""
    reference = mlp()
    hidden = [reference[0].weight, reference[2].weight, reference[4].weight]
    rest = [p for p in reference.parameters() if all(p is not q for q in hidden)]
    torch_muon, torch_adamw = torch.optim.Muon(hidden, **MUON), torch.optim.AdamW(rest, fused=True, **ADAMW)

    def torch_step():
        torch_muon.step()
        torch_adamw.step()

    expected = losses(reference, torch_step)
    model = mlp()
    opt = dt.MuonWithAdamW(model, muon=MUON, adamw=ADAMW)
    assert [p.shape for p in opt.muon.param_groups[0]["params"]] == [p.shape for p in hidden]
    got = losses(model, opt.step)
    assert expected[-1] < 0.5 * expected[0], "the model learns"
    assert np.all(np.abs(got - expected) <= 0.01 * expected), np.max(np.abs(got - expected) / expected)


def test_state_dicts_move_both_ways_with_torchs_muon():
    def run(cls, state=None):
        torch.manual_seed(0)
        params = [torch.randn(6, 4, requires_grad=True), torch.randn(3, 9, requires_grad=True)]
        opt = cls(params, lr=0.05)
        if state is not None:
            opt.load_state_dict(state)
        for t in range(3):
            for p in params:
                p.grad = torch.randn(p.shape, generator=torch.Generator().manual_seed(t))
            opt.step()
        return params, opt

    torch_params, torch_opt = run(torch.optim.Muon)
    mine, opt = run(dt.Muon)
    for a, b in zip(torch_params, mine):
        assert torch.equal(a, b)
    for source, target in ((torch_opt, dt.Muon), (opt, torch.optim.Muon)):
        # Copies: a state_dict's tensors are the optimizer's own (in torch too).
        resumed, _ = run(target, copy.deepcopy(source.state_dict()))
        straight, _ = run(type(source), copy.deepcopy(source.state_dict()))
        for a, b in zip(resumed, straight):
            assert torch.equal(a, b)


def test_a_parameter_that_is_not_a_matrix_gets_torchs_message():
    with pytest.raises(ValueError) as torch_error:
        torch.optim.Muon([torch.zeros(2, 3, 4)])
    with pytest.raises(ValueError) as ours:
        dt.Muon([torch.zeros(2, 3, 4)])
    assert str(ours.value) == str(torch_error.value)


class TinyGPT(torch.nn.Module):
    """A GPT-2 layout in miniature: token and position embeddings, blocks of attention
    and MLP matrices with layer norms and biases, an output head tied or not."""

    def __init__(self, tied):
        super().__init__()
        self.wte, self.wpe = torch.nn.Embedding(50, 16), torch.nn.Embedding(8, 16)
        self.blocks = torch.nn.ModuleList(
            torch.nn.ModuleDict(dict(ln=torch.nn.LayerNorm(16), attn=torch.nn.Linear(16, 48),
                                     proj=torch.nn.Linear(16, 16), fc=torch.nn.Linear(16, 64),
                                     out=torch.nn.Linear(64, 16))) for _ in range(2))
        self.lm_head = torch.nn.Linear(16, 50, bias=False)
        if tied:
            self.lm_head.weight = self.wte.weight


@pytest.mark.parametrize("tied", [False, True])
def test_the_split_rule(tied):
    model = TinyGPT(tied)
    hidden, rest = split_parameters(model)
    expected = [block[name].weight for block in model.blocks for name in ("attn", "proj", "fc", "out")]
    assert len(hidden) == len(expected) and all(a is b for a, b in zip(hidden, expected))
    assert any(p is model.wte.weight for p in rest) and any(p is model.wpe.weight for p in rest)
    assert any(p is model.lm_head.weight for p in rest)
    assert all(p.ndim == 1 for p in rest if p is not model.wte.weight and p is not model.wpe.weight
               and p is not model.lm_head.weight)
    assert len(hidden) + len(rest) == len(list(model.parameters()))


def test_names_send_more_to_adamw_and_schedulers_drive_both():
    model = TinyGPT(tied=False)
    opt = dt.MuonWithAdamW(model, muon=dict(lr=0.02), adamw=dict(lr=1e-3), adamw_names=("blocks.1.",))
    assert len(opt.muon.param_groups[0]["params"]) == 4
    schedule = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    opt.step()
    schedule.step()
    assert [group["lr"] for group in opt.param_groups] == [0.01, 5e-4]
    assert opt.muon.param_groups[0]["lr"] == 0.01 and opt.adamw.param_groups[0]["lr"] == 5e-4
    state = opt.state_dict()
    again = dt.MuonWithAdamW(TinyGPT(tied=False), muon=dict(lr=0.02), adamw=dict(lr=1e-3),
                             adamw_names=("blocks.1.",))
    again.load_state_dict(state)
    assert again.state_dict()["muon"]["state"].keys() == state["muon"]["state"].keys()
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(NotImplementedError, match=r"\.muon"):
        opt.add_param_group({"params": [torch.zeros(2, 2)]})


def test_numpy_muon_takes_the_arrays_shapes():
    matrix, vector = np.ones((4, 6), dtype=np.float32), np.ones(3, dtype=np.float32)
    grads = [np.full((4, 6), 0.5, dtype=np.float32), np.ones(3, dtype=np.float32)]
    opt = descent.Muon([{"params": [matrix], "grads": grads[:1]}])
    opt.step()
    assert not np.all(matrix == 1)
    refused = descent.Muon([{"params": [matrix, vector], "grads": grads}])
    with pytest.raises(descent.DescentError, match="Muon only supports 2D parameters"):
        refused.step()


def test_a_resumed_pair_follows_its_schedule_and_a_refused_load_changes_nothing():
    model = TinyGPT(tied=False)
    opt = dt.MuonWithAdamW(model, muon=dict(lr=0.02), adamw=dict(lr=1e-3))
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    opt.step()
    state = copy.deepcopy(opt.state_dict())
    resumed_model = TinyGPT(tied=False)
    resumed = dt.MuonWithAdamW(resumed_model, muon=dict(lr=0.02), adamw=dict(lr=1e-3))
    resumed.load_state_dict(state)
    schedule = torch.optim.lr_scheduler.StepLR(resumed, step_size=1, gamma=0.5)  # built after the load
    resumed.step()
    schedule.step()
    assert resumed.muon.param_groups[0]["lr"] == 0.01 and resumed.adamw.param_groups[0]["lr"] == 5e-4
    assert all(a is b for a, b in zip(resumed.param_groups, resumed.muon.param_groups + resumed.adamw.param_groups))

    buffer = resumed.muon.state_dict()["state"][0]["momentum_buffer"].clone()
    bad = copy.deepcopy(state)
    bad["muon"]["state"][0]["momentum_buffer"].zero_()
    bad["adamw"]["param_groups"].append(bad["adamw"]["param_groups"][0])  # a group too many
    with pytest.raises(ValueError):
        resumed.load_state_dict(bad)
    assert torch.equal(resumed.muon.state_dict()["state"][0]["momentum_buffer"], buffer)


def test_an_empty_parameter_that_is_not_a_matrix_is_refused_as_torch_does():
    with pytest.raises(ValueError, match="Muon only supports 2D parameters"):
        torch.optim.Muon([torch.zeros(0)])
    with pytest.raises(ValueError, match="Muon only supports 2D parameters"):
        dt.Muon([torch.zeros(0)])
