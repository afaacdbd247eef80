"""Trace a ReLU ANN with ``torch.fx``, check every operation, fold BatchNorm and swap ReLUs for AdaFire neurons.

The converted network is the same fx graph run once per time step: conv/linear layers see each step's
(graded) spike map, pooling acts on each step's map, residual additions happen before the next ReLU, i.e.
inside the membrane current, exactly as in the ANN. Dropout and Identity are removed.

BN folding (BN directly after a Conv/Linear, including the shortcut conv)::

    W' = W·γ/√(σ²+ε)        b' = β + γ(b − μ)/√(σ²+ε)
"""
from __future__ import annotations

import copy
import logging
import operator
from dataclasses import dataclass

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from .neuron import AdaFireNeuron

log = logging.getLogger("adaspike")


class UnsupportedOperationError(ValueError):
    """The ANN contains an operation that conversion does not support; the message names it and the node."""


_SYNAPSES = (nn.Conv2d, nn.Linear)
_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
_REMOVABLE_MODULES = (nn.Dropout, nn.Dropout2d, nn.Identity)
_SHAPE_MODULES = (nn.Flatten, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.MaxPool2d)
_SUPPORTED_MODULES = _SYNAPSES + _BATCHNORMS + _REMOVABLE_MODULES + _SHAPE_MODULES + (nn.ReLU,)
_RELU_FUNCTIONS = {F.relu, torch.relu}
_ADD_FUNCTIONS = {operator.add, torch.add}
_SHAPE_FUNCTIONS = {torch.flatten, F.avg_pool2d, F.adaptive_avg_pool2d, F.max_pool2d, operator.getitem}
_REMOVABLE_FUNCTIONS = {F.dropout}
_SHAPE_METHODS = {"flatten", "view", "reshape", "size", "contiguous"}
_MAXPOOLS = (nn.MaxPool2d,)


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
    return f"node {node.name!r} ({node.op} {_target_name(node)})"


def _target_name(node: fx.Node) -> str:
    t = node.target
    return getattr(t, "__name__", None) or str(t)


def check_supported(gm: fx.GraphModule) -> list[str]:
    """Raise ``UnsupportedOperationError`` naming the first unsupported op; return the names of max-pools."""
    maxpools = []
    for node in gm.graph.nodes:
        if node.op in ("placeholder", "output"):
            continue
        if node.op == "call_module":
            mod = gm.get_submodule(node.target)
            if not isinstance(mod, _SUPPORTED_MODULES):
                raise UnsupportedOperationError(
                    f"cannot convert module {type(mod).__name__} at {describe(node)}: supported are Conv2d, Linear, "
                    "BatchNorm (after Conv/Linear), ReLU, AvgPool2d, AdaptiveAvgPool2d, MaxPool2d, Flatten, Dropout")
            if isinstance(mod, nn.Conv2d) and mod.groups != 1:
                log.info("grouped conv at %s: energy counts ignore groups (spec §10)", describe(node))
            if isinstance(mod, _MAXPOOLS):
                maxpools.append(node.name)
        elif node.op == "call_function":
            known = _RELU_FUNCTIONS | _ADD_FUNCTIONS | _SHAPE_FUNCTIONS | _REMOVABLE_FUNCTIONS
            if node.target not in known:
                raise UnsupportedOperationError(f"cannot convert function {_target_name(node)} at {describe(node)}")
            if node.target is F.max_pool2d:
                maxpools.append(node.name)
        elif node.op == "call_method":
            if node.target not in _SHAPE_METHODS | {"relu", "add"}:
                raise UnsupportedOperationError(f"cannot convert tensor method .{node.target}() at {describe(node)}")
        else:
            raise UnsupportedOperationError(f"cannot convert {describe(node)}: only modules, relu/add and shape "
                                            "operations are supported")
    return maxpools


def _fold_bn(synapse: nn.Module, bn: nn.Module) -> nn.Module:
    fused = copy.deepcopy(synapse)
    w = fused.weight.detach()
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    bias = fused.bias.detach() if fused.bias is not None else torch.zeros_like(bn.running_mean)
    fused.weight = nn.Parameter(w * scale.view(-1, *([1] * (w.dim() - 1))))
    fused.bias = nn.Parameter(bn.bias.detach() + scale * (bias - bn.running_mean))
    return fused


