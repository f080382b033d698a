"""descent.torch against torch.optim, live: trajectories, state_dict swaps both ways,
torch's LR schedulers, GradScaler."""
import collections

import numpy as np
import pytest
import torch

import descent.torch as dt
from problem import CONFIGS, config_id, make_model, objective, relative_error, tolerance, torch_optimizer

STEPS = 300
SWAP = 150


def reference_optimizer(name, params, kwargs):
    return torch_optimizer(name, params, kwargs)


def descent_optimizer(name, params, kwargs):
    return getattr(dt, name)(params, **kwargs)


def train(model, opt, kwargs, steps, start=0):
    losses = []
    for step in range(start, start + steps):
        opt.zero_grad()
        loss = objective(model, step, kwargs.get("maximize", False))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def assert_close_models(a, b, tol):
    for (label, x), y in zip(a.named_parameters(), b.parameters()):
        err = relative_error(x.detach(), y.detach())
        assert err <= tol, f"{label}: relative error {err:.3g}"


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_matches_torch_with_state_dict_swaps(config):
    name, kwargs = config
    tol = tolerance(name)
    reference = make_model()
    ref_losses = train(reference, reference_optimizer(name, reference.parameters(), kwargs), kwargs, STEPS)

    # Descent throughout.
    ours = make_model()
    losses = train(ours, descent_optimizer(name, ours.parameters(), kwargs), kwargs, STEPS)
    assert_close_models(ours, reference, tol)
    np.testing.assert_allclose(losses, ref_losses, rtol=tol, atol=1e-7)

    # Half the run in one, then the other from the first one's state_dict, both ways.
    for first_kind, second_kind in ((reference_optimizer, descent_optimizer),
                                    (descent_optimizer, reference_optimizer)):
        model = make_model()
        first = first_kind(name, model.parameters(), kwargs)
        train(model, first, kwargs, SWAP)
        second = second_kind(name, model.parameters(), kwargs)
        second.load_state_dict(first.state_dict())
        train(model, second, kwargs, STEPS - SWAP, start=SWAP)
        assert_close_models(model, reference, tol)


def test_state_dict_has_torchs_shape():
    model = make_model()
    kwargs = dict(lr=1e-3, amsgrad=True)
    ours, theirs = dt.Adam(model.parameters(), **kwargs), torch.optim.Adam(make_model().parameters(), **kwargs)
    for opt in (ours, theirs):
        for p in opt.param_groups[0]["params"]:
            p.grad = torch.ones_like(p)
        opt.step()
    a, b = ours.state_dict(), theirs.state_dict()
    assert a["param_groups"][0].keys() == b["param_groups"][0].keys()
    assert a["state"].keys() == b["state"].keys()
    for index in a["state"]:
        assert a["state"][index].keys() == b["state"][index].keys()
        assert a["state"][index]["step"].dtype == b["state"][index]["step"].dtype
        assert float(a["state"][index]["step"]) == 1.0


@pytest.mark.parametrize("make_schedule", [
    lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=400, eta_min=1e-5),
    # OneCycleLR also cycles betas[0], which descent.torch must pick up at each step.
    lambda opt: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=401),
], ids=["CosineAnnealingLR", "OneCycleLR"])
def test_torch_schedule_training_curve_matches_torch(make_schedule):
    def run(make_optimizer):
        model = make_model()
        opt = make_optimizer(model.parameters())
        schedule = make_schedule(opt)
        losses = []
        for step in range(400):
            opt.zero_grad()
            loss = objective(model, step, False)
            loss.backward()
            opt.step()
            schedule.step()
            losses.append(loss.item())
        return losses
    ref = run(lambda p: torch.optim.AdamW(p, lr=3e-3, weight_decay=0.05, fused=True))
    ours = run(lambda p: dt.AdamW(p, lr=3e-3, weight_decay=0.05))
    assert ref[-1] < 0.5 * ref[0]
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-6)


