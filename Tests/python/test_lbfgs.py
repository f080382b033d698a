"""LBFGS from Python: descent.torch.LBFGS as torch.optim.LBFGS's drop-in, and
descent.LBFGS over numpy arrays. The iterates are held to torch's in
Tests/parity/test_lbfgs.py and optim_db's inputs in test_optim_db.py; here, what the
Python layer adds: step(closure)'s return value, a closure's exception and what it
leaves, sparse gradients, gradients replaced by each backward, and the one group."""
import numpy as np
import pytest
import torch

import descent
import descent.torch as dt


def rosenbrock(x):
    return torch.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def bowl(x):
    """Smooth and well conditioned: torch's own rounding (its MKL dot) does not grow into
    the iterates, as it does on Rosenbrock (see Tests/parity/test_lbfgs.py)."""
    center = torch.tensor([0.5, -1.0, 2.0, 0.25])
    return torch.sum((1 + torch.arange(4.0)) * (x - center) ** 2 + 0.25 * (x - center) ** 4)


def start():
    return torch.nn.Parameter(torch.tensor([-1.2, 1.0, -1.2, 1.0]))


def closure_for(opt, x, set_to_none=True, objective=rosenbrock):
    def closure():
        opt.zero_grad(set_to_none=set_to_none)
        loss = objective(x)
        loss.backward()
        return loss
    return closure


@pytest.mark.parametrize("set_to_none", [True, False])
def test_step_returns_the_first_loss_and_follows_torch(set_to_none):
    """With set_to_none=True every backward makes a new .grad, which the engine follows."""
    ours, theirs = start(), start()
    opt = dt.LBFGS([ours], line_search_fn="strong_wolfe")
    reference = torch.optim.LBFGS([theirs], line_search_fn="strong_wolfe")
    for _ in range(3):
        closure = closure_for(opt, ours, set_to_none, bowl)
        first = bowl(ours.detach()).item()
        loss = opt.step(closure)
        assert isinstance(loss, torch.Tensor) and loss.item() == first
        reference.step(closure_for(reference, theirs, set_to_none, bowl))
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_a_failing_closure_raises_its_exception_and_leaves_whole_iterations():
    x = start()
    opt = dt.LBFGS([x], max_iter=5, max_eval=100)
    opt.step(closure_for(opt, x))
    calls = []

    def failing():
        calls.append(1)
        if len(calls) == 3:
            raise KeyError("data loader broke")
        return closure_for(opt, x)()

    with pytest.raises(KeyError, match="data loader broke"):
        opt.step(failing)
    # Two calls succeeded: the step's first, and the first iteration's evaluation. So the
    # parameters are those after one iteration: a fresh run with max_iter 1 there agrees.
    y = start()
    reference = dt.LBFGS([y], max_iter=5, max_eval=100)
    reference.step(closure_for(reference, y))
    reference.param_groups[0]["max_iter"] = 1
    reference.step(closure_for(reference, y))
    assert torch.equal(x, y)


def test_sparse_gradients_are_taken_as_dense_as_torch_does():
    weights = [torch.nn.Parameter(torch.linspace(-1, 1, 12).reshape(6, 2)) for _ in range(2)]
    ours = dt.LBFGS([weights[0]])
    theirs = torch.optim.LBFGS([weights[1]])
    rows = torch.tensor([0, 3, 3])

    def closure_for_weight(opt, w):
        def closure():
            opt.zero_grad()
            loss = (torch.nn.functional.embedding(rows, w, sparse=True) ** 2).sum()
            loss.backward()
            assert w.grad.is_sparse
            return loss
        return closure

    for _ in range(2):
        ours.step(closure_for_weight(ours, weights[0]))
        theirs.step(closure_for_weight(theirs, weights[1]))
    torch.testing.assert_close(weights[0], weights[1])


def test_one_group_only_with_torchs_message():
    with pytest.raises(ValueError, match=r"LBFGS doesn't support per-parameter options \(parameter groups\)"):
        dt.LBFGS([{"params": [start()]}, {"params": [start()], "lr": 0.1}])
    opt = dt.LBFGS([start()])
    with pytest.raises(ValueError, match="parameter groups"):
        opt.add_param_group({"params": [start()]})
    assert len(opt.param_groups) == 1


def test_bad_options_are_refused_when_set():
    with pytest.raises(descent.DescentValueError, match="only 'strong_wolfe' is supported"):
        dt.LBFGS([start()], line_search_fn="armijo")
    with pytest.raises(descent.DescentValueError, match="Invalid history_size value: 0.0"):
        dt.LBFGS([start()], history_size=0)


def test_numpy_lbfgs_minimizes_with_zero_grad_inside_the_closure():
    x = np.array([-1.2, 1.0], dtype=np.float32)
    grad = np.zeros_like(x)
    opt = descent.LBFGS([{"params": [x], "grads": [grad]}], line_search_fn="strong_wolfe")
    assert opt.param_groups[0]["max_eval"] is None and opt.param_groups[0]["line_search_fn"] == "strong_wolfe"

    def closure():
        opt.zero_grad()  # the engine's own call, from inside its step
        a, b = float(x[0]), float(x[1])
        grad[0] += -400 * a * (b - a * a) - 2 * (1 - a)
        grad[1] += 200 * (b - a * a)
        return 100 * (b - a * a) ** 2 + (1 - a) ** 2

    for _ in range(10):
        opt.step(closure)
    np.testing.assert_allclose(x, [1, 1], atol=1e-4)
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'closure'"):
        opt.step()
