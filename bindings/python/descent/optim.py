"""torch.optim-like optimizers over numpy float32 arrays (any writable C-contiguous
float32 buffer works). Parameters and gradients are updated in place; Descent keeps a
reference to every array whose memory it holds."""
from . import _descent
from .hyperparameters import DEFAULTS, engine_items


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
        for i, param in enumerate(params):
            self._core.add_param(index, param, None if grads is None else grads[i])
        self.param_groups.append(ParamGroup(self, index, {"params": params, **items}))

    def step(self, grads=None):
        """One step. `grads`: one array (or None to skip) per parameter, in the order
        the parameters were given; None uses the gradients registered with the groups
        or with `set_grad`. The GIL is released while the engine runs."""
        self._core.step(grads)

    def zero_grad(self):
        """Fills the registered gradients with zeros."""
        self._core.zero_grad()

    def set_grad(self, index, grad):
        """Registers (or with None removes) the gradient of parameter `index`."""
        self._core.set_grad(index, grad)

    def state(self, index, name):
        """A float32 numpy array viewing the engine's state `name` (torch's key, e.g.
        "exp_avg") of parameter `index`, or None before the first step that makes it."""
        import numpy

        buffer = self._core.state(index, name)
        return None if buffer is None else numpy.frombuffer(buffer, dtype=numpy.float32)

    def step_count(self, index):
        return self._core.step_count(index)

    def close(self):
        """Frees the engine's state now (otherwise done when the optimizer is collected)."""
        self._core.close()

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in group.items() if k not in ("params", "grads")]
        return "\n".join(lines + [")"])


def _optimizer(name, doc):
    return type(name, (Optimizer,), {"algorithm": name, "__doc__": doc, "__module__": __name__})


SGD = _optimizer("SGD", "SGD over numpy arrays: lr, momentum, dampening, weight_decay, nesterov, maximize.")
Adam = _optimizer("Adam", "Adam over numpy arrays: lr, betas, eps, weight_decay, amsgrad, maximize.")
AdamW = _optimizer("AdamW", "AdamW over numpy arrays: lr, betas, eps, weight_decay (decoupled), amsgrad, maximize.")
RMSprop = _optimizer("RMSprop", "RMSprop over numpy arrays: lr, alpha, eps, weight_decay, momentum, centered, maximize.")
Adagrad = _optimizer("Adagrad", "Adagrad over numpy arrays: lr, lr_decay, weight_decay, initial_accumulator_value, eps, maximize.")
