"""A minimal ctypes view of include/descent.h, for the parity tests only.

The tests drive libdescent.so through its C ABI, the same functions a C program calls.
(The Python package proper is a CPython extension; this file is not it.)
"""
import ctypes
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

STATUS_OK = 0


class Params(ctypes.Structure):
    _fields_ = [(name, ctypes.c_double) for name in (
        "lr", "momentum", "dampening", "weight_decay", "beta1", "beta2", "eps", "alpha",
        "lr_decay", "initial_accumulator_value")] + [
        (name, ctypes.c_bool) for name in ("nesterov", "maximize", "amsgrad", "centered")]


def load_library():
    path = os.environ.get("DESCENT_LIB", str(ROOT / "build" / "libdescent.so"))
    lib = ctypes.CDLL(path)
    p, sz, f = ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_float)
    signatures = {
        "descent_default_params": [ctypes.c_int, ctypes.POINTER(Params)],
        "descent_create": [ctypes.c_int, ctypes.POINTER(Params), ctypes.POINTER(p)],
        "descent_free": [p],
        "descent_add_group": [p, ctypes.POINTER(Params), ctypes.POINTER(sz)],
        "descent_add_param": [p, sz, ctypes.c_void_p, ctypes.c_void_p, sz, ctypes.POINTER(sz)],
        "descent_set_grad": [p, sz, ctypes.c_void_p],
        "descent_step": [p],
        "descent_step_with_grads": [p, ctypes.POINTER(ctypes.c_void_p), sz],
        "descent_zero_grad": [p],
        "descent_group_set": [p, sz, ctypes.c_int, ctypes.c_double],
        "descent_param_state": [p, sz, ctypes.c_char_p, ctypes.POINTER(ctypes.POINTER(ctypes.c_float))],
    }
    for name, argtypes in signatures.items():
        fn = getattr(lib, name)
        fn.argtypes = argtypes
        fn.restype = ctypes.c_int
    lib.descent_last_error.argtypes = [p]
    lib.descent_last_error.restype = ctypes.c_char_p
    return lib


LIB = load_library()
LIB.descent_algorithm_count.restype = ctypes.c_size_t
LIB.descent_algorithm_at.argtypes = [ctypes.c_size_t]
LIB.descent_algorithm_at.restype = ctypes.c_int
LIB.descent_algorithm_name.argtypes = [ctypes.c_int]
LIB.descent_algorithm_name.restype = ctypes.c_char_p

# {torch name: algorithm id}, read from the library.
ALGORITHMS = {LIB.descent_algorithm_name(LIB.descent_algorithm_at(i)).decode(): LIB.descent_algorithm_at(i)
              for i in range(LIB.descent_algorithm_count())}


class DescentError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def check(status, handle=None):
    if status != STATUS_OK:
        raise DescentError(status, LIB.descent_last_error(handle).decode())


# torch keyword -> descent_params field
KWARG_FIELDS = {"lr": "lr", "momentum": "momentum", "dampening": "dampening",
                "weight_decay": "weight_decay", "eps": "eps", "alpha": "alpha",
                "lr_decay": "lr_decay", "initial_accumulator_value": "initial_accumulator_value",
                "nesterov": "nesterov", "maximize": "maximize", "amsgrad": "amsgrad",
                "centered": "centered"}


def make_params(algorithm, **kwargs):
    params = Params()
    check(LIB.descent_default_params(ALGORITHMS[algorithm], ctypes.byref(params)))
    for key, value in kwargs.items():
        if key == "betas":
            params.beta1, params.beta2 = value
        else:
            setattr(params, KWARG_FIELDS[key], value)
    return params


class Optimizer:
    """A descent optimizer over float32 torch tensors (by data pointer), built like a
    torch one: `groups` is a list of {"params": [...], **overrides}."""

    def __init__(self, algorithm, groups, **defaults):
        self.algorithm = algorithm
        handle = ctypes.c_void_p()
        check(LIB.descent_create(ALGORITHMS[algorithm], ctypes.byref(make_params(algorithm, **defaults)),
                                 ctypes.byref(handle)))
        self.handle = handle
        self.tensors = []
        for index, group in enumerate(groups):
            overrides = {k: v for k, v in group.items() if k != "params"}
            check(LIB.descent_add_group(self.handle, ctypes.byref(make_params(algorithm, **{**defaults, **overrides})),
                                        None), self.handle)
            for t in group["params"]:
                assert t.dtype == torch_float32() and t.is_contiguous()
                check(LIB.descent_add_param(self.handle, index, t.data_ptr(), None, t.numel(), None), self.handle)
                self.tensors.append(t)

    def step(self, grads):
        array = (ctypes.c_void_p * len(grads))(*[None if g is None else g.data_ptr() for g in grads])
        check(LIB.descent_step_with_grads(self.handle, array, len(grads)), self.handle)

    def set(self, group, option, value):
        check(LIB.descent_group_set(self.handle, group, OPTIONS[option], float(value)), self.handle)

    def state(self, index, name):
        """The state buffer as a numpy array viewing Descent's memory, or None."""
        import numpy as np
        pointer = ctypes.POINTER(ctypes.c_float)()
        check(LIB.descent_param_state(self.handle, index, name.encode(), ctypes.byref(pointer)), self.handle)
        if not pointer:
            return None
        return np.ctypeslib.as_array(pointer, shape=(self.tensors[index].numel(),))

    def close(self):
        if self.handle:
            LIB.descent_free(self.handle)
            self.handle = None

    def __del__(self):
        self.close()


def torch_float32():
    import torch
    return torch.float32


OPTIONS = {"lr": 1, "momentum": 2, "dampening": 3, "weight_decay": 4, "nesterov": 5, "maximize": 6,
           "beta1": 7, "beta2": 8, "eps": 9, "amsgrad": 10, "alpha": 11, "centered": 12,
           "lr_decay": 13, "initial_accumulator_value": 14}


def create_error(algorithm, **kwargs):
    """The (status, message) descent_create gives for these hyperparameters, or None."""
    handle = ctypes.c_void_p()
    status = LIB.descent_create(ALGORITHMS[algorithm], ctypes.byref(make_params(algorithm, **kwargs)),
                                ctypes.byref(handle))
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
