"""Type stubs of descent._descent, the CPython extension over include/descent.h."""
import os
from typing import Any, Callable, Literal, Mapping, Optional, Sequence

HEADER_VERSION: int

class DescentError(Exception):
    """Base class of every error Descent raises; `status` is the C status code."""
    status: int

class DescentValueError(DescentError, ValueError): ...
class DescentTypeError(DescentError, TypeError): ...
class DescentIndexError(DescentError, IndexError): ...
class DescentMemoryError(DescentError, MemoryError): ...
class DescentNonfiniteError(DescentError, RuntimeError):
    """A gradient or gradient norm is inf or NaN where an error was asked for."""

class DescentCheckpointError(DescentError, ValueError):
    """A corrupt checkpoint, or one of a different optimizer (`status` says which)."""

class DescentOSError(DescentError, OSError):
    """A checkpoint file could not be written or read."""

class DescentUnsupportedError(DescentError, NotImplementedError):
    """What the algorithm does not take (torch raises RuntimeError: a sparse gradient, for one)."""

def version() -> str:
    """The loaded libdescent's version."""

TRAIT_STATE_AT_REGISTRATION: int
TRAIT_STEP_COUNT: int
TRAIT_DECOUPLED_WEIGHT_DECAY: int
TRAIT_SPARSE_GRADIENTS: int
TRAIT_ONLY_SPARSE_GRADIENTS: int
TRAIT_INTEGER_STEP_COUNT: int
TRAIT_NEEDS_CLOSURE: int
TRAIT_SINGLE_GROUP: int
TRAIT_ONLY_MATRICES: int
LBFGS_HAS_D: int
INT8_BLOCK_SIZE: int
LBFGS_HAS_PREV_FLAT_GRAD: int
LBFGS_HAS_T: int
LBFGS_T_IS_TENSOR: int
LBFGS_HAS_H_DIAG: int
LBFGS_H_DIAG_IS_TENSOR: int
LBFGS_HAS_PREV_LOSS: int
LBFGS_HAS_AL: int

def algorithms() -> tuple[dict[str, Any], ...]:
    """Every algorithm of the loaded library, in id order: {"name": torch's class name,
    "options": ((torch name, default, kind, choices, whether torch has it), ...) in torch's
    constructor order, then Descent's own (a
    tuple option is one entry per element: "betas[0]", "betas[1]"), "state": ((name,
    "elementwise" or "scalar"), ...) by slot, "traits": TRAIT_* bits}."""

def set_num_threads(n: int) -> None:
    """Threads a step may use, process-wide (0 restores the default: DESCENT_NUM_THREADS,
    else the CPUs in the affinity mask). Results do not depend on it."""

def get_num_threads() -> int: ...

def set_isa(name: Literal["portable", "avx2", "avx512"]) -> None:
    """Runs later steps with this instruction set's kernels (same results, other speed);
    raises DescentError when the CPU cannot run it."""

def get_isa() -> Literal["portable", "avx2", "avx512"]: ...

def isa_supported(name: Literal["portable", "avx2", "avx512"]) -> bool: ...

def clip_grad_norm(grads: Sequence[Any], max_norm: float, norm_type: float = ...,
                   error_if_nonfinite: bool = ...) -> float:
    """torch's clip_grad_norm_ over float32 buffers; returns the norm before clipping."""

def clip_grad_value(grads: Sequence[Any], clip_value: float) -> None: ...

def grad_norm(grads: Sequence[Any], norm_type: float = ..., error_if_nonfinite: bool = ...) -> float:
    """torch's get_total_norm over float32 buffers."""

class State:
    """A writable float32 view of one optimizer state buffer (buffer protocol)."""

