"""Gradient utilities over numpy float32 arrays (torch.nn.utils' names and semantics)
and the report of a fused step."""
from dataclasses import dataclass

from . import _descent


@dataclass(frozen=True)
class StepReport:
    """What one step's phase did.

    total_norm: norm of the (unscaled) gradients before clipping, as float32 (nan when
        no clip by norm was asked for); clip_coef: the factor clip by norm applied (1.0
        without); found_inf: a gradient held inf or NaN (the check's finding, or the
        caller's found_inf); skipped: None, "found_inf" or "nonfinite";
        params_updated, elements_updated: what the update changed (0 when skipped).
    """
    total_norm: float
    clip_coef: float
    found_inf: bool
    skipped: str | None
    params_updated: int
    elements_updated: int


def get_total_norm(grads, norm_type=2.0, error_if_nonfinite=False):
    """The norm of all arrays together as one vector (torch.nn.utils.get_total_norm),
    reduced in double in a fixed order: the same bits for any thread count."""
    return _descent.grad_norm(list(grads), float(norm_type), error_if_nonfinite)


def clip_grad_norm_(grads, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """torch.nn.utils.clip_grad_norm_ over gradient arrays (changed in place); returns
    the total norm before clipping."""
    return _descent.clip_grad_norm(list(grads), float(max_norm), float(norm_type), error_if_nonfinite)


def clip_grad_value_(grads, clip_value):
    """torch.nn.utils.clip_grad_value_ over gradient arrays (changed in place)."""
    _descent.clip_grad_value(list(grads), float(clip_value))
