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
    assert opt.param_groups[0]["max_eval"] == 25 and opt.param_groups[0]["line_search_fn"] == "strong_wolfe"

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


def state_kinds(state):
    """Each key of a torch LBFGS state with the kind of its value (a list: of its items).
    A Python number is a number: torch's t is its lr as given (1, an int, by default) or
    a float, which the engine does not tell apart (H_diag's int 1 it does)."""
    def kind(value):
        if isinstance(value, list):
            return ("list", len(value), tuple(sorted({kind(v) for v in value}, key=str)))
        if isinstance(value, torch.Tensor):
            return ("tensor", tuple(value.shape))
        return "number" if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value).__name__
    return {key: kind(value) for key, value in state.items()}


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_state_dicts_move_both_ways(line_search_fn):
    """torch's state_dict into descent and descent's into torch: the same keys and kinds,
    the same values, and runs that continue alike (history_size 3 fills and rolls)."""
    options = dict(history_size=3, max_iter=4, line_search_fn=line_search_fn)
    xs = [start() for _ in range(4)]
    torch_opt, descent_opt = torch.optim.LBFGS([xs[0]], **options), dt.LBFGS([xs[1]], **options)
    for _ in range(2):
        torch_opt.step(closure_for(torch_opt, xs[0], objective=bowl))
        descent_opt.step(closure_for(descent_opt, xs[1], objective=bowl))
    theirs, ours = torch_opt.state_dict(), descent_opt.state_dict()
    assert ours["param_groups"] == theirs["param_groups"]
    assert state_kinds(ours["state"][0]) == state_kinds(theirs["state"][0])
    for key, value in theirs["state"][0].items():
        mine = ours["state"][0][key]
        for a, b in zip(mine, value) if isinstance(value, list) else [(mine, value)]:
            if isinstance(b, torch.Tensor):
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
            else:
                assert a == pytest.approx(b, rel=1e-5), key
    # Swapped: descent continues from torch's state, torch from descent's.
    xs[2].data.copy_(xs[0].data)
    xs[3].data.copy_(xs[1].data)
    from_torch, from_descent = dt.LBFGS([xs[2]], **options), torch.optim.LBFGS([xs[3]], **options)
    from_torch.load_state_dict(theirs)
    from_descent.load_state_dict(ours)
    assert state_kinds(from_torch.state_dict()["state"][0]) == state_kinds(theirs["state"][0])
    for opt, x in ((torch_opt, xs[0]), (from_torch, xs[2]), (descent_opt, xs[1]), (from_descent, xs[3])):
        opt.step(closure_for(opt, x, objective=bowl))
    torch.testing.assert_close(xs[2], xs[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(xs[3], xs[1], rtol=1e-5, atol=1e-6)
    # Bit for bit through descent's own state_dict.
    again = start()
    again.data.copy_(xs[1].data)
    twin = dt.LBFGS([again], **options)
    twin.load_state_dict(descent_opt.state_dict())
    for opt, x in ((descent_opt, xs[1]), (twin, again)):
        opt.step(closure_for(opt, x, objective=bowl))
    assert torch.equal(again, xs[1])


def test_max_eval_zero_as_torch_where_torch_runs_and_no_failure_where_it_fails():
    """max_eval=0 stops after one iteration, as in torch (not torch's None); with the
    line search torch fails (its bracket is never made), Descent evaluates once."""
    ours, theirs = start(), start()
    opt, reference = dt.LBFGS([ours], max_eval=0), torch.optim.LBFGS([theirs], max_eval=0)
    assert opt.param_groups[0]["max_eval"] == 0
    opt.step(closure_for(opt, ours, objective=bowl))
    reference.step(closure_for(reference, theirs, objective=bowl))
    torch.testing.assert_close(ours, theirs)
    assert opt.state_dict()["state"][0]["n_iter"] == reference.state[theirs]["n_iter"] == 1
    with pytest.raises(UnboundLocalError):
        torch.optim.LBFGS([theirs], max_eval=0, line_search_fn="strong_wolfe").step(
            closure_for(reference, theirs, objective=bowl))
    searching = dt.LBFGS([ours], max_eval=0, line_search_fn="strong_wolfe")
    searching.step(closure_for(searching, ours, objective=bowl))
    assert searching.state_dict()["state"][0]["func_evals"] == 2
