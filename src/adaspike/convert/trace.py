"""Trace an ANN with ``torch.fx``, check every operation, fold BatchNorm and swap activations for conversion neurons.

When fx cannot trace the model, a module-based ReLU network is converted by swapping its nn.ReLU modules
(its own ``forward`` then runs every step); otherwise the error names the user's source line and the fixes.

The converted network is the same fx graph run once per time step: conv/linear layers see each step's
(graded) spike map; every other operation acts on each step's map. What converts, and why:

* **ReLU** (module, ``F.relu``, ``torch.relu``, ``.relu()``, ``inplace=True`` or not) becomes a spiking neuron.
* **Piecewise-linear activations** are written as sums of ReLUs, each a spiking neuron, so their rate is exact
  in the limit: ``ReLU6(z) = relu(z) − relu(z − 6)`` (also ``Hardtanh(lo, hi) = lo + relu(z − lo) −
  relu(z − hi)``), ``LeakyReLU(z) = relu(z) − s·relu(−z)``.
* **Linear per-step operations** are exact in rate (the mean over steps of a linear map of x is the map of the
  mean): residual additions (they enter the next neuron's membrane current), subtraction, scaling by a
  constant, concatenation, chunk/split, views and reshapes, ``torch.flatten``, transposes, average pooling,
  adaptive average pooling, spatial means, and BatchNorm that does not directly follow a Conv/Linear
  (kept as a per-channel affine map in eval mode; DenseNet's pre-activation BN, for example).
* **BatchNorm right after a Conv/Linear** is folded into it (one fold, ``adaspike.layers.norm``, float64;
  ``affine=False`` and bias-free layers included)::

      W' = W·γ/√(σ²+ε)        b' = β + γ(b − μ)/√(σ²+ε)

* **Max pooling** (``MaxPool2d``, ``AdaptiveMaxPool2d``, functional) right after a ReLU fed only by the analog
  image (the stems of ResNet, VGG, DenseNet, SqueezeNet, ShuffleNet), under direct coding, moves in front of the
  ReLU (``maxpool(relu(z)) = relu(maxpool(z))``): the current is the same at every step, so the neuron
  integrating the pooled current is exact in rate. Elsewhere it is a documented approximation: the max of each
  step's spike map over-estimates the max of rates when inputs fire at different steps; conversion warns,
  naming the layer and its source line.
* **Dropout and Identity** are removed.

Everything else is refused with ``UnsupportedOperationError`` naming the operation and the model's source line:
smooth or non-monotonic activations (GELU, SiLU/Swish, Hardswish, sigmoid, tanh, softmax), products of two
activations (squeeze-excitation gates, attention), LayerNorm/GroupNorm (they divide by a statistic of the
activations), and parameters used directly in the forward (class tokens, layer scales). No IF neuron that
counts spikes computes these from rates.
"""
from __future__ import annotations

import copy
import logging
import operator
import os
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from ..layers.norm import fold_batchnorm_into
from .context import run_context
from .neuron import ConversionNeuron, make_neuron

log = logging.getLogger("adaspike")


class UnsupportedOperationError(ValueError):
    """The ANN contains an operation that conversion does not support; the message names it and the node."""


_SYNAPSES = (nn.Conv2d, nn.Linear)
_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
_REMOVABLE_MODULES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout, nn.Identity)
_MAXPOOLS = (nn.MaxPool2d, nn.AdaptiveMaxPool2d)
_LINEAR_MODULES = (nn.Flatten, nn.Unflatten, nn.AvgPool2d, nn.AdaptiveAvgPool2d) + _MAXPOOLS
_PIECEWISE_MODULES = (nn.ReLU6, nn.Hardtanh, nn.LeakyReLU)
_SUPPORTED_MODULES = _SYNAPSES + _BATCHNORMS + _REMOVABLE_MODULES + _LINEAR_MODULES + _PIECEWISE_MODULES + (nn.ReLU,)
_RELU_FUNCTIONS = {F.relu, torch.relu, torch.relu_, F.relu_}
_RELU_METHODS = {"relu", "relu_"}
_PIECEWISE_FUNCTIONS = {F.relu6, F.hardtanh, F.leaky_relu}
# linear in their tensor arguments per step (scalar factors only for mul/div: checked in _check_linear_product)
_LINEAR_FUNCTIONS = {operator.add, torch.add, operator.sub, torch.sub, operator.neg, torch.neg, operator.mul, torch.mul,
                     operator.truediv, torch.div, torch.cat, torch.concat, torch.chunk, torch.split, torch.flatten,
                     torch.reshape, torch.transpose, torch.permute, torch.squeeze, torch.unsqueeze, torch.mean,
                     F.avg_pool2d, F.adaptive_avg_pool2d, operator.getitem, getattr}
