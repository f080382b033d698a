"""Muon through the C ABI against torch.optim.Muon (torch's only path, single-tensor):
square, wide and tall matrices (torch iterates on the transpose of a tall one), a 1 × 1,
and matrices large enough that oneDNN blocks its products; every option.

Around the Newton–Schulz products, Descent's arithmetic is torch's, rounding for
rounding: with ns_steps=0 the update is the normalized bfloat16 momentum alone, and
parameters and momentum buffers equal torch's bit for bit on every instruction set and
thread count. The products are oneDNN's bfloat16 matmul, as torch's are, but another
oneDNN version (torch bundles its own) may block and round a large product differently:
those are held to the issue's bound, 2e-2 of the parameters' movement."""
import ctypes
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from descent_ctypes import LIB, ROOT, DescentError, Optimizer, create_error, set_execution, supported_isas

STEPS = 30
SHAPES = [(5, 9), (9, 5), (64, 32), (100, 300), (1, 1), (3, 70), (200, 1)]
LARGE = [(768, 3072), (3072, 768), (1024, 512)]
CONFIGS = [
    dict(),
    dict(lr=0.02, weight_decay=0.3),
    dict(nesterov=False, momentum=0.8),
    dict(adjust_lr_fn="match_rms_adamw", ns_steps=6),
    dict(adjust_lr_fn="spectral_unclamped", ns_coefficients=(3.4, -4.7, 2.0), eps=1e-3),
    dict(lr=0.0, momentum=0.0),
]
BOUND = 2e-2


@pytest.fixture(autouse=True)
def default_execution():
    yield
    set_execution(supported_isas()[-1], 0)


def run(config, steps=STEPS, shapes=SHAPES, seed=0, with_torch=True):
    """The parameters they started from, torch's and Descent's after `steps` steps of the
    same gradients, and both optimizers (torch's left out: None)."""
    generator = torch.Generator().manual_seed(seed)
    start = [torch.randn(shape, generator=generator) for shape in shapes]
    reference = [p.clone() for p in start]
    mine = [p.clone() for p in start]
    torch_opt = torch.optim.Muon(reference, **config) if with_torch else None
    descent_opt = Optimizer("Muon", [{"params": mine}], **config)
    for _ in range(steps):
        grads = [torch.randn(shape, generator=generator) for shape in shapes]
        if with_torch:
            for p, g in zip(reference, grads):
                p.grad = g.clone()
            torch_opt.step()
        descent_opt.step(grads)
    return start, reference, mine, torch_opt, descent_opt


def assert_buffers_equal(reference, torch_opt, descent_opt):
    for index, p in enumerate(reference):
        buffer = descent_opt.state(index, "momentum_buffer")
        assert np.array_equal(buffer, torch_opt.state[p]["momentum_buffer"].numpy()), f"parameter {index}"


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_equals_torch_bit_for_bit_around_the_products(config):
    _, reference, mine, torch_opt, descent_opt = run({**config, "ns_steps": 0})
    for index, (p, q) in enumerate(zip(reference, mine)):
        assert torch.equal(p, q), f"parameter {index} of shape {tuple(p.shape)}"
    assert_buffers_equal(reference, torch_opt, descent_opt)


@pytest.mark.parametrize("config", CONFIGS, ids=str)
@pytest.mark.parametrize("shapes", [SHAPES, LARGE], ids=["small", "large"])
def test_within_the_bound_of_torch(config, shapes):
    steps = STEPS if shapes is SHAPES else 3
    start, reference, mine, torch_opt, descent_opt = run(config, steps=steps, shapes=shapes)
    for index, (s, p, q) in enumerate(zip(start, reference, mine)):
        moved = (p - s).norm()
        if moved == 0:
            assert torch.equal(p, q)
            continue
        assert ((p - q).norm() / moved).item() <= BOUND, f"parameter {index} of shape {tuple(p.shape)}"
    assert_buffers_equal(reference, torch_opt, descent_opt)


@pytest.mark.parametrize("isa", supported_isas())
@pytest.mark.parametrize("threads", [1, 2])
def test_every_instruction_set_and_thread_count_gives_the_same_bits_around_the_products(isa, threads):
    config = {**CONFIGS[1], "ns_steps": 0}
    set_execution("portable", 1)
    _, _, baseline, _, _ = run(config, steps=5)
    set_execution(isa, threads)
    _, _, mine, _, _ = run(config, steps=5)
    for p, q in zip(baseline, mine):
        assert torch.equal(p, q)


@pytest.mark.parametrize("kwargs", [dict(lr=-1.0), dict(momentum=-0.5), dict(weight_decay=-0.1)], ids=str)
def test_invalid_hyperparameters_get_torchs_message(kwargs):
    with pytest.raises(ValueError) as torch_error:
        torch.optim.Muon([torch.zeros(2, 2)], **kwargs)
    status, message = create_error("Muon", **kwargs)
    assert message == str(torch_error.value)


