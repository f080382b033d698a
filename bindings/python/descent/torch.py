"""Drop-in replacements for torch.optim's classes: one per algorithm of the loaded library
(ALGORITHM_CLASSES; SGD, Adam, AdamW, …), and MuonWithAdamW (muon_adamw.py), Muon for a
model's hidden matrices and AdamW for the rest in one optimizer.

They are `torch.optim.Optimizer` subclasses with torch's constructor signatures and
defaults; the update runs in Descent's engine directly on the tensors' memory (CPU,
contiguous, float32; bfloat16 and float16 too where the algorithm takes `state_dtype`,
with a float32 master copy under `master_weights=True`), with no copies. Everything
around the step is torch's own:
`param_groups` (changes take effect at the next step, so torch's LR schedulers work),
`add_param_group`, `zero_grad`, hooks, `state_dict()`/`load_state_dict()` in torch's
format (checkpoints move between torch.optim and descent.torch both ways), and
`torch.amp.GradScaler`, through the protocol of torch's fused optimizers: the scaler
hands over `grad_scale` and `found_inf`, and the step unscales (dividing, as the fused
kernels do) inside its update pass and skips itself on inf/NaN.

`step()` also takes the rest of the optimizer phase as keyword options, fused into at
most two passes over the gradients: `max_norm`/`norm_type`/`error_if_nonfinite`
(clip_grad_norm_ over every gradient it steps, after unscaling), `clip_value`
(clip_grad_value_), `nonfinite` ("propagate", "skip", "error") and `zero_grad`. What
the last step did is in `last_step_report` (a descent.StepReport).

`grad_arena=True` (a constructor option of every class) gives the trainable parameters
their `.grad` as views into one contiguous buffer per parameter group and dtype, which autograd
then accumulates into in place, as DDP's `gradient_as_bucket_view` does: the step knows
each view by identity and address (two attribute reads per tensor instead of seven), and
`zero_grad` zeroes each buffer in one pass and keeps the views whatever `set_to_none`
says. The cost is torch's `None`: every trainable parameter has a gradient from the
start (zeros until a backward writes it), so one that gets no gradient in a step is
still stepped with zeros (weight decay, moment decay), where torch would skip it; a
parameter frozen after the optimizer was made needs its `.grad` set to None by hand.
A `.grad` replaced by another tensor is taken as usual (checked), and pointed back at
its view by the next `zero_grad`.
`clip_grad_norm_`, `clip_grad_value_` and `get_total_norm` here are drop-ins for
torch.nn.utils' (torch's own run for tensors Descent does not take).
"""
import collections
import inspect
import math
import operator
import sys

import numpy as np
import torch

from . import _descent
from .gradients import StepReport
from .hyperparameters import (ALGORITHMS, DEFAULTS, DESCENTS_OWN, MASTER_STATE, STATE_NAMES, engine_items, has_trait,
                              spans_whole_tensors, torch_items)


try:
    from torch.distributed.tensor import DTensor
except ImportError:  # a torch built without distributed
    DTensor = ()


# The dtypes a parameter (and its gradient) may have, by the engine's names of them; all
# but float32 only where the algorithm takes state formats.
_PARAM_FORMATS = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}


def _engine_tensor(t, dtypes=(torch.float32,)):
    return t.device.type == "cpu" and t.dtype in dtypes and t.layout == torch.strided and t.is_contiguous()


