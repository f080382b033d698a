"""Type stubs of descent.torch."""
import os
from typing import Any, Callable, Iterable, Literal, Optional, Union

import torch

from .gradients import StepReport

Tensors = Union[torch.Tensor, Iterable[torch.Tensor]]

class _EngineOptimizer(torch.optim.Optimizer):
    """What every drop-in shares: the step with the fused optimizer phase, and
    checkpoints in Descent's format next to torch's state_dict."""
    last_step_report: StepReport
    def step(self, closure: Optional[Callable[[], Any]] = ..., *, max_norm: Optional[float] = ...,
             norm_type: float = ..., error_if_nonfinite: bool = ..., clip_value: Optional[float] = ...,
             nonfinite: Literal["propagate", "skip", "error"] = ..., zero_grad: bool = ...) -> Any: ...
    def add_param_group(self, param_group: dict[str, Any]) -> None: ...
    def zero_grad(self, set_to_none: bool = ...) -> None: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state_dict: dict[str, Any]) -> None: ...
    def checkpoint(self) -> bytes: ...
    def load_checkpoint(self, data: bytes | bytearray | memoryview) -> None: ...
    def save(self, path: str | os.PathLike[str]) -> None: ...
    def load(self, path: str | os.PathLike[str]) -> None: ...

class SGD(_EngineOptimizer):
    def __init__(self, params: Any, lr: float = ..., momentum: float = ..., dampening: float = ...,
                 weight_decay: float = ..., nesterov: bool = ..., *,
                 maximize: bool = ..., state_dtype: str = ...,
                 min_8bit_size: int = ..., master_weights: bool = ..., stochastic_rounding: bool = ...,
                 grad_arena: bool = ..., **kwargs: Any) -> None: ...

class Adam(_EngineOptimizer):
    def __init__(self, params: Any, lr: float = ..., betas: tuple[float, float] = ..., eps: float = ...,
                 weight_decay: float = ..., amsgrad: bool = ..., *,
                 maximize: bool = ..., state_dtype: str = ...,
                 min_8bit_size: int = ..., master_weights: bool = ..., stochastic_rounding: bool = ...,
                 grad_arena: bool = ..., **kwargs: Any) -> None: ...

class AdamW(_EngineOptimizer):
    def __init__(self, params: Any, lr: float = ..., betas: tuple[float, float] = ..., eps: float = ...,
                 weight_decay: float = ..., amsgrad: bool = ..., *,
                 maximize: bool = ..., state_dtype: str = ...,
                 min_8bit_size: int = ..., master_weights: bool = ..., stochastic_rounding: bool = ...,
                 grad_arena: bool = ..., **kwargs: Any) -> None: ...

class RMSprop(_EngineOptimizer):
    def __init__(self, params: Any, lr: float = ..., alpha: float = ..., eps: float = ...,
                 weight_decay: float = ..., momentum: float = ..., centered: bool = ..., *,
                 maximize: bool = ..., state_dtype: str = ...,
                 min_8bit_size: int = ..., master_weights: bool = ..., stochastic_rounding: bool = ...,
                 grad_arena: bool = ..., **kwargs: Any) -> None: ...

class Adagrad(_EngineOptimizer):
    def __init__(self, params: Any, lr: float = ..., lr_decay: float = ..., weight_decay: float = ...,
                 initial_accumulator_value: float = ..., eps: float = ..., *,
                 maximize: bool = ..., state_dtype: str = ...,
                 min_8bit_size: int = ..., master_weights: bool = ..., stochastic_rounding: bool = ...,
                 grad_arena: bool = ..., **kwargs: Any) -> None: ...

class Adamax(_EngineOptimizer):
    def __init__(self, params: Any, lr: float = ..., betas: tuple[float, float] = ..., eps: float = ...,
                 weight_decay: float = ..., *,
                 maximize: bool = ..., state_dtype: str = ...,
                 min_8bit_size: int = ..., master_weights: bool = ..., stochastic_rounding: bool = ...,
                 grad_arena: bool = ..., **kwargs: Any) -> None: ...

class NAdam(_EngineOptimizer):
    def __init__(self, params: Any, lr: float = ..., betas: tuple[float, float] = ..., eps: float = ...,
                 weight_decay: float = ..., momentum_decay: float = ..., decoupled_weight_decay: bool = ..., *,
                 maximize: bool = ..., state_dtype: str = ...,
                 min_8bit_size: int = ..., master_weights: bool = ..., stochastic_rounding: bool = ...,
                 grad_arena: bool = ..., **kwargs: Any) -> None: ...

class RAdam(_EngineOptimizer):
    def __init__(self, params: Any, lr: float = ..., betas: tuple[float, float] = ..., eps: float = ...,
                 weight_decay: float = ..., decoupled_weight_decay: bool = ..., *,
                 maximize: bool = ..., state_dtype: str = ...,
                 min_8bit_size: int = ..., master_weights: bool = ..., stochastic_rounding: bool = ...,
                 grad_arena: bool = ..., **kwargs: Any) -> None: ...

