"""Descent: an optimizer-step engine with torch.optim's numerics.

`descent.SGD`, `descent.Adam`, … (one class per algorithm of the library) update numpy
float32 arrays in place; `descent.torch` holds drop-in replacements for
torch.optim's optimizers over CPU float32 tensors.
"""
from ._descent import (
    HEADER_VERSION,
    DescentCheckpointError,
    DescentError,
    DescentIndexError,
    DescentMemoryError,
    DescentNonfiniteError,
    DescentOSError,
    DescentTypeError,
    DescentUnsupportedError,
    DescentValueError,
    get_isa,
    get_num_threads,
    isa_supported,
    set_isa,
    set_num_threads,
    version,
)
from .gradients import StepReport, clip_grad_norm_, clip_grad_value_, get_total_norm
from .optim import ALGORITHM_CLASSES, Optimizer
from . import lr_scheduler

# descent.SGD, descent.Adam, …: one class per algorithm of the loaded library.
globals().update(ALGORITHM_CLASSES)

__version__ = version()

__all__ = [
    *ALGORITHM_CLASSES, "Optimizer",
    "DescentError", "DescentValueError", "DescentTypeError", "DescentIndexError",
    "DescentMemoryError", "DescentNonfiniteError", "DescentCheckpointError", "DescentOSError",
    "DescentUnsupportedError", "version", "HEADER_VERSION", "lr_scheduler",
    "set_num_threads", "get_num_threads", "set_isa", "get_isa", "isa_supported",
    "StepReport", "clip_grad_norm_", "clip_grad_value_", "get_total_norm",
]