def test_param_group_changes_and_add_param_group():
    model = make_model()
    weights = [model[0].weight, model[2].weight]
    opt = dt.SGD(weights, lr=0.1, momentum=0.9)
    reference_model = make_model()
    ref = torch.optim.SGD([reference_model[0].weight, reference_model[2].weight], lr=0.1, momentum=0.9, fused=True)
    for step in range(60):
        if step == 20:
            opt.add_param_group({"params": [model[0].bias, model[2].bias], "lr": 0.01})
            ref.add_param_group({"params": [reference_model[0].bias, reference_model[2].bias], "lr": 0.01})
        if step == 40:
            for o in (opt, ref):
                o.param_groups[0]["lr"] = 0.05
                o.param_groups[1]["momentum"] = 0.5
        for m, o in ((model, opt), (reference_model, ref)):
            o.zero_grad()
            objective(m, step, False).backward()
            o.step()
    assert_close_models(model, reference_model, 1e-6)


def test_closure_and_skipped_parameters():
    model = make_model()
    opt = dt.Adam(model.parameters(), lr=1e-2)
    frozen = model[2].bias.detach().clone()

    def closure():
        opt.zero_grad()
        loss = objective(model, 0, False)
        loss.backward()
        model[2].bias.grad = None  # no gradient: skipped, as torch skips it
        return loss

    loss = opt.step(closure)
    assert isinstance(loss, torch.Tensor)
    assert torch.equal(model[2].bias.detach(), frozen)
    assert "step" not in opt.state[model[2].bias]
    assert float(opt.state[model[0].weight]["step"]) == 1.0


def test_grad_scaler_skips_steps_like_torch():
    def run(make_optimizer):
        model = make_model()
        opt = make_optimizer(model.parameters())
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10, growth_interval=5)
        scales = []
        for step in range(40):
            opt.zero_grad()
            loss = objective(model, step, False)
            scaler.scale(loss).backward()
            if step in (3, 4, 17):  # an overflow: the step must be skipped
                model[0].weight.grad[0, 0] = float("inf")
            scaler.step(opt)
            scaler.update()
            scales.append(scaler.get_scale())
        return model, scales
    reference, ref_scales = run(lambda p: torch.optim.Adam(p, lr=1e-3))
    ours, scales = run(lambda p: dt.Adam(p, lr=1e-3))
    assert scales == ref_scales
    assert_close_models(ours, reference, 1e-5)


@pytest.mark.parametrize("tensor, message", [
    (torch.zeros(3, dtype=torch.float64, requires_grad=True), "parameter 1 of group 1 is a tensor of dtype torch.float64"),
    (torch.zeros(4, 4, dtype=torch.float16).t().requires_grad_(),
     "parameter 1 of group 1 is a tensor of dtype torch.float16 on cpu, non-contiguous"),
    (torch.zeros(4, 4).t().requires_grad_(), "parameter 1 of group 1 is a tensor of dtype torch.float32 on cpu, "
                                            "non-contiguous"),
    (torch.zeros(2, 3, 4, 4).to(memory_format=torch.channels_last).requires_grad_(),
     "parameter 1 of group 1 is a tensor of dtype torch.float32 on cpu, channels_last"),
])
def test_unsupported_tensors_get_an_error_naming_them(tensor, message):
    fine = [torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)]
    with pytest.raises(TypeError, match="supports contiguous CPU float32 or bfloat16 or float16 tensors") as raised:
        dt.AdamW([{"params": fine}, {"params": [fine[0].detach().clone().requires_grad_(), tensor]}])
    assert message in str(raised.value)


def test_named_parameters_name_the_tensor_and_reach_the_state_dict():
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1).double())
    with pytest.raises(TypeError, match=r"parameter 2 of group 0 \('1.weight'\) is a tensor of dtype torch.float64"):
        dt.AdamW(model.named_parameters())
    model = torch.nn.Linear(3, 2)
    opt = dt.AdamW(model.named_parameters(), lr=0.1)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    state = opt.state_dict()
    assert state["param_groups"][0]["param_names"] == ["weight", "bias"]
    reference = torch.optim.AdamW(model.named_parameters(), lr=0.1)
    reference.load_state_dict(state)  # torch checks the names against its own
    model.weight.grad = torch.ones(3, 2).t()
    with pytest.raises(TypeError, match=r"the gradient of parameter 0 of group 0 \('weight'\) is a tensor of dtype "
                                        r"torch.float32 on cpu, non-contiguous"):
        opt.step()


