"""Trace a ReLU ANN with ``torch.fx``, check every operation, fold BatchNorm and swap ReLUs for conversion neurons.

When fx cannot trace the model, a module-based ReLU network is converted by swapping its nn.ReLU modules
(its own ``forward`` then runs every step); otherwise the error names the user's source line and the fixes.

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
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from ..layers.norm import fold_batchnorm_into
from .neuron import ConversionNeuron, make_neuron

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
    where = _user_line(node)
    return f"node {node.name!r} ({node.op} {_target_name(node)})" + (f" at {where}" if where else "")


def _user_line(node: fx.Node) -> str:
    """'file:line: code' of the user's source that created ``node`` (fx records it when asked to)."""
    trace = getattr(node, "stack_trace", None) or ""
    lines = [ln.strip() for ln in trace.strip().splitlines() if ln.strip()]
    for i in range(len(lines) - 1, -1, -1):     # innermost user frame: 'File "...", line N, in f' + code
        if lines[i].startswith("File "):
            code = lines[i + 1] if i + 1 < len(lines) and not lines[i + 1].startswith("File ") else ""
            return f"{lines[i]}: {code}" if code else lines[i]
    return ""


def _target_name(node: fx.Node) -> str:
    t = node.target
    return getattr(t, "__name__", None) or str(t)


def _pool_name(node: fx.Node) -> str:
    """The user's name for a max-pool: its module path, or the source line of a functional call."""
    if node.op == "call_module":
        return str(node.target)
    return _user_line(node) or node.name


def check_supported(gm: fx.GraphModule, leaf_modules: tuple = ()) -> list[str]:
    """Raise ``UnsupportedOperationError`` naming the first unsupported op; return the user's names of max-pools."""
    maxpools = []
    for node in gm.graph.nodes:
        if node.op in ("placeholder", "output"):
            continue
        if node.op == "call_module":
            mod = gm.get_submodule(node.target)
            if leaf_modules and isinstance(mod, tuple(leaf_modules)):
                continue        # the user declared it an opaque per-step operation
            if not isinstance(mod, _SUPPORTED_MODULES):
                raise UnsupportedOperationError(
                    f"cannot convert module {type(mod).__name__} at {describe(node)}: supported are Conv2d, Linear, "
                    "BatchNorm (after Conv/Linear), ReLU, AvgPool2d, AdaptiveAvgPool2d, MaxPool2d, Flatten, Dropout")
            if isinstance(mod, nn.Conv2d) and mod.groups != 1:
                log.info("grouped conv at %s: energy counts ignore groups (conversion spec §10)", describe(node))
            if isinstance(mod, _MAXPOOLS):
                maxpools.append(_pool_name(node))
        elif node.op == "call_function":
            known = _RELU_FUNCTIONS | _ADD_FUNCTIONS | _SHAPE_FUNCTIONS | _REMOVABLE_FUNCTIONS
            if node.target not in known:
                raise UnsupportedOperationError(f"cannot convert function {_target_name(node)} at {describe(node)}")
            if node.target is F.max_pool2d:
                maxpools.append(_pool_name(node))
        elif node.op == "call_method":
            if node.target not in _SHAPE_METHODS | {"relu", "add"}:
                raise UnsupportedOperationError(f"cannot convert tensor method .{node.target}() at {describe(node)}")
        else:
            raise UnsupportedOperationError(f"cannot convert {describe(node)}: only modules, relu/add and shape "
                                            "operations are supported")
    return maxpools


def _fold_bn(synapse: nn.Module, bn: nn.Module) -> nn.Module:
    fused = copy.deepcopy(synapse)
    fold_batchnorm_into(fused, bn)
    return fused


def _fold_graph_batchnorm(gm: fx.GraphModule) -> None:
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
        gm.set_submodule(prev.target, fused)
        node.replace_all_uses_with(prev)
        gm.graph.erase_node(node)


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
    torch_dir = str(Path(torch.__file__).parent)
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        if not frame.filename.startswith(torch_dir) and not frame.filename.startswith(str(Path(__file__).parent)):
            return f"{frame.filename}:{frame.lineno}: {(frame.line or '').strip()}"
    return ""


def spiking_graph(ann: nn.Module, spiking_linear: bool = True, *, neuron="adafire",
                  example: torch.Tensor | None = None, concrete_args: dict | None = None, leaf_modules: tuple = ()):
    """Trace, check, fold BN, drop dropout and turn each ReLU into a conversion neuron (in layer order).

    With ``spiking_linear=False`` ReLUs after Linear layers stay analog (the reference's 'faithful' mode).
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
    neurons: list[ConversionNeuron] = []
    for node in list(gm.graph.nodes):
        if not _is_relu(gm, node):
            continue
        synapse = _upstream_synapse(gm, node.args[0])
        if synapse is None:
            raise UnsupportedOperationError(f"ReLU at {describe(node)} is not fed by a Conv2d/Linear")
        if isinstance(synapse, nn.Linear) and not spiking_linear:
            continue
        channels = synapse.out_channels if isinstance(synapse, nn.Conv2d) else synapse.out_features
        cell = make_neuron(neuron, channels, per_channel=isinstance(synapse, nn.Conv2d),
                           name=str(node.target) if node.op == "call_module" else node.name)
        name = f"neuron_{len(neurons)}"
        gm.add_submodule(name, cell)
        with gm.graph.inserting_after(node):
            new = gm.graph.call_module(name, (node.args[0],))
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
    relus = [n for n, m in model.named_modules() if isinstance(m, nn.ReLU)]
    if not relus:
        return "the model has no nn.ReLU modules (functional relu cannot be swapped)"
    for name, m in model.named_modules():
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
               for name, m in model.named_modules() if isinstance(m, _SYNAPSES + (nn.ReLU,))]
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
    for n in neurons:
        n.mode = "ann"
    with torch.no_grad():
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
