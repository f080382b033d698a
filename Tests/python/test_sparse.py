"""Sparse gradients (nn.Embedding(sparse=True), nn.EmbeddingBag(sparse=True)) through
descent.torch against torch.optim, live: SparseAdam, Adagrad and SGD trajectories, state_dict
swaps, zero_grad, and torch's errors for everything else."""
import contextlib

import pytest
import torch

import descent
import descent.torch as dt
from problem import correctly_rounded_sqrt, relative_error

STEPS = 200
SWAP = 100

# torch's sparse Adagrad builds its update with sparse_coo_tensor, which warns about
# invariant checks on every step.
pytestmark = pytest.mark.filterwarnings("ignore:Sparse invariant checks:UserWarning")


class Model(torch.nn.Module):
    """An embedding and an embedding bag (both sparse) into a small dense head: the head's
    gradients are dense, so each optimizer below steps the embeddings only."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embedding = torch.nn.Embedding(60, 8, sparse=True)
        self.bag = torch.nn.EmbeddingBag(40, 8, mode="sum", sparse=True)
        self.head = torch.nn.Linear(8, 3)

    def sparse_parameters(self):
        return [self.embedding.weight, self.bag.weight]

    def loss(self, step, unique=False):
        g = torch.Generator().manual_seed(step)
        if unique:  # each row at most once: no duplicates to sum
            words = torch.randperm(60, generator=g)[:24].view(8, 3)
            bags = torch.randperm(40, generator=g)[:16].view(8, 2)
        else:
            words = torch.randint(0, 60, (8, 3), generator=g)
            bags = torch.randint(0, 40, (8, 2), generator=g)
        labels = torch.randint(0, 3, (8,), generator=g)
        hidden = self.embedding(words).mean(1) + self.bag(bags)
        return torch.nn.functional.cross_entropy(self.head(hidden), labels)


def train(model, opt, start, stop, sqrt=None, unique=False):
    for step in range(start, stop):
        opt.zero_grad()
        model.head.zero_grad()
        model.loss(step, unique).backward()
        with (sqrt or contextlib.nullcontext)():
            opt.step()


def trajectory(library, name, kwargs, sqrt=None, unique=False):
    model = Model()
    train(model, getattr(library, name)(model.sparse_parameters(), **kwargs), 0, STEPS, sqrt, unique)
    return model.sparse_parameters()


SQRT_CONFIGS = [
    ("SparseAdam", dict()),
    ("SparseAdam", dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6)),
    ("SparseAdam", dict(lr=1e-2, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=1e-2, initial_accumulator_value=0.1, eps=1e-8)),
    ("Adagrad", dict(lr=0.1, maximize=True)),
]


@pytest.mark.parametrize("name, kwargs", SQRT_CONFIGS)
def test_sqrt_algorithms_equal_torchs_code_with_a_correctly_rounded_sqrt(name, kwargs):
    """Bit for bit with torch's own sparse code run with a correctly rounded sqrt (torch's
    CPU sqrt is up to 1 ulp off), and within 1e-6 of torch itself."""
    ours = trajectory(dt, name, kwargs)
    for a, b in zip(ours, trajectory(torch.optim, name, kwargs, sqrt=correctly_rounded_sqrt)):
        assert torch.equal(a, b)
    for a, b in zip(ours, trajectory(torch.optim, name, kwargs)):
        assert relative_error(a.detach(), b.detach()) <= 1e-6


def test_sgd_matches_torch():
    """Without momentum: bit for bit where no row repeats, within 1e-6 where rows repeat
    (torch adds a repeated row's entries one by one, uncoalesced; Descent sums them first,
    as torch's Adagrad and SparseAdam do)."""
    for a, b in zip(trajectory(dt, "SGD", dict(lr=0.1), unique=True),
                    trajectory(torch.optim, "SGD", dict(lr=0.1), unique=True)):
        assert torch.equal(a, b)
    for kwargs in (dict(lr=0.1), dict(lr=0.1, maximize=True)):
        for a, b in zip(trajectory(dt, "SGD", kwargs), trajectory(torch.optim, "SGD", kwargs)):
            assert relative_error(a.detach(), b.detach()) <= 1e-6


@pytest.mark.parametrize("kwargs", [dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.5, dampening=0.1),
                                    dict(lr=0.05, momentum=0.9, nesterov=True)])