def test_zero_element_parameters_are_taken_and_skipped_like_torch():
    empty, full = torch.zeros(0, requires_grad=True), torch.ones(3, requires_grad=True)
    ours, theirs = dt.Adam([empty, full], lr=0.1), torch.optim.Adam([empty.detach().clone().requires_grad_(),
                                                                   full.detach().clone().requires_grad_()], lr=0.1)
    for opt in (ours, theirs):
        for p in opt.param_groups[0]["params"]:
            p.grad = torch.ones_like(p)
        opt.step()
    assert torch.equal(ours.param_groups[0]["params"][1], theirs.param_groups[0]["params"][1])
    assert ours.param_groups[0]["params"][0].numel() == 0


def test_positional_arguments_follow_torch():
    model = make_model()
    opt = dt.SGD(model.parameters(), 0.1, 0.9, 0.0, 1e-4, True)
    group = opt.param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"], group["nesterov"]) == (0.1, 0.9, 1e-4, True)
    assert dt.Adam(model.parameters(), 1e-2, (0.8, 0.9)).param_groups[0]["betas"] == (0.8, 0.9)


def test_invalid_arguments_get_torchs_errors():
    with pytest.raises(ValueError, match="Invalid learning rate: -1.0"):
        dt.AdamW(make_model().parameters(), lr=-1.0)
    with pytest.raises(NotImplementedError):
        dt.Adam(make_model().parameters(), capturable=True)
    opt = dt.SGD(make_model().parameters(), lr=0.1)
    opt.param_groups[0]["lr"] = -0.5
    for p in opt.param_groups[0]["params"]:
        p.grad = torch.ones_like(p)
    with pytest.raises(ValueError, match="Invalid learning rate: -0.5"):
        opt.step()


def float64_gradient(p):
    p.grad_dtype = None  # torch refuses a gradient of another dtype unless told
    p.grad = torch.ones(p.shape, dtype=torch.float64)


def transposed_gradient(p):
    p.grad = torch.ones(p.shape[::-1]).t()


def resized_gradient(p):
    p.grad = torch.ones(p.shape)
    p.grad.resize_(p.numel() + 1)  # torch checks the size on assignment only


@pytest.mark.parametrize("set_bad_grad, error, message", [
    (float64_gradient, TypeError, "the gradient of parameter 0 of group 0 is a tensor of dtype torch.float64"),
    (transposed_gradient, TypeError, "the gradient of parameter 0 of group 0 is a tensor of dtype torch.float32 on "
                                     "cpu, non-contiguous"),
    (resized_gradient, ValueError, "the gradient of parameter 0 of group 0 has 13 elements, its parameter has 12"),
], ids=["float64", "non-contiguous", "wrong-size"])
def test_unsupported_gradients_get_a_clear_error_and_change_nothing(set_bad_grad, error, message):
    a, b = torch.ones(3, 4, requires_grad=True), torch.ones(5, requires_grad=True)
    opt = dt.AdamW([a, b], lr=0.1)
    b.grad = torch.ones(5)
    set_bad_grad(a)
    with pytest.raises(error, match=message):
        opt.step()
    assert torch.equal(a, torch.ones(3, 4)) and torch.equal(b, torch.ones(5))
    assert not opt.state  # no step was taken, no state shown


def test_a_parameter_whose_memory_moved_is_followed_with_its_state():
    """ZeroRedundancyOptimizer(parameters_as_bucket_view=True) re-points parameters into a
    bucket after building the optimizer (FSDP2 can swap a shard's tensor): the step follows
    them, and the state carries over, as torch.optim's (which holds the tensor, not its
    memory) does."""
    results = []
    for library in (torch.optim, dt):
        p = torch.nn.Parameter(torch.linspace(-1, 1, 6))
        opt = library.Adam([p], lr=0.1)
        for step in range(4):
            if step == 2:
                old = p.data
                p.data = p.data.clone()  # what a bucket view does: same values, new memory
                kept = old.clone()
            p.grad = torch.full((6,), 0.5 - step)
            opt.step()
        assert torch.equal(old, kept), "the old memory was written"
        results.append((p.detach().clone(), opt.state[p]["exp_avg"].clone()))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])


def test_a_parameter_converted_after_the_optimizer_is_refused_naming_it():
    p = torch.nn.Parameter(torch.ones(4))
    opt = dt.SGD([p], lr=0.1)
    p.data = p.data.double()  # what module.double() does to parameters
    p.grad = torch.ones(4, dtype=torch.float64)
    with pytest.raises(TypeError, match="parameter 0 of group 0 is a tensor of dtype torch.float64"):
        opt.step()
    assert torch.equal(p, torch.ones(4, dtype=torch.float64))


