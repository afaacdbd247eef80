"""Rewrites of the traced graph before neurons go in (``adaspike.convert.trace`` says why each is exact).

BatchNorm right after a Conv/Linear folds into it (the library's one fold, ``layers.norm``); piecewise-linear
activations become sums of ReLUs; a max-pool after a stem ReLU moves in front of it; dropout and identities go;
``neuron_shape`` reads the channels of the neuron that replaces a ReLU.
"""
from __future__ import annotations

import copy
import operator

import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from ..layers.norm import fold_batchnorm_into
from .trace_operations import (_BATCHNORMS, _MAXPOOL_FUNCTIONS, _MAXPOOLS, _RELU_FUNCTIONS, _RELU_METHODS,
                               _REMOVABLE_FUNCTIONS, _REMOVABLE_MODULES, _SYNAPSES, UnsupportedOperationError,
                               _first_input, _pool_name, describe)


def _fold_bn(synapse: nn.Module, bn: nn.Module) -> nn.Module:
    fused = copy.deepcopy(synapse)
    fold_batchnorm_into(fused, bn)
    return fused


def fold_graph_batchnorm(gm: fx.GraphModule) -> None:
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


def is_relu(gm: fx.GraphModule, node: fx.Node) -> bool:
    if node.op == "call_module":
        return type(gm.get_submodule(node.target)) is nn.ReLU
    return (node.op == "call_function" and node.target in _RELU_FUNCTIONS) or \
        (node.op == "call_method" and node.target in _RELU_METHODS)


def drop_removable(gm: fx.GraphModule) -> None:
    """Remove dropout and identity nodes (module or function): inference-time no-ops."""
    for node in list(gm.graph.nodes):
        if _is_removable(gm, node):
            node.replace_all_uses_with(node.args[0])
            gm.graph.erase_node(node)


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


def expand_piecewise(gm: fx.GraphModule) -> None:
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
        if is_relu(gm, n):
            return True
        stack.extend(n.all_input_nodes)
    return False


def pool_before_relu(gm: fx.GraphModule, constant_input: bool = True) -> set[str]:
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
        if not (isinstance(relu, fx.Node) and is_relu(gm, relu) and len(relu.users) == 1):
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


def neuron_shape(gm: fx.GraphModule, node: fx.Node) -> tuple[int, bool]:
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


__all__ = ["drop_removable", "expand_piecewise", "fold_graph_batchnorm", "is_relu", "neuron_shape", "pool_before_relu"]
