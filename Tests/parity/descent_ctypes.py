"""A minimal ctypes view of include/descent.h, for the parity tests only.

The tests drive libdescent.so through its C ABI, the same functions a C program calls.
(The Python package proper is a CPython extension; this file is not it.)
"""
import ctypes
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

ALGORITHMS = {"SGD": 1, "Adam": 2, "AdamW": 3, "RMSprop": 4, "Adagrad": 5}
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
    }
    for name, argtypes in signatures.items():
        fn = getattr(lib, name)
        fn.argtypes = argtypes
        fn.restype = ctypes.c_int
    lib.descent_last_error.argtypes = [p]
    lib.descent_last_error.restype = ctypes.c_char_p
    return lib


LIB = load_library()


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
    """One descent optimizer over float32 torch tensors (by data pointer), one group."""

    def __init__(self, algorithm, tensors, **kwargs):
        handle = ctypes.c_void_p()
        check(LIB.descent_create(ALGORITHMS[algorithm], ctypes.byref(make_params(algorithm, **kwargs)),
                                 ctypes.byref(handle)))
        self.handle = handle
        self.tensors = list(tensors)
        check(LIB.descent_add_group(self.handle, None, None), self.handle)
        for t in self.tensors:
            assert t.dtype.is_floating_point and t.is_contiguous()
            check(LIB.descent_add_param(self.handle, 0, t.data_ptr(), None, t.numel(), None), self.handle)

    def step(self, grads):
        array = (ctypes.c_void_p * len(grads))(*[None if g is None else g.data_ptr() for g in grads])
        check(LIB.descent_step_with_grads(self.handle, array, len(grads)), self.handle)

    def set(self, option, value):
        check(LIB.descent_group_set(self.handle, 0, option, value), self.handle)

    def close(self):
        if self.handle:
            LIB.descent_free(self.handle)
            self.handle = None

    def __del__(self):
        self.close()


def create_error(algorithm, **kwargs):
    """The (status, message) descent_create gives for these hyperparameters, or None."""
    handle = ctypes.c_void_p()
    status = LIB.descent_create(ALGORITHMS[algorithm], ctypes.byref(make_params(algorithm, **kwargs)),
                                ctypes.byref(handle))
    if status == STATUS_OK:
        LIB.descent_free(handle)
        return None
    return status, LIB.descent_last_error(None).decode()
