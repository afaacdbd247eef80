"""The one map module type → NIR node, used by both NIR exporters (``interop.export`` over trained models and
``convert.nir_export`` over the fx graph of a converted SNN), in the style of nirtorch/Norse's ``to_nir`` maps.

Each entry turns one module into its NIR node given a :class:`NodeContext` (the per-sample shapes it sees and
the exporter's conventions); the exporters only walk their graphs. A type is looked up along the module's MRO,
so a subclass uses its nearest registered base. Add a type with the decorator (every exporter then writes it)::

    @register_nir_node(MyScale)
    def _my_scale(module, ctx):
        return nir.Scale(ctx.array(module.factor, ctx.in_shape))

A builder returning ``None`` marks a pass-through module (Identity, Dropout): no node, its input goes on.
``neuron=True`` marks a neuron layer: stateful, its output has its input's shape. The synapse and shape ops are
registered here; the trained-model neurons in ``interop.export``, the conversion neuron in ``convert.nir_export``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import nir
import numpy as np
import torch
from torch import nn

from ..core.registry import Registry
from .graph_module import SumPool2d

__all__ = ["MODULE_NODES", "NodeBuilder", "NodeContext", "UnmappedModule", "build_nir_node", "mapped_types",
           "nir_node_builder", "register_nir_node"]


class NodeContext:
    """What a builder knows besides the module: the per-sample (no time or batch axis) input shape, the output
    shape (a tuple, or a function that computes it when a builder asks), the float ``dtype`` of the written
    arrays, ``zero_bias`` (write Linear as Affine with a zero bias where the module has none, so that a constant
    can later be folded into it), ``dt`` (s, the neuron step hint) and any exporter-specific ``extra``."""

    def __init__(self, in_shape: Sequence[int], out_shape: Sequence[int] | Callable[[], Sequence[int]] | None = None,
                 *, dtype: Any = np.float32, zero_bias: bool = False, dt: float | None = None, **extra: Any):
        self.in_shape = tuple(int(s) for s in in_shape)
        self._out = out_shape
        self.dtype = np.dtype(dtype)
        self.zero_bias = zero_bias
        self.dt = dt
        self.extra = extra

    @property
    def out_shape(self) -> tuple[int, ...]:
        if callable(self._out):
            self._out = self._out()
        if self._out is None:
            raise ValueError("this export gave no output shape")
        return tuple(int(s) for s in self._out)

    def array(self, t: torch.Tensor, shape: Sequence[int] | None = None) -> np.ndarray:
        """``t`` as a contiguous array of the exporter's dtype, broadcast to ``shape`` when given."""
        a = t.detach().cpu().to(getattr(torch, self.dtype.name)).numpy()
        return np.ascontiguousarray(np.broadcast_to(a, shape) if shape is not None else a, dtype=self.dtype)

    def zeros(self, shape: int | Sequence[int]) -> np.ndarray:
        return np.zeros(shape, dtype=self.dtype)

    def bias(self, module: nn.Module, size: int) -> np.ndarray:
        return self.array(module.bias) if module.bias is not None else self.zeros(size)


@dataclass(frozen=True)
class NodeBuilder:
    """One entry of the map: ``build(module, ctx)`` → the NIR node (``None``: pass-through)."""

    type: type
    build: Callable[[nn.Module, NodeContext], nir.NIRNode | None]
    neuron: bool = False


class UnmappedModule(ValueError):
    """A module type with no entry in the map (the message names it)."""


MODULE_NODES: Registry[NodeBuilder] = Registry("NIR node builder")


