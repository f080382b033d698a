"""Descent's step benchmark: Descent (C ABI and descent.torch) against torch's AdamW
(for-loop, foreach, fused), DeepSpeedCPUAdam where it builds, and the roofline (a plain
kernel that moves the same bytes with no math), all in one run.

Run it with `scripts/bench.sh` (builds everything, installs the extras). It prints a
table and writes build/bench/benchmark.json and build/bench/benchmark.png. Every figure
is the median of `--rounds` timed steps; the methods take turns within each round, so
machine noise hits them alike, and the comparisons are same-run ratios. Each timed step
starts after a short pause (--settle), so that no method runs while the threads of the
one before still spin: OpenMP runtimes (torch's, DeepSpeed's and the roofline's libgomp)
busy-wait for milliseconds after each parallel region, and on two cores that took a core
from whichever method came next (Descent's workers sleep when a step ends).
"""
import argparse
import ctypes
import datetime
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "bench"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="threads for every method (default 2)")
    parser.add_argument("--rounds", type=int, default=10, help="timed steps per method (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per method first (default 2)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test of the script")
    parser.add_argument("--no-deepspeed", action="store_true", help="leave DeepSpeedCPUAdam out")
    parser.add_argument("--cases", default="abcdefghijk", help="which cases to run (default abcdefghijk)")
    parser.add_argument("--settle", type=float, default=0.02,
                        help="seconds of pause before each timed step (default 0.02)")
    return parser.parse_args()


