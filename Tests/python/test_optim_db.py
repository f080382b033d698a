"""descent.torch against torch's own option matrix, optim_db
(torch.testing._internal.common_optimizers), for cpu/float32, as torch's test_optim drives
torch's optimizers: for every algorithm both have,

1. every optimizer input, with torch's implementation flags off and then each flag it
   supports on in turn, and with its options given per group instead of as defaults:
   five steps (Adafactor, Muon: 30) from the same parameters and gradients end where
   torch's end (foreach and
   fused change torch's implementation, not the result); differentiable and capturable,
   which Descent does not implement, are refused with NotImplementedError naming the
   flag. SparseAdam steps sparse gradients (as torch's tests give it), and every input of
   the algorithms that take sparse gradients too (SGD, Adagrad) runs again with sparse
   ones (torch's flags off): it ends where torch's ends, or fails where torch's fails,
   with a RuntimeError;
2. every error input: the same error type (warnings included) with torch's message, at
   construction or at the first step as optim_db says.

An algorithm whose step re-evaluates the loss (LBFGS) is stepped with a closure over a
smooth objective of the parameters instead of given gradients, for 30 steps of its
default 20 iterations each.
"""
import warnings

import pytest
import torch
from torch.testing._internal.common_optimizers import OptimizerErrorEnum, optim_db

import descent.torch as dt
from descent import _descent
from descent.hyperparameters import has_trait

INFOS = {info.optim_cls.__name__: info for info in optim_db if info.optim_cls.__name__ in dt.ALGORITHM_CLASSES}
UNSUPPORTED_FLAGS = ("differentiable", "capturable")
# torch's sparse Adagrad builds its update with sparse_coo_tensor, which warns each time.
pytestmark = pytest.mark.filterwarnings("ignore:Sparse invariant checks:UserWarning")
STEPS = 5
# Adafactor is held to torch over 30 steps (its second moments start from the first
# gradient alone and settle over the first steps), and so is Muon.
LONG_RUNS = {"Adafactor": 30, "Muon": 30}
CLOSURE_STEPS = 30
# Muon's products are oneDNN's bfloat16 matmul, torch's through the oneDNN it bundles:
# held to the bound, 2e-2 of how far the parameters moved (here they agree bit
# for bit; Tests/parity/test_muon.py holds the rest of its arithmetic to torch's bits).
MOVEMENT_BOUNDS = {"Muon": 2e-2}


def test_every_algorithm_torch_has_is_in_its_matrix():
    assert set(INFOS) == {name for name in dt.ALGORITHM_CLASSES if hasattr(torch.optim, name)}


def shapes(name):
    """A matrix and a vector, as torch's tests give; two matrices to one that steps only
    matrices (Muon), one of them tall (its iteration runs on the transpose)."""
    return [(10, 5), (5, 7)] if has_trait(name, _descent.TRAIT_ONLY_MATRICES) else [(10, 5), (5,)]


def fresh_params(name, seed=0):
    torch.manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(shape)) for shape in shapes(name)]


def optimizer_inputs():
    for name, info in INFOS.items():
        for optim_input in info.optim_inputs_func(device="cpu", dtype=torch.float32):
            for flag in (None, *info.supported_impls):
                yield pytest.param(name, optim_input, flag, False, id=f"{name}-{optim_input.desc}-{flag or 'default'}")
            yield pytest.param(name, optim_input, None, True, id=f"{name}-{optim_input.desc}-per-group")


def objective(params):
    """A smooth function of fresh_params() with its minimum away from the start: a
    quadratic with random curvatures plus a quartic, on each parameter."""
    generator = torch.Generator().manual_seed(2)
    loss = 0
    for p in params:
        curvature = torch.rand(p.shape, generator=generator) + 0.1
        center = torch.randn(p.shape, generator=generator)
        loss = loss + (0.5 * curvature * (p - center) ** 2 + 0.25 * (p - center) ** 4).sum()
    return loss


def run(cls, params, kwargs, grads, sparse, per_group):
    opt = cls([{"params": params, **kwargs}]) if per_group else cls(params, **kwargs)
    if grads is None:  # a closure step
        def closure():
            opt.zero_grad()
            loss = objective(params)
            loss.backward()
            return loss

        for _ in range(CLOSURE_STEPS):
            opt.step(closure)
        return [p.detach().clone() for p in params]
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = g.to_sparse() if sparse else g.clone()
        opt.step()
    return [p.detach().clone() for p in params]


def outcome(name, cls, kwargs, grads, sparse, per_group):
    """The parameters after the steps, or the RuntimeError a step raised."""
    try:
        return run(cls, fresh_params(name), kwargs, grads, sparse, per_group)
    except RuntimeError as error:
        return error


@pytest.mark.parametrize("name, optim_input, flag, per_group", list(optimizer_inputs()))
def test_optimizer_input(name, optim_input, flag, per_group):
    kwargs = dict(optim_input.kwargs)
    if flag:
        kwargs[flag] = True
    if flag in UNSUPPORTED_FLAGS:
        with pytest.raises(NotImplementedError, match=flag):
            dt.ALGORITHM_CLASSES[name](fresh_params(name), **kwargs)
        return
    torch.manual_seed(1)
    closure = has_trait(name, _descent.TRAIT_NEEDS_CLOSURE)
    steps = LONG_RUNS.get(name, STEPS)
    grads = None if closure else [[torch.randn(shape) for shape in shapes(name)] for _ in range(steps)]
    info = INFOS[name]
    # Sparse runs with torch's flags off: fused and foreach are torch's implementations
    # and refuse sparse gradients; Descent has one implementation.
    takes_sparse = info.supports_sparse and not flag
    for sparse in (True,) if info.only_supports_sparse_grads else (False, True) if takes_sparse else (False,):
        expected = outcome(name, info.optim_cls, kwargs, grads, sparse, per_group)
        ours = outcome(name, dt.ALGORITHM_CLASSES[name], kwargs, grads, sparse, per_group)
        if isinstance(expected, RuntimeError):
            assert isinstance(ours, RuntimeError), f"torch failed ({expected}), Descent did not"
            continue
        assert not isinstance(ours, Exception), ours
        for a, b, start in zip(ours, expected, fresh_params(name)):
            if name in MOVEMENT_BOUNDS:
                moved = (b - start).norm()
                assert (a - b).norm() <= MOVEMENT_BOUNDS[name] * moved, f"{(a - b).norm()} off, moved {moved}"
            else:
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def error_inputs():
    for name, info in INFOS.items():
        for error_input in info.optim_error_inputs_func(device="cpu", dtype=torch.float32):
            yield pytest.param(name, error_input, id=f"{name}-{error_input.optimizer_error_input.desc}")


@pytest.mark.parametrize("name, error_input", list(error_inputs()))
def test_error_input(name, error_input):
    optim_input = error_input.optimizer_error_input
    params = fresh_params(name) if optim_input.params is None else optim_input.params
    cls = dt.ALGORITHM_CLASSES[name]

    def construct_and_maybe_step():
        opt = cls(params, **optim_input.kwargs)
        if error_input.error_on == OptimizerErrorEnum.STEP_ERROR:
            for p in opt.param_groups[0]["params"]:
                p.grad = torch.randn_like(p)
            opt.step()

    if issubclass(error_input.error_type, Warning):
        with pytest.warns(error_input.error_type, match=error_input.error_regex):
            construct_and_maybe_step()
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(error_input.error_type, match=error_input.error_regex):
                construct_and_maybe_step()