def _key(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register_nir_node(cls: type, *, neuron: bool = False, replace: bool = False):
    """Decorator: ``build(module, ctx)`` writes modules of type ``cls`` (and its subclasses) as NIR nodes."""

    def wrap(build: Callable[[nn.Module, NodeContext], nir.NIRNode | None]):
        taken = MODULE_NODES.get(_key(cls))
        if taken is None or taken.build is not build or taken.neuron != neuron:   # re-importing is harmless
            MODULE_NODES.add(_key(cls), NodeBuilder(cls, build, neuron), replace=replace)
        return build

    return wrap


def nir_node_builder(module: nn.Module) -> NodeBuilder:
    """The entry for ``module``'s type or its nearest registered base; :class:`UnmappedModule` if none."""
    for cls in type(module).__mro__:
        entry = MODULE_NODES.get(_key(cls))
        if entry is not None:
            return entry
    raise UnmappedModule(f"no NIR node for {type(module).__name__}; mapped types: {mapped_types()} (add one with "
                         f"adaspike.interop.register_nir_node({type(module).__name__}))")


def mapped_types() -> str:
    """The mapped type names, sorted and comma-separated (for error messages)."""
    return ", ".join(sorted({entry.type.__name__ for entry in MODULE_NODES.values()}))


def build_nir_node(module: nn.Module, ctx: NodeContext) -> nir.NIRNode | None:
    """``module``'s NIR node through the map (``None`` for a pass-through module)."""
    return nir_node_builder(module).build(module, ctx)


def _pair(v) -> np.ndarray:
    return np.array(v if isinstance(v, (tuple, list)) else (v, v), dtype=np.int64)


@register_nir_node(nn.Identity)
@register_nir_node(nn.Dropout)
def _pass_through(module: nn.Module, ctx: NodeContext) -> None:
    return None


@register_nir_node(nn.Linear)
def _linear(module: nn.Linear, ctx: NodeContext) -> nir.NIRNode:
    if module.bias is None and not ctx.zero_bias:
        return nir.Linear(weight=ctx.array(module.weight))
    return nir.Affine(weight=ctx.array(module.weight), bias=ctx.bias(module, module.out_features))


def _numeric_padding(module: nn.Module) -> None:
    if module.padding_mode != "zeros" or isinstance(module.padding, str):
        raise ValueError(f"{type(module).__name__} export needs numeric zero padding")


@register_nir_node(nn.Conv1d)
def _conv1d(module: nn.Conv1d, ctx: NodeContext) -> nir.NIRNode:
    _numeric_padding(module)
    return nir.Conv1d(input_shape=ctx.in_shape[-1], weight=ctx.array(module.weight), stride=module.stride[0],
                      padding=module.padding[0], dilation=module.dilation[0], groups=module.groups,
                      bias=ctx.bias(module, module.out_channels))


@register_nir_node(nn.Conv2d)
def _conv2d(module: nn.Conv2d, ctx: NodeContext) -> nir.NIRNode:
    _numeric_padding(module)
    return nir.Conv2d(input_shape=ctx.in_shape[-2:], weight=ctx.array(module.weight), stride=module.stride,
                      padding=module.padding, dilation=module.dilation, groups=module.groups,
                      bias=ctx.bias(module, module.out_channels))


@register_nir_node(nn.Flatten)
def _flatten(module: nn.Flatten, ctx: NodeContext) -> nir.NIRNode:
    # NIR shapes have no batch axis; the modules see [batch, ...]
    start = module.start_dim - 1 if module.start_dim > 0 else module.start_dim
    end = module.end_dim - 1 if module.end_dim > 0 else module.end_dim
    return nir.Flatten(input_type={"input": np.array(ctx.in_shape)}, start_dim=start, end_dim=end)


@register_nir_node(nn.AvgPool2d)
def _avg_pool2d(module: nn.AvgPool2d, ctx: NodeContext) -> nir.NIRNode:
    if module.ceil_mode or module.divisor_override is not None:
        raise ValueError("AvgPool2d with ceil_mode or divisor_override has no NIR form")
    stride = module.stride if module.stride is not None else module.kernel_size
    return nir.AvgPool2d(kernel_size=_pair(module.kernel_size), stride=_pair(stride), padding=_pair(module.padding))


@register_nir_node(nn.AdaptiveAvgPool2d)
def _adaptive_avg_pool2d(module: nn.AdaptiveAvgPool2d, ctx: NodeContext) -> nir.NIRNode:
    (h, w), (oh, ow) = ctx.in_shape[-2:], ctx.out_shape[-2:]
    if h % oh or w % ow:
        raise ValueError("adaptive average pooling with uneven windows has no NIR node")
    kernel = _pair((h // oh, w // ow))
    return nir.AvgPool2d(kernel_size=kernel, stride=kernel.copy(), padding=_pair(0))


@register_nir_node(SumPool2d)
def _sum_pool2d(module: SumPool2d, ctx: NodeContext) -> nir.NIRNode:
    return nir.SumPool2d(kernel_size=_pair(module.kernel_size), stride=_pair(module.stride),
                         padding=_pair(module.padding))
