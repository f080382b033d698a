"""A minimal ctypes view of include/descent.h, for the parity tests only.

The tests drive libdescent.so through its C ABI, the same functions a C program calls.
(The Python package proper is a CPython extension; this file is not it.)
"""
import ctypes
import math
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

STATUS_OK = 0
STATUS_UNSUPPORTED = 15


def load_library():
    path = os.environ.get("DESCENT_LIB", str(ROOT / "build" / "libdescent.so"))
    lib = ctypes.CDLL(path)
    p, sz, f = ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_float)
    signatures = {
        "descent_free": [p],
        "descent_add_param": [p, sz, ctypes.c_void_p, ctypes.c_void_p, sz, ctypes.POINTER(sz)],
        "descent_add_param_format": [p, sz, ctypes.c_void_p, ctypes.c_void_p, sz, ctypes.c_int, ctypes.POINTER(sz)],
        "descent_set_grad": [p, sz, ctypes.c_void_p],
        "descent_step": [p],
        "descent_step_with_grads": [p, ctypes.POINTER(ctypes.c_void_p), sz],
        "descent_zero_grad": [p],
        "descent_group_set": [p, sz, ctypes.c_int, ctypes.c_double],
        "descent_param_state": [p, sz, ctypes.c_char_p, ctypes.POINTER(ctypes.POINTER(ctypes.c_float))],
        "descent_create_with": [ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_double), sz,
                                ctypes.POINTER(p)],
        "descent_add_group_with": [p, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_double), sz,
                                   ctypes.POINTER(sz)],
        "descent_algorithm_state": [ctypes.c_int, ctypes.c_void_p, sz, ctypes.POINTER(sz)],
        "descent_param_set_shape": [p, sz, ctypes.POINTER(sz), sz],
        "descent_param_state_shape": [p, sz, ctypes.c_char_p, ctypes.POINTER(sz), sz, ctypes.POINTER(sz)],
        "descent_param_state_format": [p, sz, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)],
        "descent_param_state_data": [p, sz, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p),
                                     ctypes.POINTER(f)],
        "descent_param_read_state": [p, sz, ctypes.c_char_p, f, sz, ctypes.POINTER(ctypes.c_int)],
        "descent_param_write_state": [p, sz, ctypes.c_char_p, f, sz],
        "descent_param_state_code_map": [p, sz, ctypes.c_char_p, ctypes.POINTER(f)],
        "descent_param_set_step_count": [p, sz, ctypes.c_int64],
        "descent_checkpoint_size": [p, ctypes.POINTER(sz)],
        "descent_checkpoint_save": [p, ctypes.c_void_p, sz, ctypes.POINTER(sz)],
        "descent_checkpoint_load": [p, ctypes.c_void_p, sz],
    }
    for name, argtypes in signatures.items():
        fn = getattr(lib, name)
        fn.argtypes = argtypes
        fn.restype = ctypes.c_int
    lib.descent_last_error.argtypes = [p]
    lib.descent_last_error.restype = ctypes.c_char_p
    return lib


LIB = load_library()
CLOSURE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_double))
LIB.descent_step_closure.argtypes = [ctypes.c_void_p, CLOSURE, ctypes.c_void_p, ctypes.POINTER(ctypes.c_double)]
LIB.descent_step_closure.restype = ctypes.c_int
LIB.descent_algorithm_count.restype = ctypes.c_size_t
LIB.descent_algorithm_at.argtypes = [ctypes.c_size_t]
LIB.descent_algorithm_at.restype = ctypes.c_int
LIB.descent_algorithm_name.argtypes = [ctypes.c_int]
LIB.descent_algorithm_name.restype = ctypes.c_char_p

LIB.descent_option_name.argtypes = [ctypes.c_int]
LIB.descent_option_name.restype = ctypes.c_char_p

# {torch name: algorithm id} and {torch name: option id} ("betas[0]", …), read from the
# library.
ALGORITHMS = {LIB.descent_algorithm_name(LIB.descent_algorithm_at(i)).decode(): LIB.descent_algorithm_at(i)
              for i in range(LIB.descent_algorithm_count())}
OPTIONS = {LIB.descent_option_name(i).decode(): i for i in range(1, 256) if LIB.descent_option_name(i)}


class StateInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("shape", ctypes.c_int), ("format", ctypes.c_int)]


def scalar_state(algorithm):
    """The names of `algorithm`'s scalar state slots (one value per parameter)."""
    slots = (StateInfo * 16)()
    count = ctypes.c_size_t()
    check(LIB.descent_algorithm_state(ALGORITHMS[algorithm], slots, 16, ctypes.byref(count)))
    return {slots[i].name.decode() for i in range(count.value) if slots[i].shape == 2}


LIB.descent_option_kind_of.argtypes = [ctypes.c_int]
LIB.descent_option_choice.argtypes = [ctypes.c_int, ctypes.c_size_t]
LIB.descent_option_choice.restype = ctypes.c_char_p
KIND_FLAG, KIND_INTEGER, KIND_OPTIONAL_INTEGER, KIND_CHOICE, KIND_OPTIONAL_REAL = 1, 2, 3, 4, 5


def torch_value(option, value):
    """An option's engine value as torch writes it (a bool, an int, None, a string)."""
    kind = LIB.descent_option_kind_of(option)
    if kind == KIND_FLAG:
        return bool(value)
    if kind == KIND_INTEGER or (kind == KIND_OPTIONAL_INTEGER and value >= 0):
        return int(value)
    if kind in (KIND_OPTIONAL_INTEGER, KIND_CHOICE):
        choice = LIB.descent_option_choice(option, int(value))
        return None if choice is None else choice.decode()
    if kind == KIND_OPTIONAL_REAL and math.isnan(value):
        return None
    return value


def engine_value(option, value):
    """The inverse of torch_value: a choice's string is its index, None is 0 (-1 for an
    optional integer)."""
    if value is None:
        return {KIND_OPTIONAL_INTEGER: -1.0, KIND_OPTIONAL_REAL: math.nan}.get(LIB.descent_option_kind_of(option), 0.0)
    if isinstance(value, str):
        for index in range(64):
            choice = LIB.descent_option_choice(option, index)
            if choice is not None and choice.decode() == value:
                return float(index)
        raise ValueError(f"{value!r} is not a value of option {option}")
    return float(value)


def pairs(**kwargs):
    """torch keyword arguments as the library's (option ids, values) arrays; a tuple
    option (betas) is one id per element."""
    items = []
    for key, value in kwargs.items():
        if isinstance(value, (tuple, list)):
            items += [(OPTIONS[f"{key}[{i}]"], engine_value(OPTIONS[f"{key}[{i}]"], v)) for i, v in enumerate(value)]
        else:
            items.append((OPTIONS[key], engine_value(OPTIONS[key], value)))
    ids = (ctypes.c_int * max(len(items), 1))(*[i for i, _ in items])
    values = (ctypes.c_double * max(len(items), 1))(*[v for _, v in items])
    return ids, values, len(items)


class DescentError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def check(status, handle=None):
    if status != STATUS_OK:
        raise DescentError(status, LIB.descent_last_error(handle).decode())


class OptionInfo(ctypes.Structure):
    _fields_ = [("option", ctypes.c_int), ("name", ctypes.c_char_p), ("default_value", ctypes.c_double),
                ("is_flag", ctypes.c_bool)]


def option_defaults(algorithm, descents_own=False):
    """The library's defaults of `algorithm` under torch's keyword names (betas a tuple,
    flags bools), read through descent_algorithm_options: torch's options, or (with
    `descents_own`) Descent's own (state_dtype, …)."""
    infos = (OptionInfo * 64)()
    count = ctypes.c_size_t()
    LIB.descent_algorithm_options.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t,
                                              ctypes.POINTER(ctypes.c_size_t)]
    check(LIB.descent_algorithm_options(ALGORITHMS[algorithm], infos, 64, ctypes.byref(count)))
    defaults = {}
    for info in infos[:count.value]:
        if bool(LIB.descent_option_is_torchs(info.option)) == descents_own:
            continue
        name = info.name.decode()
        value = torch_value(info.option, info.default_value)
        if name.endswith("]"):
            key = name[:name.index("[")]
            defaults[key] = defaults.get(key, ()) + (value,)
        else:
            defaults[name] = value
    return defaults