def fold_batchnorm(gm: fx.GraphModule) -> None:
    """Fold every BN into the Conv/Linear right before it (in place); a BN anywhere else is an error."""
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or not isinstance(gm.get_submodule(node.target), _BATCHNORMS):
            continue
        prev = node.args[0]
        ok = (isinstance(prev, fx.Node) and prev.op == "call_module" and len(prev.users) == 1
              and isinstance(gm.get_submodule(prev.target), _SYNAPSES))
        if not ok:
            raise UnsupportedOperationError(f"cannot fold BatchNorm at {describe(node)}: it must directly follow "
                                            "a Conv2d/Linear whose output it alone uses")
        fused = _fold_bn(gm.get_submodule(prev.target), gm.get_submodule(node.target))
        _set_submodule(gm, prev.target, fused)
        node.replace_all_uses_with(prev)
        gm.graph.erase_node(node)


def _set_submodule(gm: nn.Module, target: str, module: nn.Module) -> None:
    parent, _, name = target.rpartition(".")
    setattr(gm.get_submodule(parent) if parent else gm, name, module)


def _is_removable(gm: fx.GraphModule, node: fx.Node) -> bool:
    if node.op == "call_module":
        return isinstance(gm.get_submodule(node.target), _REMOVABLE_MODULES)
    return node.op == "call_function" and node.target in _REMOVABLE_FUNCTIONS


def _is_relu(gm: fx.GraphModule, node: fx.Node) -> bool:
    if node.op == "call_module":
        return isinstance(gm.get_submodule(node.target), nn.ReLU)
    return (node.op == "call_function" and node.target in _RELU_FUNCTIONS) or \
        (node.op == "call_method" and node.target == "relu")


def _upstream_synapse(gm: fx.GraphModule, node: fx.Node) -> nn.Module | None:
    """The conv/linear producing ``node``'s current (through adds, first argument first)."""
    while isinstance(node, fx.Node):
        if node.op == "call_module" and isinstance(gm.get_submodule(node.target), _SYNAPSES):
            return gm.get_submodule(node.target)
        if not node.args:
            return None
        node = node.args[0]
    return None


def spiking_graph(ann: nn.Module, spiking_linear: bool = True) -> tuple[fx.GraphModule, list[AdaFireNeuron], list[str]]:
    """Trace, check, fold BN, drop dropout and turn each ReLU into an ``AdaFireNeuron`` (in layer order).

    With ``spiking_linear=False`` ReLUs after Linear layers stay analog (the reference's 'faithful' mode).
    Returns the graph module, its neurons and the names of max-pool nodes.
    """
    try:
        gm = fx.symbolic_trace(copy.deepcopy(ann).eval())
    except Exception as err:  # noqa: BLE001 - fx raises many types; the user needs the cause
        raise UnsupportedOperationError(f"torch.fx cannot trace {type(ann).__name__}: {err}") from err
    maxpools = check_supported(gm)
    fold_batchnorm(gm)
    for node in list(gm.graph.nodes):
        if _is_removable(gm, node):
            node.replace_all_uses_with(node.args[0])
            gm.graph.erase_node(node)
    neurons: list[AdaFireNeuron] = []
    for node in list(gm.graph.nodes):
        if not _is_relu(gm, node):
            continue
        synapse = _upstream_synapse(gm, node.args[0])
        if synapse is None:
            raise UnsupportedOperationError(f"ReLU at {describe(node)} is not fed by a Conv2d/Linear")
        if isinstance(synapse, nn.Linear) and not spiking_linear:
            continue
        channels = synapse.out_channels if isinstance(synapse, nn.Conv2d) else synapse.out_features
        neuron = AdaFireNeuron(channels, per_channel=isinstance(synapse, nn.Conv2d), name=node.name)
        name = f"neuron_{len(neurons)}"
        gm.add_submodule(name, neuron)
        with gm.graph.inserting_after(node):
            new = gm.graph.call_module(name, (node.args[0],))
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)
        neurons.append(neuron)
    gm.graph.lint()
    gm.delete_all_unused_submodules()      # folded BNs, dropouts and replaced ReLUs
    gm.recompile()
    for m in gm.modules():      # in-place ReLUs left analog must not overwrite shared inputs
        if isinstance(m, nn.ReLU):
            m.inplace = False
    return gm, neurons, maxpools


def synapse_table(gm: fx.GraphModule, neurons: list[AdaFireNeuron]) -> list[SynapseInfo]:
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
            node = node.args[0] if node.args else None
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