def test_sgd_with_momentum_matches_torch_to_rounding(kwargs):
    """torch keeps a sparse momentum buffer: an uncoalesced list of every step's entries,
    each scaled by momentum every step and added to the parameter one by one; Descent keeps
    the dense buffer that list sums to. Same mathematics, other rounding: measured 1.4e-6
    relative after 200 steps at lr 0.05, momentum 0.9."""
    for a, b in zip(trajectory(dt, "SGD", kwargs), trajectory(torch.optim, "SGD", kwargs)):
        assert relative_error(a.detach(), b.detach()) <= 1e-5


@pytest.mark.parametrize("name, kwargs", [("SparseAdam", dict(lr=1e-2)), ("Adagrad", dict(lr=0.1))])
def test_state_dict_swaps_both_ways(name, kwargs):
    reference = trajectory(torch.optim, name, kwargs, sqrt=correctly_rounded_sqrt)
    for first_library, second_library in ((torch.optim, dt), (dt, torch.optim)):
        model = Model()
        first = getattr(first_library, name)(model.sparse_parameters(), **kwargs)
        train(model, first, 0, SWAP, correctly_rounded_sqrt if first_library is torch.optim else None)
        second = getattr(second_library, name)(model.sparse_parameters(), **kwargs)
        second.load_state_dict(first.state_dict())
        train(model, second, SWAP, STEPS, correctly_rounded_sqrt if second_library is torch.optim else None)
        for a, b in zip(model.sparse_parameters(), reference):
            assert torch.equal(a, b), f"{first_library.__name__} -> {second_library.__name__}"


def test_zero_grad_without_none_empties_a_sparse_gradient_like_torch():
    """zero_grad(set_to_none=False) makes a sparse .grad empty: SparseAdam then counts the
    step and moves nothing, as torch's does."""
    results = []
    for library in (torch.optim, dt):
        model = Model()
        opt = library.SparseAdam(model.sparse_parameters(), lr=1e-2)
        train(model, opt, 0, 3, correctly_rounded_sqrt if library is torch.optim else None)
        before = [p.detach().clone() for p in model.sparse_parameters()]
        opt.zero_grad(set_to_none=False)
        assert all(p.grad.is_sparse and p.grad._nnz() == 0 for p in model.sparse_parameters())
        opt.step()
        assert all(torch.equal(p, b) for p, b in zip(model.sparse_parameters(), before))
        results.append([float(opt.state[p]["step"]) for p in model.sparse_parameters()])
    assert results[0] == results[1] == [4.0, 4.0]


def test_step_with_zero_grad_empties_a_sparse_grad_like_zero_grad():
    """step(zero_grad=True) leaves .grad as zero_grad(set_to_none=False) would: a sparse one
    empty, so the next backward starts from nothing."""
    results = []
    for fused_zero in (False, True):
        model = Model()
        opt = dt.SparseAdam(model.sparse_parameters(), lr=1e-2)
        for step in range(3):
            if not fused_zero:
                opt.zero_grad(set_to_none=False)
            model.loss(step).backward()
            opt.step(zero_grad=fused_zero)
        assert not fused_zero or all(p.grad._nnz() == 0 for p in model.sparse_parameters())
        results.append([p.detach().clone() for p in model.sparse_parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*results))


def torch_error(cls, kwargs, grad):
    p = torch.zeros(6, 2, requires_grad=True)
    opt = cls([p], **kwargs)
    p.grad = grad
    with pytest.raises(RuntimeError) as raised:
        opt.step()
    return str(raised.value)


def sparse_gradient():
    return torch.sparse_coo_tensor(torch.tensor([[1, 4, 1]]), torch.ones(3, 2), (6, 2), check_invariants=True)