def test_step_tensors_count_each_parameters_steps_like_torch():
    def run(make):
        params = [torch.ones(3, requires_grad=True) for _ in range(3)]
        opt = make(params[:2])
        for step in range(5):
            if step == 2:
                opt.add_param_group({"params": [params[2]]})
            for i, p in enumerate(params):
                p.grad = None if (i == 1 and step % 2) else torch.full((3,), 0.5)
            opt.step()
        return opt, params
    ours, ours_params = run(lambda p: dt.Adam(p, lr=0.1))
    theirs, their_params = run(lambda p: torch.optim.Adam(p, lr=0.1, fused=True))
    for p, q in zip(ours_params, their_params):
        step, expected = ours.state[p]["step"], theirs.state[q]["step"]
        assert (step.dtype, step.shape, float(step)) == (torch.float32, torch.Size([]), float(expected))


def test_loading_another_optimizers_state_dict_does_not_share_its_step_tensors():
    a_params = [torch.ones(3, requires_grad=True)]
    b_params = [torch.ones(3, requires_grad=True)]
    a, b = dt.AdamW(a_params, lr=0.1), dt.AdamW(b_params, lr=0.1)
    for opt, params in ((a, a_params), (b, b_params)):
        params[0].grad = torch.ones(3)
        opt.step()
    b.load_state_dict(a.state_dict())
    for _ in range(3):
        b.step()
    assert float(a.state[a_params[0]]["step"]) == 1.0
    assert float(b.state[b_params[0]]["step"]) == 4.0


def test_sgd_without_momentum_keeps_no_state_like_torch():
    ours, theirs = dt.SGD(make_model().parameters(), lr=0.1), torch.optim.SGD(make_model().parameters(), lr=0.1)
    for opt in (ours, theirs):
        for p in opt.param_groups[0]["params"]:
            p.grad = torch.ones_like(p)
        opt.step()
    assert ours.state_dict()["state"] == theirs.state_dict()["state"] == {}


def test_a_parameter_twice_in_a_group_warns_as_torch_and_is_stepped_once():
    """torch warns and goes on (optim_db's 'a param group cannot have duplicate parameters'
    input); Descent does too, and steps the parameter once per step."""
    p, q = torch.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    with pytest.warns(UserWarning, match="a parameter group with duplicate parameters") as torchs:
        torch.optim.SGD([q, q], lr=0.1)
    with pytest.warns(UserWarning, match="a parameter group with duplicate parameters") as ours:
        opt = dt.SGD([p, p], lr=0.1)
    assert [str(w.message) for w in ours] == [str(w.message) for w in torchs]
    p.grad = torch.ones(3)
    opt.step()
    assert torch.equal(p.detach(), torch.full((3,), 0.9))


def test_adagrad_fills_sum_from_the_constructors_value_in_every_group_like_torch():
    ours = [torch.ones(2, requires_grad=True) for _ in range(2)]
    theirs = [torch.ones(2, requires_grad=True) for _ in range(2)]
    groups = lambda ps: [{"params": [ps[0]]}, {"params": [ps[1]], "initial_accumulator_value": 5.0}]
    opt = dt.Adagrad(groups(ours), lr=0.5, initial_accumulator_value=0.25)
    reference = torch.optim.Adagrad(groups(theirs), lr=0.5, initial_accumulator_value=0.25)
    for o, r in zip(opt.state_dict()["state"].values(), reference.state_dict()["state"].values()):
        assert torch.equal(o["sum"], r["sum"])
    for ps, o in ((ours, opt), (theirs, reference)):
        for p in ps:
            p.grad = torch.full((2,), 2.0)
        o.step()
    for a, b in zip(ours, theirs):
        assert torch.allclose(a, b, rtol=0, atol=1e-7)