def test_too_many_steps_get_torchs_message_when_given():
    """torch refuses ns_steps >= 100 in its step; Descent when the value is given."""
    p = torch.zeros(2, 2, requires_grad=True)
    p.grad = torch.ones(2, 2)
    with pytest.raises(ValueError) as torch_error:
        torch.optim.Muon([p], ns_steps=100).step()
    status, message = create_error("Muon", ns_steps=100)
    assert message == str(torch_error.value)
    assert create_error("Muon", ns_steps=-1) is not None
    assert create_error("Muon", eps=float("nan")) is not None


@pytest.mark.parametrize("shape", [(6,), (2, 3, 4)])
def test_a_parameter_that_is_not_a_matrix_is_refused_and_nothing_changes(shape):
    """torch refuses it in its constructor; a C caller gives shapes after registering,
    so the step refuses it, with torch's message, before changing anything."""
    matrix, other = torch.ones(3, 3), torch.ones(shape)
    opt = Optimizer("Muon", [{"params": [matrix, other]}])
    with pytest.raises(DescentError, match=r"Muon only supports 2D parameters whereas we found a parameter with "
                                           rf"size: \[{', '.join(map(str, shape))}\] \(parameter 1"):
        opt.step([torch.ones(3, 3), torch.ones(shape)])
    assert torch.equal(matrix, torch.ones(3, 3))
    assert opt.state(0, "momentum_buffer") is None
    opt.step([torch.ones(3, 3), None])  # without a gradient it is not stepped
    assert not torch.equal(matrix, torch.ones(3, 3))


def test_without_onednn_the_step_fails_and_changes_nothing(tmp_path):
    """libdescent.so alone in a directory, no DESCENT_ONEDNN: a Muon step that has
    products to compute fails, naming where it looked; one without products runs."""
    library = tmp_path / "libdescent.so"
    shutil.copy(pathlib.Path(os.environ.get("DESCENT_LIB", ROOT / "build" / "libdescent.so")), library)
    script = """
import torch
from descent_ctypes import DescentError, Optimizer, STATUS_UNSUPPORTED
p = torch.ones(4, 3)
opt = Optimizer("Muon", [{"params": [p]}])
try:
    opt.step([torch.ones(4, 3)])
except DescentError as error:
    assert error.status == STATUS_UNSUPPORTED, error.status
    assert "need oneDNN (libdnnl.so.3)" in str(error) and "libdnnl.so.3" in str(error), error
    assert torch.equal(p, torch.ones(4, 3)) and opt.state(0, "momentum_buffer") is None
    Optimizer("Muon", [{"params": [p]}], ns_steps=0).step([torch.ones(4, 3)])
    assert not torch.equal(p, torch.ones(4, 3))
    print("refused")
"""
    env = {**os.environ, "DESCENT_LIB": str(library), "PYTHONPATH": str(pathlib.Path(__file__).parent)}
    env.pop("DESCENT_ONEDNN", None)
    env.pop("LD_LIBRARY_PATH", None)
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "refused", result.stderr


def test_without_bfloat16_kernels_the_products_run_in_float32(tmp_path):
    """On a CPU for which oneDNN has no bfloat16 matmul, the products run in float32 over
    the same bfloat16 values, rounded once: ONEDNN_MAX_CPU_ISA=AVX2 makes this CPU such
    a CPU for oneDNN (ONEDNN_VERBOSE shows the implementation it ran; torch, whose
    bundled oneDNN reads the same variables, runs in this process only), and the result
    stays within the bound of torch's."""
    out = tmp_path / "params.pt"
    script = f"""
import torch
from test_muon import run
_, _, mine, _, _ = run(dict(lr=0.02), steps=10, with_torch=False)
torch.save(mine, {str(out)!r})
"""
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "ONEDNN_VERBOSE": "1",
           "PYTHONPATH": str(pathlib.Path(__file__).parent)}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    executions = [line for line in result.stdout.splitlines() if line.startswith("onednn_verbose") and ",exec," in line
                  and ",matmul," in line]
    assert executions and all("f32" in line and "bf16" not in line for line in executions), executions[:3]
    start, reference, _, _, _ = run(dict(lr=0.02), steps=10)
    for s, p, q in zip(start, reference, torch.load(out)):
        moved = (p - s).norm()
        assert ((p - q).norm() / moved).item() <= BOUND


@pytest.mark.skipif("DESCENT_ONEDNN" in os.environ, reason="DESCENT_ONEDNN names oneDNN's file")
def test_onednn_is_found_next_to_the_library():
    LIB.descent_onednn_path.restype = ctypes.c_char_p
    Optimizer("Muon", [{"params": [torch.ones(2, 2)]}]).step([torch.ones(2, 2)])
    library = pathlib.Path(os.environ.get("DESCENT_LIB", ROOT / "build" / "libdescent.so")).resolve()
    assert pathlib.Path(LIB.descent_onednn_path().decode()) == library.parent / "libdnnl.so.3"
