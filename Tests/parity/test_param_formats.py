"""bfloat16 and float16 parameters through the C ABI (descent_add_param_format): every
instruction set and thread count gives the same bits, with and without a master copy, over
each state format; and the master steps as torch's float32 optimizer steps a float32
parameter. Tests/python/test_parameter_formats.py runs torch's option matrix over them."""
import numpy as np
import pytest
import torch

from descent_ctypes import Optimizer, on_every_execution

LOW = (torch.bfloat16, torch.float16)
STATE_DTYPES = ("float32", "bfloat16", "int8")


@pytest.mark.parametrize("dtype", LOW, ids=str)
@pytest.mark.parametrize("state_dtype", STATE_DTYPES)
@pytest.mark.parametrize("master_weights", [False, True])
@pytest.mark.parametrize("stochastic_rounding", [False, True])
def test_every_isa_and_thread_count_gives_the_same_bits(dtype, state_dtype, master_weights, stochastic_rounding):
    """Over several chunks, 1,024-element pieces and partial blocks, float32 parameters
    laid out between low-precision ones; stochastic rounding's noise included."""
    sizes = [3 * 16384 + 700, 100, 5000, 4095, 20000]
    kinds = [dtype, torch.float32, dtype, dtype, torch.float32]
    generator = torch.Generator().manual_seed(3)
    start = [torch.randn(n, generator=generator).to(kind) for n, kind in zip(sizes, kinds)]
    grads = [[torch.randn(n, generator=generator).to(kind) for n, kind in zip(sizes, kinds)] for _ in range(4)]
    def run(isa, threads):
        params = [p.clone() for p in start]
        opt = Optimizer("AdamW", [{"params": params}], state_dtype=state_dtype, master_weights=master_weights,
                        stochastic_rounding=stochastic_rounding, min_8bit_size=0, lr=0.01)
        for step_grads in grads:
            opt.step([g.clone() for g in step_grads])
        masters = [opt.read_state(i, "master_param") for i, kind in enumerate(kinds) if kind != torch.float32]
        opt.close()
        return params, masters

    (first_key, (first_params, first_masters)), *others = on_every_execution(run).items()
    for key, (params, masters) in others:
        for p, q in zip(params, first_params):
            assert torch.equal(p, q), f"{key} differs from {first_key}"
        for a, b in zip(masters, first_masters):
            if master_weights:
                np.testing.assert_array_equal(a, b, err_msg=f"{key} differs from {first_key}")
            else:
                assert a is None and b is None, "no master without master_weights"


@pytest.mark.parametrize("dtype", LOW, ids=str)
def test_master_is_torchs_float32_parameter(dtype):
    """Every instruction set: a bfloat16 / float16 parameter with a master equals torch's
    fused AdamW on a float32 copy rounded, each of 20 steps (all remainder lengths of
    torch's scalar tail among the sizes)."""
    sizes = [4096 + k for k in range(8)]
    generator = torch.Generator().manual_seed(4)
    start = [torch.randn(n, generator=generator).to(dtype) for n in sizes]
    grads = [[torch.randn(n, generator=generator).to(dtype) for n in sizes] for _ in range(20)]
    def run(isa, _):
        params = [p.clone() for p in start]
        masters = [torch.nn.Parameter(p.float()) for p in start]
        ours = Optimizer("AdamW", [{"params": params}], master_weights=True, lr=0.01, weight_decay=0.1)
        theirs = torch.optim.AdamW(masters, lr=0.01, weight_decay=0.1, fused=True)
        for step, step_grads in enumerate(grads):
            ours.step([g.clone() for g in step_grads])
            for m, g in zip(masters, step_grads):
                m.grad = g.float()
            theirs.step()
            for i, (p, m) in enumerate(zip(params, masters)):
                assert torch.equal(p, m.detach().to(dtype)), f"{isa}, step {step}, size {sizes[i]}"
                np.testing.assert_array_equal(ours.read_state(i, "master_param"), m.detach().numpy())
        ours.close()

    on_every_execution(run, threads=(2,))