ARGS = parse_args()
# Every library reads its thread count at load: set them all before any import.
for name in ("OMP_NUM_THREADS", "DESCENT_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[name] = str(ARGS.threads)

import torch  # noqa: E402

import descent  # noqa: E402
import descent.torch  # noqa: E402

torch.set_num_threads(ARGS.threads)
descent.set_num_threads(ARGS.threads)


# ---------------------------------------------------------------- the C ABI

class Library:
    """The few functions of include/descent.h the benchmark calls, through ctypes: the
    bare C call that descent.torch's overhead is measured against. It is the library
    descent's extension loaded (same soname), so settings are shared."""

    def __init__(self):
        path = Path(descent.__file__).parent / "libdescent.so"
        lib = ctypes.CDLL(str(path))
        p, sz = ctypes.c_void_p, ctypes.c_size_t
        for name, args in {
            "descent_create": [ctypes.c_int, p, ctypes.POINTER(p)],
            "descent_add_group": [p, p, ctypes.POINTER(sz)],
            "descent_add_param": [p, sz, p, p, sz, ctypes.POINTER(sz)],
            "descent_add_param_format": [p, sz, p, p, sz, ctypes.c_int, ctypes.POINTER(sz)],
            "descent_group_set": [p, sz, ctypes.c_int, ctypes.c_double],
            "descent_step": [p],
            "descent_free": [p],
            "descent_zero_grad": [p],
            "descent_step_options_default": [p],
            "descent_step_phase": [p, p, p, sz, p],
            "descent_clip_grad_norm": [p, p, sz, ctypes.c_double, ctypes.c_double, ctypes.c_bool, p],
            "descent_set_sparse_grad": [p, sz, p, sz, p, sz],
        }.items():
            getattr(lib, name).argtypes = args
            getattr(lib, name).restype = ctypes.c_int
        lib.descent_last_error.argtypes = [p]
        lib.descent_last_error.restype = ctypes.c_char_p
        self.lib = lib

    def check(self, status, handle=None):
        if status != 0:
            raise RuntimeError(self.lib.descent_last_error(handle).decode())

    def option_id(self, name):
        """The library's id for option `name` (its introspection)."""
        self.lib.descent_option_name.restype = ctypes.c_char_p
        return next(i for i in range(1, 256) if (self.lib.descent_option_name(i) or b"").decode() == name)

    def option_value(self, option, value):
        """`value` as the engine takes it: a choice's name is its index."""
        if not isinstance(value, str):
            return float(value)
        self.lib.descent_option_choice.restype = ctypes.c_char_p
        self.lib.descent_option_choice.argtypes = [ctypes.c_int, ctypes.c_size_t]
        return float(next(i for i in range(64) if (self.lib.descent_option_choice(option, i) or b"").decode() == value))

    def algorithm_id(self, name):
        """The library's id for the algorithm torch calls `name` (its introspection)."""
        self.lib.descent_algorithm_at.restype = ctypes.c_int
        self.lib.descent_algorithm_name.restype = ctypes.c_char_p
        for i in range(self.lib.descent_algorithm_count()):
            if self.lib.descent_algorithm_name(self.lib.descent_algorithm_at(i)).decode() == name:
                return self.lib.descent_algorithm_at(i)
        raise KeyError(name)

    # descent_param_format (include/descent.h) of the tensors' dtypes.
    PARAM_FORMATS = {torch.float32: 1, torch.bfloat16: 2, torch.float16: 4}

    def optimizer(self, algorithm, params, **options):
        """A descent optimizer over `params` (tensors with .grad, of any dtype the ABI
        takes), hyperparameters set through descent_group_set; returns its step function."""
        handle = ctypes.c_void_p()
        self.check(self.lib.descent_create(self.algorithm_id(algorithm), None, ctypes.byref(handle)))
        self.check(self.lib.descent_add_group(handle, None, None), handle)
        for name, value in options.items():
            option = self.option_id(name)
            self.check(self.lib.descent_group_set(handle, 0, option, self.option_value(option, value)), handle)
        for p in params:
            self.check(self.lib.descent_add_param_format(handle, 0, p.data_ptr(), p.grad.data_ptr(), p.numel(),
                                                         self.PARAM_FORMATS[p.dtype], None), handle)

        def step():
            self.check(self.lib.descent_step(handle), handle)

        step.close = lambda: self.lib.descent_free(handle)
        step.handle = handle
        return step

    class StepOptions(ctypes.Structure):
        _fields_ = [("grad_scale", ctypes.c_double), ("found_inf", ctypes.c_bool), ("nonfinite", ctypes.c_int),
                    ("clip", ctypes.c_int), ("max_norm", ctypes.c_double), ("norm_type", ctypes.c_double),
                    ("error_if_nonfinite", ctypes.c_bool), ("clip_value", ctypes.c_double),
                    ("zero_grad", ctypes.c_bool)]

    def phase(self, params, max_norm):
        """The fused phase through descent_step_phase: clip by norm + AdamW + zero_grad."""
        step = self.optimizer("AdamW", params, lr=1e-3, weight_decay=0.01)
        options = self.StepOptions()
        self.check(self.lib.descent_step_options_default(ctypes.byref(options)))
        options.clip, options.max_norm, options.zero_grad = 1, max_norm, True

        def phase():
            self.check(self.lib.descent_step_phase(step.handle, ctypes.byref(options), None, 0, None), step.handle)

        phase.close = step.close
        return phase

    def separate(self, params, max_norm):
        """The same phase as three calls: descent_clip_grad_norm, descent_step,
        descent_zero_grad (four passes over the gradients instead of two)."""
        step = self.optimizer("AdamW", params, lr=1e-3, weight_decay=0.01)
        grads = (ctypes.c_void_p * len(params))(*[p.grad.data_ptr() for p in params])
        numels = (ctypes.c_size_t * len(params))(*[p.numel() for p in params])

        def phase():
            self.check(self.lib.descent_clip_grad_norm(grads, numels, len(params), max_norm, 2.0, False, None))
            step()
            self.check(self.lib.descent_zero_grad(step.handle), step.handle)

        phase.close = step.close
        return phase


LIB = Library()


class Roofline:
    """bench/roofline.c, built here with gcc -O3 -march=native -fopenmp."""

    def __init__(self):
        OUT.mkdir(parents=True, exist_ok=True)
        so = OUT / "roofline.so"
        subprocess.run(["gcc", "-O3", "-march=native", "-fopenmp", "-shared", "-fPIC",
                        str(ROOT / "bench" / "roofline.c"), "-o", str(so)], check=True)
        self.lib = ctypes.CDLL(str(so))
        self.lib.roofline_step.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t,
                                           ctypes.c_int]
        self.lib.roofline_phase.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_size_t, ctypes.c_int]
        self.lib.roofline_phase.restype = ctypes.c_double
        self.lib.roofline_rows.argtypes = [ctypes.c_void_p] * 5 + [ctypes.c_size_t] * 2 + [ctypes.c_int]
        self.lib.roofline_tensors.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_size_t] + [ctypes.c_void_p] * 2 + [
            ctypes.c_int]
        self.lib.roofline_state.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
        self.lib.roofline_low.argtypes = [ctypes.c_void_p] * 5 + [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]

    def step(self, numel, buffers):
        """A step function that reads a gradient and `buffers` buffers of `numel` floats
        and writes the buffers back: (4 + 8 * buffers) bytes per element."""
        grad = torch.randn(numel)
        arrays = [torch.zeros(numel) for _ in range(buffers)]
        pointers = (ctypes.c_void_p * buffers)(*[a.data_ptr() for a in arrays])

        def step():
            self.lib.roofline_step(grad.data_ptr(), pointers, buffers, numel, ARGS.threads)

        step.keep = (grad, arrays)
        return step

    def tensors(self, params):
        """roofline_step's 28 bytes per element over `params` and their gradients where
        they are (m and v contiguous, as Descent's state): the roofline of this layout."""
        count = len(params)
        grads = (ctypes.c_void_p * count)(*[p.grad.data_ptr() for p in params])
        values = (ctypes.c_void_p * count)(*[p.data_ptr() for p in params])
        sizes = (ctypes.c_size_t * count)(*[p.numel() for p in params])
        numel = sum(sizes)
        m, v = torch.zeros(numel), torch.zeros(numel)

        def step():
            self.lib.roofline_tensors(grads, values, sizes, count, m.data_ptr(), v.data_ptr(), ARGS.threads)

        step.keep = (params, grads, values, sizes, m, v)
        return step

    def rows(self, shape, rows, values):
        """roofline_step's 3-buffer pattern over `rows` of parameter-shaped p, m and v, the
        gradient rows `values` contiguous: a sparse step's traffic (see roofline.c)."""
        p, m, v = (torch.zeros(*shape) for _ in range(3))
        indices = rows.to(torch.int64).contiguous()

        def step():
            self.lib.roofline_rows(values.data_ptr(), p.data_ptr(), m.data_ptr(), v.data_ptr(), indices.data_ptr(),
                                   len(indices), shape[1], ARGS.threads)

        step.keep = (p, m, v, indices, values)
        return step

    def traffic(self, numel, bytes_per_element):
        """roofline_step's passes, 28 bytes per element each, then one of 12 or 20 (or
        two of 12), moving `bytes_per_element` bytes per element in all."""
        steps, rest = divmod(bytes_per_element, 28)
        assert rest in (0, 12, 20, 24), bytes_per_element
        last = [self.step(numel, 1)] * 2 if rest == 24 else [self.step(numel, (rest - 4) // 8)] if rest else []
        passes = [self.step(numel, 3)] * steps + last

        def traffic():
            for step in passes:
                step()

        traffic.keep = passes
        return traffic

    def state(self, numel, state_bytes):
        """An AdamW step's traffic with state of `state_bytes` bytes per element and state
        buffer: 12 + 4 * state_bytes bytes per element (see roofline.c)."""
        grad, p = torch.randn(numel), torch.zeros(numel)
        m, v = (torch.zeros(numel * state_bytes, dtype=torch.uint8) for _ in range(2))

        def state():
            self.lib.roofline_state(grad.data_ptr(), p.data_ptr(), m.data_ptr(), v.data_ptr(), state_bytes, numel,
                                    ARGS.threads)

        state.keep = (grad, p, m, v)
        return state

    def low(self, numel, state_bytes, master):
        """roofline_state's with a 16-bit parameter and gradient, and a float32 master
        copy when `master`: 6 (+ 8) + 4 * state_bytes bytes per element."""
        grad, p = (torch.zeros(numel, dtype=torch.int16) for _ in range(2))
        copy = torch.zeros(numel) if master else None
        m, v = (torch.zeros(numel * state_bytes, dtype=torch.uint8) for _ in range(2))

        def low():
            self.lib.roofline_low(grad.data_ptr(), p.data_ptr(), copy.data_ptr() if master else None, m.data_ptr(),
                                  v.data_ptr(), state_bytes, numel, ARGS.threads)

        low.keep = (grad, p, copy, m, v)
        return low

    def phase(self, numel):
        """The optimizer phase's two passes: 36 bytes per element (see roofline.c)."""
        arrays = [torch.zeros(numel) for _ in range(4)]

        def phase():
            self.lib.roofline_phase(*[a.data_ptr() for a in arrays], numel, ARGS.threads)

        phase.keep = arrays
        return phase


ROOFLINE = Roofline()


# ---------------------------------------------------------------- layouts

def gpt2_small():
    """GPT-2 small's parameters (Hugging Face's layout): 148 tensors, 124,439,808 floats."""
    d, vocab, ctx, layers = 768, 50257, 1024, 12
    shapes = [(vocab, d), (ctx, d)]
    for _ in range(layers):
        shapes += [(d,), (d,), (d, 3 * d), (3 * d,), (d, d), (d,), (d,), (d,), (d, 4 * d), (4 * d,),
                   (4 * d, d), (d,)]
    return shapes + [(d,), (d,)]


def make_params(shapes):
    gen = torch.Generator().manual_seed(0)
    params = []
    for shape in shapes:
        p = torch.randn(shape, generator=gen) * 0.02
        p.grad = torch.randn(shape, generator=gen) * 1e-3
        params.append(p)
    return params


# ---------------------------------------------------------------- methods

def deepspeed_adamw(params):
    """DeepSpeedCPUAdam in AdamW mode, or the reason it is not there."""
    if ARGS.no_deepspeed:
        return "left out (--no-deepspeed)"
    try:
        import logging
        logging.getLogger("DeepSpeed").setLevel(logging.ERROR)
        from deepspeed.ops.adam import DeepSpeedCPUAdam
        opt = DeepSpeedCPUAdam(params, lr=1e-3, weight_decay=0.01, adamw_mode=True)
    except Exception as error:  # an optional peer: any failure to build it is reported
        return f"not available: {type(error).__name__}: {str(error).splitlines()[0][:120]}"
    return opt.step


def adamw_methods(params, numel):
    """Every AdamW implementation over the same parameters (each with its own state)."""
    methods = {"roofline": ROOFLINE.step(numel, 3)}
    if len(params) > 1:
        methods["roofline, these tensors"] = ROOFLINE.tensors(params)
    methods[C_ABI] = LIB.optimizer("AdamW", params, lr=1e-3, weight_decay=0.01)
    methods["descent.torch"] = descent.torch.AdamW(params, lr=1e-3, weight_decay=0.01).step
    # Last of the descent ones: it moves every .grad into its arena (the others then read
    # them there, as any tensor).
    methods["descent.torch, grad_arena"] = descent.torch.AdamW(params, lr=1e-3, weight_decay=0.01,
                                                               grad_arena=True).step
    for name, kwargs in (("for-loop", {"foreach": False}), ("foreach", {"foreach": True}),
                         ("fused", {"fused": True})):
        methods[f"torch {name}"] = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01, **kwargs).step
    methods["DeepSpeedCPUAdam"] = deepspeed_adamw(params)
    return methods


# Bytes of AdamW's state per element and buffer, by state_dtype.
STATE_BYTES = {"float32": 4, "bfloat16": 2, "int8": 1}


def format_bytes(state_dtype, param_bytes=4, master=False):
    """Bytes an AdamW step moves per parameter with that state: p read and written, g read
    (`param_bytes` each), a float32 master read and written when `master`, m and v read
    and written (8-bit: their codes; the absmax adds 16 bytes per 256)."""
    return (3 * param_bytes + 8 * master + 4 * STATE_BYTES[state_dtype]
            + (16 / 256 if state_dtype == "int8" else 0))


# Cases (j) and (k): a method's name ends with the formats it runs on (", <formats>"), and
# its bytes and roofline ("roofline, <formats>") are theirs.
FORMATS = {**{f"{state} state": format_bytes(state) for state in STATE_BYTES},
           **{f"bf16 params, {state} state": format_bytes(state, 2) for state in STATE_BYTES},
           **{f"bf16 params + master, {state} state": format_bytes(state, 2, True) for state in STATE_BYTES}}


def bitsandbytes_adamw8bit(params):
    """bitsandbytes' AdamW8bit on CPU, or the reason it is not there."""
    try:
        import logging
        logging.disable(logging.WARNING)  # its notice about an optional CPU kernel package
        import bitsandbytes
        opt = bitsandbytes.optim.AdamW8bit(params, lr=1e-3, weight_decay=0.01)
    except Exception as error:  # an optional peer
        return f"not available: {type(error).__name__}: {str(error).splitlines()[0][:120]}"
    finally:
        logging.disable(logging.NOTSET)
    return opt.step


def format_methods(params, numel):
    """Case (j): AdamW with each state format, each against the roofline of its own
    traffic ("…, <format> state"), with torch's fused AdamW and bitsandbytes' CPU
    AdamW8bit in the same run."""
    methods = {f"roofline, {name} state": ROOFLINE.state(numel, size) for name, size in STATE_BYTES.items()}
    for name in STATE_BYTES:
        methods[f"{C_ABI}, {name} state"] = LIB.optimizer("AdamW", params, lr=1e-3, weight_decay=0.01,
                                                          state_dtype=name)
    methods["torch fused, float32 state"] = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01, fused=True).step
    methods["bitsandbytes AdamW8bit, int8 state"] = bitsandbytes_adamw8bit(params)
    return methods