def test_an_algorithm_torch_lacks_is_checked_by_its_description(monkeypatch):
    """A drop-in for an algorithm torch.optim does not have takes its defaults and checks
    from the library's description (here NAdam, with torch's class hidden), with the
    messages torch's checks use, and steps as the one torch has."""
    torch_nadam = torch.optim.NAdam
    monkeypatch.delattr(torch.optim, "NAdam")
    cls = dt._drop_in("NAdam")
    with pytest.raises(ValueError, match="Invalid momentum_decay value: -0.1"):
        cls([torch.ones(2, requires_grad=True)], momentum_decay=-0.1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'momentum'"):
        cls([torch.ones(2, requires_grad=True)], momentum=0.9)
    ours, theirs = torch.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    opt, reference = cls([ours], lr=0.01, weight_decay=0.1), torch_nadam([theirs], lr=0.01, weight_decay=0.1)
    assert opt.defaults["momentum_decay"] == reference.defaults["momentum_decay"]
    for o, p in ((opt, ours), (reference, theirs)):
        p.grad = torch.tensor([0.5, -1.0, 2.0])
        o.step()
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["AdamW", "NAdam", "Adagrad", "SGD"])
def test_state_assigned_from_outside_is_taken_at_the_next_step(name):
    """ZeroRedundancyOptimizer's load_state_dict writes `optim.state[p] = {...}` and never
    calls the optimizer's own load_state_dict (DeepSpeed's elastic loads too): the engine
    takes that state at the next step, as torch.optim uses it, instead of ignoring it."""
    kwargs = dict(lr=1e-2, momentum=0.9) if name == "SGD" else dict(lr=1e-2)

    def resumed_through_assignment(library):
        model = make_model()
        first = getattr(library, name)(model.parameters(), **kwargs)
        train(model, first, kwargs, 20)
        saved = {p: {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in first.state[p].items()}
                 for p in model.parameters()}
        second = getattr(library, name)(model.parameters(), **kwargs)
        for p, state in saved.items():
            second.state[p] = state  # ZeroRedundancyOptimizer.load_state_dict's way
        train(model, second, kwargs, 20, start=20)
        return model, second

    reference_model = make_model()
    reference = torch_optimizer(name, reference_model.parameters(), kwargs)
    train(reference_model, reference, kwargs, 40)
    ours, opt = resumed_through_assignment(dt)
    theirs, _ = resumed_through_assignment(torch.optim)
    assert_close_models(ours, reference_model, tolerance(name))
    assert_close_models(theirs, reference_model, tolerance(name))
    if name != "SGD":
        assert all(float(opt.state[p]["step"]) == 40 for p in ours.parameters())
    for p in ours.parameters():  # state_dict shows the engine's state, not the assigned copies
        for key, value in opt.state[p].items():
            if key != "step":
                assert value.data_ptr() == torch.from_numpy(
                    np.frombuffer(opt._core.state(opt._index[id(p)], key), dtype=np.float32)).data_ptr()


def test_the_watched_state_copies_and_saves_as_torchs_plain_dicts():
    import copy
    import pickle
    model = make_model()
    opt = dt.AdamW(model.parameters(), lr=1e-2)
    train(model, opt, {}, 1)
    copied = copy.deepcopy(opt.state)
    assert type(copied) is collections.defaultdict and all(type(v) is dict for v in copied.values())
    saved = pickle.loads(pickle.dumps(opt.state_dict()))
    assert all(type(v) is dict for v in saved["state"].values())


def test_assigned_state_of_the_wrong_size_is_refused_naming_it():
    model = make_model()
    opt = dt.AdamW(model.parameters(), lr=1e-2)
    train(model, opt, {}, 2)
    weight = next(model.parameters())
    before = weight.detach().clone()
    opt.state[weight] = {"step": torch.tensor(2.0), "exp_avg": torch.zeros(3), "exp_avg_sq": torch.zeros_like(weight)}
    with pytest.raises(ValueError, match=r"state\['exp_avg'\] of parameter 0 of group 0 has 3 elements, expected 2048"):
        opt.step()
    assert torch.equal(weight, before)


def test_frameworks_may_clip_while_grad_scaler_keeps_its_fused_protocol():
    """Lightning refuses gradient clipping for an optimizer whose _step_supports_amp_scaling
    is true ("performs unscaling of gradients internally"), even under bf16-mixed with no
    scaler; only torch's GradScaler.step needs it, and it alone sees it true."""
    model = make_model()
    opt = dt.AdamW(model.parameters(), lr=1e-3)
    assert getattr(opt, "_step_supports_amp_scaling", False) is False  # Lightning's check
    handed = []  # the scale GradScaler hands each step (it removes it afterwards)
    step = opt.step

    def spied_step(*args, **kwargs):
        handed.append(getattr(opt, "grad_scale", "not handed"))
        return step(*args, **kwargs)

    opt.step = spied_step
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    scaler.scale(objective(model, 0, False)).backward()
    scaler.step(opt)  # the fused protocol: the scaler hands the step its scale
    scaler.update()
    opt.zero_grad()
    scaler.scale(objective(model, 1, False)).backward()
    scaler.unscale_(opt)  # a framework unscales to clip, then steps through the scaler
    torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
    scaler.step(opt)
    assert float(handed[0]) == 1024.0 and handed[1] is None  # unscaled already: not again