class Optimizer:
    """A descent optimizer over torch tensors (by data pointer; float32, or bfloat16 and
    float16 registered with their format), built like a torch one: `groups` is a list of
    {"params": [...], **overrides}."""

    def __init__(self, algorithm, groups, **defaults):
        self.algorithm = algorithm
        handle = ctypes.c_void_p()
        check(LIB.descent_create_with(ALGORITHMS[algorithm], *pairs(**defaults), ctypes.byref(handle)))
        self.handle = handle
        self.tensors = []
        self.scalars = scalar_state(algorithm)
        for index, group in enumerate(groups):
            overrides = {k: v for k, v in group.items() if k != "params"}
            check(LIB.descent_add_group_with(self.handle, *pairs(**overrides), None), self.handle)
            for t in group["params"]:
                assert t.is_contiguous()
                check(LIB.descent_add_param_format(self.handle, index, t.data_ptr(), None, t.numel(),
                                                   param_format(t.dtype), None), self.handle)
                self.set_shape(len(self.tensors), t.shape)
                self.tensors.append(t)

    def set_shape(self, index, shape):
        dims = (ctypes.c_size_t * max(len(shape), 1))(*shape)
        check(LIB.descent_param_set_shape(self.handle, index, dims, len(shape)), self.handle)

    def step_closure(self, closure):
        """descent_step_closure with a Python closure that returns the loss (float)
        after filling the gradients registered with `set_grad`; returns the first loss."""
        errors = []

        def call(user_data, loss):
            try:
                loss[0] = float(closure())
                return 0
            except Exception as error:  # handed back to the caller below
                errors.append(error)
                return 1

        callback = CLOSURE(call)
        first = ctypes.c_double()
        status = LIB.descent_step_closure(self.handle, callback, None, ctypes.byref(first))
        if errors:
            raise errors[0]
        check(status, self.handle)
        return first.value

    def set_grad(self, index, grad):
        check(LIB.descent_set_grad(self.handle, index, None if grad is None else grad.data_ptr()), self.handle)

    def step(self, grads):
        array = (ctypes.c_void_p * len(grads))(*[None if g is None else g.data_ptr() for g in grads])
        check(LIB.descent_step_with_grads(self.handle, array, len(grads)), self.handle)

    def set(self, group, option, value):
        check(LIB.descent_group_set(self.handle, group, OPTIONS[option], engine_value(OPTIONS[option], value)),
              self.handle)

    def set_step_count(self, index, step):
        check(LIB.descent_param_set_step_count(self.handle, index, step), self.handle)

    def state(self, index, name):
        """The state buffer as a numpy array viewing Descent's memory, or None."""
        import numpy as np
        pointer = ctypes.POINTER(ctypes.c_float)()
        check(LIB.descent_param_state(self.handle, index, name.encode(), ctypes.byref(pointer)), self.handle)
        if not pointer:
            return None
        dims = (ctypes.c_size_t * 32)()
        ndim = ctypes.c_size_t()
        check(LIB.descent_param_state_shape(self.handle, index, name.encode(), dims, 32, ctypes.byref(ndim)),
              self.handle)
        shape = tuple(dims[:ndim.value])
        return np.ctypeslib.as_array(pointer, shape=(math.prod(shape),)).reshape(shape)

    def state_shape(self, index, name):
        dims = (ctypes.c_size_t * 32)()
        ndim = ctypes.c_size_t()
        check(LIB.descent_param_state_shape(self.handle, index, name.encode(), dims, 32, ctypes.byref(ndim)),
              self.handle)
        return tuple(dims[:ndim.value])

    def state_format(self, index, name):
        """The state's format: "float32", "bfloat16" or "int8"."""
        out = ctypes.c_int()
        check(LIB.descent_param_state_format(self.handle, index, name.encode(), ctypes.byref(out)), self.handle)
        return STATE_FORMATS[out.value]

    def read_state(self, index, name):
        """The state as float32 values (decoded from its format), or None."""
        import numpy as np
        values = np.empty(self.state_shape(index, name), dtype=np.float32)
        present = ctypes.c_int()
        check(LIB.descent_param_read_state(self.handle, index, name.encode(), _floats(values), values.size,
                                           ctypes.byref(present)), self.handle)
        return values if present.value else None

    def write_state(self, index, name, values):
        import numpy as np
        values = np.ascontiguousarray(values, dtype=np.float32)
        check(LIB.descent_param_write_state(self.handle, index, name.encode(), _floats(values), values.size),
              self.handle)

    def state_data(self, index, name):
        """The state as stored: (values or codes, absmax or None) as numpy arrays viewing
        Descent's memory (bfloat16 as uint16 bit patterns), or None."""
        import numpy as np
        data, absmax = ctypes.c_void_p(), ctypes.POINTER(ctypes.c_float)()
        check(LIB.descent_param_state_data(self.handle, index, name.encode(), 0, ctypes.byref(data),
                                           ctypes.byref(absmax)), self.handle)
        if not data:
            return None
        count = math.prod(self.state_shape(index, name))
        dtype = {"float32": np.float32, "bfloat16": np.uint16, "int8": np.uint8}[self.state_format(index, name)]
        stored = np.ctypeslib.as_array(ctypes.cast(data, ctypes.POINTER(np.ctypeslib.as_ctypes_type(dtype))),
                                       shape=(count,))
        scales = np.ctypeslib.as_array(absmax, shape=((count + 255) // 256,)) if absmax else None
        return stored, scales

    def code_map(self, index, name):
        """The 256 values 8-bit state `name` is quantized with."""
        import numpy as np
        values = ctypes.POINTER(ctypes.c_float)()
        check(LIB.descent_param_state_code_map(self.handle, index, name.encode(), ctypes.byref(values)), self.handle)
        return np.ctypeslib.as_array(values, shape=(256,)).copy()

    def checkpoint(self):
        size = ctypes.c_size_t()
        check(LIB.descent_checkpoint_size(self.handle, ctypes.byref(size)), self.handle)
        buffer = ctypes.create_string_buffer(size.value)
        written = ctypes.c_size_t()
        check(LIB.descent_checkpoint_save(self.handle, buffer, size.value, ctypes.byref(written)), self.handle)
        return buffer.raw[:written.value]

    def load_checkpoint(self, data):
        check(LIB.descent_checkpoint_load(self.handle, data, len(data)), self.handle)

    def close(self):
        if self.handle:
            LIB.descent_free(self.handle)
            self.handle = None

    def __del__(self):
        self.close()


STATE_FORMATS = {1: "float32", 2: "bfloat16", 3: "int8"}


def _floats(array):
    return array.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


def param_format(dtype):
    """descent_param_format (include/descent.h) of a torch dtype."""
    import torch
    return {torch.float32: 1, torch.bfloat16: 2, torch.float16: 4}[dtype]


def create_error(algorithm, **kwargs):
    """The (status, message) descent_create_with gives for these hyperparameters, or None."""
    handle = ctypes.c_void_p()
    status = LIB.descent_create_with(ALGORITHMS[algorithm], *pairs(**kwargs), ctypes.byref(handle))
    if status == STATUS_OK:
        LIB.descent_free(handle)
        return None
    return status, LIB.descent_last_error(None).decode()


# Execution settings (header section "execution").
ISAS = {"portable": 0, "avx2": 1, "avx512": 2}
LIB.descent_set_num_threads.argtypes = [ctypes.c_int]
LIB.descent_get_num_threads.restype = ctypes.c_int
LIB.descent_set_isa.argtypes = [ctypes.c_int]
LIB.descent_isa_supported.argtypes = [ctypes.c_int]
LIB.descent_get_isa.restype = ctypes.c_int


def set_execution(isa, threads):
    """Runs later steps with `isa`'s kernels on up to `threads` threads."""
    check(LIB.descent_set_isa(ISAS[isa]))
    check(LIB.descent_set_num_threads(threads))


def supported_isas():
    return [name for name, id in ISAS.items() if LIB.descent_isa_supported(id)]


def on_every_execution(run, threads=(1, 2, 3)):
    """{(isa, thread count): run(isa, thread count)} with every supported instruction set
    and each of these thread counts set for the steps `run` takes; the best instruction
    set and the default thread count are set again after, whatever happens."""
    results = {}
    try:
        for isa in supported_isas():
            for count in threads:
                set_execution(isa, count)
                results[isa, count] = run(isa, count)
    finally:
        set_execution(supported_isas()[-1], 0)
    return results