def parameter_format_methods(params, numel):
    """Case (k): AdamW on bfloat16 parameters and gradients, with 8-bit, bfloat16 and
    float32 state, without and with a float32 master copy, each against the roofline of
    its own traffic; torch's fused AdamW on the float32 parameters (the reference) and on
    bfloat16 ones (which keep bfloat16 state) in the same run."""
    low = [p.detach().to(torch.bfloat16) for p in params]
    for p, q in zip(low, params):
        p.grad = q.grad.to(torch.bfloat16)
    rows = [("int8", False), ("bfloat16", False), ("int8", True), ("float32", True)]
    methods = {}
    for state, master in rows:
        label = f"bf16 params{' + master' if master else ''}, {state} state"
        methods[f"roofline, {label}"] = ROOFLINE.low(numel, STATE_BYTES[state], master)
        methods[f"{C_ABI}, {label}"] = LIB.optimizer("AdamW", low, lr=1e-3, weight_decay=0.01, state_dtype=state,
                                                     master_weights=master)
    methods["torch fused, float32 state"] = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01, fused=True).step
    methods["torch fused, bf16 params, bfloat16 state"] = torch.optim.AdamW(low, lr=1e-3, weight_decay=0.01,
                                                                            fused=True).step
    methods["roofline, float32 state"] = ROOFLINE.state(numel, STATE_BYTES["float32"])
    return methods


