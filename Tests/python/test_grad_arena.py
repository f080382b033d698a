"""descent.torch's grad_arena=True: the gradients live as views in one buffer per group,
autograd accumulates into them, and every way a user or framework can touch a `.grad`
still steps with the gradient the tensor holds (against torch.optim, live)."""
import pytest
import torch

import descent.torch as dt
from problem import make_model, objective


def arena_of(opt):
    """The arena buffers' address ranges, to tell whether a .grad lives in one."""
    return [(a.data_ptr(), a.data_ptr() + 4 * a.numel()) for a in opt._arenas]


def in_arena(opt, t):
    return any(lo <= t.data_ptr() < hi for lo, hi in arena_of(opt))


def train(model, opt, steps, zero=None):
    for step in range(steps):
        (zero or opt.zero_grad)()
        objective(model, step, False).backward()
        opt.step()


@pytest.mark.parametrize("name, kwargs", [("AdamW", {"lr": 1e-2, "weight_decay": 0.1}),
                                          ("SGD", {"lr": 1e-2, "momentum": 0.9, "nesterov": True}),
                                          ("RMSprop", {"lr": 1e-3, "centered": True})])
def test_training_equals_torch_and_the_views_stay(name, kwargs):
    reference, ours = make_model(), make_model()
    train(reference, getattr(torch.optim, name)(reference.parameters(), **kwargs), 30)
    opt = getattr(dt, name)(ours.parameters(), grad_arena=True, **kwargs)
    views = [p.grad for p in ours.parameters()]
    train(ours, opt, 30)
    for p, view, ref in zip(ours.parameters(), views, reference.parameters()):
        assert p.grad is view and in_arena(opt, p.grad), "a .grad left its arena view"
        torch.testing.assert_close(p, ref, rtol=1e-5, atol=1e-6)


def test_a_gradient_replaced_or_moved_is_taken_as_it_is():
    """model.zero_grad() (None), a .grad assigned by hand, a view re-pointed with set_():
    each step uses the tensor .grad is, and optimizer.zero_grad() restores the views."""
    reference, ours = make_model(), make_model()
    ref_opt = torch.optim.Adam(reference.parameters(), lr=1e-2)
    opt = dt.Adam(ours.parameters(), lr=1e-2, grad_arena=True)
    train(reference, ref_opt, 3, zero=reference.zero_grad)
    train(ours, opt, 3, zero=ours.zero_grad)  # set_to_none: autograd allocates new .grads
    assert not any(in_arena(opt, p.grad) for p in ours.parameters())
    for model, o in ((reference, ref_opt), (ours, opt)):
        o.zero_grad()
        objective(model, 3, False).backward()
        first = next(model.parameters())
        first.grad = first.grad * 3.0           # a new tensor in place of the view
        second = list(model.parameters())[1]
        second.grad.set_(second.grad * 2.0)     # the view itself now elsewhere
        o.step()
    for p, ref in zip(ours.parameters(), reference.parameters()):
        torch.testing.assert_close(p, ref, rtol=1e-5, atol=1e-6)
    opt.zero_grad()
    assert all(in_arena(opt, p.grad) and not p.grad.any() for p in list(ours.parameters())[2:])


def test_frozen_parameters_get_no_view_and_are_not_stepped():
    model = make_model()
    frozen = next(model.parameters())
    frozen.requires_grad_(False)
    before = frozen.clone()
    opt = dt.AdamW(model.parameters(), lr=1e-2, weight_decay=0.5, grad_arena=True)
    assert frozen.grad is None
    train(model, opt, 3)
    assert frozen.grad is None and torch.equal(frozen, before)


def test_groups_added_later_get_their_own_arena():
    model = make_model()
    params = list(model.parameters())
    opt = dt.SGD(params[:1], lr=0.1, grad_arena=True)
    opt.add_param_group({"params": params[1:]})
    assert len(opt._arenas) == 2 and all(in_arena(opt, p.grad) for p in params)


def test_refused_where_it_cannot_hold():
    with pytest.raises(ValueError, match="SparseAdam takes only sparse gradients"):
        dt.SparseAdam([torch.nn.Parameter(torch.zeros(4))], grad_arena=True)