_MAXPOOL_FUNCTIONS = {F.max_pool2d, F.adaptive_max_pool2d}
_REMOVABLE_FUNCTIONS = {F.dropout, F.dropout1d, F.dropout2d, F.alpha_dropout}
_LINEAR_METHODS = {"flatten", "view", "reshape", "size", "contiguous", "add", "add_", "sub", "neg", "mul", "div",
                   "chunk", "split", "transpose", "permute", "mean", "squeeze", "unsqueeze", "unflatten"}
_PRODUCTS = {operator.mul, torch.mul, "mul", operator.truediv, torch.div, "div"}

# why an activation has no rate-coded IF equivalent, for the refusal (by class or function name, lower case)
_NO_SPIKING_EQUIVALENT = {
    "gelu": "GELU is smooth and dips below zero", "silu": "SiLU (Swish) is smooth and dips below zero",
    "hardswish": "Hardswish is quadratic near zero", "hardsigmoid": "Hardsigmoid gates another activation",
    "sigmoid": "sigmoid saturates smoothly", "tanh": "tanh is odd and saturates smoothly",
    "softmax": "softmax normalises across features", "log_softmax": "log-softmax normalises across features",
    "logsoftmax": "log-softmax normalises across features", "mish": "Mish is smooth and dips below zero",
    "elu": "ELU is exponential below zero", "selu": "SELU is exponential below zero",
    "layernorm": "LayerNorm divides by a statistic of the activations",
    "layer_norm": "LayerNorm divides by a statistic of the activations",
    "group_norm": "GroupNorm divides by a statistic of the activations",
    "instance_norm": "InstanceNorm divides by a statistic of the activations",
    "instancenorm": "InstanceNorm divides by a statistic of the activations",
    "groupnorm": "GroupNorm divides by a statistic of the activations",
    "multiheadattention": "attention multiplies activations with each other",
    "scaled_dot_product_attention": "attention multiplies activations with each other",
    "matmul": "it multiplies activations with each other", "bmm": "it multiplies activations with each other",
    "einsum": "it multiplies activations with each other", "prelu": "PReLU's learned slope is not supported yet",
}
_HOW_TO_FIX = ("replace it by ReLU (or ReLU6/LeakyReLU/Hardtanh, which convert exactly in rate) and fine-tune, "
               "or convert only the ReLU part of the network")


@dataclass
class SynapseInfo:
    """A conv/linear layer of the converted graph; ``kind`` is 'first' (analog input: MACs), 'hidden'
    (spiking input: ACs) or 'readout' (no neuron after it: the non-spiking classifier)."""

    name: str
    module: nn.Module
    kind: str
    source: int | None          # index of the neuron whose spikes feed it (None for analog input)
    flops: int = 0              # MACs per sample per step, set on the first forward


def describe(node: fx.Node) -> str:
    where = _user_line(node)
    return f"node {node.name!r} ({node.op} {_target_name(node)})" + (f" at {where}" if where else "")


def _outside_library(filename: str) -> bool:
    """True for a model author's file: not torch's own code (fx, nn containers) nor this package."""
    # with the separator: torchvision's models live beside torch, in ".../site-packages/torchvision/"
    return not filename.startswith((str(Path(torch.__file__).parent) + os.sep, str(Path(__file__).parent) + os.sep))


