"""The low-level numpy API and the extension's contract: buffers, errors, the GIL,
references, memory."""
import gc
import sys
import threading
import time
import weakref

import numpy as np
import pytest

import descent


def arrays(n, value=1.0):
    return np.full(n, value, dtype=np.float32), np.full(n, 0.5, dtype=np.float32)


def test_torch_like_construction_and_groups():
    w1, g1 = arrays(8)
    b1, gb1 = arrays(2)
    w2, g2 = arrays(4)
    opt = descent.AdamW([{"params": [w1, b1], "grads": [g1, gb1], "weight_decay": 0.0},
                         {"params": [w2], "grads": [g2]}], lr=1e-2)
    assert opt.param_groups[0]["weight_decay"] == 0.0
    assert opt.param_groups[1]["weight_decay"] == 1e-2
    assert opt.param_groups[1]["betas"] == (0.9, 0.999)
    opt.step()
    # First Adam step: every element moves by lr (times sign), plus AdamW's decay.
    np.testing.assert_allclose(w1, 1 - 1e-2, rtol=1e-6)
    np.testing.assert_allclose(w2, (1 - 1e-2 * 1e-2) - 1e-2, rtol=1e-6)
    assert opt.step_count(0) == 1
    np.testing.assert_allclose(opt.state(0, "exp_avg"), 0.05, rtol=1e-6)
    opt.zero_grad()
    assert not g1.any() and not g2.any()


def test_param_groups_are_writable_and_validated():
    w, g = arrays(4)
    opt = descent.SGD([{"params": [w], "grads": [g]}], lr=0.5)
    opt.param_groups[0]["lr"] = 1.0
    opt.step()
    np.testing.assert_array_equal(w, 0.5)
    with pytest.raises(descent.DescentValueError, match="Invalid learning rate: -1.0") as raised:
        opt.param_groups[0]["lr"] = -1.0
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, descent.DescentError)
    assert opt.param_groups[0]["lr"] == 1.0
    with pytest.raises(descent.DescentValueError, match="Nesterov momentum requires"):
        opt.param_groups[0]["nesterov"] = True
    with pytest.raises(TypeError, match="unexpected keyword argument 'betas'"):
        descent.SGD([w], betas=(0.9, 0.9))


def test_step_time_gradients_and_skips():
    w, _ = arrays(3)
    v, _ = arrays(3)
    opt = descent.SGD([w, v], lr=1.0)
    opt.step([np.full(3, 0.25, np.float32), None])
    np.testing.assert_array_equal(w, 0.75)
    np.testing.assert_array_equal(v, 1.0)
    assert opt.step_count(1) == 0


@pytest.mark.parametrize("bad, error, message", [
    (np.ones(3, dtype=np.float64), TypeError, "param must have dtype float32, got buffer format 'd'"),
    (np.ones(3, dtype=np.int32), TypeError, "param must have dtype float32"),
    (np.ones(6, dtype=np.float32)[::2], ValueError, "param must be C-contiguous"),
    (b"abcd", TypeError, "param must have dtype float32"),
    ([1.0, 2.0], TypeError, "param must be a writable C-contiguous float32 buffer"),
    (np.zeros(0, dtype=np.float32), ValueError, "numel must be positive, got 0"),
])
def test_bad_buffers(bad, error, message):
    with pytest.raises(error, match=message):
        descent.Adam([bad])