MEASURE_STATE = """
import sys, numpy as np, descent
def resident():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096
# A first optimizer's step makes what any step needs once (threads, code tables).
warm = np.full(8192, 0.5, np.float32)
descent.AdamW([{"params": [warm], "grads": [warm.copy()]}], state_dtype=sys.argv[1], min_8bit_size=0).step()
w = np.full(1024 * 4097, 0.5, np.float32)
g = np.full_like(w, 0.5)
opt = descent.AdamW([{"params": [w], "grads": [g]}], state_dtype=sys.argv[1])
before = resident()
opt.step()
print((resident() - before) / w.size)
"""


def state_bytes_measured():
    """The memory each state format takes, measured: the resident memory a first step
    adds by allocating (and filling) the AdamW state of one 1024 x 4097 tensor, per
    parameter (after another optimizer's step made what every step needs once), each
    format in a process of its own (so that no freed memory is reused)."""
    return {name: float(subprocess.run([sys.executable, "-c", MEASURE_STATE, name], check=True, capture_output=True,
                                       text=True).stdout) for name in STATE_BYTES}


def phase_methods(params, numel, max_norm=1.0):
    """Case (e): clip by global norm + AdamW step + zero_grad, each method with its own
    state over the same gradients (zeroed after each call, as in training)."""
    def torch_phase():
        opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01, fused=True)

        def phase():
            torch.nn.utils.clip_grad_norm_(params, max_norm)
            opt.step()
            opt.zero_grad(set_to_none=False)  # the gradients stay, as the other methods leave them
        return phase

    ours = descent.torch.AdamW(params, lr=1e-3, weight_decay=0.01)
    return {"roofline": ROOFLINE.phase(numel),
            "descent (C ABI)": LIB.phase(params, max_norm),
            "descent.torch": lambda: ours.step(max_norm=max_norm, zero_grad=True),
            "descent, 3 calls": LIB.separate(params, max_norm),
            "torch fused": torch_phase()}