class Optimizer:
    """The engine's optimizer over float32 buffers."""
    param_count: int
    group_count: int
    algorithm: str
    closed: bool
    def __init__(self, algorithm: str, defaults: Optional[Mapping[str, float]] = ...) -> None: ...
    def add_group(self, hyperparameters: Mapping[str, float]) -> int: ...
    def add_param(self, group: int, param: Any, grad: Any = ..., format: Optional[str] = ...) -> int: ...
    def set_grad(self, index: int, grad: Any) -> None: ...
    def set_sparse_grad(self, index: int, indices: Any, values: Any, row_size: int) -> None: ...
    def move_param(self, index: int, param: Any) -> None: ...
    def step(self, grads: Optional[Sequence[Any]] = ..., *, grad_scale: float = ..., found_inf: bool = ...,
             nonfinite: Literal["propagate", "skip", "error"] = ..., max_norm: Optional[float] = ...,
             norm_type: float = ..., error_if_nonfinite: bool = ..., clip_value: Optional[float] = ...,
             zero_grad: bool = ...) -> dict[str, Any]:
        """The whole phase (unscale, inf/NaN check, clip, step, zero); returns the step
        report: total_norm, clip_coef, found_inf, skipped, params_updated, elements_updated."""
    def zero_grad(self) -> None: ...
    def step_closure(self, closure: Callable[[], Any]) -> Any:
        """torch's step(closure): closure() recomputes the loss, fills the registered
        gradients (it may call zero_grad and set_grad) and returns the loss; LBFGS calls
        it as often as it needs, the others once before stepping. Returns what the first
        call returned."""
    def lbfgs_state(self) -> dict[str, Any]:
        """LBFGS's state: flags (LBFGS_HAS_*), func_evals, n_iter, numel, t, h_diag,
        prev_loss, ro, al (None for torch's None) and vectors (bytes of float32: d and
        prev_flat_grad where present, then old_dirs[i], old_stps[i], oldest first)."""
    def set_lbfgs_state(self, state: Mapping[str, Any]) -> None:
        """Replaces LBFGS's state with one shaped as lbfgs_state() gives it; all or nothing."""
    def get_group(self, group: int) -> dict[str, float | bool]:
        """The algorithm's hyperparameters of a group, under torch's names ("betas[0]", ...)."""
    def set_group(self, group: int, changes: Mapping[str, float]) -> None: ...
    def hold_grad_view(self, index: int, tensor: Any) -> None:
        """Holds `tensor` (or None) as parameter `index`'s .grad view: step_tensors takes a .grad that is
        it, at the address it has now, without checking it again."""
    def step_tensors(self, params: Sequence[Any], sparse: Optional[bytes] = ..., grads: Optional[Sequence[Any]] = ..., *,
                     grad_scale: float = ..., found_inf: bool = ...,
                     nonfinite: Literal["propagate", "skip", "error"] = ..., max_norm: Optional[float] = ...,
                     norm_type: float = ..., error_if_nonfinite: bool = ..., clip_value: Optional[float] = ...,
                     zero_grad: bool = ...) -> dict[str, Any]:
        """step() with each gradient read from params[i].grad, or grads[i] when given (torch tensors,
        registration order; None in place of a parameter: not stepped)."""
    def step_count(self, index: int) -> int: ...
    def param_shape(self, index: int) -> tuple[int, ...]:
        """The shape parameter `index` was registered with (its buffer's)."""
    def set_step_count(self, index: int, steps: int) -> None: ...
    def step_counts_into(self, out: Any) -> None:
        """Writes every parameter's step count into a float32 buffer of param_count elements."""
    def state_shape(self, index: int, name: str) -> tuple[int, ...]: ...
    def state(self, index: int, name: str, create: bool = ...) -> Optional[State]:
        """A writable view of a state buffer in its format: float32 values, bfloat16 bit
        patterns (uint16) or 8-bit codes (uint8)."""
    def state_absmax(self, index: int, name: str) -> Optional[State]:
        """An 8-bit state's absmax values (float32, one per INT8_BLOCK_SIZE elements)."""
    def state_format(self, index: int, name: str) -> str:
        """"float32", "bfloat16" or "int8": the format a state buffer is kept in (or will be)."""
    def state_code_map(self, index: int, name: str) -> tuple[float, ...]:
        """The 256 values an 8-bit state's codes stand for, times their block's absmax."""
    def write_state(self, index: int, name: str, values: Any) -> None:
        """Sets a state buffer from float32 values, encoded in its format."""
    def checkpoint(self) -> bytes: ...
    def load_checkpoint(self, data: bytes | bytearray | memoryview) -> None: ...
    def save_checkpoint_file(self, path: str | bytes | os.PathLike[str]) -> None: ...
    def load_checkpoint_file(self, path: str | bytes | os.PathLike[str]) -> None: ...
    def close(self) -> None: ...

class Schedule:
    """The engine's learning-rate schedule over an optimizer's groups. The arguments
    after `kind` are the C creation function's, in the header's order."""
    last_epoch: int
    kind: str
    def __init__(self, optimizer: Optimizer, kind: str, *args: Any) -> None: ...
    def step(self, metric: Optional[float] = ...) -> None: ...
    def last_lr(self) -> list[float]: ...
    def save_state(self) -> bytes: ...
    def load_state(self, state: bytes) -> None: ...