class Adadelta(_EngineOptimizer):
    def __init__(self, params: Any, lr: float = ..., rho: float = ..., eps: float = ..., weight_decay: float = ...,
                 *, maximize: bool = ..., state_dtype: str = ...,
                 min_8bit_size: int = ..., master_weights: bool = ..., stochastic_rounding: bool = ...,
                 grad_arena: bool = ..., **kwargs: Any) -> None: ...

class ASGD(_EngineOptimizer):
    def __init__(self, params: Any, lr: float = ..., lambd: float = ..., alpha: float = ..., t0: float = ...,
                 weight_decay: float = ..., *,
                 maximize: bool = ..., state_dtype: str = ...,
                 min_8bit_size: int = ..., master_weights: bool = ..., stochastic_rounding: bool = ...,
                 grad_arena: bool = ..., **kwargs: Any) -> None: ...

class ComplexParameterError(ValueError, RuntimeError): ...

class Adafactor(_EngineOptimizer):
    def __init__(self, params: Any, lr: float = ..., beta2_decay: float = ...,
                 eps: tuple[Optional[float], float] = ..., d: float = ..., weight_decay: float = ..., *,
                 maximize: bool = ..., grad_arena: bool = ..., **kwargs: Any) -> None: ...

class Muon(_EngineOptimizer):
    def __init__(self, params: Any, lr: float = ..., weight_decay: float = ..., momentum: float = ...,
                 nesterov: bool = ..., ns_coefficients: tuple[float, float, float] = ..., eps: float = ...,
                 ns_steps: int = ..., adjust_lr_fn: Optional[str] = ..., *,
                 grad_arena: bool = ..., **kwargs: Any) -> None: ...

class MuonWithAdamW(torch.optim.Optimizer):
    muon: Muon
    adamw: Optional[AdamW]
    def __init__(self, model: torch.nn.Module, muon: Optional[dict[str, Any]] = ...,
                 adamw: Optional[dict[str, Any]] = ..., *, adamw_names: tuple[str, ...] = ...,
                 grad_arena: bool = ...) -> None: ...

class AdamW8bit(AdamW):
    def __init__(self, params: Any, lr: float = ..., betas: tuple[float, float] = ..., eps: float = ...,
                 weight_decay: float = ..., amsgrad: bool = ..., optim_bits: int = ..., args: Any = ...,
                 min_8bit_size: int = ..., is_paged: bool = ...) -> None: ...
    def load_state_dict(self, state_dict: dict[str, Any]) -> None: ...

class Adam8bit(AdamW8bit):
    def __init__(self, params: Any, lr: float = ..., betas: tuple[float, float] = ..., eps: float = ...,
                 weight_decay: float = ..., amsgrad: bool = ..., optim_bits: int = ..., args: Any = ...,
                 min_8bit_size: int = ..., is_paged: bool = ...) -> None: ...

class Rprop(_EngineOptimizer):
    def __init__(self, params: Any, lr: float = ..., etas: tuple[float, float] = ...,
                 step_sizes: tuple[float, float] = ..., *,
                 maximize: bool = ..., state_dtype: str = ...,
                 min_8bit_size: int = ..., master_weights: bool = ..., stochastic_rounding: bool = ...,
                 grad_arena: bool = ..., **kwargs: Any) -> None: ...

class SparseAdam(_EngineOptimizer):
    def __init__(self, params: Any, lr: float = ..., betas: tuple[float, float] = ..., eps: float = ..., *,
                 maximize: bool = ..., grad_arena: bool = ..., **kwargs: Any) -> None: ...

class _ClosureEngineOptimizer(_EngineOptimizer):
    """A drop-in whose step re-evaluates the loss (LBFGS): one group, step(closure)."""
    def step(self, closure: Callable[[], Any]) -> Any: ...  # type: ignore[override]

class LBFGS(_ClosureEngineOptimizer):
    def __init__(self, params: Any, lr: float = ..., max_iter: int = ..., max_eval: Optional[int] = ...,
                 tolerance_grad: float = ..., tolerance_change: float = ..., history_size: int = ...,
                 line_search_fn: Optional[Literal["strong_wolfe"]] = ..., *,
                 maximize: bool = ..., grad_arena: bool = ..., **kwargs: Any) -> None: ...

def get_total_norm(tensors: Tensors, norm_type: float = ..., error_if_nonfinite: bool = ...,
                   foreach: Optional[bool] = ...) -> torch.Tensor: ...
def clip_grad_norm_(parameters: Tensors, max_norm: float, norm_type: float = ...,
                    error_if_nonfinite: bool = ..., foreach: Optional[bool] = ...) -> torch.Tensor: ...
def clip_grad_value_(parameters: Tensors, clip_value: float, foreach: Optional[bool] = ...) -> None: ...
