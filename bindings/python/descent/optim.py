"""torch.optim-like optimizers over numpy float32 arrays (any writable C-contiguous
float32 buffer works). Parameters and gradients are updated in place; Descent keeps a
reference to every array whose memory it holds."""
from . import _descent
from .gradients import StepReport
from .hyperparameters import ALGORITHMS, DEFAULTS, engine_items, has_trait, torch_items


class ParamGroup(dict):
    """One entry of `Optimizer.param_groups`: a dict like torch's. Assigning a
    hyperparameter sends it to the engine at once; an invalid value raises
    DescentValueError (torch's message) and changes nothing."""

    def __init__(self, optimizer, index, items):
        super().__init__(items)
        self._optimizer = optimizer
        self._index = index

    def __setitem__(self, key, value):
        if key in DEFAULTS[self._optimizer.algorithm]:
            self._optimizer._core.set_group(self._index, engine_items(self._optimizer.algorithm, {key: value}))
        elif key in ("params", "grads"):
            raise KeyError(f"'{key}' of a registered group cannot be replaced; use add_param_group")
        super().__setitem__(key, value)

    def update(self, *args, **kwargs):
        for key, value in dict(*args, **kwargs).items():
            self[key] = value


class Optimizer:
    """Base of the numpy optimizers. `params` is a list of arrays, or of dicts
    {"params": [...], "grads": [...] (optional), <hyperparameters>}; hyperparameters
    passed as keywords are the defaults of every group."""

    algorithm = ""

    def __init__(self, params, **hyperparameters):
        known = DEFAULTS[self.algorithm]
        for key in hyperparameters:
            if key not in known:
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument '{key}'")
        self.defaults = {**known, **hyperparameters}
        self._core = _descent.Optimizer(self.algorithm, engine_items(self.algorithm, self.defaults))
        self.param_groups = []
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Adds a group; its hyperparameters default to the optimizer's."""
        params = list(group["params"])
        grads = group.get("grads")
        if grads is not None and len(grads) != len(params):
            raise ValueError(f"a group has {len(params)} params but {len(grads)} grads")
        items = {**self.defaults, **{k: v for k, v in group.items() if k not in ("params", "grads")}}
        for key in items:
            if key not in DEFAULTS[self.algorithm]:
                raise KeyError(f"{self.algorithm} has no hyperparameter '{key}'")
        index = self._core.add_group(engine_items(self.algorithm, items))
        # torch's None resolved by the engine as torch's constructor resolves it (LBFGS's
        # max_eval), shown as torch shows it.
        resolved = torch_items(self.algorithm, self._core.get_group(index))
        items.update({key: resolved[key] for key, value in items.items() if value is None and key in resolved})
        for i, param in enumerate(params):
            self._core.add_param(index, param, None if grads is None else grads[i])
        self.param_groups.append(ParamGroup(self, index, {"params": params, **items}))

    def step(self, grads=None, *, grad_scale=1.0, found_inf=False, nonfinite="propagate", max_norm=None,
             norm_type=2.0, error_if_nonfinite=False, clip_value=None, zero_grad=False):
        """One step, and with the keyword options the whole optimizer phase around it, in
        at most two passes over the gradients. `grads`: one array (or None to skip) per
        parameter, in the order the parameters were given; None uses the gradients
        registered with the groups or with `set_grad`.

        grad_scale: gradients are divided by it first (a loss scale); found_inf=True
        skips the step; nonfinite: what a gradient with inf/NaN does, "propagate"
        (torch's behaviour), "skip" (as GradScaler) or "error" (DescentNonfiniteError);
        max_norm, norm_type, error_if_nonfinite: clip_grad_norm_ over all gradients;
        clip_value: clip_grad_value_ instead; zero_grad: zero the gradients after the
        step (also a skipped one). Rewritten gradients are written back, as torch leaves
        them. Returns a StepReport. The GIL is released while the engine runs."""
        return StepReport(**self._core.step(
            grads, grad_scale=grad_scale, found_inf=found_inf, nonfinite=nonfinite, max_norm=max_norm,
            norm_type=norm_type, error_if_nonfinite=error_if_nonfinite, clip_value=clip_value,
            zero_grad=zero_grad))

    def zero_grad(self):
        """Fills the registered gradients with zeros (a sparse one is left with no rows)."""
        self._core.zero_grad()

    def set_grad(self, index, grad):
        """Registers (or with None removes) the gradient of parameter `index`."""
        self._core.set_grad(index, grad)

    def set_sparse_grad(self, index, indices, values):
        """Gives parameter `index` a row-sparse gradient in place of its gradient (SGD,
        Adagrad and SparseAdam take one): `indices` (int64, repeats summed) name rows of
        the parameter's first dimension, `values` holds those rows (shape
        (len(indices), *param.shape[1:])). Copied; steps use it until set_grad replaces
        it."""
        import numpy
        indices = numpy.ascontiguousarray(indices, dtype=numpy.int64)
        values = numpy.ascontiguousarray(values, dtype=numpy.float32)
        # With no rows any row size will do: 1 divides every parameter.
        row_size = values.size // len(indices) if len(indices) else 1
        self._core.set_sparse_grad(index, indices, values, row_size)

    def state(self, index, name):
        """A float32 numpy array viewing the engine's state `name` (torch's key, e.g.
        "exp_avg") of parameter `index`, or None before the first step that makes it."""
        import numpy

        buffer = self._core.state(index, name)
        return None if buffer is None else numpy.frombuffer(buffer, dtype=numpy.float32)

    def state_shape(self, index, name):
        """torch's shape of state `name` of parameter `index` (state() is flat): the
        parameter's, () for a scalar, with a dimension of 1 for Adafactor's factors."""
        return self._core.state_shape(index, name)

    def step_count(self, index):
        return self._core.step_count(index)

    # -- checkpoints (the C ABI's format, docs/checkpoint-format.md)

    def checkpoint(self):
        """The optimizer's complete state as bytes: every group's hyperparameters, every
        parameter's state and step count, and the state of the descent.lr_scheduler
        schedules alive on it. Parameter values are not included (they are yours)."""
        return self._core.checkpoint()

    def load_checkpoint(self, data):
        """Restores `checkpoint()` bytes (any bytes-like object) into an optimizer built
        the same way: same algorithm, groups, parameter sizes in the same order, and the
        same schedules created in the same order. All-or-nothing: on
        DescentCheckpointError (corrupt, or of a different optimizer: the message says
        what differs) nothing has changed."""
        self._core.load_checkpoint(data)
        self._sync_from_engine()

    def save(self, path):
        """Writes `checkpoint()` to `path` atomically: a crash at any moment leaves the
        old file or the new one, never a torn one."""
        self._core.save_checkpoint_file(path)

    def load(self, path):
        """Restores a file written by `save()`, as `load_checkpoint()` does."""
        self._core.load_checkpoint_file(path)
        self._sync_from_engine()

    def _sync_from_engine(self):
        for index, group in enumerate(self.param_groups):
            for key, value in torch_items(self.algorithm, self._core.get_group(index)).items():
                dict.__setitem__(group, key, value)

    def close(self):
        """Frees the engine's state now (otherwise done when the optimizer is collected)."""
        self._core.close()

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in group.items() if k not in ("params", "grads")]
        return "\n".join(lines + [")"])


