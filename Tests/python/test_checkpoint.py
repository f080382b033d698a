"""Descent checkpoints from Python: descent.Optimizer.checkpoint()/load_checkpoint()/
save()/load() and the same on descent.torch optimizers, next to torch's state_dict.
Resume must be bit-exact; failed loads must change nothing. (Every algorithm variant and
schedule kind through the C ABI, corruption and crashes: Tests/c/test_checkpoint.c.)"""
import os

import numpy as np
import pytest
import torch

import descent
import descent.torch as dtorch

# Options that make each algorithm keep all its state; every algorithm of the library is
# tested (one not listed here with torch's defaults).
STATEFUL = {
    "SGD": dict(lr=0.1, momentum=0.9, nesterov=True),
    "Adam": dict(lr=0.01, amsgrad=True),
    "AdamW": dict(lr=0.01, weight_decay=0.1),
    "RMSprop": dict(lr=0.01, momentum=0.5, centered=True),
    "Adagrad": dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1),
    "Adamax": dict(lr=0.01, weight_decay=0.01),
    # A history that fills and rolls within the run, and the line search.
    "LBFGS": dict(max_iter=3, history_size=2, line_search_fn="strong_wolfe"),
}
ALGORITHMS = {name: STATEFUL.get(name, {}) for name in descent.hyperparameters.ALGORITHMS}


def needs_closure(algorithm):
    return descent.hyperparameters.has_trait(algorithm, descent._descent.TRAIT_NEEDS_CLOSURE)


def only_matrices(algorithm):
    return descent.hyperparameters.has_trait(algorithm, descent._descent.TRAIT_ONLY_MATRICES)


def grads_at(step, shapes):
    rng = np.random.default_rng(step)
    return [rng.standard_normal(shape).astype(np.float32) for shape in shapes]


class NumpyRun:
    """An optimizer over two groups of numpy arrays, with a StepLR."""

    def __init__(self, algorithm, values=None):
        self.shapes = [(7, 2), (33, 5), (3, 4)] if only_matrices(algorithm) else [(7,), (33, 5), (3,)]
        self.params = [np.linspace(-1, 1, int(np.prod(s)), dtype=np.float32).reshape(s) for s in self.shapes]
        if values is not None:
            for p, v in zip(self.params, values):
                p[...] = v
        self.grads = [np.zeros_like(p) for p in self.params]
        cls = getattr(descent, algorithm)
        if descent.hyperparameters.has_trait(algorithm, descent._descent.TRAIT_SINGLE_GROUP):
            groups = [{"params": self.params, "grads": self.grads}]
        else:
            groups = [{"params": self.params[:2], "grads": self.grads[:2]},
                      {"params": self.params[2:], "grads": self.grads[2:], "lr": 0.05}]
        self.opt = cls(groups, **ALGORITHMS[algorithm])
        self.schedule = descent.lr_scheduler.StepLR(self.opt, step_size=2, gamma=0.5)

    def run(self, start, stop):
        sparse_only = descent.hyperparameters.has_trait(self.opt.algorithm, descent._descent.TRAIT_ONLY_SPARSE_GRADIENTS)
        for t in range(start, stop):
            if needs_closure(self.opt.algorithm):
                self.opt.step(self.closure(grads_at(t, self.shapes)))
                self.schedule.step()
                continue
            for i, (g, new) in enumerate(zip(self.grads, grads_at(t, self.shapes))):
                if sparse_only:  # some rows, one twice (SparseAdam)
                    rows = np.arange(t % 2, len(new), 2)
                    rows = np.concatenate([rows, rows[:1]])
                    self.opt.set_sparse_grad(i, rows, new[rows])
                else:
                    g[...] = new
            self.opt.step()
            self.schedule.step()

    def closure(self, targets):
        """A closure over a quartic bowl centered on `targets`, which fills the gradients."""
        def closure():
            self.opt.zero_grad()
            loss = 0.0
            for p, g, target in zip(self.params, self.grads, targets):
                r = p - target
                g += r + r ** 3
                loss += float(np.sum(0.5 * r ** 2 + 0.25 * r ** 4))
            return loss
        return closure

    def snapshot(self):
        state = []
        for i in range(len(self.params)):
            for name in descent.hyperparameters.STATE_NAMES[self.opt.algorithm]:
                s = self.opt.state(i, name)
                state.append(None if s is None else s.tobytes())
            state.append(self.opt.step_count(i))
        groups = [{k: v for k, v in g.items() if k not in ("params", "grads")} for g in self.opt.param_groups]
        return [p.tobytes() for p in self.params], state, groups, self.schedule.state_dict()


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
@pytest.mark.parametrize("via_file", [False, True])
def test_numpy_resume_is_bit_exact(algorithm, via_file, tmp_path):
    straight = NumpyRun(algorithm)
    straight.run(0, 7)
    first = NumpyRun(algorithm)
    first.run(0, 4)
    path = tmp_path / "opt.ckpt"
    data = first.opt.checkpoint()
    if via_file:
        first.opt.save(path)
        assert path.read_bytes() == data
    resumed = NumpyRun(algorithm, values=first.params)
    if via_file:
        resumed.opt.load(str(path))
    else:
        resumed.opt.load_checkpoint(memoryview(data))
    assert resumed.opt.param_groups[0]["lr"] == first.opt.param_groups[0]["lr"]
    resumed.run(4, 7)
    assert resumed.snapshot() == straight.snapshot()
    assert not [f for f in os.listdir(tmp_path) if ".tmp-" in f]


