"""MuonWithAdamW: one optimizer for a whole model, Muon for its hidden matrices and AdamW
for the rest — the pair that Muon's users build by hand today, since Muon takes only
matrices of hidden layers.

The split rule, given a model (an nn.Module):
1. a parameter that is not 2-D (biases, norms' gains, scalars, convolution kernels) goes
   to AdamW;
2. so does the weight of every nn.Embedding and nn.EmbeddingBag (an input embedding, and
   an output head tied to it: a tied weight is one parameter);
3. and that of the output head: the last nn.Linear module of the model (modules()
   order, which is registration order: GPT-2's lm_head, a classifier);
4. and any parameter whose name contains one of `adamw_names` (say "lm_head" for a head
   registered before the body);
5. every other parameter, a 2-D weight of a hidden layer, goes to Muon.

`muon` and `adamw` are each optimizer's keyword arguments (torch's defaults where not
given); the two are `.muon` and `.adamw`, and `param_groups` lists Muon's groups then
AdamW's (the same dicts), so torch's LR schedulers, GradScaler and zero_grad work on the
pair. The schedulers that cycle momentum (CyclicLR, OneCycleLR) need
`cycle_momentum=False`: Muon's groups have `momentum`, AdamW's `betas`, and torch's
schedulers cycle one of the two. `state_dict()` holds both: {"muon": …, "adamw": …},
each in torch's format.
"""
import copy

import torch

__all__ = ["MuonWithAdamW", "split_parameters"]


def split_parameters(model, adamw_names=()):
    """(hidden matrices for Muon, the rest for AdamW) of `model`'s trainable parameters,
    by the rule above, each list in model.named_parameters() order."""
    to_adamw = {id(m.weight) for m in model.modules()
                if isinstance(m, (torch.nn.Embedding, torch.nn.EmbeddingBag))}
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if linears:
        to_adamw.add(id(linears[-1].weight))
    hidden, rest = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        adamw = p.ndim != 2 or id(p) in to_adamw or any(part in name for part in adamw_names)
        (rest if adamw else hidden).append(p)
    return hidden, rest


class MuonWithAdamW(torch.optim.Optimizer):
    """Muon for `model`'s hidden matrices, AdamW for the rest (see the module's rule)."""

    def __init__(self, model, muon=None, adamw=None, *, adamw_names=(), grad_arena=False):
        from .torch import AdamW, Muon
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"MuonWithAdamW splits a model's parameters by its modules: give the nn.Module, "
                            f"not {type(model).__name__}")
        hidden, rest = split_parameters(model, adamw_names)
        if not hidden:
            raise ValueError("the model has no hidden 2-D weight for Muon (every parameter went to AdamW by the "
                             "split rule); use descent.torch.AdamW")
        self.muon = Muon(hidden, grad_arena=grad_arena, **(muon or {}))
        self.adamw = AdamW(rest, grad_arena=grad_arena, **(adamw or {})) if rest else None
        self._parts = [part for part in (self.muon, self.adamw) if part is not None]
        self._adopting = True
        super().__init__([group for part in self._parts for group in part.param_groups], {})
        self._adopting = False

    def add_param_group(self, param_group):
        if not self._adopting:
            raise NotImplementedError("add a group to .muon (2-D hidden weights) or .adamw, whose groups "
                                      "param_groups lists")
        # The parts' own dicts: torch's base class keeps the same objects.
        super().add_param_group(param_group)

    @property
    def state(self):
        """Both optimizers' state, keyed by parameter (as torch's optimizer.state)."""
        merged = {}
        for part in self._parts:
            merged.update(part.state)
        return merged

    @state.setter
    def state(self, value):  # torch's base __init__ assigns an empty state
        if value:
            raise NotImplementedError("set the state of .muon or .adamw")

    @torch.no_grad()
    def step(self, closure=None):
        """Steps Muon's parameters, then AdamW's; returns what the closure returned."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for part in self._parts:
            part.step()
        return loss

    def zero_grad(self, set_to_none=True):
        for part in self._parts:
            part.zero_grad(set_to_none)

    def state_dict(self):
        return {"muon": self.muon.state_dict(), "adamw": self.adamw.state_dict() if self.adamw else None}

    def load_state_dict(self, state_dict):
        """Loads both parts, or neither: a refused AdamW part puts Muon's state back."""
        if set(state_dict) != {"muon", "adamw"} or (state_dict["adamw"] is None) != (self.adamw is None):
            raise ValueError("a MuonWithAdamW state_dict has the keys 'muon' and 'adamw', as state_dict() gives "
                             "for the same model")
        before = copy.deepcopy(self.muon.state_dict())
        self.muon.load_state_dict(state_dict["muon"])
        try:
            if self.adamw is not None:
                self.adamw.load_state_dict(state_dict["adamw"])
        except Exception:
            self.muon.load_state_dict(before)
            raise
        finally:
            # torch's load puts new group dicts in each part: list those.
            self.param_groups[:] = [group for part in self._parts for group in part.param_groups]

    def __repr__(self):
        return f"MuonWithAdamW(\nmuon={self.muon!r},\nadamw={self.adamw!r})"

