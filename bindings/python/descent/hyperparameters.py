"""torch.optim's hyperparameters for each algorithm, and their translation to the
engine's names (betas is a pair in torch, two options in the engine)."""

# torch 2.15's constructor defaults, in constructor order.
DEFAULTS = {
    "SGD": dict(lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False),
    "Adam": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False),
    "AdamW": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, maximize=False),
    "RMSprop": dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                    maximize=False),
    "Adagrad": dict(lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                    maximize=False),
}


def engine_items(algorithm, items):
    """The engine's {name: number} for the hyperparameters of `algorithm` in `items`;
    other keys (params, foreach, fused, …) are left out."""
    known = DEFAULTS[algorithm]
    out = {}
    for key, value in items.items():
        if key not in known:
            continue
        if key == "betas":
            beta1, beta2 = value
            out["beta1"], out["beta2"] = float(beta1), float(beta2)
        else:
            out[key] = float(value)
    return out


def torch_items(algorithm, engine):
    """The inverse of engine_items: `algorithm`'s hyperparameters under torch's names,
    from the engine's {name: value} of a group (Optimizer.get_group)."""
    out = {}
    for key, default in DEFAULTS[algorithm].items():
        if key == "betas":
            out[key] = (engine["beta1"], engine["beta2"])
        else:
            out[key] = bool(engine[key]) if isinstance(default, bool) else engine[key]
    return out


# The optimizer state each algorithm keeps per parameter, under torch's state keys.
STATE_NAMES = {
    "SGD": ("momentum_buffer",),
    "Adam": ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
    "AdamW": ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
    "RMSprop": ("square_avg", "momentum_buffer", "grad_avg"),
    "Adagrad": ("sum",),
}
