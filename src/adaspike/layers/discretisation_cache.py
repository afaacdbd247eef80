"""Reuse a layer's discretised neuron while nothing it depends on has changed.

Discretising (matrix exponentials in float64, validation, casting) costs about a millisecond of small tensor
ops per call, as much as the fused scan of a small layer. When no parameter needs a gradient (inference, or
frozen time constants) the result only depends on the parameters' values, tracked by torch's in-place version
counters, and on the layer's settings, so it is kept. With gradients enabled every call rebuilds it, because
autograd needs a fresh graph from the parameters.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..core.ssm import DiscreteSSM


class DiscretisationCache:
    """One cached DiscreteSSM per layer, keyed on settings, dtype/device and every tensor's version."""

    def __init__(self):
        self._key = None
        self._value: DiscreteSSM | None = None

    def get(self, module: nn.Module, build: Callable[[], DiscreteSSM], settings: tuple,
            dtype: torch.dtype, device: torch.device) -> DiscreteSSM:
        params = list(module.parameters())
        if torch.is_grad_enabled() and any(p.requires_grad for p in params):
            return build().to(dtype=dtype, device=device)
        tensors = [*params, *module.buffers()]
        key = (settings, dtype, device, tuple((id(t), t.data_ptr(), t._version) for t in tensors))
        if key != self._key:
            self._value = build().to(dtype=dtype, device=device)
            self._key = key
        return self._value


def layer_ssm(module: nn.Module, current: torch.Tensor) -> DiscreteSSM:
    """``module.ssm()`` at the layer's own dt, cast for ``current``, cached as described above.

    Writes through ``param.data`` bypass torch's version counters; call ``clear_ssm_cache(model)`` after one.
    """
    dtype = current.dtype if current.is_floating_point() else torch.get_default_dtype()
    if torch.compiler.is_compiling():  # traced graphs hold the discretisation ops themselves
        return module.ssm().to(dtype=dtype, device=current.device)
    cache = module.__dict__.get("_discretisation")
    if cache is None:
        cache = module.__dict__["_discretisation"] = DiscretisationCache()
    settings = (module.dt, module.method, torch.is_inference_mode_enabled())
    return cache.get(module, module.ssm, settings, dtype, current.device)


def clear_ssm_cache(model: nn.Module) -> None:
    """Forget every cached discretisation in ``model`` (needed only after writing parameters via ``.data``)."""
    for module in model.modules():
        module.__dict__.pop("_discretisation", None)