def test_read_only_and_mismatched_gradients():
    w = np.ones(3, dtype=np.float32)
    w.flags.writeable = False
    with pytest.raises(TypeError, match="param is read-only"):
        descent.Adam([w])
    w, g = arrays(3)
    with pytest.raises(ValueError, match="grad has 2 elements, its parameter has 3"):
        descent.Adam([{"params": [w], "grads": [np.ones(2, np.float32)]}])
    opt = descent.Adam([w])
    with pytest.raises(ValueError, match=r"grads\[0\] has 4 elements, its parameter has 3"):
        opt.step([np.ones(4, np.float32)])
    with pytest.raises(ValueError, match="expected 1 gradients"):
        opt.step([])
    with pytest.raises(ValueError, match="expected 1 parameters"):
        opt._core.step_tensors([])
    with pytest.raises(ValueError, match="out has 2 elements, the optimizer has 1 parameters"):
        opt._core.step_counts_into(np.zeros(2, np.float32))
    with pytest.raises(TypeError, match="out must have dtype float32"):
        opt._core.step_counts_into(np.zeros(1, np.float64))
    with pytest.raises(ValueError, match="grad of parameter 0 overlaps its own param"):
        opt.set_grad(0, w)
    with pytest.raises(IndexError, match="parameter index 3 is out of range"):
        opt.set_grad(3, g)
    with pytest.raises(ValueError, match="already registered"):
        opt.add_param_group({"params": [w]})


def test_references_keep_buffers_alive():
    w, g = arrays(1000)
    before = sys.getrefcount(w)
    opt = descent.SGD([{"params": [w], "grads": [g]}], lr=0.5)
    # One reference from param_groups, one from the engine's hold on the buffer.
    assert sys.getrefcount(w) == before + 2
    grad_alive = weakref.ref(g)
    del g
    gc.collect()
    assert grad_alive() is not None, "the optimizer must keep the gradient it points at"
    opt.step()
    np.testing.assert_array_equal(w, 0.75)
    opt.close()
    gc.collect()
    assert grad_alive() is None
    assert sys.getrefcount(w) == before + 1
    with pytest.raises(descent.DescentError, match="closed"):
        opt.step()


def test_state_view_blocks_close():
    w, g = arrays(16)
    opt = descent.Adam([{"params": [w], "grads": [g]}])
    opt.step()
    m = opt.state(0, "exp_avg")
    with pytest.raises(BufferError):
        opt.close()
    del m
    opt.close()


def test_gil_is_released_during_a_step():
    n = 20_000_000
    w, g = arrays(n)
    opt = descent.Adam([{"params": [w], "grads": [g]}])
    opt.step()  # allocate the state outside the timing
    ticks = 0
    running = threading.Event()

    def count():
        nonlocal ticks
        while not running.is_set():
            pass
        while running.is_set():
            ticks += 1

    thread = threading.Thread(target=count)
    thread.start()
    running.set()
    start = time.perf_counter()
    opt.step()
    elapsed = time.perf_counter() - start
    counted = ticks
    running.clear()
    thread.join()
    assert elapsed > 0.01, "the step should take a while for this test to mean anything"
    assert counted > 1000, f"the other thread made no progress during the step ({counted} ticks)"


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_memory_stays_flat_over_10000_cycles():
    def cycle():
        w, g = arrays(256)
        opt = descent.AdamW([{"params": [w], "grads": [g]}], lr=1e-3)
        opt.step()
        opt.close()

    def window():
        gc.collect()
        before = rss_bytes()
        for _ in range(10_000):
            cycle()
        gc.collect()
        return rss_bytes() - before

    for _ in range(500):
        cycle()
    # A leak grows the RSS in every window. The allocator's arenas may grow once, at a
    # moment that depends on timing and on what the process did before (after torch is
    # imported, about 2 MiB some 10,000 cycles in), and then stay.
    growths = [window() for _ in range(3)]
    assert min(growths) < 2 * 2**20, (f"RSS grew in every window of 10,000 cycles: "
                                      f"{', '.join(f'{g / 2**20:.1f}' for g in growths)} MiB")


def test_installed_package_bundles_its_library():
    """import descent needs no LD_LIBRARY_PATH: the extension finds libdescent.so beside it."""
    from pathlib import Path
    package = Path(descent.__file__).parent
    assert "site-packages" in str(package), "run the tests against the installed package"
    assert (package / "libdescent.so").exists()
    with open("/proc/self/maps") as maps:
        loaded = {line.split()[-1] for line in maps if line.rstrip().endswith("libdescent.so")}
    assert loaded == {str(package / "libdescent.so")}
    assert descent.version() == "0.1.0" and descent.HEADER_VERSION == 100


# ------------------------------------------------------------ execution settings