# Case (d): each algorithm with the buffers it moves besides the gradient, and torch's
# fastest CPU implementation of it (only SGD, Adam, AdamW and Adagrad have a fused CPU
# kernel; the others' fastest is foreach).
ALGORITHMS = {
    "SGD": ({"lr": 0.01, "momentum": 0.9}, 2, {"fused": True}),
    "Adam": ({"lr": 1e-3}, 3, {"fused": True}),
    "AdamW": ({"lr": 1e-3, "weight_decay": 0.01}, 3, {"fused": True}),
    "RMSprop": ({"lr": 0.01}, 2, {"foreach": True}),
    "Adagrad": ({"lr": 0.01}, 2, {"fused": True}),
    "Adamax": ({"lr": 2e-3}, 3, {"foreach": True}),
    "NAdam": ({"lr": 2e-3}, 3, {"foreach": True}),
    "RAdam": ({"lr": 1e-3}, 3, {"foreach": True}),
    "Adadelta": ({"lr": 1.0}, 3, {"foreach": True}),
    "ASGD": ({"lr": 1e-2}, 2, {"foreach": True}),
    "Rprop": ({"lr": 1e-2}, 3, {"foreach": True}),
}


def algorithm_methods(algorithm, params, numel):
    options, buffers, torch_kwargs = ALGORITHMS[algorithm]
    torch_name = "torch " + next(iter(torch_kwargs))
    return {"roofline": ROOFLINE.step(numel, buffers),
            "descent (C ABI)": LIB.optimizer(algorithm, params, **options),
            torch_name: getattr(torch.optim, algorithm)(params, **options, **torch_kwargs).step}


# Case (g): one L-BFGS iteration, history full, the closure left out; the bytes its
# passes move per element in Descent's fused form (torch's separate ops move more).
LBFGS_HISTORY = 10
LBFGS_BYTES = 4 * (2 + 5 + 4 * (LBFGS_HISTORY - 1) + 3 + 4 * LBFGS_HISTORY + 3)


def lbfgs_methods(params, numel):
    """Each LBFGS steps (max_iter=1) a copy of the parameter: first on a quadratic until
    its history of 10 is full, then timed with a closure that costs nothing (a fixed
    gradient, so the new curvature pair is left out, as torch leaves it out: every
    pass of an iteration still runs over the full history)."""
    scale = torch.rand(numel, generator=torch.Generator().manual_seed(1)) + 0.5
    methods = {"roofline": ROOFLINE.traffic(numel, LBFGS_BYTES)}
    for name, cls in (("descent.torch", descent.torch.LBFGS), ("torch", torch.optim.LBFGS)):
        x = params[0].detach().clone().requires_grad_()
        x.grad = torch.zeros_like(x)
        opt = cls([x], lr=1e-3, max_iter=1, history_size=LBFGS_HISTORY)

        def quadratic(x=x):
            torch.mul(scale, x.detach(), out=x.grad)
            return 0.5

        for _ in range(LBFGS_HISTORY + 2):
            opt.step(quadratic)
        x.grad.copy_(params[0].grad)
        methods[f"{name} LBFGS"] = lambda opt=opt: opt.step(lambda: 0.5)
    return methods


# Case (h): Adafactor's passes over a factored tensor move 24 bytes per element (p and g
# read; g read; p and g read, p written); a vector's 32 (its variance read and written,
# then read), 0.1% of GPT-2 small's elements, are left out of its roofline.
ADAFACTOR_BYTES = 24


