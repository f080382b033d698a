"""Adam8bit and AdamW8bit: drop-ins for bitsandbytes' classes of those names, so that its
users can switch. They are descent.torch's AdamW with 8-bit block-wise state
(state_dtype="int8"): bitsandbytes' format (blocks of 256, a float32 absmax per block,
its signed map for exp_avg and unsigned map for exp_avg_sq, float32 state for tensors
under min_8bit_size), stepped in one fused pass.

As bitsandbytes does, both decay weights decoupled (p *= 1 - lr·weight_decay, before the
update): Adam8bit is AdamW8bit with weight_decay 0 by default, not torch's Adam with its
L2 decay (descent.torch.Adam(state_dtype="int8") is that).

Differences from bitsandbytes' CPU backend, on purpose: the update is torch's fused AdamW
(bias corrections in double, m and v by lerp and fma in torch's order), where
bitsandbytes runs unfused torch ops in another order; codes are the nearest (as its CUDA
kernels choose them, with their sign nudge for exp_avg), where its CPU backend uses a
65,536-entry table that reaches 249 of the 256 signed codes. The state is the same
format, so state_dicts move both ways: `state_dict()` is bitsandbytes' (state1, state2,
absmax1, absmax2, qmap1, qmap2 under "__bnb_optimizer_quant_state__", step an int), and
`load_state_dict` takes bitsandbytes' or descent.torch's (exp_avg, exp_avg_absmax, …,
or float32 state, which is quantized).
"""
import torch

from .torch import AdamW, decode_codes

__all__ = ["Adam8bit", "AdamW8bit"]

# bitsandbytes' keys of a parameter's state, and descent.torch's.
_QUANT_STATE = "__bnb_optimizer_quant_state__"
_KEYS = {"state1": "exp_avg", "state2": "exp_avg_sq", "absmax1": "exp_avg_absmax", "absmax2": "exp_avg_sq_absmax"}
_MAPS = {"qmap1": "exp_avg", "qmap2": "exp_avg_sq"}


class AdamW8bit(AdamW):
    """bitsandbytes.optim.AdamW8bit's signature and defaults; paged state (is_paged) is
    CUDA memory and is refused."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
                 optim_bits=32, args=None, min_8bit_size=4096, is_paged=False):
        name = type(self).__name__
        if amsgrad:
            raise ValueError(f"{name} does not support amsgrad=True")
        if optim_bits != 32:
            raise ValueError(f"{name} only supports optim_bits=32 (default value for compatibility)")
        if args is not None:
            raise ValueError(f"{name} takes its hyperparameters as arguments, not args")
        if is_paged:
            raise ValueError(f"{name} keeps its state in host memory: is_paged (CUDA paged memory) is not supported")
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, state_dtype="int8",
                         min_8bit_size=min_8bit_size)

    def state_dict(self):
        """bitsandbytes' state_dict: each parameter's state under its keys, nested."""
        state_dict = super().state_dict()
        for index, state in state_dict["state"].items():
            converted = {"step": int(float(state["step"]))} if "step" in state else {}
            quantized = {key: state[ours] for key, ours in _KEYS.items() if ours in state}
            if "exp_avg_absmax" in state:
                quantized.update({key: torch.tensor(self._core.state_code_map(index, ours), dtype=torch.float32)
                                  for key, ours in _MAPS.items()})
            if quantized:
                converted[_QUANT_STATE] = quantized
            state_dict["state"][index] = converted
        return state_dict

    def load_state_dict(self, state_dict):
        """Loads bitsandbytes' state_dict (of AdamW8bit or Adam8bit), or descent.torch's."""
        maps = {ours: torch.tensor(self._core.state_code_map(0, ours), dtype=torch.float32)
                for ours in _MAPS.values()} if self._params else {}
        state_dict = dict(state_dict)
        state_dict["state"] = {index: _descent_keys(state, maps) for index, state in state_dict.get("state", {}).items()}
        super().load_state_dict(state_dict)


class Adam8bit(AdamW8bit):
    """bitsandbytes.optim.Adam8bit: AdamW8bit with weight_decay 0 by default (decoupled,
    as bitsandbytes applies it)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
                 optim_bits=32, args=None, min_8bit_size=4096, is_paged=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         optim_bits=optim_bits, args=args, min_8bit_size=min_8bit_size, is_paged=is_paged)


def _descent_keys(state, maps):
    """A parameter's state with bitsandbytes' keys under descent.torch's. Codes of another
    map than Descent's (`maps`, by state name) are decoded to float32 with their own, so
    that they keep their meaning (the load then quantizes them); codes of the same map
    load as they are."""
    if not isinstance(state, dict) or (_QUANT_STATE not in state and "state1" not in state):
        return state
    flat = {**{k: v for k, v in state.items() if k != _QUANT_STATE}, **state.get(_QUANT_STATE, {})}
    converted = {key: value for key, value in flat.items() if key not in _KEYS and key not in _MAPS}
    for key, ours in _KEYS.items():
        if key in flat:
            converted[ours] = flat[key]
    for key, ours in _MAPS.items():
        if key in flat and ours in converted and converted[ours].dtype == torch.uint8:
            saved_map = flat[key].to(torch.float32).reshape(-1)
            if ours in maps and torch.equal(saved_map, maps[ours]):
                continue
            converted[ours] = decode_codes(converted[ours], converted.pop(f"{ours}_absmax"), saved_map)
    return converted