# LBFGS takes a sparse gradient as the dense one it is, as torch's does (test_lbfgs.py).
REFUSING = [name for name in dt.ALGORITHM_CLASSES
            if not descent.hyperparameters.has_trait(name, descent._descent.TRAIT_SPARSE_GRADIENTS)
            and not descent.hyperparameters.has_trait(name, descent._descent.TRAIT_NEEDS_CLOSURE)]


@pytest.mark.parametrize("name", REFUSING)
def test_algorithms_without_sparse_gradients_refuse_them_with_torchs_message(name):
    message = torch_error(getattr(torch.optim, name), {}, sparse_gradient())
    p = torch.ones(6, 2, requires_grad=True)
    opt = getattr(dt, name)([p])
    p.grad = sparse_gradient()
    with pytest.raises(RuntimeError) as raised:
        opt.step()
    assert str(raised.value) == message
    assert torch.equal(p, torch.ones(6, 2)) and not opt.state


@pytest.mark.parametrize("name, kwargs, grad", [
    ("SparseAdam", {}, torch.ones(6, 2)),
    ("Adagrad", dict(weight_decay=0.1), sparse_gradient()),
])
def test_what_torch_refuses_on_a_sparse_step_is_refused(name, kwargs, grad):
    message = torch_error(getattr(torch.optim, name), kwargs, grad)
    p = torch.ones(6, 2, requires_grad=True)
    opt = getattr(dt, name)([p], **kwargs)
    p.grad = grad
    with pytest.raises(RuntimeError, match=message):
        opt.step()
    assert torch.equal(p, torch.ones(6, 2))


def test_sgd_weight_decay_with_a_sparse_gradient_is_refused_as_torch_refuses_it():
    torch_error(torch.optim.SGD, dict(lr=0.1, weight_decay=0.1), sparse_gradient())  # torch: add(sparse, dense)
    p = torch.ones(6, 2, requires_grad=True)
    opt = dt.SGD([p], lr=0.1, weight_decay=0.1)
    p.grad = sparse_gradient()
    with pytest.raises(RuntimeError, match="weight_decay option is not compatible with sparse gradients"):
        opt.step()
    assert torch.equal(p, torch.ones(6, 2))


def test_sparse_params_are_refused_with_torchs_message():
    with pytest.raises(ValueError, match=r"Sparse params at indices \[\[0, 0\]\]: SparseAdam requires dense"):
        dt.SparseAdam([torch.zeros(3, layout=torch.sparse_coo)])
    with pytest.raises(ValueError, match=r"Sparse params at indices \[\[1, 0\]\]: Adagrad requires dense"):
        dt.Adagrad([{"params": [torch.zeros(3, requires_grad=True)]}, {"params": [torch.zeros(3, layout=torch.sparse_coo)]}])


def test_numpy_optimizers_take_sparse_rows():
    """descent.SparseAdam over numpy arrays, with repeated rows, against torch's."""
    import numpy as np
    weights = np.linspace(-1, 1, 12, dtype=np.float32).reshape(6, 2)
    ours = descent.SparseAdam([weights.copy()], lr=0.1)
    theirs = torch.nn.Parameter(torch.from_numpy(weights.copy()))
    reference = torch.optim.SparseAdam([theirs], lr=0.1)
    rows, values = np.array([4, 1, 4]), np.arange(6, dtype=np.float32).reshape(3, 2) - 2
    for _ in range(3):
        ours.set_sparse_grad(0, rows, values)
        ours.step()
        theirs.grad = torch.sparse_coo_tensor(torch.from_numpy(rows)[None], torch.from_numpy(values), (6, 2),
                                              check_invariants=True)
        with correctly_rounded_sqrt():
            reference.step()
    assert np.array_equal(ours.param_groups[0]["params"][0], theirs.detach().numpy())
    with pytest.raises(descent.DescentIndexError, match=r"row index 6 is out of range \(the parameter has 6 rows of 2\)"):
        ours.set_sparse_grad(0, np.array([6]), values[:1])