def _numpy(t):
    """The memory of `t` as numpy sees it: bfloat16 as its bit patterns (int16), since
    numpy has no bfloat16."""
    t = t.detach()
    return (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy()


def _local(t):
    """The tensor whose memory Descent steps: a DTensor's local shard (FSDP2: in-place
    writes to it are the parameter's), else `t` itself."""
    if isinstance(t, DTensor):
        # What to_local() gives under no_grad, without its cost: for a Parameter it makes
        # a fresh view of the shard at each call (~10 µs); the memory is the same.
        shard = getattr(t, "_local_tensor", None)
        if shard is not None:
            return shard
        with torch.no_grad():
            return t.to_local()
    return t


def _same_tensors(a, b):
    """Whether two sequences hold the same tensors, by identity (== on tensors compares
    their elements)."""
    return len(a) == len(b) and all(map(operator.is_, a, b))


def _listed(p, group):
    return any(p is q for q in group["params"])


class _ParamState(dict):
    """One parameter's entry of `optimizer.state`: a key written from outside (not by the
    optimizer itself) marks the parameter's state for the engine to take at the next step."""

    def __init__(self, assigned, param, items=()):
        super().__init__(items)
        self._assigned, self._param = assigned, param

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self._assigned.add(self._param)

    def update(self, *args, **kwargs):
        super().update(*args, **kwargs)
        self._assigned.add(self._param)

    def __reduce__(self):  # saved (torch.save, deepcopy) as the plain dict torch keeps
        return dict, (dict(self),)


class ComplexParameterError(ValueError, RuntimeError):
    """A complex parameter, refused when it is given. torch refuses one with ValueError
    at construction (SparseAdam) or RuntimeError at the first step (Adafactor); this is
    either, so that code written for either catches it."""


class _EngineState(collections.defaultdict):
    """`optimizer.state`, as torch's (a defaultdict keyed by parameter), which notices state
    assigned from outside: ZeroRedundancyOptimizer's load_state_dict and DeepSpeed's elastic
    loads write `optimizer.state[p] = {...}` and never call the optimizer's own
    load_state_dict. The optimizer writes through dict methods, which do not mark."""

    def __init__(self, assigned, items=()):
        super().__init__(None)
        self._assigned = assigned
        for param, state in dict(items).items():
            dict.__setitem__(self, param, _ParamState(assigned, param, state))

    def __missing__(self, param):
        state = _ParamState(self._assigned, param)
        dict.__setitem__(self, param, state)
        return state

    def __setitem__(self, param, state):
        dict.__setitem__(self, param, _ParamState(self._assigned, param, state))
        self._assigned.add(param)

    def __reduce__(self):  # copied or saved as the defaultdict torch keeps
        return collections.defaultdict, (dict,), None, None, iter(dict(self).items())


class _EngineOptimizer(torch.optim.Optimizer):
    _algorithm = ""

    @property
    def _step_supports_amp_scaling(self):
        """True when torch's GradScaler.step asks: its fused-optimizer protocol, in which it
        sets `grad_scale` and `found_inf` on the optimizer and the step unscales (skipped
        when the scaler already unscaled, as before clipping). False when anyone else asks:
        Lightning reads the attribute as "unscales internally, cannot be clipped" and
        refuses gradient clipping (it does so for torch's own fused AdamW too), where a
        descent optimizer can be clipped once the scaler has unscaled, or with no scaler
        (bf16-mixed)."""
        caller = sys._getframe(1)
        return caller.f_code.co_name == "step" and caller.f_globals.get("__name__") == "torch.amp.grad_scaler"

    def __init__(self, params, *, grad_arena=False, **kwargs):
        for flag in ("capturable", "differentiable"):
            if kwargs.get(flag):
                raise NotImplementedError(f"descent.torch.{self._algorithm} does not support {flag}=True")
        defaults = self._checked_defaults(kwargs)
        # torch's Adam(decoupled_weight_decay=True) is AdamW; where the flag is the
        # algorithm's own hyperparameter (NAdam), the engine takes it as one.
        engine = "AdamW" if self._switches_to_adamw(defaults) else self._algorithm
        self._engine_args = (engine, engine_items(self._algorithm, defaults))
        self._new_engine()
        # The parameter dtypes it steps: bfloat16 and float16 too where it takes state formats.
        self._dtypes = tuple(_PARAM_FORMATS) if "state_dtype" in DESCENTS_OWN[self._algorithm] else (torch.float32,)
        self._assigned = set()  # parameters whose state was written from outside (see _EngineState)
        self._grad_arena = grad_arena and self._check_grad_arena()
        self._arenas = []       # grad_arena=True: one flat gradient buffer per group
        self._grad_views = {}   # … and id(parameter) -> (parameter, its .grad view into one)
        super().__init__(params, defaults)
        self._watch_state()

    def _checked_defaults(self, kwargs):
        """The optimizer's defaults, checked. Where torch has the class, torch's own class
        checks the arguments (with torch's messages) and gives the defaults and group keys
        of the installed torch version; otherwise the library's description does (its
        defaults, and its checks with torch-style messages, run by a trial engine
        optimizer)."""
        # Descent's own options (state_dtype, …) are checked by the engine, and are group
        # keys only where given.
        own = {key: kwargs.pop(key) for key in DESCENTS_OWN[self._algorithm] & kwargs.keys()}
        if own:
            _descent.Optimizer(self._algorithm, engine_items(self._algorithm, own)).close()
        reference = getattr(torch.optim, self._algorithm, None)
        if reference is not None:
            # A matrix: Muon takes nothing else.
            return {**reference([torch.zeros(1, 1, requires_grad=True)], **kwargs).defaults, **own}
        known = {key: value for key, value in DEFAULTS[self._algorithm].items()
                 if key not in DESCENTS_OWN[self._algorithm]}
        for key in kwargs:
            if key not in known:
                raise TypeError(f"{self._algorithm}.__init__() got an unexpected keyword argument '{key}'")
        defaults = {**known, **kwargs}
        _descent.Optimizer(self._algorithm, engine_items(self._algorithm, defaults)).close()
        return {**defaults, **own}

    # -- the engine, groups and parameters

    def _new_engine(self):
        """A fresh engine optimizer with nothing registered: at construction, and when the
        engine is rebuilt over groups whose parameters were replaced (_sync_groups)."""
        self._core = _descent.Optimizer(*self._engine_args)
        self._groups = []       # per engine group: (its param_groups dict, the params it listed when last seen)
        self._group_index = {}  # id(param_groups dict) -> its engine group (the dicts are held in _groups)
        self._pushed = []       # per engine group: the hyperparameters the engine has
        self._params = []       # registration order = torch's state_dict order
        self._where = []        # per registered parameter: how errors name it (group, index, name)
        # Every parameter's step count, filled by the engine after each step in one call;
        # state["step"] is a 0-d float32 view of its element (torch's type and shape).
        self._step_counts = np.zeros(0, dtype=np.float32)
        self._step_views = []
        self._unmirrored = np.zeros(0, dtype=np.intp)  # parameters whose state is not shown yet
        self._sparse = []       # parameters whose .grad was sparse when last looked at
        self._index = {}        # id(parameter) -> its engine index
        self._dtensors = False  # some parameter is a DTensor (FSDP2): steps go through _step_local
        self._group_of = []     # per registered parameter: its engine group
        self._unlisted = set()  # registered parameters their group's dict does not list now
        self._restated = set()  # engine groups whose state_dtype changed: their state moves at the next step

    # -- groups and parameters

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        if hasattr(self, "_core"):
            try:
                self._sync_groups()
            except Exception:
                self.param_groups.pop()  # refused: the optimizer stays as it was
                raise

    def _sync_groups(self):
        """Brings the engine in line with param_groups as they are now, and returns the
        engine groups of param_groups, in their order. A dict not seen before is an
        engine group it replaced (same parameters, the old dict gone from param_groups)
        or a new group (add_param_group, or one put in by hand); a group whose params
        changed is followed (_follow_group)."""
        active = []
        for group in self.param_groups:
            index = self._group_index.get(id(group))
            if index is None:
                index = self._adopt_group(group)
            if not _same_tensors(self._groups[index][1], group["params"]):
                self._follow_group(index, group)
            active.append(index)
        return active

    def _adopt_group(self, group):
        """The engine group for `group`, a dict not seen before: the engine group of the
        parameters it lists, when they are registered and their dict is no longer in
        param_groups (the dict was replaced by a copy); else a new engine group. Refused,
        changing nothing, when it lists parameters of a group still in param_groups or
        of several replaced ones."""
        listed = [self._index[id(p)] for p in group["params"] if id(p) in self._index]
        owners = {self._group_of[i] for i in listed}
        present = {id(g) for g in self.param_groups}
        taken = [g for g in owners if id(self._groups[g][0]) in present]
        if taken:
            raise ValueError(f"a parameter group lists parameters of group {taken[0]} as well; "
                             "some parameters appear in more than one parameter group")
        if len(owners) > 1:
            raise ValueError(f"a parameter group lists parameters of groups {sorted(owners)}, which it replaced; "
                             "make a new optimizer to merge groups")
        if owners:
            index = owners.pop()
            del self._group_index[id(self._groups[index][0])]
            self._groups[index] = (group, self._groups[index][1])
            self._group_index[id(group)] = index
            self._pushed[index] = None  # its hyperparameters are the new dict's
            return index
        return self._register_group(group)

    def _follow_group(self, index, group):
        """Engine group `index` after its dict's params changed, as DeepSpeed's ZeRO does:
        stages 1 and 2 put one flat fp32 partition in place of the group's parameters
        after the optimizer is made; stage 3 lists one partition at a time, for its step
        only. As in torch, a parameter that leaves keeps its state and one that comes is
        stepped from fresh state. The engine is rebuilt (state carried over) when a
        parameter leaves without ever having been stepped (so that its memory is not
        held) or comes from another group (whose hyperparameters it must leave)."""
        now = {id(p) for p in group["params"]}
        let_go = any(g == index and id(p) not in now and self._core.step_count(i) == 0
                     for i, (p, g) in enumerate(zip(self._params, self._group_of)))
        moved = any(id(p) in self._index and self._group_of[self._index[id(p)]] != index
                    and not _listed(p, self._groups[self._group_of[self._index[id(p)]]][0])
                    for p in group["params"])
        if let_go or moved:
            self._groups[index] = (group, ())
            self._rebuild()
            return
        new = [p for p in group["params"] if id(p) not in self._index]
        self._add_params(index, self._checked(index, group, new))
        self._groups[index] = (group, tuple(group["params"]))
        self._note_unlisted(index)

    def _note_unlisted(self, index):
        """Records which registered parameters of engine group `index` its dict does not
        list now (they keep their state and are not stepped)."""
        now = {id(p) for p in self._groups[index][0]["params"]}
        members = {i for i, g in enumerate(self._group_of) if g == index}
        self._unlisted -= members
        self._unlisted |= {i for i in members if id(self._params[i]) not in now}

    def _rebuild(self):
        """A new engine: each known group with the parameters it lists now, then with
        those it listed before and no group lists now that have been stepped (their
        state and step counts carried over); the others' state and gradient views are
        let go."""
        steps = {id(p): self._core.step_count(i) for i, p in enumerate(self._params)}
        kept = [[p for p, g in zip(self._params, self._group_of) if g == index and steps[id(p)] > 0]
                for index in range(len(self._groups))]
        groups = [group for group, _ in self._groups]
        before = {id(p): p for p in self._params}
        self._new_engine()
        for group in groups:
            self._register_group(group)
        for index, (group, stepped) in enumerate(zip(groups, kept)):
            self._add_params(index, self._checked(index, group, [p for p in stepped if id(p) not in self._index]))
            self._note_unlisted(index)
        for p in before.values():
            index = self._index.get(id(p))
            if index is None:
                self.state.pop(p, None)
                self._grad_views.pop(id(p), None)
            elif p in self.state:
                dict.__setitem__(self.state[p], "step", float(steps[id(p)]))  # registration showed a new count
                self._take_state(index, self.state[p])
        self._arenas = [a for a in self._arenas if any(v._base is a for _, v in self._grad_views.values())]
        self._core.step_counts_into(self._step_counts)

    def _register_group(self, group):
        """Registers `group` (a param_groups dict) as a new engine group, its parameters
        checked first (a refusal changes nothing); returns its index."""
        index = len(self._groups)
        checked = self._checked(index, group, [p for p in group["params"] if id(p) not in self._index])
        items = engine_items(self._algorithm, group)
        self._core.add_group(items)
        self._pushed.append(items)
        self._groups.append((group, tuple(group["params"])))
        self._group_index[id(group)] = index
        self._add_params(index, checked)
        return index

    def _checked(self, index, group, params):
        """`params` (of `group`, engine group `index`) as (parameter, how errors name it)
        pairs, each checked; refused with torch's messages or the engine's requirements."""
        # A parameter listed twice in a group: torch warned and goes on, and so does
        # Descent, which registers and steps it once (torch steps it twice).
        # A zero-element parameter has nothing to step: torch takes and skips it, and
        # so does Descent (it is not registered with the engine).
        names = dict(zip(map(id, group["params"]), group.get("param_names") or ()))
        position = {id(p): i for i, p in reversed(list(enumerate(group["params"])))}  # the first place
        given = [(position.get(id(p)), p) for p in params]
        self._check_dense_real(index, given)
        for _, p in given:  # empty ones too, as torch's constructor
            self._check_matrix(p)
        checked = list({id(p): (p, self._describe(index, i, names.get(id(p))))
                        for i, p in given if _local(p).numel() > 0}.values())
        for p, where in checked:
            self._check_tensor(_local(p), where)
            self._check_unsharded(p, where)
        return checked

    def _check_matrix(self, p):
        """torch's refusal of a parameter that is not a matrix, where the algorithm steps
        only matrices (Muon)."""
        if has_trait(self._algorithm, _descent.TRAIT_ONLY_MATRICES) and p.ndim != 2:
            raise ValueError(f"{self._algorithm} only supports 2D parameters whereas we found a parameter with "
                             f"size: {p.size()}")

    def _check_unsharded(self, p, where):
        """Refuses a sharded DTensor (FSDP2) where the algorithm's statistics span whole
        tensors (Adafactor, LBFGS, Muon): Descent steps each rank's shard alone, which is exact
        for element-wise updates only; torch's own would reduce across ranks."""
        if (isinstance(p, DTensor) and spans_whole_tensors(self._algorithm)
                and any(placement.is_shard() for placement in p.placements)):
            raise NotImplementedError(
                f"descent.torch.{self._algorithm} takes statistics over whole tensors, and {where} is a DTensor "
                f"sharded as {p.placements} (FSDP2): each rank would see its shard alone. Step it with an "
                "element-wise algorithm, or keep it unsharded")

    def _add_params(self, index, checked):
        """Registers the parameters `checked` (_checked's pairs) into engine group `index`."""
        first = len(self._params)
        for p, where in checked:
            local = _local(p)
            self._core.add_param(index, _numpy(local), format=_PARAM_FORMATS[local.dtype])
            self._index[id(p)] = len(self._params)
            self._params.append(p)
            self._where.append(where)
            self._group_of.append(index)
            self._dtensors |= isinstance(p, DTensor)
        self._grow_step_counts(first)
        if self._grad_arena:
            self._attach_grad_arena(first)
        if has_trait(self._algorithm, _descent.TRAIT_STATE_AT_REGISTRATION):  # Adagrad's, in torch
            for i in range(first, len(self._params)):
                self._mirror_state(i)

    def _check_grad_arena(self):
        if has_trait(self._algorithm, _descent.TRAIT_ONLY_SPARSE_GRADIENTS):
            raise ValueError(f"grad_arena=True: {self._algorithm} takes only sparse gradients, which do not live "
                             "in a dense arena")
        return True

    def _attach_grad_arena(self, first):
        """grad_arena=True: the trainable parameters registered from `first` on get their
        .grad as views into one new contiguous buffer (a gradient they had is copied in);
        one that has a view already (the engine was rebuilt) keeps it. Autograd
        accumulates into an existing .grad in place, so the views stay, and the step
        knows each by identity and address instead of checking the tensor again."""
        new = [index for index in range(first, len(self._params))
               if self._params[index].requires_grad and id(self._params[index]) not in self._grad_views]
        if any(isinstance(self._params[index], DTensor) for index in new):
            raise ValueError("grad_arena=True does not apply to DTensor parameters: FSDP2 owns their gradients")
        for dtype in dict.fromkeys(self._params[index].dtype for index in new):  # one arena per dtype
            members = [index for index in new if self._params[index].dtype == dtype]
            arena = torch.zeros(sum(self._params[index].numel() for index in members), dtype=dtype)
            offset = 0
            for index in members:
                p = self._params[index]
                view = arena[offset:offset + p.numel()].view_as(p)
                offset += p.numel()
                if p.grad is not None:
                    view.copy_(p.grad.to_dense() if p.grad.is_sparse else p.grad)
                p.grad = view
                self._grad_views[id(p)] = (p, view)
            self._arenas.append(arena)
        for index in range(first, len(self._params)):
            held = self._grad_views.get(id(self._params[index]))
            if held:
                self._core.hold_grad_view(index, held[1])

    def zero_grad(self, set_to_none=True):
        """torch's zero_grad; with grad_arena=True the gradient views stay whatever
        `set_to_none` says, zeroed in one pass per arena (as DDP's
        gradient_as_bucket_view), and a .grad replaced or set to None since (by
        model.zero_grad(), say) is pointed back at its view."""
        if not self._arenas:
            return super().zero_grad(set_to_none)
        for p, view in self._grad_views.values():
            if p.grad is not view:
                p.grad = view
        for arena in self._arenas:
            arena.zero_()
        for group in self.param_groups:  # frozen parameters with a gradient: torch's way
            for p in group["params"]:
                if p.grad is not None and id(p) not in self._grad_views:
                    if set_to_none:
                        p.grad = None
                    else:
                        p.grad.detach_().zero_()

    def _grow_step_counts(self, first):
        """Makes room for the step counts of parameters `first`… (just registered); the
        step tensors already shown move to the new buffer."""
        counts = np.zeros(len(self._params), dtype=np.float32)
        counts[:first] = self._step_counts
        self._step_counts = counts
        self._step_views = list(torch.from_numpy(counts).unbind())
        self._unmirrored = np.concatenate([self._unmirrored, np.arange(first, len(self._params))])
        for index, p in enumerate(self._params[:first]):
            if "step" in self.state.get(p, {}):
                dict.__setitem__(self.state[p], "step", self._step_value(index))

    def _step_value(self, index):
        """state["step"] of parameter `index` as torch keeps it: a 0-d float32 tensor (here
        a view of the step count buffer), or a Python int (SparseAdam)."""
        if has_trait(self._algorithm, _descent.TRAIT_INTEGER_STEP_COUNT):
            return self._core.step_count(index)
        return self._step_views[index]

    def _check_dense_real(self, group_index, indexed):
        """Sparse and complex parameters, which no algorithm here takes, refused with
        torch's SparseAdam's messages ([group, index] of each); `indexed` has (index in
        the group, parameter) pairs."""
        sparse = [[group_index, i] for i, p in indexed if p.is_sparse]
        if sparse:
            raise ValueError(f"Sparse params at indices {sparse}: {self._algorithm} requires dense parameter tensors")
        complex_ = [[group_index, i] for i, p in indexed if p.is_complex()]
        if complex_:
            raise ComplexParameterError(f"Complex params at indices {complex_}: {self._algorithm} does not support "
                                        "complex parameters")

    @staticmethod
    def _describe(group, index, name):
        """How errors name a parameter: its group and index there (None: no longer
        listed), and its name when the optimizer was given named_parameters()."""
        where = f"parameter {index} of group {group}" if index is not None else f"a parameter group {group} had"
        return where + (f" ('{name}')" if name else "")

    def _check_tensor(self, t, what, dtype=None):
        """Refuses a tensor the engine cannot step in place; `what` names it ("parameter 1
        of group 0 ('fc.weight')", "the gradient of …"); `dtype`: the one it must have
        (a gradient's is its parameter's), else any the algorithm takes."""
        dtypes = (dtype,) if dtype is not None else self._dtypes
        if not _engine_tensor(t, dtypes):
            layout = "" if t.is_contiguous() else (
                ", channels_last" if t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last)
                else ", non-contiguous")
            names = " or ".join(_PARAM_FORMATS[d] for d in dtypes)
            raise _descent.DescentTypeError(
                f"descent.torch.{self._algorithm} supports contiguous CPU {names} tensors; {what} is a tensor "
                f"of dtype {t.dtype} on {t.device}{layout}")

    # -- the step

    # A clean boundary for torch.compile: compiling the step (or a training loop that calls
    # it) runs it as it is, eagerly, instead of tracing into it and breaking the graph at
    # the engine call with nothing compiled.
    @torch.compiler.disable
    @torch.no_grad()
    def step(self, closure=None, *, max_norm=None, norm_type=2.0, error_if_nonfinite=False, clip_value=None,
             nonfinite="propagate", zero_grad=False):
        """One optimizer step over every parameter with a gradient; returns the
        closure's loss when a closure is given. The keyword options fuse the rest of
        the optimizer phase into the step (see the module's doc); `grad_scale` and
        `found_inf`, when GradScaler has set them, unscale and skip."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        active = self._sync_groups()
        self._push_hyperparameters(active)
        if self._assigned:
            self._take_assigned_state()
        params = self._stepped(active)
        options = dict(max_norm=max_norm, norm_type=float(norm_type), error_if_nonfinite=error_if_nonfinite,
                       clip_value=clip_value, nonfinite=nonfinite, zero_grad=zero_grad)
        grad_scale = getattr(self, "grad_scale", None)
        if grad_scale is not None:
            options["grad_scale"] = float(grad_scale)
        found_inf = getattr(self, "found_inf", None)
        if found_inf is not None:
            options["found_inf"] = float(found_inf) != 0
        try:
            report = self._step_local(params, options) if self._dtensors else self._step_tensors(params, options)
        except (_descent.DescentTypeError, _descent.DescentValueError):
            self._check_gradients(params)  # names the gradient at fault by group, index and name
            raise
        self.last_step_report = StepReport(**report)
        self._show_engine_state()
        if self._restated:
            self._show_restated()
        return loss

    def _stepped(self, active):
        """The registered parameters this step is over: those param_groups lists now
        (engine groups `active`), None in place of the others. DeepSpeed steps one group
        at a time, with param_groups narrowed to it (ZeRO-3: one partition at a time)."""
        if not self._unlisted and len(set(active)) == len(self._groups):
            return self._params
        now = {id(p) for i in active for p in self._groups[i][0]["params"]}
        return [p if id(p) in now else None for p in self._params]

    def _step_tensors(self, params, options):
        """The engine's step over the .grad of `params` (None: not stepped). A sparse .grad
        (nn.Embedding(sparse=True)) is given to the engine first, for this step only;
        the parameters that had one are remembered, so a model is searched for them only
        when a new one appears (the engine reports it before changing anything)."""
        for _ in range(2):
            given = []
            try:
                sparse = bytearray(len(self._params))
                for index in self._sparse:
                    grad = None if params[index] is None else params[index].grad
                    if grad is not None and grad.is_sparse:
                        self._give_sparse_gradient(index, grad)
                        given.append(index)
                        sparse[index] = 1
                report = self._core.step_tensors(params, bytes(sparse) if given else None, **options)
                if options["zero_grad"]:  # the engine's copy is emptied; so is .grad, as torch's zero_()
                    for index in given:
                        self._params[index].grad.zero_()
                return report
            except _descent._SparseGradientFound:
                self._sparse = [i for i, p in enumerate(self._params) if p.grad is not None and p.grad.is_sparse]
            finally:
                for index in given:
                    self._core.set_grad(index, None)
        raise AssertionError("a sparse gradient was found twice")

    def _step_local(self, params, options):
        """The step when parameters are DTensors (FSDP2): each one's local shard with its
        gradient's local shard, read and checked in C as step_tensors reads .grad; a
        shard whose memory FSDP2 swapped (reset_sharded_param) is followed, its state
        carried over."""
        shards = [None if p is None else _local(p) for p in params]
        grads = [None if p is None or p.grad is None else _local(p.grad) for p in params]
        try:
            return self._core.step_tensors(shards, None, grads, **options)
        except _descent._SparseGradientFound:
            raise _descent.DescentUnsupportedError(f"descent.torch.{self._algorithm} does not take sparse "
                                                   "gradients of DTensor parameters (FSDP2)") from None

    def _check_gradients(self, params):
        """After the engine refused a step's parameters or gradients (it counts parameters
        in its own order): the same refusal, naming the tensor as the user knows it (a
        parameter converted after the optimizer was made, a gradient)."""
        for p, where in zip(params, self._where):
            if p is None:
                continue
            self._check_tensor(_local(p), where)
            if p.grad is None or p.grad.is_sparse:
                continue
            self._check_tensor(_local(p.grad), "the gradient of " + where, _local(p).dtype)
            if p.grad.numel() != p.numel():
                raise _descent.DescentValueError(
                    f"the gradient of {where} has {p.grad.numel()} elements, its parameter has {p.numel()}")

    def _give_sparse_gradient(self, index, grad):
        """Hands the engine the sparse COO gradient `grad` of parameter `index`, coalesced
        by torch (so duplicates sum as torch sums them), as rows: its sparse dimensions
        flattened to one row index, its dense dimensions one row."""
        p = self._params[index]
        if grad.dtype != torch.float32 or grad.device.type != "cpu" or grad.layout != torch.sparse_coo:
            raise _descent.DescentTypeError(
                f"descent.torch.{self._algorithm} supports sparse COO CPU float32 gradients; the gradient of "
                f"{self._where[index]} is of dtype {grad.dtype} on {grad.device} ({grad.layout})")
        grad = grad.coalesce()
        dims = grad.sparse_dim()
        indices = grad._indices()
        # The row of each value: its sparse indices flattened (none: the whole tensor, row 0).
        rows = indices[0].clone() if dims else torch.zeros(grad._nnz(), dtype=torch.int64)
        for d in range(1, dims):
            rows.mul_(p.shape[d]).add_(indices[d])
        row_size = math.prod(p.shape[dims:])
        values = grad._values().contiguous().reshape(-1)
        self._core.set_sparse_grad(index, rows.numpy(), values.numpy(), row_size)

    def _push_hyperparameters(self, active):
        """Sends the hyperparameters changed in param_groups since the last step (group
        i of param_groups is engine group active[i])."""
        for index, group in zip(active, self.param_groups):
            if self._switches_to_adamw(group) != (self._core.algorithm != self._algorithm):
                raise NotImplementedError("decoupled_weight_decay must be the same in every group "
                                          "and cannot change after construction")
            items = engine_items(self._algorithm, group)
            if items != self._pushed[index]:
                self._core.set_group(index, items)
                before = self._pushed[index] or {}
                if any(items.get(key) != before.get(key) for key in DESCENTS_OWN[self._algorithm]):
                    self._restated.add(index)  # the next step moves the group's state to its new format
                self._pushed[index] = items

    def _show_restated(self):
        """After a step that moved state to another format (state_dtype changed): the
        state tensors of those groups' parameters show the state's new memory."""
        for index, p in enumerate(self._params):
            if self._group_of[index] in self._restated and p in self.state:
                for name in STATE_NAMES[self._algorithm]:
                    dict.pop(self.state[p], name, None)
                    dict.pop(self.state[p], f"{name}_absmax", None)
                self._mirror_state(index)
        self._restated.clear()

    def _show_engine_state(self):
        """After a step or a load: the step tensors show the engine's counts (one call for
        all parameters), and parameters stepped for the first time get their state shown."""
        self._core.step_counts_into(self._step_counts)
        if has_trait(self._algorithm, _descent.TRAIT_INTEGER_STEP_COUNT):  # ints are copies: renew them
            for index, p in enumerate(self._params):
                if "step" in self.state.get(p, ()):
                    dict.__setitem__(self.state[p], "step", self._step_value(index))
        pending = self._unmirrored
        if len(pending):
            stepped = self._step_counts[pending] > 0
            for index in pending[stepped]:
                self._mirror_state(int(index))
            self._unmirrored = pending[~stepped]

    def _show_all_engine_state(self):
        """_show_engine_state for every parameter with steps, not only the new ones (a
        load replaced self.state or the engine's state)."""
        self._unmirrored = np.arange(len(self._params))
        self._show_engine_state()

    def _mirror_state(self, index):
        """Makes self.state[p] show the engine's state: tensors on its memory, and
        torch's float32 `step` tensor (SGD has none), a view of the step count buffer."""
        p = self._params[index]
        shown = {}
        # torch makes Adagrad's state at registration; a master copy is made by a step.
        at_registration = has_trait(self._algorithm, _descent.TRAIT_STATE_AT_REGISTRATION)
        for name in STATE_NAMES[self._algorithm]:
            if name not in self.state.get(p, {}):
                buffer = self._core.state(index, name, create=at_registration and name not in MASTER_STATE[self._algorithm])
                if buffer is not None:
                    shown.update(self._state_tensors(index, name, buffer))
        if has_trait(self._algorithm, _descent.TRAIT_STEP_COUNT):
            shown["step"] = self._step_value(index)
        if shown:  # torch keeps no entry for a parameter without state (SGD, no momentum)
            entry = self.state[p] if p in self.state else self.state.__missing__(p)
            dict.update(entry, shown)

    def _switches_to_adamw(self, group):
        """Whether `group` asks for decoupled weight decay from an algorithm that has no
        such hyperparameter and does not decouple already, but whose torch class takes it
        as a switch to AdamW (Adam)."""
        return (bool(group.get("decoupled_weight_decay"))
                and "decoupled_weight_decay" not in DEFAULTS[self._algorithm]
                and not has_trait(self._algorithm, _descent.TRAIT_DECOUPLED_WEIGHT_DECAY))

    def _state_tensors(self, index, name, buffer):
        """{key: tensor} showing the engine's state buffer `name` (core.state) in its
        format: float32, or bfloat16 (state_dtype="bfloat16") under torch's key; 8-bit
        codes (uint8) under torch's key and each block's absmax (float32, one per 256
        elements) under "<key>_absmax" (state_dtype="int8")."""
        dtype = {"float32": np.float32, "bfloat16": np.uint16, "int8": np.uint8}[self._core.state_format(index, name)]
        shown = {name: self._state_tensor(index, name, np.frombuffer(buffer, dtype=dtype))}
        absmax = self._core.state_absmax(index, name)
        if absmax is not None:
            shown[f"{name}_absmax"] = torch.from_numpy(np.frombuffer(absmax, dtype=np.float32))
        return shown

    def _state_tensor(self, index, name, memory):
        """The engine's state `memory` as torch shows it, in torch's shape of it (the
        parameter's; a 0-d tensor for a scalar slot such as NAdam's mu_product;
        Adafactor's row_var and col_var with a dimension of 1); element-wise state of a
        DTensor parameter as a DTensor sharded as it is (each rank's state its own
        shard: what torch.distributed.checkpoint saves). bfloat16 state comes as its
        bit patterns (uint16)."""
        p = self._params[index]
        shape = self._core.state_shape(index, name)
        shard = torch.from_numpy(memory)
        shard = (shard.view(torch.bfloat16) if memory.dtype == np.uint16 else shard).view(shape)
        if isinstance(p, DTensor) and shape == tuple(_local(p).shape):
            return DTensor.from_local(shard, p.device_mesh, p.placements, run_check=False, shape=p.shape,
                                      stride=p.stride())
        return shard

    # -- checkpoints in torch's format

    def __setstate__(self, state):
        super().__setstate__(state)
        self._watch_state()

    def _watch_state(self):
        """Makes `self.state` an _EngineState (torch's __init__ and load_state_dict set a
        plain defaultdict)."""
        if not isinstance(self.state, _EngineState):
            self.state = _EngineState(self._assigned, self.state)
            self._assigned.clear()

    def state_dict(self):
        """torch's state_dict, each parameter's state a plain dict: torch.load's
        weights_only unpickler (Lightning's checkpoint loads) takes no dict subclass."""
        state_dict = super().state_dict()
        state_dict["state"] = {key: dict(state) for key, state in state_dict["state"].items()}
        return state_dict

    def load_state_dict(self, state_dict):
        """Loads a state_dict of this class or of the torch.optim class it replaces."""
        active = self._sync_groups()
        # Checked before torch's load replaces anything: saved ids map to parameters in
        # order, as torch maps them.
        saved_ids = [i for group in state_dict.get("param_groups", ()) for i in group["params"]]
        for index, saved in enumerate(saved_ids[:len(self._params)]):
            self._checked_state(index, state_dict.get("state", {}).get(saved, {}))
        before = list(self.param_groups)
        super().load_state_dict(state_dict)
        for index, old, new in zip(active, before, self.param_groups):  # torch put new dicts in their place
            del self._group_index[id(old)]
            self._groups[index] = (new, self._groups[index][1])
            self._group_index[id(new)] = index
        # The saved tensors as they were: torch's load casts state to the parameter's
        # dtype, which would turn 8-bit codes into floats.
        saved = state_dict.get("state", {})
        for index, p in enumerate(self._params):
            source = saved.get(saved_ids[index]) if index < len(saved_ids) else None
            self._take_state(index, self.state.get(p, {}), source)
        self._show_all_engine_state()
        self._pushed = [None] * len(self._groups)
        self._push_hyperparameters(active)

    def _take_assigned_state(self):
        """Before a step: state written into `self.state` from outside since the last one
        goes into the engine (the step then continues from it)."""
        for p in list(self._assigned):
            index = self._index.get(id(p))
            if index is not None and p in self.state:
                self._take_state(index, self.state[p])
        self._assigned.clear()

    def _checked_state(self, index, state):
        """The algorithm's state tensors in torch-format `state` of parameter `index`;
        one of the wrong size, or one its shape keeps none of (Adafactor's variance of a
        matrix), is refused, naming it."""
        taken = {name: _local(value) for name, value in state.items()
                 if name in STATE_NAMES[self._algorithm] and value is not None}
        for name, value in taken.items():
            expected = math.prod(self._core.state_shape(index, name))
            if value.numel() != expected:
                raise _descent.DescentValueError(
                    f"state['{name}'] of {self._where[index]} has {value.numel()} elements, expected {expected}")
            if value.dtype == torch.uint8:  # 8-bit codes: their absmax must come with them
                absmax, blocks = state.get(f"{name}_absmax"), -(-expected // _descent.INT8_BLOCK_SIZE)
                if absmax is None or _local(absmax).numel() != blocks:
                    raise _descent.DescentValueError(
                        f"state['{name}'] of {self._where[index]} holds 8-bit codes, which need "
                        f"state['{name}_absmax'] with {blocks} values")
        return taken

    def _take_state(self, index, state, source=None):
        """Copies torch-format `state` (step, and the algorithm's state tensors; read from
        `source` where given, the saved state `state` was loaded from) of parameter
        `index` into the engine, then shows the engine's memory in `state`. Bad state is
        refused (`_checked_state`) before anything is copied."""
        source = state if source is None else source
        taken = self._checked_state(index, source)
        if "step" in source:
            self._core.set_step_count(index, int(float(source["step"])))
        for name, value in taken.items():
            absmax = source.get(f"{name}_absmax")
            self._load_state(index, name, value.detach(), None if absmax is None else _local(absmax).detach())
            dict.pop(state, f"{name}_absmax", None)
            dict.update(state, self._state_tensors(index, name, self._core.state(index, name)))
        if state:
            self._mirror_state(index)

    def _load_state(self, index, name, value, absmax):
        """Writes state tensor `value` (any format: float, bfloat16, or 8-bit codes with
        their `absmax`) into the engine's state `name`, which keeps its own format:
        state in the same format is copied as is (an exact resume), other state is
        converted (8-bit codes decoded, then rounded or quantized as a step would), so
        that a run can switch state_dtype through a state_dict."""
        format = self._core.state_format(index, name)
        stored = self._core.state(index, name, create=True)
        if value.dtype == torch.uint8:
            if format == "int8":
                np.frombuffer(stored, dtype=np.uint8)[:] = value.reshape(-1).numpy()
                np.frombuffer(self._core.state_absmax(index, name), dtype=np.float32)[:] = (
                    absmax.to(torch.float32).reshape(-1).numpy())
                return
            value = decode_codes(value, absmax, torch.tensor(self._core.state_code_map(index, name)))
        if value.dtype == torch.bfloat16 and format == "bfloat16":
            np.frombuffer(stored, dtype=np.uint16)[:] = value.reshape(-1).view(torch.int16).numpy().view(np.uint16)
            return
        values = value.to(torch.float32).reshape(-1).contiguous().numpy()
        if format == "float32":
            np.frombuffer(stored, dtype=np.float32)[:] = values
        else:
            self._core.write_state(index, name, values)

    # -- checkpoints in Descent's format (docs/checkpoint-format.md)

    def checkpoint(self):
        """The optimizer's complete state as Descent checkpoint bytes (the C ABI's
        format, CRC-checked; parameter values are not included). state_dict() gives
        torch's format instead."""
        self._push_hyperparameters(self._sync_groups())
        return self._core.checkpoint()

    def load_checkpoint(self, data):
        """Restores `checkpoint()` bytes into an optimizer over the same parameter
        shapes and groups; all-or-nothing (DescentCheckpointError says what differs)."""
        self._sync_groups()
        self._core.load_checkpoint(data)
        self._sync_from_engine()

    def save(self, path):
        """Writes `checkpoint()` to `path` atomically (temporary file, fsync, rename)."""
        self._push_hyperparameters(self._sync_groups())
        self._core.save_checkpoint_file(path)

    def load(self, path):
        """Restores a file written by `save()`, as `load_checkpoint()` does."""
        self._sync_groups()
        self._core.load_checkpoint_file(path)
        self._sync_from_engine()

    def _sync_from_engine(self):
        """After a load: param_groups and self.state show the engine's."""
        for index, group in zip(self._sync_groups(), self.param_groups):
            items = torch_items(self._algorithm, self._core.get_group(index))
            # Descent's own options show where given or not at their defaults.
            defaults = DEFAULTS[self._algorithm]
            group.update({key: value for key, value in items.items()
                          if key not in DESCENTS_OWN[self._algorithm] or key in group or value != defaults[key]})
            self._pushed[index] = engine_items(self._algorithm, group)
        for index, p in enumerate(self._params):
            if p in self.state:
                self._mirror_state(index)
        self._show_all_engine_state()


def decode_codes(codes, absmax, code_map):
    """8-bit block-wise state as float32: each code's value in `code_map` times its
    block's absmax (blocks of INT8_BLOCK_SIZE elements), in the codes' shape."""
    scales = absmax.to(torch.float32).reshape(-1).repeat_interleave(_descent.INT8_BLOCK_SIZE)[:codes.numel()]
    return (code_map.to(torch.float32)[codes.reshape(-1).long()] * scales).reshape(codes.shape)


# -- torch.nn.utils' gradient utilities

def _gradients(parameters):
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    parameters = list(parameters)
    return parameters, [p.grad for p in parameters if p.grad is not None]


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Drop-in for torch.nn.utils.get_total_norm: the norm of all tensors as one vector,
    as a float32 tensor, reduced in double in a fixed order (the same bits for any thread
    count; within ~1e-6 relative of torch's)."""
    tensors = [tensors] if isinstance(tensors, torch.Tensor) else list(tensors)
    if not all(_engine_tensor(t) for t in tensors):
        return torch.nn.utils.get_total_norm(tensors, norm_type, error_if_nonfinite, foreach)
    if not tensors:
        return torch.tensor(0.0)
    arrays = [t.detach().numpy() for t in tensors]
    return torch.tensor(_descent.grad_norm(arrays, float(norm_type), error_if_nonfinite), dtype=torch.float32)


@torch.no_grad()
def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Drop-in for torch.nn.utils.clip_grad_norm_ on CPU float32 gradients (torch's own
    runs for others): scales the gradients in place by torch's clamped coefficient and
    returns the total norm before clipping. Unlike torch, a negative max_norm or a
    norm_type below 1 raises DescentValueError."""
    parameters, grads = _gradients(parameters)
    if not all(_engine_tensor(g) for g in grads):
        return torch.nn.utils.clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)
    if not grads:
        return torch.tensor(0.0)
    arrays = [g.numpy() for g in grads]
    total = _descent.clip_grad_norm(arrays, float(max_norm), float(norm_type), error_if_nonfinite)
    return torch.tensor(total, dtype=torch.float32)


@torch.no_grad()
def clip_grad_value_(parameters, clip_value, foreach=None):
    """Drop-in for torch.nn.utils.clip_grad_value_ on CPU float32 gradients (torch's own
    runs for others). Unlike torch, a negative clip_value raises DescentValueError."""
    parameters, grads = _gradients(parameters)
    if not all(_engine_tensor(g) for g in grads):
        return torch.nn.utils.clip_grad_value_(parameters, clip_value, foreach)
    _descent.clip_grad_value([g.numpy() for g in grads], float(clip_value))


def _signature(name):
    """torch's constructor signature for `name`: (params, <hyperparameters in the
    description's order, with its defaults>, *, maximize, grad_arena, **kwargs)."""
    P = inspect.Parameter
    parameters = [P("self", P.POSITIONAL_OR_KEYWORD), P("params", P.POSITIONAL_OR_KEYWORD)]
    for key, default in DEFAULTS[name].items():
        kind = P.KEYWORD_ONLY if key == "maximize" or key in DESCENTS_OWN[name] else P.POSITIONAL_OR_KEYWORD
        parameters.append(P(key, kind, default=default))
    parameters.append(P("grad_arena", P.KEYWORD_ONLY, default=False))  # Descent's own
    parameters.sort(key=lambda p: p.kind)  # keyword-only ones after the positional ones
    return inspect.Signature(parameters + [P("kwargs", P.VAR_KEYWORD)])


class _ClosureEngineOptimizer(_EngineOptimizer):
    """An engine optimizer whose step re-evaluates the loss (LBFGS): one parameter group,
    and `step(closure)` as torch's, the closure called as often as the step needs."""

    def add_param_group(self, param_group):
        if self.param_groups:
            # torch's checks of a group come first (a parameter in two groups, names).
            torch.optim.Optimizer.add_param_group(self, param_group)
            self.param_groups.pop()
            raise ValueError(f"{self._algorithm} doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)

    @torch.compiler.disable
    @torch.no_grad()
    def step(self, closure):
        """torch's `step(closure)`: returns what the closure's first call returned. When
        the closure raises, the exception propagates and nothing is half-applied: the
        iterations that completed are kept, the failing one is undone (include/descent.h,
        descent_step_closure)."""
        self._push_hyperparameters(self._sync_groups())

        def evaluate():
            with torch.enable_grad():
                loss = closure()
            # The engine reads the gradients' memory, which a backward may have replaced;
            # a sparse one is taken as the dense one it is (torch's _gather_flat_grad).
            for index, p in enumerate(self._params):
                grad = p.grad
                if grad is not None:
                    grad = grad.to_dense() if grad.is_sparse else grad
                    self._check_tensor(grad, "the gradient of " + self._where[index])
                self._core.set_grad(index, None if grad is None else grad.detach().numpy())
            return loss

        return self._core.step_closure(evaluate)

    # torch keeps LBFGS's state under its first parameter (state_dict key 0): counters,
    # d, t, the history (old_dirs, old_stps, ro), H_diag, prev_flat_grad, prev_loss, al.

    def state_dict(self):
        """torch's state_dict, LBFGS's state in torch's format (copies of the engine's)."""
        state_dict = super().state_dict()
        state = self._torch_lbfgs_state()
        if state:
            state_dict["state"] = {0: state}
        return state_dict

    def load_state_dict(self, state_dict):
        """Loads a state_dict of this class or of torch.optim.LBFGS."""
        state = dict(state_dict.get("state", {}).get(0, {}))
        record = self._engine_lbfgs_state(state)  # checked before anything changes
        super().load_state_dict({**state_dict, "state": {}})
        self._core.set_lbfgs_state(record)

    def _torch_lbfgs_state(self):
        raw = self._core.lbfgs_state()
        flags = raw["flags"]
        if not flags and raw["func_evals"] == 0 and raw["n_iter"] == 0:
            return {}
        vectors = iter(torch.frombuffer(bytearray(v), dtype=torch.float32) for v in raw["vectors"])
        state = {"func_evals": raw["func_evals"], "n_iter": raw["n_iter"]}
        if flags & _descent.LBFGS_HAS_AL:
            state["al"] = [None if a is None else torch.tensor(a) for a in raw["al"]]

        def scalar(value, tensor, number):
            return torch.tensor(value) if flags & tensor else number(value)

        if flags & _descent.LBFGS_HAS_D:
            state["d"] = next(vectors)
        prev = next(vectors) if flags & _descent.LBFGS_HAS_PREV_FLAT_GRAD else None
        if flags & _descent.LBFGS_HAS_T:
            state["t"] = scalar(raw["t"], _descent.LBFGS_T_IS_TENSOR, float)
        pairs = list(vectors)
        if flags & _descent.LBFGS_HAS_D:
            state["old_dirs"], state["old_stps"] = pairs[0::2], pairs[1::2]
            state["ro"] = [torch.tensor(r) for r in raw["ro"]]
        if flags & _descent.LBFGS_HAS_H_DIAG:
            state["H_diag"] = scalar(raw["h_diag"], _descent.LBFGS_H_DIAG_IS_TENSOR, int)
        if prev is not None:
            state["prev_flat_grad"] = prev
        if flags & _descent.LBFGS_HAS_PREV_LOSS:
            state["prev_loss"] = raw["prev_loss"]
        return state

    def _engine_lbfgs_state(self, state):
        """torch's LBFGS state as the engine's record (see Optimizer.lbfgs_state)."""
        def array(t):
            return np.ascontiguousarray(t.detach().to(torch.float32).reshape(-1).numpy())

        flags, vectors = 0, []
        for key, flag in (("d", _descent.LBFGS_HAS_D), ("prev_flat_grad", _descent.LBFGS_HAS_PREV_FLAT_GRAD)):
            if state.get(key) is not None:
                flags |= flag
                vectors.append(array(state[key]))
        scalars = {}
        for key, name, present, tensor in (("t", "t", _descent.LBFGS_HAS_T, _descent.LBFGS_T_IS_TENSOR),
                                           ("H_diag", "h_diag", _descent.LBFGS_HAS_H_DIAG,
                                            _descent.LBFGS_H_DIAG_IS_TENSOR)):
            value = state.get(key)
            if value is not None:
                flags |= present | (tensor if isinstance(value, torch.Tensor) else 0)
            scalars[name] = 0.0 if value is None else float(value)
        old_dirs, old_stps, ro = state.get("old_dirs") or [], state.get("old_stps") or [], state.get("ro") or []
        if not len(old_dirs) == len(old_stps) == len(ro):
            raise ValueError(f"LBFGS state has {len(old_dirs)} old_dirs, {len(old_stps)} old_stps and {len(ro)} ro; "
                             "they go in pairs with one ro each")
        for y, s in zip(old_dirs, old_stps):
            vectors += [array(y), array(s)]
        numel = sum(_local(p).numel() for p in self._params)
        for i, vector in enumerate(vectors):
            if vector.size != numel:
                raise ValueError(f"LBFGS state vector {i} has {vector.size} elements, the parameters {numel}")
        if state.get("prev_loss") is not None:
            flags |= _descent.LBFGS_HAS_PREV_LOSS
        if state.get("al") is not None:
            flags |= _descent.LBFGS_HAS_AL
        return {"flags": flags, "func_evals": int(state.get("func_evals", 0)), "n_iter": int(state.get("n_iter", 0)),
                "numel": numel, **scalars, "prev_loss": float(state.get("prev_loss") or 0.0),
                "ro": [float(r) for r in ro],
                "al": [None if a is None else float(a) for a in state.get("al") or []], "vectors": vectors}


def _drop_in(name):
    base = _ClosureEngineOptimizer if has_trait(name, _descent.TRAIT_NEEDS_CLOSURE) else _EngineOptimizer

    class Optimizer(base):
        _algorithm = name

        def __init__(self, params, *args, **kwargs):
            # torch's positional hyperparameters, in its order: (params, lr, ...).
            names = [k for k in DEFAULTS[name] if k != "maximize" and k not in DESCENTS_OWN[name]]
            if len(args) > len(names):
                raise TypeError(f"{name}() takes at most {len(names) + 1} positional arguments")
            for key, value in zip(names, args):
                if key in kwargs:
                    raise TypeError(f"{name}() got multiple values for argument '{key}'")
                kwargs[key] = value
            super().__init__(params, **kwargs)

    Optimizer.__init__.__signature__ = _signature(name)
    Optimizer.__name__ = Optimizer.__qualname__ = name
    Optimizer.__module__ = __name__
    Optimizer.__doc__ = (f"Drop-in for torch.optim.{name} (same signature and defaults), stepping in "
                         f"Descent's engine on CPU float32 tensors.")
    return Optimizer


# One drop-in per algorithm of the loaded library (SGD, Adam, AdamW, RMSprop, Adagrad,
# Adamax, NAdam, …): those torch.optim has replace torch's classes, the others follow
# torch.optim's interface.
ALGORITHM_CLASSES = {name: _drop_in(name) for name in ALGORITHMS}
globals().update(ALGORITHM_CLASSES)
from .muon_adamw import MuonWithAdamW  # noqa: E402 (it builds on the classes above)
from .eight_bit import Adam8bit, AdamW8bit  # noqa: E402 (the same)

__all__ = [*ALGORITHM_CLASSES, "MuonWithAdamW", "Adam8bit", "AdamW8bit", "ComplexParameterError", "clip_grad_norm_",
           "clip_grad_value_", "get_total_norm"]