def adafactor_methods(params, numel):
    """Case (h): Adafactor with weight decay; torch's default (single-tensor) and foreach
    implementations."""
    options = {"lr": 1e-2, "weight_decay": 0.01}
    return {"roofline": ROOFLINE.traffic(numel, ADAFACTOR_BYTES),
            "descent.torch": descent.torch.Adafactor(params, **options).step,
            "torch": torch.optim.Adafactor(params, **options).step,
            "torch foreach": torch.optim.Adafactor(params, **options, foreach=True).step}


# Case (i): Muon on GPT-2 small's 48 hidden matrices, compute-bound: its figure is GFLOP/s,
# and its "roofline" the step's bfloat16 products alone, as torch's matmul runs them
# (through the oneDNN torch bundles). Bytes: p read and written, g read, the momentum
# buffer read and written.
MUON_BYTES = 20
MUON_NS_STEPS = 5


def hidden_matrices(shapes):
    """GPT-2 small's hidden-layer matrices: every 2-D shape after its two embeddings."""
    return [s for s in shapes[2:] if len(s) == 2]


def muon_flops(shapes):
    """Multiply-adds x 2 of one Muon step: per matrix (m <= n after torch's transpose),
    each Newton–Schulz step takes X·Xᵀ (2m²n), A·A (2m³) and B·X (2m²n)."""
    return sum(MUON_NS_STEPS * (4 * min(s) ** 2 * max(s) + 2 * min(s) ** 3) for s in shapes)


def muon_methods(params, numel):
    def products():
        for p in params:
            x = p.grad.bfloat16()
            x = x.T if x.shape[0] > x.shape[1] else x
            for _ in range(MUON_NS_STEPS):
                a = x @ x.T
                b = torch.addmm(a, a, a, beta=-4.775, alpha=2.0315)
                x = torch.addmm(x, b, x, beta=3.4445)

    return {"roofline": products,
            "descent.torch": descent.torch.Muon(params, ns_steps=MUON_NS_STEPS).step,
            "torch": torch.optim.Muon(params, ns_steps=MUON_NS_STEPS).step}


# Case (f): SparseAdam on an embedding (GPT-2's vocabulary x 768), a gradient of 4,096 of
# its rows each step; "parameters" counts the elements the step touches.
EMBEDDING = (50257, 768)
TOUCHED_ROWS = 4096


def sparse_methods(params, numel):
    rows_per_step = TOUCHED_ROWS if not ARGS.quick else TOUCHED_ROWS // 64
    torch.manual_seed(0)
    rows = torch.randperm(EMBEDDING[0])[:rows_per_step]
    values = torch.randn(rows_per_step, EMBEDDING[1])
    gradient = torch.sparse_coo_tensor(rows[None], values, EMBEDDING, check_invariants=True)

    def embedding():
        weight = torch.nn.Parameter(torch.randn(*EMBEDDING) * 0.02)
        weight.grad = gradient
        return weight

    def c_abi():
        weight = embedding()
        handle = ctypes.c_void_p()
        lib = LIB.lib
        LIB.check(lib.descent_create(LIB.algorithm_id("SparseAdam"), None, ctypes.byref(handle)))
        LIB.check(lib.descent_add_group(handle, None, None), handle)
        LIB.check(lib.descent_add_param(handle, 0, weight.data_ptr(), None, weight.numel(), None), handle)
        indices, row_values = rows.contiguous(), values.contiguous()

        def step():  # the gradient handed over (copied, coalesced) and the step, each time
            LIB.check(lib.descent_set_sparse_grad(handle, 0, indices.data_ptr(), len(indices), row_values.data_ptr(),
                                                  EMBEDDING[1]), handle)
            LIB.check(lib.descent_step(handle), handle)

        step.close = lambda: lib.descent_free(handle)
        step.keep = weight
        return step

    ours, theirs = embedding(), embedding()
    return {"roofline": ROOFLINE.step(numel, 3),
            "roofline, these rows": ROOFLINE.rows(EMBEDDING, rows, values),
            "descent (C ABI)": c_abi(),
            "descent.torch": descent.torch.SparseAdam([ours], lr=1e-3).step,
            "torch SparseAdam": torch.optim.SparseAdam([theirs], lr=1e-3).step}


# ---------------------------------------------------------------- timing

def time_methods(methods, before=None):
    """Median seconds per step of every callable method; the methods take turns in each
    round, each timed step right after `before()` when given (a torch op, as in
    training). Strings (a method that is not there) pass through."""
    runnable = {name: fn for name, fn in methods.items() if callable(fn)}
    for fn in runnable.values():
        for _ in range(ARGS.warmup):
            fn()
    times = {name: [] for name in runnable}
    for _ in range(ARGS.rounds):
        for name, fn in runnable.items():
            time.sleep(ARGS.settle)
            if before:
                before()
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    for fn in runnable.values():
        getattr(fn, "close", lambda: None)()
    return {name: statistics.median(times[name]) if name in times else value
            for name, value in methods.items()}