def _user_line(node: fx.Node) -> str:
    """'File "...", line N, in f: code' of the model's source that created ``node``.

    fx records the whole Python stack, torch's own frames included (``nn.Sequential.forward``, fx's proxy); the
    innermost frame outside torch is the line the model's author wrote.
    """
    trace = getattr(node, "stack_trace", None) or ""
    lines = [ln.strip() for ln in trace.strip().splitlines() if ln.strip()]
    for i in range(len(lines) - 1, -1, -1):     # 'File "...", line N, in f' followed by its code
        if lines[i].startswith("File "):
            filename = lines[i].split('"')[1] if lines[i].count('"') >= 2 else ""
            if not _outside_library(filename):
                continue
            code = lines[i + 1] if i + 1 < len(lines) and not lines[i + 1].startswith("File ") else ""
            return f"{lines[i]}: {code}" if code else lines[i]
    return ""


def _target_name(node: fx.Node) -> str:
    t = node.target
    return getattr(t, "__name__", None) or str(t)


def _pool_name(gm: fx.GraphModule, node: fx.Node) -> str:
    """How a warning names a max-pool: its module path and type, and the model's source line."""
    where = _user_line(node)
    what = (f"{node.target} ({type(gm.get_submodule(node.target)).__name__})" if node.op == "call_module"
            else _target_name(node))
    return what + (f" at {where}" if where else "")


def _operation(gm: fx.GraphModule, node: fx.Node) -> tuple[str, str | None]:
    """(how an error names the operation, its key in ``_NO_SPIKING_EQUIVALENT`` or None)."""
    if node.op == "call_module":
        mod = gm.get_submodule(node.target)
        what, names = f"module {type(mod).__name__}", [cls.__name__.lower() for cls in type(mod).__mro__]
    elif node.op == "call_method":
        what, names = f"tensor method .{node.target}()", [str(node.target).lower()]
    elif node.op == "call_function":
        what, names = f"function {_target_name(node)}", [_target_name(node).lower()]
    else:
        return describe(node), None
    return what, next((n for n in names if n in _NO_SPIKING_EQUIVALENT), None)


def _refusal(gm: fx.GraphModule, node: fx.Node) -> UnsupportedOperationError:
    """The error for an operation with no spiking equivalent: what it is, where the model calls it, why, the fix."""
    what, key = _operation(gm, node)
    reason = _NO_SPIKING_EQUIVALENT.get(key)
    fix = ("replace it by BatchNorm (folded into the layer before it, or kept as a per-channel affine map) and "
           "fine-tune" if key and "norm" in key else _HOW_TO_FIX)
    why = (f": {reason}, so no integrate-and-fire neuron computes it from spike rates" if reason else
           ": conversion supports ReLU-like activations (ReLU, ReLU6, LeakyReLU, Hardtanh), Conv2d, Linear, "
           "BatchNorm, pooling, residual additions, concatenation and shape operations")
    return UnsupportedOperationError(f"cannot convert {what} at {describe(node)}{why}. How to fix: {fix}")


def _first_input(node) -> fx.Node | None:
    """The node's first tensor input (the first element of a list argument, as torch.cat's)."""
    inputs = node.all_input_nodes if isinstance(node, fx.Node) else []
    return inputs[0] if inputs else None


def _shape_values(gm: fx.GraphModule) -> set:
    """Nodes that hold sizes, not activations: ``x.size()``, ``x.shape`` and integer arithmetic on them."""
    shapes: set = set()
    for node in gm.graph.nodes:
        if node.op == "call_method" and node.target == "size":
            shapes.add(node)
        elif node.op == "call_function" and node.target is getattr:
            shapes.add(node)
        elif node.op == "call_function" and node.all_input_nodes and all(a in shapes for a in node.all_input_nodes):
            shapes.add(node)        # getitem of a size, num_channels // groups, h == image_size, ...
    return shapes


def _is_product_of_activations(node: fx.Node, shapes: set) -> bool:
    """mul/div with two activation tensors (a gate or attention), or division by an activation."""
    activations = [a for a in node.args if isinstance(a, fx.Node) and a not in shapes]
    divides = node.target in (operator.truediv, torch.div, "div")
    return len(activations) > 1 or (divides and len(node.args) > 1 and isinstance(node.args[1], fx.Node)
                                    and node.args[1] not in shapes)