def test_execution_settings_round_trip_and_refuse_bad_values():
    threads, isa = descent.get_num_threads(), descent.get_isa()
    try:
        descent.set_num_threads(3)
        assert descent.get_num_threads() == 3
        with pytest.raises(descent.DescentValueError, match=r"thread count must be in 0\.\.\.1024"):
            descent.set_num_threads(-1)
        with pytest.raises(descent.DescentValueError, match="thread count"):
            descent.set_num_threads(2**40)
        assert descent.get_num_threads() == 3
        assert descent.isa_supported("portable")
        descent.set_isa("portable")
        assert descent.get_isa() == "portable"
        with pytest.raises(descent.DescentValueError, match="unknown instruction set 'sse9'"):
            descent.set_isa("sse9")
        with pytest.raises(TypeError):
            descent.set_isa(2)
    finally:
        descent.set_num_threads(threads)
        descent.set_isa(isa)


def test_portable_kernels_give_the_same_step():
    """The same step on the best and on the portable kernels: identical bits."""
    results = []
    for isa in (descent.get_isa(), "portable"):
        previous = descent.get_isa()
        descent.set_isa(isa)
        try:
            rng = np.random.default_rng(0)
            p = rng.standard_normal(1000, dtype=np.float32)
            g = rng.standard_normal(1000, dtype=np.float32)
            opt = descent.AdamW([p], lr=1e-3, weight_decay=0.1)
            for _ in range(3):
                opt.step([g])
            results.append(p)
        finally:
            descent.set_isa(previous)
    assert np.array_equal(*results)



def default_threads(env):
    """descent.get_num_threads() of a fresh process with `env` over this one's (without its
    own thread settings)."""
    import os
    import subprocess
    import sys
    base = {k: v for k, v in os.environ.items() if k not in ("DESCENT_NUM_THREADS", "LOCAL_WORLD_SIZE")}
    result = subprocess.run([sys.executable, "-c", "import descent; print(descent.get_num_threads())"],
                            env={**base, **env}, check=True, capture_output=True, text=True)
    return int(result.stdout)


def test_ranks_sharing_a_host_share_its_cpus():
    """torchrun's LOCAL_WORLD_SIZE divides the affinity mask's CPUs among the ranks (at
    least 1 each) when the mask is the whole host; DESCENT_NUM_THREADS still wins."""
    import os
    cpus = len(os.sched_getaffinity(0))
    whole_host = cpus >= os.cpu_count()
    assert default_threads({}) == cpus
    assert default_threads({"LOCAL_WORLD_SIZE": "2"}) == (max(1, cpus // 2) if whole_host else cpus)
    assert default_threads({"LOCAL_WORLD_SIZE": str(4 * cpus)}) == (1 if whole_host else cpus)
    assert default_threads({"LOCAL_WORLD_SIZE": "2", "DESCENT_NUM_THREADS": "3"}) == 3


def test_parameters_are_registered_with_their_shapes():
    """The engine keeps each parameter's shape (what factored and matrix algorithms read):
    an array's own, a 0-d array as a scalar, flat beyond DESCENT_MAX_DIMS dimensions;
    descent.torch passes each tensor's."""
    import torch
    import descent.torch as dt

    arrays = [np.zeros((3, 4, 5), np.float32), np.zeros(7, np.float32), np.zeros((), np.float32)]
    opt = descent.SGD(arrays, lr=0.1)
    assert [opt._core.param_shape(i) for i in range(3)] == [(3, 4, 5), (7,), ()]
    model = torch.nn.Conv2d(3, 8, 5)
    torch_opt = dt.AdamW(model.parameters())
    assert [torch_opt._core.param_shape(i) for i in range(2)] == [(8, 3, 5, 5), (8,)]
    deep = descent.SGD([np.zeros((1,) * 32 + (2,), np.float32)], lr=0.1)  # 33 dimensions: kept flat
    assert deep._core.param_shape(0) == (2,)
    with pytest.raises(descent.DescentIndexError, match="parameter index 3 is out of range"):
        opt._core.param_shape(3)