def run_case(key, title, params, bytes_per_param, methods, reference, before=None):
    """Times one case and returns its rows; `reference` names the method ratios are to.
    With 1,024 tensors or more, descent.torch's rows also give their cost per tensor over
    the C ABI's step (reading each tensor's .grad and memory, showing the step counts).
    A compute-bound case (Muon's) also gives each method's GFLOP/s."""
    numel = sum(p.numel() for p in params)
    flops = muon_flops([tuple(p.shape) for p in params]) if methods is muon_methods else None
    print(f"\n({key}) {title}: {numel:,} parameters, {bytes_per_param} bytes each", flush=True)
    medians = time_methods(methods(params, numel), None if before is None else lambda: before(params))
    gc.collect()
    rows = []
    for name, value in medians.items():
        row = {"method": name}
        if isinstance(value, str):
            row["note"] = value
        else:
            # Cases (j) and (k): the method's formats give its bytes and roofline.
            formats = max((f for f in FORMATS if name.endswith(f", {f}")), key=len, default=None)
            moved = FORMATS[formats] if formats else bytes_per_param
            row.update(seconds=value, gparams_per_s=numel / value / 1e9, gbytes_per_s=numel * moved / value / 1e9)
            if flops:
                row["gflop_per_s"] = flops / value / 1e9
            roofline = medians.get(f"roofline, {formats}" if formats else "roofline")
            if isinstance(roofline, float):
                row["of_roofline"] = roofline / value
            if isinstance(medians.get(reference), float):
                row["speedup_vs_" + reference.replace(" ", "_")] = medians[reference] / value
            if name.startswith("descent.torch") and len(params) >= 1024 and isinstance(medians.get(C_ABI), float):
                row["us_per_tensor_over_c_abi"] = (value - medians[C_ABI]) / len(params) * 1e6
        rows.append(row)
    print_rows(rows, reference)
    return {"case": key, "title": title, "numel": numel, "bytes_per_param": bytes_per_param,
            "reference": reference, "rows": rows}


C_ABI = "descent (C ABI)"


def print_rows(rows, reference):
    width = max([25] + [len(row["method"]) + 2 for row in rows])
    print(f"  {'method':<{width}}{'ms/step':>10}{'Gparam/s':>10}{'GB/s':>8}{'roofline':>10}{'vs ' + reference:>18}")
    for row in rows:
        if "note" in row:
            print(f"  {row['method']:<{width}}{row['note']}")
            continue
        ratio = row.get("speedup_vs_" + reference.replace(" ", "_"))
        print(f"  {row['method']:<{width}}{row['seconds'] * 1e3:>10.2f}{row['gparams_per_s']:>10.3f}"
              f"{row['gbytes_per_s']:>8.1f}{row.get('of_roofline', float('nan')):>10.1%}"
              f"{'' if ratio is None else f'{ratio:.2f}x':>18}"
              + (f"   {row['us_per_tensor_over_c_abi']:.2f} us/tensor over the C ABI"
                 if "us_per_tensor_over_c_abi" in row else "")
              + (f"   {row['gflop_per_s']:.0f} GFLOP/s" if "gflop_per_s" in row else ""))


# ---------------------------------------------------------------- the run

def machine():
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"cpu": model, "cpus_in_affinity_mask": len(os.sched_getaffinity(0)),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "python": platform.python_version(), "torch": torch.__version__,
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "descent": descent.version(), "descent_isa": descent.get_isa(), "threads": ARGS.threads}


def after_a_torch_op(params):
    """What precedes each timed step in training-like order: a torch op over the
    gradients (x 1.0, exact), as the backward pass is, with torch's threads just used."""
    torch._foreach_mul_([p.grad for p in params], 1.0)


