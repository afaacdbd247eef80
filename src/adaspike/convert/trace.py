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

This file traces and swaps in the neurons; ``trace_operations`` holds what is supported and the refusals,
``trace_rewrites`` the graph rewrites above (BatchNorm folds, piecewise activations, max-pool moves).
"""
from __future__ import annotations

import copy
import logging
import traceback
from dataclasses import dataclass

import torch
import torch.fx as fx
from torch import nn

from .context import run_context
from .neuron import ConversionNeuron, make_neuron
from .pooling import RunningMaxPool
from .trace_operations import (_BATCHNORMS, _MAXPOOL_FUNCTIONS, _MAXPOOLS, _PIECEWISE_MODULES, _SUPPORTED_MODULES,
                               _SYNAPSES, UnsupportedOperationError, _first_input, _outside_library, _pool_name,
                               check_supported, describe)
from .trace_rewrites import (drop_removable, expand_piecewise, fold_graph_batchnorm, is_relu, neuron_shape,
                             pool_before_relu)

log = logging.getLogger("adaspike")


@dataclass
class SynapseInfo:
    """A conv/linear layer of the converted graph; ``kind`` is 'first' (analog input: MACs), 'hidden'
    (spiking input: ACs) or 'readout' (no neuron after it: the non-spiking classifier)."""

    name: str
    module: nn.Module
    kind: str
    source: int | None          # index of the neuron whose spikes feed it (None for analog input)
    flops: int = 0              # MACs per sample per step, set on the first forward


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


MAXPOOL_MODES = ("per_step", "running")


class _FunctionPool(nn.Module):
    """A functional max-pool call (``F.max_pool2d(x, 2)``) as a module, its constant arguments bound."""

    def __init__(self, function, args: tuple, kwargs: dict):
        super().__init__()
        self.function, self.args, self.kwargs = function, args, kwargs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.function(x, *self.args, **self.kwargs)


def _running_pools(gm: fx.GraphModule, approximate: list[str]) -> list[str]:
    """Swap every max-pool named in ``approximate`` for a ``RunningMaxPool``; returns those left approximate
    (a functional pool whose sizes are computed in the graph)."""
    left, made = [], 0
    for node in list(gm.graph.nodes):
        is_module = node.op == "call_module" and isinstance(gm.get_submodule(node.target), _MAXPOOLS)
        if not (is_module or (node.op == "call_function" and node.target in _MAXPOOL_FUNCTIONS)):
            continue
        name = _pool_name(gm, node)
        if name not in approximate:
            continue        # moved in front of its neuron: already exact
        rest = list(node.args[1:]) + list(node.kwargs.values())
        if not is_module and any(isinstance(a, fx.Node) for a in rest):
            left.append(name)
            continue
        pool = gm.get_submodule(node.target) if is_module else _FunctionPool(node.target, node.args[1:],
                                                                              dict(node.kwargs))
        target, made = f"running_pool_{made}", made + 1
        gm.add_submodule(target, RunningMaxPool(pool, name))
        with gm.graph.inserting_after(node):
            new = gm.graph.call_module(target, (node.args[0],))
        new.stack_trace = node.stack_trace
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)
    return left


def spiking_graph(ann: nn.Module, spiking_linear: bool = True, *, neuron="adafire",
                  example: torch.Tensor | None = None, concrete_args: dict | None = None, leaf_modules: tuple = (),
                  constant_input: bool = True, maxpool: str = "per_step"):
    """Trace, check, fold BN, drop dropout and turn each ReLU into a conversion neuron (in layer order).

    Piecewise-linear activations (ReLU6, Hardtanh, LeakyReLU) are first written as sums of ReLUs. With
    ``spiking_linear=False`` ReLUs after Linear layers stay analog (the reference's 'faithful' mode).
    ``constant_input=False`` (event frames: a different input each step) keeps every max-pool on spikes.
    When torch.fx cannot trace the model (shape checks, data-dependent control flow) a network built from
    modules (nn.ReLU, Conv2d, ...) is converted by swapping its nn.ReLU modules in place instead; that
    needs ``example`` (one input batch). ``maxpool="running"`` pools running sums (``RunningMaxPool``: exact
    in rate) instead of each step's spikes. Returns (module, neurons, names of the max-pools that only
    approximate, synapse table, traced).
    """
    if maxpool not in MAXPOOL_MODES:
        raise ValueError(f"maxpool must be one of {MAXPOOL_MODES}, got {maxpool!r}")
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
    fold_graph_batchnorm(gm)
    drop_removable(gm)
    expand_piecewise(gm)
    exact = pool_before_relu(gm, constant_input)
    maxpools = [name for name in maxpools if name not in exact]
    gm.recompile()
    if example is not None:
        from torch.fx.passes.shape_prop import ShapeProp

        with torch.no_grad():
            ShapeProp(gm).propagate(example)
    neurons: list[ConversionNeuron] = []
    for node in list(gm.graph.nodes):
        if not is_relu(gm, node):
            continue
        channels, per_channel = neuron_shape(gm, node)
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
    if maxpool == "running":
        maxpools = _running_pools(gm, maxpools)
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
        if isinstance(m, _BATCHNORMS) and not m.track_running_stats:
            return f"module {name!r} ({type(m).__name__}) normalises by batch statistics (track_running_stats=False)"
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