def check_supported(gm: fx.GraphModule, leaf_modules: tuple = ()) -> list[str]:
    """Raise ``UnsupportedOperationError`` naming the first unsupported op; return the user's names of max-pools."""
    maxpools = []
    shapes = _shape_values(gm)
    for node in gm.graph.nodes:
        if node.op in ("placeholder", "output") or node in shapes:
            continue
        if node.op == "call_module":
            mod = gm.get_submodule(node.target)
            if leaf_modules and isinstance(mod, tuple(leaf_modules)):
                continue        # the user declared it an opaque per-step operation
            if not isinstance(mod, _SUPPORTED_MODULES):
                raise _refusal(gm, node)
            if isinstance(mod, nn.Conv2d) and mod.groups != 1:
                log.info("grouped conv at %s: energy counts ignore groups (conversion spec §10)", describe(node))
            if isinstance(mod, _MAXPOOLS):
                maxpools.append(_pool_name(gm, node))
        elif node.op == "call_function":
            known = (_RELU_FUNCTIONS | _PIECEWISE_FUNCTIONS | _LINEAR_FUNCTIONS | _MAXPOOL_FUNCTIONS
                     | _REMOVABLE_FUNCTIONS | {torch._assert})
            if node.target not in known:
                raise _refusal(gm, node)
            if node.target in _PRODUCTS and _is_product_of_activations(node, shapes):
                raise UnsupportedOperationError(
                    f"cannot convert {describe(node)}: it multiplies (or divides) two activations, as a "
                    "squeeze-excitation gate or attention does; spike rates only combine linearly. How to fix: "
                    "remove the gate (or attention block) and fine-tune")
            if node.target in _MAXPOOL_FUNCTIONS:
                maxpools.append(_pool_name(gm, node))
        elif node.op == "call_method":
            if node.target not in _LINEAR_METHODS | _RELU_METHODS:
                raise _refusal(gm, node)
            if node.target in _PRODUCTS and _is_product_of_activations(node, shapes):
                raise UnsupportedOperationError(f"cannot convert {describe(node)}: it multiplies (or divides) two "
                                                "activations; spike rates only combine linearly")
        else:
            for user in node.users:     # a norm's own weight (ConvNeXt's LayerNorm2d): name the norm instead
                if _operation(gm, user)[1] is not None:
                    raise _refusal(gm, user)
            raise UnsupportedOperationError(
                f"cannot convert {describe(node)}: the forward uses the parameter or buffer {node.target!r} directly "
                "(a class token, a layer scale, a position embedding); conversion supports parameters inside "
                "Conv2d, Linear and BatchNorm only")
    return maxpools


def _fold_bn(synapse: nn.Module, bn: nn.Module) -> nn.Module:
    fused = copy.deepcopy(synapse)
    fold_batchnorm_into(fused, bn)
    return fused


def _fold_graph_batchnorm(gm: fx.GraphModule) -> None:
    """Fold every BN into the Conv/Linear right before it (in place); any other BN stays, in eval mode, as the
    per-channel affine map it is (exact in rate: the mean over steps of a·x + b is a·x̄ + b)."""
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or not isinstance(gm.get_submodule(node.target), _BATCHNORMS):
            continue
        prev = node.args[0]
        foldable = (isinstance(prev, fx.Node) and prev.op == "call_module" and len(prev.users) == 1
                    and isinstance(gm.get_submodule(prev.target), _SYNAPSES))
        if not foldable:
            gm.get_submodule(node.target).eval()
            continue
        fused = _fold_bn(gm.get_submodule(prev.target), gm.get_submodule(node.target))
        gm.set_submodule(prev.target, fused)
        node.replace_all_uses_with(prev)
        gm.graph.erase_node(node)


def _is_removable(gm: fx.GraphModule, node: fx.Node) -> bool:
    if node.op == "call_module":
        return isinstance(gm.get_submodule(node.target), _REMOVABLE_MODULES)
    return node.op == "call_function" and node.target in _REMOVABLE_FUNCTIONS


def _is_relu(gm: fx.GraphModule, node: fx.Node) -> bool:
    if node.op == "call_module":
        return type(gm.get_submodule(node.target)) is nn.ReLU
    return (node.op == "call_function" and node.target in _RELU_FUNCTIONS) or \
        (node.op == "call_method" and node.target in _RELU_METHODS)


def _argument(node: fx.Node, position: int, name: str, default):
    return node.args[position] if len(node.args) > position else node.kwargs.get(name, default)


