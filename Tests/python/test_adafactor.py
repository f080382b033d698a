"""Adafactor from Python: descent.torch.Adafactor as torch.optim.Adafactor's drop-in and
descent.Adafactor over numpy arrays. Its arithmetic is held to torch's in
Tests/parity/test_adafactor.py and optim_db's inputs in test_optim_db.py; here, what the
Python layer adds: eps's None, state in torch's names and shapes, state_dicts both ways,
and a model trained as torch trains it."""
import copy

import numpy as np
import pytest
import torch

import descent
import descent.torch as dt


def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))


def train(net, opt, steps, seed=1):
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(32, 12, generator=generator)
        y = torch.randn(32, 3, generator=generator)
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(x), y).backward()
        opt.step()


def assert_parameters_close(a, b):
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_trains_as_torch_and_shows_torchs_state():
    ours, theirs = model(), model()
    opt = dt.Adafactor(ours.parameters(), lr=0.05, weight_decay=0.01)
    reference = torch.optim.Adafactor(theirs.parameters(), lr=0.05, weight_decay=0.01)
    train(ours, opt, 30)
    train(theirs, reference, 30)
    assert_parameters_close(ours, theirs)
    assert opt.param_groups[0]["eps"] == (None, 1e-3) == reference.param_groups[0]["eps"]
    for p, q in zip(ours.parameters(), theirs.parameters()):
        mine, torchs = opt.state[p], reference.state[q]
        assert set(mine) == set(torchs)
        for name, value in torchs.items():
            assert mine[name].shape == value.shape, name
            torch.testing.assert_close(mine[name], value, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("direction", ["torch to descent", "descent to torch"])
def test_state_dicts_move_both_ways_and_continue_alike(direction):
    first, second = model(), model()
    source_cls, target_cls = ((torch.optim.Adafactor, dt.Adafactor) if direction == "torch to descent"
                              else (dt.Adafactor, torch.optim.Adafactor))
    source = source_cls(first.parameters(), eps=(1e-20, 1e-3))
    train(first, source, 5)
    second.load_state_dict(first.state_dict())
    target = target_cls(second.parameters(), eps=(1e-20, 1e-3))
    # A copy: a state_dict refers to the live state (torch's does too), and both go on.
    target.load_state_dict(copy.deepcopy(source.state_dict()))
    assert target.param_groups[0]["eps"] == (1e-20, 1e-3)
    train(first, source, 10, seed=2)
    train(second, target, 10, seed=2)
    assert_parameters_close(first, second)


def test_a_state_tensor_of_the_wrong_shape_is_refused_by_name():
    net = model()
    opt = dt.Adafactor(net.parameters())
    train(net, opt, 1)
    state = opt.state_dict()
    state["state"][0]["row_var"] = torch.zeros(5, 1)
    with pytest.raises(ValueError, match="row_var"):
        opt.load_state_dict(state)


def test_state_a_shape_does_not_keep_is_refused_before_anything_changes():
    net = model()
    opt = dt.Adafactor(net.parameters())
    train(net, opt, 2)
    state = copy.deepcopy(opt.state_dict())
    state["state"][0]["step"] = torch.tensor(7.0)
    state["state"][0]["variance"] = torch.zeros(16, 12)
    with pytest.raises(ValueError, match="keeps no 'variance'"):
        opt.load_state_dict(state)
    assert float(opt.state[net[0].weight]["step"]) == 2


def test_eps_none_and_nan():
    """None is torch's None; NaN, which stands for None inside the engine, is refused
    (by the drop-in with torch's message)."""
    net = model()
    opt = dt.Adafactor(net.parameters(), eps=(None, 1e-2))
    assert opt.param_groups[0]["eps"] == (None, 1e-2)
    with pytest.raises(ValueError, match="epsilon1 should be >= 0 but is: nan"):
        dt.Adafactor(net.parameters(), eps=(float("nan"), 1e-3))
    with pytest.raises(ValueError, match="nan is not a valid value"):
        descent.Adafactor([np.ones(3, dtype=np.float32)], eps=(float("nan"), 1e-3))


def test_numpy_class_keeps_factored_state_in_torchs_shapes():
    weights = np.ones((4, 6), dtype=np.float32)
    bias = np.ones(6, dtype=np.float32)
    opt = descent.Adafactor([weights, bias])
    opt.step([np.full((4, 6), 0.5, dtype=np.float32), np.full(6, 0.5, dtype=np.float32)])
    assert opt.state_shape(0, "row_var") == (4, 1)
    assert opt.state_shape(0, "col_var") == (1, 6)
    assert opt.state(0, "row_var").size == 4 and opt.state(0, "variance") is None
    assert opt.state(1, "variance").shape == (6,)
    # The first step's factors are torch's statistics of the gradient (norm, squared, divided).
    g = torch.full((4, 6), 0.5)
    rows = torch.linalg.vector_norm(g, dim=-1).square().div(6)
    columns = torch.linalg.vector_norm(g, dim=-2).square().div(4)
    assert np.array_equal(opt.state(0, "row_var"), rows.numpy())
    assert np.array_equal(opt.state(0, "col_var"), columns.numpy())


def test_checkpoints_need_the_same_shapes():
    net = model()
    opt = dt.Adafactor(net.parameters())
    train(net, opt, 2)
    saved = opt.checkpoint()
    flat = [torch.nn.Parameter(p.detach().reshape(-1).clone()) for p in net.parameters()]
    other = dt.Adafactor(flat)
    with pytest.raises(descent.DescentCheckpointError, match="shape"):
        other.load_checkpoint(saved)
    same = dt.Adafactor(copy.deepcopy(net).parameters())
    same.load_checkpoint(saved)
    assert same.checkpoint() == saved


def test_a_sharded_dtensor_is_refused(tmp_path):
    """FSDP2 shards parameters as DTensors and Descent steps each rank's shard: exact for
    element-wise algorithms, not for Adafactor's whole-tensor statistics (torch's own
    reduces across ranks), so a sharded DTensor is refused and a replicated one taken."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor

    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/store", rank=0, world_size=1)
    try:
        mesh = init_device_mesh("cpu", (1,))
        sharded = torch.nn.Parameter(distribute_tensor(torch.randn(4, 6), mesh, [Shard(0)]))
        with pytest.raises(NotImplementedError, match="sharded"):
            dt.Adafactor([sharded])
        dt.AdamW([sharded])
        dt.Adafactor([torch.nn.Parameter(distribute_tensor(torch.randn(4, 6), mesh, [Replicate()]))])
    finally:
        dist.destroy_process_group()