def test_failed_loads_change_nothing_and_say_why(tmp_path):
    source = NumpyRun("AdamW")
    source.run(0, 2)
    data = source.opt.checkpoint()
    target = NumpyRun("AdamW")
    target.run(0, 1)
    before = target.snapshot()
    corrupt = bytearray(data)
    corrupt[len(corrupt) // 2] ^= 1
    with pytest.raises(descent.DescentCheckpointError, match="fails its CRC-32C check") as info:
        target.opt.load_checkpoint(corrupt)
    assert info.value.status == 17
    with pytest.raises(descent.DescentCheckpointError, match="checkpoint is of a AdamW optimizer, this one is Adam"):
        NumpyRun("Adam").opt.load_checkpoint(data)
    other = NumpyRun("AdamW")
    extra = descent.lr_scheduler.ExponentialLR(other.opt, gamma=0.9)  # noqa: F841 (attached while alive)
    other_before = other.snapshot()
    with pytest.raises(descent.DescentCheckpointError, match=r"checkpoint has schedules \[StepLR\], this optimizer has \[StepLR, ExponentialLR\]") as info:
        other.opt.load_checkpoint(data)
    assert info.value.status == 18
    assert other.snapshot() == other_before
    with pytest.raises(descent.DescentOSError, match="No such file or directory"):
        target.opt.load(tmp_path / "missing.ckpt")
    with pytest.raises(OSError):
        target.opt.save(tmp_path / "no-such-dir" / "x.ckpt")
    assert target.snapshot() == before


def torch_model(algorithm):
    """A small MLP; without biases for an algorithm that steps only matrices."""
    torch.manual_seed(0)
    bias = not only_matrices(algorithm)
    return torch.nn.Sequential(torch.nn.Linear(6, 8, bias=bias), torch.nn.Tanh(), torch.nn.Linear(8, 2, bias=bias))


def train(model, opt, start, stop):
    sparse_only = descent.hyperparameters.has_trait(opt._algorithm, descent._descent.TRAIT_ONLY_SPARSE_GRADIENTS)
    for t in range(start, stop):
        g = torch.Generator().manual_seed(t)
        x, y = torch.randn(16, 6, generator=g), torch.randn(16, 2, generator=g)
        if needs_closure(opt._algorithm):
            def closure():
                opt.zero_grad()
                loss = torch.nn.functional.mse_loss(model(x), y)
                loss.backward()
                return loss

            opt.step(closure)
            continue
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        if sparse_only:  # SparseAdam: the gradients as sparse rows
            for p in model.parameters():
                p.grad = p.grad.to_sparse(1)
        opt.step()


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_torch_dropin_resume_is_bit_exact(algorithm, tmp_path):
    cls = getattr(dtorch, algorithm)
    straight_model = torch_model(algorithm)
    straight = cls(straight_model.parameters(), **ALGORITHMS[algorithm])
    train(straight_model, straight, 0, 3)
    straight.param_groups[0]["lr"] *= 0.5
    train(straight_model, straight, 3, 6)

    model = torch_model(algorithm)
    opt = cls(model.parameters(), **ALGORITHMS[algorithm])
    train(model, opt, 0, 3)
    opt.param_groups[0]["lr"] *= 0.5  # a change the checkpoint must carry
    path = tmp_path / "opt.ckpt"
    opt.save(path)
    weights = {k: v.clone() for k, v in model.state_dict().items()}

    resumed_model = torch_model(algorithm)
    resumed_model.load_state_dict(weights)
    resumed = cls(resumed_model.parameters(), **ALGORITHMS[algorithm])
    resumed.load(path)
    assert resumed.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    # The torch-format state_dict sees the loaded state.
    expected, got = opt.state_dict(), resumed.state_dict()
    assert expected["param_groups"] == got["param_groups"]
    assert_same_state(expected, got)
    train(resumed_model, resumed, 3, 6)
    for a, b in zip(straight_model.parameters(), resumed_model.parameters()):
        assert torch.equal(a, b)
    assert_same_state(straight.state_dict(), resumed.state_dict())


def assert_same_state(expected, got):
    """The same state in two torch-format state_dicts (tensors, SparseAdam's int step,
    LBFGS's lists of tensors and numbers)."""
    def same(a, b):
        if type(a) is not type(b):
            return False
        if isinstance(a, list):
            return len(a) == len(b) and all(map(same, a, b))
        return torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b

    for key, state in expected["state"].items():
        assert state.keys() == got["state"][key].keys(), key
        for name, value in state.items():
            assert same(value, got["state"][key][name]), (key, name)


def test_torch_dropin_checkpoint_bytes_and_mismatch():
    model = torch_model("AdamW")
    opt = dtorch.AdamW(model.parameters(), lr=0.01)
    train(model, opt, 0, 2)
    data = opt.checkpoint()
    smaller = torch.nn.Linear(6, 8)
    other = dtorch.AdamW(smaller.parameters(), lr=0.01)
    with pytest.raises(descent.DescentCheckpointError, match="checkpoint has 4 parameters, this optimizer has 2"):
        other.load_checkpoint(data)
    assert other.state_dict()["state"] == {}