def test_torch_compile_treats_the_step_as_a_boundary():
    """torch.compile(opt.step) used to trace into the step and break the graph at the
    engine call (4 graphs, 3 breaks, nothing of the step compiled); the step is a
    compiler-disabled region now: no graph, and it steps."""
    model = make_model()
    opt = dt.AdamW(model.parameters(), lr=1e-2)
    objective(model, 0, False).backward()
    explained = torch._dynamo.explain(opt.step)()
    assert explained.graph_count == 0
    before = [p.detach().clone() for p in model.parameters()]
    torch.compile(opt.step)()
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_state_dict_loads_with_torch_load_weights_only(tmp_path):
    """torch.load's default (weights_only=True), which Lightning's checkpoint loads use,
    takes plain containers only."""
    model = make_model()
    opt = dt.AdamW(model.parameters(), lr=1e-2)
    train(model, opt, {}, 2)
    torch.save(opt.state_dict(), tmp_path / "optimizer.pt")
    loaded = torch.load(tmp_path / "optimizer.pt", weights_only=True)
    assert torch.equal(loaded["state"][0]["exp_avg"], opt.state[next(model.parameters())]["exp_avg"])


def two_group_models():
    """The model twice, each with its parameters in two groups (weights; biases at their
    own lr, undecayed)."""
    models = [make_model(), make_model()]
    groups = [[{"params": [p for n, p in m.named_parameters() if n.endswith("weight")]},
               {"params": [p for n, p in m.named_parameters() if n.endswith("bias")], "lr": 5e-3,
                "weight_decay": 0.0}] for m in models]
    return models, groups


def test_only_the_groups_in_param_groups_are_stepped_with_their_own_hyperparameters():
    """DeepSpeed's ZeRO steps one group at a time: param_groups = [group_i], step(), and
    back. Each step must update that group only, with that group's hyperparameters."""
    (theirs, ours), (their_groups, our_groups) = two_group_models()
    ref = torch.optim.AdamW(their_groups, lr=1e-2, weight_decay=0.1)
    opt = dt.AdamW(our_groups, lr=1e-2, weight_decay=0.1)
    for step in range(6):
        for model, o in ((theirs, ref), (ours, opt)):
            o.zero_grad()
            objective(model, step, False).backward()
            every = o.param_groups
            for group in every[::-1]:
                o.param_groups = [group]
                o.step()
            o.param_groups = every
    assert_close_models(ours, theirs, 1e-6)


def test_a_group_whose_parameters_were_replaced_steps_the_new_ones():
    """DeepSpeed's ZeRO puts a flat fp32 partition in place of each group's parameters
    after the optimizer is made; a parameter that stays keeps its state."""
    (theirs, ours), (their_groups, our_groups) = two_group_models()
    ref = torch.optim.AdamW(their_groups, lr=1e-2, weight_decay=0.1)
    opt = dt.AdamW(our_groups, lr=1e-2, weight_decay=0.1)
    flats = []
    for model, o in ((theirs, ref), (ours, opt)):
        train(model, o, {}, 3)
        weights = o.param_groups[0]["params"]
        flat = torch.nn.Parameter(torch.cat([w.detach().reshape(-1) for w in weights]))
        o.param_groups[0]["params"] = [flat]
        o.state.pop(weights[0], None), o.state.pop(weights[1], None)
        flats.append(flat)
        for step in range(3, 8):
            o.zero_grad()
            flat.grad = torch.cat([w.reshape(-1) for w in weights]) * 1e-2 * step
            objective(model, step, False).backward()  # the biases' gradients
            o.step()
    torch.testing.assert_close(flats[1], flats[0], rtol=1e-6, atol=1e-7)
    for b_ours, b_theirs in zip(opt.param_groups[1]["params"], ref.param_groups[1]["params"]):
        torch.testing.assert_close(b_ours, b_theirs, rtol=1e-6, atol=1e-7)
        assert opt.state[b_ours]["step"] == 8  # the state carried over the rebuild