def _piecewise_terms(gm: fx.GraphModule, node: fx.Node) -> tuple[float, list[tuple[float, float, float]]] | None:
    """A piecewise-linear activation as ``constant + Σ w·relu(a·z − c)``: (constant, [(w, a, c)]), else None."""
    if node.op == "call_module":
        mod = gm.get_submodule(node.target)
        if isinstance(mod, nn.LeakyReLU):
            slope = float(mod.negative_slope)
        elif isinstance(mod, nn.Hardtanh):          # ReLU6 is Hardtanh(0, 6)
            low, high = float(mod.min_val), float(mod.max_val)
        else:
            return None
    elif node.op == "call_function" and node.target is F.leaky_relu:
        slope = float(_argument(node, 1, "negative_slope", 0.01))
    elif node.op == "call_function" and node.target is F.relu6:
        low, high = 0.0, 6.0
    elif node.op == "call_function" and node.target is F.hardtanh:
        low, high = float(_argument(node, 1, "min_val", -1.0)), float(_argument(node, 2, "max_val", 1.0))
    else:
        return None
    if "slope" in locals():                          # relu(z) − s·relu(−z)
        return 0.0, [(1.0, 1.0, 0.0)] + ([(-slope, -1.0, 0.0)] if slope else [])
    if not low < high:
        raise UnsupportedOperationError(f"cannot convert {describe(node)}: its clipping range [{low}, {high}] is empty")
    return low, [(1.0, 1.0, low), (-1.0, 1.0, high)]     # lo + relu(z − lo) − relu(z − hi)


def _expand_piecewise(gm: fx.GraphModule) -> None:
    """Rewrite every piecewise-linear activation as a weighted sum of ReLUs (each becomes a neuron later)."""
    graph = gm.graph
    for node in list(graph.nodes):
        terms = _piecewise_terms(gm, node)
        if terms is None:
            continue
        constant, pieces = terms
        z = node.args[0]
        label = str(node.target) if node.op == "call_module" else node.name

        def new(target, args, name=None):
            made = graph.call_function(target, args)
            made.stack_trace = node.stack_trace
            if name:
                made.meta["conversion_name"] = name
            return made

        with graph.inserting_before(node):
            out = None
            for weight, sign, shift in pieces:
                pre = z if sign > 0 else new(operator.neg, (z,))
                if shift:
                    pre = new(operator.sub, (pre, shift))
                what = "z" if sign > 0 else "-z"
                term = new(F.relu, (pre,), f"{label}[relu({what}{f' - {shift:g}' if shift else ''})]")
                if out is None:
                    out = term if weight == 1.0 else new(operator.mul, (term, weight))
                elif weight == -1.0:
                    out = new(operator.sub, (out, term))
                else:
                    out = new(operator.add, (out, new(operator.mul, (term, weight))))
            if constant:
                out = new(operator.add, (out, constant))
        node.replace_all_uses_with(out)
        graph.erase_node(node)


def _is_maxpool(gm: fx.GraphModule, node: fx.Node) -> bool:
    if node.op == "call_module":
        return isinstance(gm.get_submodule(node.target), _MAXPOOLS)
    return node.op == "call_function" and node.target in _MAXPOOL_FUNCTIONS


def _upstream_has_relu(gm: fx.GraphModule, node: fx.Node) -> bool:
    """True when a ReLU (a future neuron) lies anywhere upstream of ``node``: its value varies from step to step."""
    stack, seen = [node], set()
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        if _is_relu(gm, n):
            return True
        stack.extend(n.all_input_nodes)
    return False


