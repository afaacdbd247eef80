"""What conversion supports, checked on the traced graph, and the refusals that name the model's source line.

``check_supported`` walks an fx graph and raises ``UnsupportedOperationError`` at the first operation that no
integrate-and-fire neuron computes from spike rates, saying what it is, where the model calls it, why, and the
fix (``adaspike.convert.trace`` describes what converts and why). The tables of modules, functions and methods
here are also what the graph rewrites (``trace_rewrites``) match.
"""
from __future__ import annotations

import logging
import operator
import os
from pathlib import Path

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

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
            if isinstance(mod, _BATCHNORMS) and not mod.track_running_stats:
                raise UnsupportedOperationError(
                    f"cannot convert {describe(node)}: BatchNorm with track_running_stats=False normalises each "
                    "batch by its own statistics, which no fixed per-channel map reproduces. How to fix: train it "
                    "with track_running_stats=True (the default)")
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


__all__ = ["UnsupportedOperationError", "check_supported", "describe"]
