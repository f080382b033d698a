"""Each algorithm's torch hyperparameters, defaults and state names, read from the
loaded library (its introspection functions) rather than written here, and their
translation to the engine's names and numbers: torch's tuple options (betas) are one
engine option per element ("betas[0]", "betas[1]"); flags, whole numbers, None and
torch's strings (LBFGS's line_search_fn) are numbers to the engine, as each option's kind
says."""
import math
import re

from . import _descent

# {torch class name: the library's description}: "options" ((name, default, kind,
# choices, whether torch has it), …) in torch's constructor order (then Descent's own:
# state_dtype, min_8bit_size, master_weights), "state" ((name, "elementwise", "scalar",
# "rows", "columns" or "master"), …) by slot,
# "traits" (TRAIT_* bits).
ALGORITHMS = {description["name"]: description for description in _descent.algorithms()}

_ELEMENT = re.compile(r"^(\w+)\[(\d+)\]$")


def torch_value(kind, choices, value):
    """An engine number as torch writes the option: a bool, an int, None, a string."""
    if kind == "flag":
        return bool(value)
    if kind == "integer" or (kind == "optional_integer" and value >= 0):
        return int(value)
    if kind == "optional_integer":
        return None
    if kind == "choice":
        return choices[int(value)]
    if kind == "optional_real" and math.isnan(value):
        return None
    return value


def engine_value(kind, choices, value):
    """The inverse of torch_value. A value that is not one of a choice's is refused as
    the engine refuses a bad number (torch's own message where it has one)."""
    if kind == "choice":
        if value not in choices:
            names = " or ".join(repr(c) for c in choices if c is not None)
            raise _descent.DescentValueError(f"only {names} is supported, got {value!r}")
        return float(choices.index(value))
    if kind == "optional_integer" and value is None:
        return -1.0
    if kind == "optional_real":
        if value is None:
            return math.nan  # the engine's None
        if math.isnan(value):
            raise _descent.DescentValueError("nan is not a valid value (torch's None is written None)")
    return float(value)


def _torch_defaults(description):
    """torch's constructor defaults, in its order: engine options "x[0]", "x[1]" are
    torch's tuple x, the others torch's values of their kind."""
    defaults = {}
    for name, default, kind, choices, _ in description["options"]:
        element = _ELEMENT.match(name)
        value = torch_value(kind, choices, default)
        if element:
            defaults[element[1]] = defaults.get(element[1], ()) + (value,)
        else:
            defaults[name] = value
    return defaults


# Each algorithm's hyperparameters with their defaults: torch's constructor defaults, in
# constructor order, then Descent's own.
DEFAULTS = {name: _torch_defaults(description) for name, description in ALGORITHMS.items()}

# {algorithm: the keys of DEFAULTS that are Descent's own, not torch's (state_dtype, …)}.
DESCENTS_OWN = {name: frozenset(_ELEMENT.sub(r"\1", option) for option, _, _, _, torchs in description["options"]
                                if not torchs)
                for name, description in ALGORITHMS.items()}

# {algorithm: {engine option name: (kind, choices)}}.
KINDS = {name: {option: (kind, choices) for option, _, kind, choices, _ in description["options"]}
         for name, description in ALGORITHMS.items()}

# The optimizer state each algorithm keeps per parameter, under torch's state keys (its
# shape for a parameter: Optimizer.state_shape).
STATE_NAMES = {name: tuple(slot for slot, _ in description["state"]) for name, description in ALGORITHMS.items()}
# The master copy of a low-precision parameter (master_weights): Descent's own state.
MASTER_STATE = {name: frozenset(slot for slot, shape in description["state"] if shape == "master")
                for name, description in ALGORITHMS.items()}


def spans_whole_tensors(algorithm):
    """Whether `algorithm` takes statistics over a whole tensor or over all parameters
    (Adafactor's row and column factors, LBFGS's dot products, Muon's matrix products),
    which a shard alone does not give."""
    shapes = {shape for _, shape in ALGORITHMS[algorithm]["state"]}
    return (bool(shapes & {"rows", "columns"})
            or has_trait(algorithm, _descent.TRAIT_NEEDS_CLOSURE | _descent.TRAIT_ONLY_MATRICES))


def has_trait(algorithm, trait):
    """Whether `algorithm` has the library's TRAIT_* bit `trait`."""
    return bool(ALGORITHMS[algorithm]["traits"] & trait)


def engine_items(algorithm, items):
    """The engine's {name: number} for the hyperparameters of `algorithm` in `items`;
    other keys (params, foreach, fused, …) are left out."""
    known = DEFAULTS[algorithm]
    out = {}
    for key, value in items.items():
        if key not in known:
            continue
        if isinstance(known[key], tuple):
            for index, element in enumerate(value):
                name = f"{key}[{index}]"  # one past torch's tuple: the engine names it unknown
                out[name] = engine_value(*KINDS[algorithm].get(name, ("real", ())), element)
        else:
            out[key] = engine_value(*KINDS[algorithm][key], value)
    return out


def torch_items(algorithm, engine):
    """The inverse of engine_items: `algorithm`'s hyperparameters under torch's names,
    from the engine's {name: value} of a group (Optimizer.get_group)."""
    out = {}
    for key, default in DEFAULTS[algorithm].items():
        if isinstance(default, tuple):
            out[key] = tuple(torch_value(*KINDS[algorithm][f"{key}[{index}]"], engine[f"{key}[{index}]"])
                             for index in range(len(default)))
        else:
            out[key] = torch_value(*KINDS[algorithm][key], engine[key])
    return out