def test_partitions_listed_one_at_a_time_keep_their_state():
    """DeepSpeed's ZeRO-3 steps a group's partitions one at a time: params = [part],
    step(), params = []. Each partition keeps its state between its turns, as in torch."""
    torch.manual_seed(0)
    starts = [torch.randn(100), torch.randn(60)]
    runs = []
    for kind in (torch.optim.AdamW, dt.AdamW):
        parts = [torch.nn.Parameter(s.clone()) for s in starts]
        opt = kind(parts, lr=1e-2, weight_decay=0.1)
        group = opt.param_groups[0]
        for step in range(5):
            for part in parts:
                part.grad = torch.sin(part.detach() * (step + 1))
                group["params"] = [part]
                opt.step()
                group["params"] = []
        runs.append((parts, [opt.state[p]["step"] for p in parts]))
    (theirs, their_steps), (ours, our_steps) = runs
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert our_steps == their_steps == [5, 5]


def test_a_parameter_that_leaves_its_group_is_not_stepped():
    """A stepped parameter taken out of its group keeps its state and is not stepped
    again (torch steps only what param_groups lists), even when the group also lists
    a zero-element parameter the engine does not register."""
    for kind in (torch.optim.AdamW, dt.AdamW):
        torch.manual_seed(0)
        stays, leaves, empty = (torch.nn.Parameter(torch.randn(n)) for n in (5, 3, 0))
        opt = kind([stays, leaves], lr=1e-2, weight_decay=0.1)
        for p in (stays, leaves):
            p.grad = torch.ones_like(p)
        opt.step()
        opt.param_groups[0]["params"] = [stays, empty]
        before = leaves.detach().clone()
        opt.step()
        assert torch.equal(leaves, before), kind
        assert opt.state[leaves]["step"] == 1 and opt.state[stays]["step"] == 2, kind


def _param_group_edits():
    """Edits of param_groups between steps that torch takes as they come, each a
    function of (optimizer, parameters a, b, c)."""
    def never_stepped_leaves(opt, a, b, c):
        opt.param_groups[0]["params"] = [a]  # b had no gradient yet: let go

    def dict_replaced_by_a_copy(opt, a, b, c):
        opt.param_groups[0] = dict(opt.param_groups[0], lr=0.0)

    def moves_to_another_group(opt, a, b, c):
        opt.param_groups[0]["params"] = [b]
        opt.param_groups[1]["params"] = [c, a]  # now at group 1's lr

    return [never_stepped_leaves, dict_replaced_by_a_copy, moves_to_another_group]


@pytest.mark.parametrize("edit", _param_group_edits(), ids=lambda edit: edit.__name__)
def test_param_group_edits_step_as_torch(edit):
    """Step counts, hyperparameters and state follow the edit as in torch (a rebuild of
    the engine once reset step counts; a copied dict broke the next step)."""
    runs = []
    for kind in (torch.optim.Adam, dt.Adam):
        torch.manual_seed(0)
        a, b, c = (torch.nn.Parameter(torch.randn(n)) for n in (5, 3, 4))
        opt = kind([{"params": [a, b]}, {"params": [c], "lr": 1e-3}], lr=1e-1)
        a.grad, c.grad = torch.ones(5), torch.ones(4)
        opt.step()
        edit(opt, a, b, c)
        b.grad = torch.ones(3)
        for _ in range(3):
            opt.step()
        runs.append(([a, b, c], [float(opt.state[p]["step"]) if "step" in opt.state[p] else 0 for p in (a, b, c)]))
    (theirs, their_steps), (ours, our_steps) = runs
    assert our_steps == their_steps
    for x, y in zip(ours, theirs):
        torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-7)


def test_a_refused_param_group_changes_nothing():
    """add_param_group with a tensor the engine cannot take: refused, naming it, and the
    optimizer steps on as before (no group half-registered)."""
    a = torch.nn.Parameter(torch.ones(4))
    opt = dt.SGD([a], lr=0.5)
    with pytest.raises(TypeError, match="parameter 1 of group 1 is a tensor of dtype torch.float64"):
        opt.add_param_group({"params": [torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2).double())]})
    assert len(opt.param_groups) == 1
    a.grad = torch.ones(4)
    opt.step()
    assert torch.equal(a, torch.full((4,), 0.5))