def case_specs():
    """Every case as (key, title, shapes, bytes per parameter, methods(params, numel),
    reference method, what precedes each timed step or None), in the order they run."""
    scale = 64 if ARGS.quick else 1
    gpt2 = [tuple(max(1, d // 8) for d in s) for s in gpt2_small()] if ARGS.quick else gpt2_small()
    big = [(32 * 2**20 // scale,)]
    many = [(4096,)] * (4096 // scale)
    specs = [("a", "AdamW, GPT-2 small layout (148 tensors)", gpt2, 28, adamw_methods, "torch fused", None),
             ("b", "AdamW, one 32M-element tensor", big, 28, adamw_methods, "torch fused", None),
             ("c", f"AdamW, {len(many):,} tensors of 4,096 elements", many, 28, adamw_methods, "torch fused", None),
             ("c-train", f"AdamW, {len(many):,} tensors of 4,096 elements, each step right after a torch op "
              "(training-like order)", many, 28, adamw_methods, "torch fused", after_a_torch_op),
             ("c-tiny", f"AdamW, {len(many):,} tensors of 16 elements (the cost per tensor alone)",
              [(16,)] * len(many), 28, adamw_methods, "torch fused", None)]
    for algorithm, (_, buffers, torch_kwargs) in ALGORITHMS.items():
        specs.append((f"d-{algorithm}", f"{algorithm}, one 32M-element tensor", big, 4 + 8 * buffers,
                      lambda params, numel, a=algorithm: algorithm_methods(a, params, numel),
                      "torch " + next(iter(torch_kwargs)), None))
    specs.append(("e", "optimizer phase: clip_grad_norm_ + AdamW + zero_grad, GPT-2 small layout", gpt2, 36,
                  phase_methods, "torch fused", None))
    touched = (TOUCHED_ROWS // scale) * EMBEDDING[1]
    specs.append(("f", f"SparseAdam, embedding {EMBEDDING[0]:,} x {EMBEDDING[1]}, {TOUCHED_ROWS // scale:,} rows "
                  "touched per step", [(touched,)], 28, sparse_methods, "torch SparseAdam", None))
    specs.append(("g", f"LBFGS iteration, one {10 * 2**20 // scale:,}-element tensor, history {LBFGS_HISTORY} "
                  "(closure excluded; bytes: Descent's fused passes)", [(10 * 2**20 // scale,)], LBFGS_BYTES,
                  lbfgs_methods, "torch LBFGS", None))
    specs.append(("h", "Adafactor, GPT-2 small layout (matrices factored, vectors not)", gpt2,
                  ADAFACTOR_BYTES, adafactor_methods, "torch", None))
    specs.append(("j", "AdamW with float32, bfloat16 and 8-bit state, GPT-2 small layout (each format against "
                  "the roofline of its own bytes; bitsandbytes' CPU AdamW8bit)", gpt2, format_bytes("float32"),
                  format_methods, "torch fused, float32 state", None))
    specs.append(("k", "AdamW with bfloat16 parameters and gradients, GPT-2 small layout: 8-bit, bfloat16 and "
                  "float32 state, with and without a float32 master copy (each against the roofline of its own "
                  "bytes); torch's fused AdamW on float32 and on bfloat16 parameters", gpt2,
                  format_bytes("float32"), parameter_format_methods, "torch fused, float32 state", None))
    specs.append(("i", f"Muon, GPT-2 small's {len(hidden_matrices(gpt2))} hidden matrices, ns_steps "
                  f"{MUON_NS_STEPS} (roofline: the step's bf16 products alone, through torch's matmul)",
                  hidden_matrices(gpt2), MUON_BYTES, muon_methods, "torch", None))
    return [spec for spec in specs if spec[0][0] in ARGS.cases]


def main():
    cases = []
    info = machine()
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    for key, title, shapes, bytes_per_param, methods, reference, before in case_specs():
        params = make_params(shapes)
        cases.append(run_case(key, title, params, bytes_per_param, methods, reference, before))
        del params
        gc.collect()

    result = {"date": datetime.date.today().isoformat(), "command": "scripts/bench.sh " + " ".join(sys.argv[1:]),
              "machine": info, "rounds": ARGS.rounds, "warmup": ARGS.warmup, "settle_s": ARGS.settle, "cases": cases}
    if "j" in ARGS.cases:
        result["state_bytes_per_parameter"] = measured = state_bytes_measured()
        print("\nstate memory per parameter, measured (resident memory of one 1024 x 4097 tensor's AdamW state): "
              + ", ".join(f"{name} {size:.3f} bytes" for name, size in measured.items()))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "benchmark.json").write_text(json.dumps(result, indent=2) + "\n")
    chart(cases, OUT / "benchmark.png")
    print(f"\nwrote {OUT / 'benchmark.json'} and {OUT / 'benchmark.png'}")


def chart(cases, path):
    """One panel per case, in a grid: each method's share of the roofline as a horizontal
    bar (Descent's green), labelled with its speed-up over the case's reference method."""
    import math
    import textwrap

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    columns = 3
    rows = math.ceil(len(cases) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6.0 * columns, 3.0 * rows), squeeze=False)
    for ax in axes.flat[len(cases):]:
        ax.axis("off")
    for ax, case in zip(axes.flat, cases):
        timed = [r for r in case["rows"] if "of_roofline" in r and not r["method"].startswith("roofline")][::-1]
        names = [r["method"] for r in timed]
        shares = [100 * r["of_roofline"] for r in timed]
        ax.barh(range(len(timed)), shares, color=["#2a7" if n.startswith("descent") else "#999" for n in names])
        ax.axvline(100, color="#c33", linestyle="--", linewidth=1)
        key = "speedup_vs_" + case["reference"].replace(" ", "_")
        for y, (row, share) in enumerate(zip(timed, shares)):
            if key in row:
                ax.text(share + 1, y, f"{row[key]:.2f}x", va="center", fontsize=7)
        ax.set_yticks(range(len(timed)), names, fontsize=7)
        ax.set_xlim(0, max(shares + [100]) * 1.2)
        ax.tick_params(axis="x", labelsize=7)
        ax.set_title(textwrap.fill(f"({case['case']}) {case['title']}", 60), fontsize=8)
        ax.set_xlabel(f"% of the roofline (dashed); labels: speed-up vs {case['reference']}", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