def _pool_before_relu(gm: fx.GraphModule, constant_input: bool = True) -> set[str]:
    """Move a max-pool that takes a ReLU's only output in front of that ReLU where this is exact in rate:
    maxpool(relu(z)) = relu(maxpool(z)), and the neuron then integrates the pooled membrane current.

    Exact only where the current is the same at every step: its only inputs are the analog image (the stems of
    ResNet, VGG, DenseNet, SqueezeNet, ShuffleNet) under direct coding (``constant_input``). Anywhere else the
    max of each step's current over-estimates the max of rates too, and on event frames it measured worse than
    max-pooling spikes (nmnist-dev conv ANN, T = 8: 49 % against 66 % plain IF), so those pools stay on spikes
    (and warn). Returns the (warning) names of the moved pools.
    """
    moved_names: set[str] = set()
    if not constant_input:
        return moved_names
    for pool in list(gm.graph.nodes):
        if not _is_maxpool(gm, pool):
            continue
        relu = pool.args[0] if pool.args else None
        if not (isinstance(relu, fx.Node) and _is_relu(gm, relu) and len(relu.users) == 1):
            continue
        z = relu.args[0]
        if _upstream_has_relu(gm, z):
            continue
        name = _pool_name(gm, pool)
        pool.replace_input_with(relu, z)
        with gm.graph.inserting_after(pool):
            moved = gm.graph.node_copy(relu, lambda n: pool if n is z else n)
        moved.meta = dict(relu.meta)
        pool.replace_all_uses_with(moved, delete_user_cb=lambda user: user is not moved)
        gm.graph.erase_node(relu)
        moved_names.add(name)
    return moved_names


def _upstream_synapse(gm: fx.GraphModule, node: fx.Node) -> nn.Module | None:
    """The conv/linear producing ``node``'s current (through adds, first input first)."""
    while isinstance(node, fx.Node):
        if node.op == "call_module" and isinstance(gm.get_submodule(node.target), _SYNAPSES):
            return gm.get_submodule(node.target)
        node = _first_input(node)
    return None


def _neuron_shape(gm: fx.GraphModule, node: fx.Node) -> tuple[int, bool]:
    """(channels, per channel) of the neuron replacing ReLU ``node``: from the traced shapes when an example
    ran through the graph (feature maps [B, C, H, W]: per channel), else from the Conv/Linear feeding it."""
    meta = node.args[0].meta.get("tensor_meta") if isinstance(node.args[0], fx.Node) else None
    if meta is not None and hasattr(meta, "shape"):
        shape = tuple(meta.shape)
        if len(shape) == 4:
            return int(shape[1]), True
        if len(shape) == 2:
            return int(shape[1]), False
        raise UnsupportedOperationError(f"cannot convert the activation at {describe(node)}: its input has shape "
                                        f"{shape}; conversion handles feature maps [B, C, H, W] and vectors [B, F]")
    synapse = _upstream_synapse(gm, node.args[0])
    if synapse is None:
        raise UnsupportedOperationError(f"ReLU at {describe(node)} is not fed by a Conv2d/Linear (give convert() "
                                        "an example batch so the shapes can be traced)")
    per_channel = isinstance(synapse, nn.Conv2d)
    return (synapse.out_channels if per_channel else synapse.out_features), per_channel


class _Tracer(fx.Tracer):
    def __init__(self, leaf_modules: tuple = ()):
        super().__init__()
        self.leaf_types = tuple(leaf_modules)
        self.record_stack_traces = True     # lets errors and warnings name the user's source lines

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return (bool(self.leaf_types) and isinstance(m, self.leaf_types)) or super().is_leaf_module(m, qualname)


def _trace(ann: nn.Module, concrete_args: dict | None, leaf_modules: tuple) -> fx.GraphModule:
    tracer = _Tracer(leaf_modules)
    graph = tracer.trace(ann, concrete_args=concrete_args)
    return fx.GraphModule(tracer.root, graph, type(ann).__name__)


def _user_frame(err: BaseException) -> str:
    """'file:line: code' of the innermost frame of ``err`` outside torch (the user's line fx choked on)."""
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        if _outside_library(frame.filename):
            return f"{frame.filename}:{frame.lineno}: {(frame.line or '').strip()}"
    return ""


