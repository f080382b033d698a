"""Type stubs of descent.lr_scheduler."""
from typing import Any, Callable, Literal, Optional, Sequence, Union

from .optim import Optimizer

Number = Union[float, int]
PerGroup = Union[float, Sequence[float]]
LRLambda = Callable[[int], float]

class LRScheduler:
    optimizer: Optimizer
    @property
    def last_epoch(self) -> int: ...
    def step(self) -> None: ...
    def get_last_lr(self) -> list[float]: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state_dict: dict[str, Any]) -> None: ...

class StepLR(LRScheduler):
    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = ..., last_epoch: int = ...) -> None: ...
class MultiStepLR(LRScheduler):
    def __init__(self, optimizer: Optimizer, milestones: Sequence[int], gamma: float = ..., last_epoch: int = ...) -> None: ...
class ConstantLR(LRScheduler):
    def __init__(self, optimizer: Optimizer, factor: float = ..., total_iters: int = ..., last_epoch: int = ...) -> None: ...
class LinearLR(LRScheduler):
    def __init__(self, optimizer: Optimizer, start_factor: float = ..., end_factor: float = ...,
                 total_iters: int = ..., last_epoch: int = ...) -> None: ...
class ExponentialLR(LRScheduler):
    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = ...) -> None: ...
class PolynomialLR(LRScheduler):
    def __init__(self, optimizer: Optimizer, total_iters: int = ..., power: float = ..., last_epoch: int = ...) -> None: ...
class CosineAnnealingLR(LRScheduler):
    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = ..., last_epoch: int = ...) -> None: ...
class CosineAnnealingWarmRestarts(LRScheduler):
    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = ..., eta_min: float = ...,
                 last_epoch: int = ...) -> None: ...
class WarmupCosineLR(LRScheduler):
    WARMUP_STARTS: tuple[str, ...]
    def __init__(self, optimizer: Optimizer, warmup_steps: int, decay_steps: int, min_lr: float = ...,
                 warmup_start: Literal["zero", "first_step"] = ...) -> None: ...
class CyclicLR(LRScheduler):
    def __init__(self, optimizer: Optimizer, base_lr: PerGroup, max_lr: PerGroup, step_size_up: int = ...,
                 step_size_down: Optional[int] = ...,
                 mode: Literal["triangular", "triangular2", "exp_range"] = ..., gamma: float = ...,
                 scale_fn: None = ..., scale_mode: str = ..., cycle_momentum: bool = ...,
                 base_momentum: PerGroup = ..., max_momentum: PerGroup = ..., last_epoch: int = ...) -> None: ...
class OneCycleLR(LRScheduler):
    def __init__(self, optimizer: Optimizer, max_lr: PerGroup, total_steps: Optional[int] = ...,
                 epochs: Optional[int] = ..., steps_per_epoch: Optional[int] = ..., pct_start: float = ...,
                 anneal_strategy: Literal["cos", "linear"] = ..., cycle_momentum: bool = ...,
                 base_momentum: PerGroup = ..., max_momentum: PerGroup = ..., div_factor: float = ...,
                 final_div_factor: float = ..., three_phase: bool = ..., last_epoch: int = ...) -> None: ...
class ReduceLROnPlateau(LRScheduler):
    def __init__(self, optimizer: Optimizer, mode: Literal["min", "max"] = ..., factor: float = ...,
                 patience: int = ..., threshold: float = ..., threshold_mode: Literal["rel", "abs"] = ...,
                 cooldown: int = ..., min_lr: PerGroup = ..., eps: float = ...) -> None: ...
    def step(self, metrics: Number) -> None: ...  # type: ignore[override]
class LambdaLR(LRScheduler):
    lr_lambdas: tuple[LRLambda, ...]
    def __init__(self, optimizer: Optimizer, lr_lambda: Union[LRLambda, Sequence[LRLambda]], last_epoch: int = ...) -> None: ...
class MultiplicativeLR(LRScheduler):
    lr_lambdas: tuple[LRLambda, ...]
    def __init__(self, optimizer: Optimizer, lr_lambda: Union[LRLambda, Sequence[LRLambda]], last_epoch: int = ...) -> None: ...
class SequentialLR(LRScheduler):
    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int],
                 last_epoch: int = ...) -> None: ...
    def step(self, metrics: Optional[Number] = ...) -> None: ...  # type: ignore[override]
class ChainedScheduler(LRScheduler):
    def __init__(self, schedulers: Sequence[LRScheduler], optimizer: Optional[Optimizer] = ...) -> None: ...
    def step(self, metrics: Optional[Number] = ...) -> None: ...  # type: ignore[override]
