"""Kernels and threads: every instruction set the CPU supports, forced through the C
ABI, and thread counts 1, 2, 3 and 7 give the same bits, and those bits are torch's
reference's: its fused kernel, or its single-tensor path where it has none (RMSprop and
NAdam, whose torch sqrt is inexact: equal across settings, close to torch).

The layout has tensors of every remainder length and sizes that cross the engine's
16,384-element chunks, and enough elements (over 7 x 64K) that 7 threads take part.
The settings' environment variables and defaults are checked in child processes.
"""
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from descent_ctypes import LIB, Optimizer, set_execution, supported_isas
from problem import CONFIGS, INEXACT_SQRT, config_id, torch_optimizer

# Every remainder mod 16 (torch's scalar tail), chunk-crossing sizes, and enough elements
# in all for 7 threads.
SIZES = [1, 15, 16, 17, 4096, *(32 + r for r in range(2, 16)), 16384 + 5, 3 * 16384 + 31, 100003, 400009]
STEPS = 3
THREADS = [1, 2, 3, 7]


def problem(seed=0):
    gen = torch.Generator().manual_seed(seed)
    params = [torch.randn(n, generator=gen) for n in SIZES]
    grads = [[torch.randn(n, generator=gen) for n in SIZES] for _ in range(STEPS)]
    return params, grads


def run_torch(name, kwargs):
    params, grads = problem()
    opt = torch_optimizer(name, [{"params": params}], kwargs)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = g
        opt.step()
    return [p.numpy().copy() for p in params]


def run_descent(name, kwargs):
    params, grads = problem()
    opt = Optimizer(name, [{"params": params}], **kwargs)
    for step_grads in grads:
        opt.step(step_grads)
    opt.close()
    return [p.numpy().copy() for p in params]


@pytest.fixture(autouse=True)
def restore_settings():
    isa, threads = LIB.descent_get_isa(), LIB.descent_get_num_threads()
    yield
    LIB.descent_set_isa(isa)
    LIB.descent_set_num_threads(threads)


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_every_isa_and_thread_count_gives_torchs_bits(config):
    name, kwargs = config
    reference = run_torch(name, kwargs)
    baseline = None
    for isa in supported_isas():
        for threads in THREADS:
            set_execution(isa, threads)
            ours = run_descent(name, kwargs)
            if baseline is None:
                baseline = ours
            for size, a, b in zip(SIZES, ours, baseline):
                assert np.array_equal(a, b), f"{isa}, {threads} threads: tensor of {size} differs"
            if name not in INEXACT_SQRT:  # torch's single-tensor path uses MKL's sqrt there
                for size, a, b in zip(SIZES, ours, reference):
                    assert np.array_equal(a, b), f"{isa}, {threads} threads: tensor of {size} differs from torch"
    for size, a, b in zip(SIZES, baseline, reference):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7, err_msg=f"tensor of {size}")


def test_all_three_instruction_sets_run_here():
    """This machine kind has AVX-512: all three paths above were really exercised."""
    flags = Path("/proc/cpuinfo").read_text()
    expected = ["portable"] + (["avx2"] if " avx2 " in flags and " fma " in flags else []) + \
        (["avx512"] if all(f" {f} " in flags for f in ("avx512f", "avx512bw", "avx512dq", "avx512vl")) else [])
    assert supported_isas() == expected


def test_optimizers_stepped_on_two_threads_at_once():
    """Two optimizers stepped concurrently share the pool one after the other and end
    exactly as when stepped alone."""
    set_execution(supported_isas()[-1], 2)
    alone = run_descent("AdamW", dict(lr=1e-3, weight_decay=0.1))
    results = [None, None]

    def work(i):
        results[i] = run_descent("AdamW", dict(lr=1e-3, weight_decay=0.1))

    workers = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for result in results:
        assert all(np.array_equal(a, b) for a, b in zip(result, alone))


# ------------------------------------------------ environment and defaults

PROBE = ("import ctypes, sys; lib = ctypes.CDLL(sys.argv[1]); "
         "print(lib.descent_get_isa(), lib.descent_get_num_threads())")
# Sets 3 threads, then 0 (the default) again.
PROBE_RESET = ("import ctypes, sys; lib = ctypes.CDLL(sys.argv[1]); lib.descent_set_num_threads(3); "
               "lib.descent_set_num_threads(0); print(lib.descent_get_isa(), lib.descent_get_num_threads())")


def probe(env, preexec_fn=None, script=PROBE):
    """(isa id, thread count, stderr) of a fresh process loading the library."""
    path = os.environ.get("DESCENT_LIB", str(Path(__file__).resolve().parents[2] / "build" / "libdescent.so"))
    clean = {k: v for k, v in os.environ.items() if k not in ("DESCENT_ISA", "DESCENT_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-c", script, path], env={**clean, **env}, capture_output=True,
                          text=True, check=True, preexec_fn=preexec_fn)
    isa, threads = map(int, done.stdout.split())
    return isa, threads, done.stderr


def test_environment_forces_each_isa():
    best = max(supported_isas(), key=["portable", "avx2", "avx512"].index)
    assert probe({})[:2] == (["portable", "avx2", "avx512"].index(best), len(os.sched_getaffinity(0)))
    for isa in supported_isas():
        assert probe({"DESCENT_ISA": isa})[0] == ["portable", "avx2", "avx512"].index(isa)
    isa, _, err = probe({"DESCENT_ISA": "sse9"})
    assert isa == ["portable", "avx2", "avx512"].index(best)
    assert err == f"descent: DESCENT_ISA=sse9 is not one of portable, avx2, avx512; using {best}\n"


def test_environment_sets_thread_count():
    assert probe({"DESCENT_NUM_THREADS": "5"})[1] == 5
    assert probe({"DESCENT_NUM_THREADS": "5"}, script=PROBE_RESET)[1] == 5  # 0 restores the env's count
    assert probe({}, script=PROBE_RESET)[1] == len(os.sched_getaffinity(0))
    _, threads, err = probe({"DESCENT_NUM_THREADS": "lots"})
    assert threads == len(os.sched_getaffinity(0))
    assert "DESCENT_NUM_THREADS=lots is not a thread count in 1...1024" in err


def test_default_threads_follow_the_affinity_mask():
    first = min(os.sched_getaffinity(0))
    assert probe({}, preexec_fn=lambda: os.sched_setaffinity(0, {first}))[1] == 1


def test_a_forked_child_steps_with_threads():
    """The pool's workers do not survive fork(); the child starts its own."""
    set_execution(supported_isas()[-1], 2)
    expected = run_descent("Adam", dict(lr=1e-3))  # starts the parent's workers
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        ok = all(np.array_equal(a, b) for a, b in zip(run_descent("Adam", dict(lr=1e-3)), expected))
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.waitpid(pid, 0)
    assert answer == b"1"