def spiking_graph(ann: nn.Module, spiking_linear: bool = True, *, neuron="adafire",
                  example: torch.Tensor | None = None, concrete_args: dict | None = None, leaf_modules: tuple = (),
                  constant_input: bool = True):
    """Trace, check, fold BN, drop dropout and turn each ReLU into a conversion neuron (in layer order).

    Piecewise-linear activations (ReLU6, Hardtanh, LeakyReLU) are first written as sums of ReLUs. With
    ``spiking_linear=False`` ReLUs after Linear layers stay analog (the reference's 'faithful' mode).
    ``constant_input=False`` (event frames: a different input each step) keeps every max-pool on spikes.
    When torch.fx cannot trace the model (shape checks, data-dependent control flow) a network built from
    modules (nn.ReLU, Conv2d, ...) is converted by swapping its nn.ReLU modules in place instead; that
    needs ``example`` (one input batch). Returns (module, neurons, max-pool names, synapse table, traced).
    """
    model = copy.deepcopy(ann).eval()
    try:
        gm = _trace(model, concrete_args, leaf_modules)
    except Exception as err:  # noqa: BLE001 - fx raises many types; the user needs the cause
        fallback_error = _module_fallback_problem(model)
        if fallback_error is None and example is not None:
            log.info("torch.fx cannot trace %s (%s); converting by replacing its nn.ReLU modules",
                     type(ann).__name__, err)
            return _module_graph(model, spiking_linear, neuron, example)
        where = _user_frame(err)
        why = ("no example input was given for the module-replacement fallback" if fallback_error is None
               else f"the module-replacement fallback does not apply: {fallback_error}")
        raise UnsupportedOperationError(
            f"torch.fx cannot trace {type(ann).__name__}: {type(err).__name__}: {err}"
            + (f"\n  at {where}" if where else "") + f"\n  ({why})\n"
            "  How to fix: move the check or data-dependent branch into a submodule and pass it as a leaf "
            "(convert(..., leaf_modules=(MyCheck,))), fix the argument that drives the branch with "
            "concrete_args={'name': value}, or build the network from nn modules (nn.ReLU, not F.relu) so "
            "the fallback can swap them") from err
    maxpools = check_supported(gm, leaf_modules)
    _fold_graph_batchnorm(gm)
    for node in list(gm.graph.nodes):
        if _is_removable(gm, node):
            node.replace_all_uses_with(node.args[0])
            gm.graph.erase_node(node)
    _expand_piecewise(gm)
    exact = _pool_before_relu(gm, constant_input)
    maxpools = [name for name in maxpools if name not in exact]
    gm.recompile()
    if example is not None:
        from torch.fx.passes.shape_prop import ShapeProp

        with torch.no_grad():
            ShapeProp(gm).propagate(example)
    neurons: list[ConversionNeuron] = []
    for node in list(gm.graph.nodes):
        if not _is_relu(gm, node):
            continue
        channels, per_channel = _neuron_shape(gm, node)
        if not per_channel and not spiking_linear:
            continue
        label = node.meta.get("conversion_name") or (str(node.target) if node.op == "call_module" else node.name)
        cell = make_neuron(neuron, channels, per_channel=per_channel, name=label)
        name = f"neuron_{len(neurons)}"
        gm.add_submodule(name, cell)
        with gm.graph.inserting_after(node):
            new = gm.graph.call_module(name, (node.args[0],))
        new.stack_trace = node.stack_trace
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)
        neurons.append(cell)
    gm.graph.lint()
    gm.delete_all_unused_submodules()      # folded BNs, dropouts and replaced ReLUs
    gm.recompile()
    for m in gm.modules():      # in-place ReLUs left analog must not overwrite shared inputs
        if isinstance(m, nn.ReLU):
            m.inplace = False
    return gm, neurons, maxpools, synapse_table(gm, neurons), True


def _module_fallback_problem(model: nn.Module) -> str | None:
    """Why swapping nn.ReLU modules cannot convert ``model`` (None when it can)."""
    relus = [n for n, m in model.named_modules() if type(m) is nn.ReLU]
    if not relus:
        return "the model has no nn.ReLU modules (functional relu cannot be swapped)"
    for name, m in model.named_modules():
        if isinstance(m, _PIECEWISE_MODULES):
            return f"module {name!r} ({type(m).__name__}) needs the traced path (it becomes two neurons)"
        if not list(m.children()) and not isinstance(m, _SUPPORTED_MODULES):
            return f"module {name!r} ({type(m).__name__}) is not supported"
    return None