class ClosureOptimizer(Optimizer):
    """Base of the numpy optimizers whose step re-evaluates the loss (LBFGS): one group,
    stepped with a closure as torch's are."""

    def step(self, closure):
        """torch's `step(closure)`: `closure()` recomputes the loss at the parameters'
        current values, fills the registered gradients (it may call `zero_grad`) and
        returns the loss; the step calls it as often as it needs. Returns what its first
        call returned. When the closure raises, the exception propagates and nothing is
        half-applied: the iterations that completed are kept, the failing one is undone
        (include/descent.h, descent_step_closure)."""
        return self._core.step_closure(closure)


def _optimizer(name):
    decoupled = " (weight_decay decoupled)" if has_trait(name, _descent.TRAIT_DECOUPLED_WEIGHT_DECAY) else ""
    doc = (f"{name} over numpy arrays, with torch's hyperparameters and defaults{decoupled}: "
           + ", ".join(f"{key}={value!r}" for key, value in DEFAULTS[name].items()) + ".")
    base = ClosureOptimizer if has_trait(name, _descent.TRAIT_NEEDS_CLOSURE) else Optimizer
    return type(name, (base,), {"algorithm": name, "__doc__": doc, "__module__": __name__})


# One class per algorithm of the loaded library (SGD, Adam, AdamW, RMSprop, Adagrad, …).
ALGORITHM_CLASSES = {name: _optimizer(name) for name in ALGORITHMS}
globals().update(ALGORITHM_CLASSES)