def _module_graph(model: nn.Module, spiking_linear: bool, neuron, example: torch.Tensor):
    """Convert a module-based ReLU network in place: each nn.ReLU after a Conv2d/Linear becomes a neuron.

    BatchNorm stays as an eval-mode module: it is affine, so per step it keeps the rate of the ANN exactly.
    The synapse table comes from the order in which one forward pass calls the modules.
    """
    with torch.no_grad():
        reference = model(example)
    order: list[tuple[str, nn.Module]] = []
    handles = [m.register_forward_pre_hook(lambda mod, inp, name=name: order.append((name, mod)))
               for name, m in model.named_modules() if isinstance(m, _SYNAPSES) or type(m) is nn.ReLU]
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in handles:
            h.remove()
    calls: dict[str, int] = {}
    for name, _ in order:
        calls[name] = calls.get(name, 0) + 1
    reused = [n for n, c in calls.items() if c > 1]
    if reused:
        raise UnsupportedOperationError(f"modules {reused} are called more than once per forward; a spiking "
                                        "neuron keeps state, so give every use its own nn.ReLU / layer")
    neurons: list[ConversionNeuron] = []
    by_name: dict[str, ConversionNeuron] = {}
    last_synapse = None
    for name, mod in order:
        if isinstance(mod, _SYNAPSES):
            last_synapse = mod
            continue
        if last_synapse is None:
            raise UnsupportedOperationError(f"ReLU module {name!r} is not fed by a Conv2d/Linear")
        if isinstance(last_synapse, nn.Linear) and not spiking_linear:
            continue
        per_channel = isinstance(last_synapse, nn.Conv2d)
        channels = last_synapse.out_channels if per_channel else last_synapse.out_features
        cell = make_neuron(neuron, channels, per_channel=per_channel, name=name)
        model.set_submodule(name, cell)
        neurons.append(cell)
        by_name[name] = cell
    with torch.no_grad(), run_context(mode="ann"):
        check = model(example)
    if not torch.allclose(check, reference, rtol=1e-4, atol=1e-5):
        raise UnsupportedOperationError("swapping the nn.ReLU modules changed the ANN's output: the forward "
                                        "uses operations the fallback cannot see (e.g. functional relu)")
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.eval()
    index = {id(n): i for i, n in enumerate(neurons)}
    table, source, seen_neuron = [], None, False
    for pos, (name, mod) in enumerate(order):
        if name in by_name:
            source, seen_neuron = index[id(by_name[name])], True
            continue
        if not isinstance(mod, _SYNAPSES):
            continue
        later = any(n in by_name for n, _ in order[pos + 1:])
        kind = "readout" if not later else ("hidden" if seen_neuron else "first")
        table.append(SynapseInfo(name, mod, kind, source if seen_neuron else None))
    maxpools = [name for name, m in model.named_modules() if isinstance(m, _MAXPOOLS)]
    return model, neurons, maxpools, table, False


def synapse_table(gm: fx.GraphModule, neurons: list[ConversionNeuron]) -> list[SynapseInfo]:
    """Classify each conv/linear as first (analog input), hidden (spiking input) or readout."""
    index = {n: i for i, n in enumerate(neurons)}

    def neuron_of(node):
        return index.get(gm.get_submodule(node.target)) if node.op == "call_module" else None

    def source(node: fx.Node) -> tuple[bool, int | None]:
        """(reaches the graph input without a neuron, nearest upstream neuron)."""
        while isinstance(node, fx.Node):
            if node.op == "placeholder":
                return True, None
            i = neuron_of(node)
            if i is not None:
                return False, i
            node = _first_input(node)
        return False, None

    def feeds_neuron(node: fx.Node, seen=None) -> bool:
        seen = seen if seen is not None else set()
        for user in node.users:
            if user in seen:
                continue
            seen.add(user)
            if neuron_of(user) is not None or feeds_neuron(user, seen):
                return True
        return False

    table = []
    for node in gm.graph.nodes:
        if node.op == "call_module" and isinstance(gm.get_submodule(node.target), _SYNAPSES):
            analog, src = source(node.args[0])
            kind = "first" if analog else ("hidden" if feeds_neuron(node) else "readout")
            table.append(SynapseInfo(node.target, gm.get_submodule(node.target), kind, src))
    return table


__all__ = ["SynapseInfo", "UnsupportedOperationError", "check_supported", "describe", "spiking_graph", "synapse_table"]
