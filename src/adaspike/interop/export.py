"""Export adaspike models to NIR with the true continuous-time parameters.

Neurons are written as the ODE they integrate — τ in seconds and R exactly as in τ dv/dt = −v + R·I (IF:
dv/dt = R·I with R = the layer's gain in 1/s) — never as per-step factors. What NIR cannot say goes into each
node's ``metadata`` as hints (NIR readers may ignore them): ``dt`` (s), ``discretisation``, ``reset``,
``input_convention`` (``step_current``: I is held constant over each step), ``spike_condition``,
``max_spikes`` and, for spike rules defined in seconds, ``refractory`` (s). A time reduction at the end of the model is recorded in the graph metadata.

Supported: ``nn.Sequential`` (or any module with ``nir_modules()`` returning its modules in order) of
``TimeFolded``, ``SpikingLayer``, ``RecurrentSpikingLayer`` (a neuron → Linear → neuron loop), a final
``TimeReduce`` and any module type in the one node map ``interop.node_map`` (shared with ``convert.nir_export``):
Linear (→ Affine, bias kept, or Linear), Conv1d/2d, Flatten, AvgPool2d, AdaptiveAvgPool2d, SumPool2d,
Identity/Dropout (skipped), and the neurons registered here: IF, LIF, CubaLIF, one-state ``SSMNeuron`` and any
neuron whose per-step form is one (as LIF/IF), ``LeakyIntegrator`` (→ LI). This file walks the model.
"""
from __future__ import annotations

import json
import math
from typing import Iterable, Sequence

import nir
import numpy as np
import torch
from torch import nn

from ..core.neurons import tau_from_decay
from ..layers.neurons import IF, LIF, AdLIF, CubaLIF, NeuronLayer, SSMNeuron
from ..layers.model_protocol import module_sequence
from ..layers.readout import LeakyIntegrator, TimeReduce
from ..layers.synapse import RecurrentSpikingLayer, SpikingLayer, TimeFolded
from .node_map import NodeContext, UnmappedModule, mapped_types, nir_node_builder, register_nir_node
from .profiles import PROFILES, apply_profile


class _Builder:
    """Accumulates nodes and edges while walking a model, tracking the per-sample shape."""

    def __init__(self, input_shape: Sequence[int], dt: float | None):
        self.shape = tuple(int(s) for s in input_shape)
        self.dt = dt
        self.nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type=np.array(self.shape))}
        self.edges: list[tuple[str, str]] = []
        self.last = "input"
        self.time_reduce: str | None = None

    def add(self, name: str, node: nir.NIRNode, shape: Sequence[int] | None = None) -> str:
        if self.time_reduce is not None:
            raise ValueError(f"module {name!r} follows the time reduction; only the last module may reduce time")
        name = name.replace(".", "_") or "node"
        while name in self.nodes:
            name += "_"
        self.nodes[name] = node
        self.edges.append((self.last, name))
        self.last = name
        if shape is not None:
            self.shape = tuple(int(s) for s in shape)
        return name

    def out_shape(self, module: nn.Module) -> tuple[int, ...]:
        with torch.no_grad():
            probe = next((p for p in module.parameters()), None)
            x = torch.zeros((1, *self.shape), dtype=probe.dtype if probe is not None else torch.float32)
            return tuple(module(x).shape[1:])

    def finish(self) -> nir.NIRGraph:
        self.nodes["output"] = nir.Output(output_type=np.array(self.shape))
        self.edges.append((self.last, "output"))
        meta = {"exporter": "adaspike", "time_unit": "s"}
        if self.time_reduce:
            meta["time_reduce"] = self.time_reduce
        return nir.NIRGraph(nodes=self.nodes, edges=self.edges, metadata=meta)


def _neuron_metadata(layer: NeuronLayer | LeakyIntegrator, dt: float | None) -> dict:
    meta = {"dt": float(dt if dt is not None else layer.dt), "time_unit": "s",
            "discretisation": str(layer.method), "input_convention": "step_current",
            "adaspike_layer": type(layer).__name__}
    if isinstance(layer, NeuronLayer):
        meta.update(reset=layer.reset, spike_condition="v > threshold" if layer.strict else "v >= threshold",
                    max_spikes=int(layer.max_spikes))
        if layer.refractory is not None:  # spike capacity in seconds: at most max_spikes per refractory s
            meta["refractory"] = float(layer.refractory)
    return meta


def neuron_node(layer: nn.Module, shape: Sequence[int], dt: float | None = None) -> nir.NIRNode:
    """The NIR node of one adaspike neuron layer, with continuous parameters in seconds."""
    try:
        entry = nir_node_builder(layer)
    except UnmappedModule:
        entry = None
    if entry is None or not entry.neuron:
        raise ValueError(f"{type(layer).__name__} is not a neuron layer NIR can express")
    return entry.build(layer, NodeContext(shape, dt=dt))


@register_nir_node(LeakyIntegrator, neuron=True)
def _li_node(layer: LeakyIntegrator, ctx: NodeContext) -> nir.NIRNode:
    zeros = ctx.zeros(ctx.in_shape)
    return nir.LI(tau=ctx.array(layer.tau(), ctx.in_shape), r=np.ones_like(zeros), v_leak=zeros,
                  metadata=_neuron_metadata(layer, ctx.dt))


@register_nir_node(LIF, neuron=True)
def _lif_node(layer: LIF, ctx: NodeContext) -> nir.NIRNode:
    shape, zeros = ctx.in_shape, ctx.zeros(ctx.in_shape)
    return nir.LIF(tau=ctx.array(layer.tau(), shape), r=ctx.array(layer.r, shape), v_leak=zeros,
                   v_threshold=ctx.array(layer.threshold(), shape), v_reset=zeros,
                   metadata=_neuron_metadata(layer, ctx.dt))


@register_nir_node(IF, neuron=True)
def _if_node(layer: IF, ctx: NodeContext) -> nir.NIRNode:
    shape = ctx.in_shape
    return nir.IF(r=ctx.array(layer.gain, shape), v_threshold=ctx.array(layer.threshold(), shape),
                  v_reset=ctx.zeros(shape), metadata=_neuron_metadata(layer, ctx.dt))


@register_nir_node(CubaLIF, neuron=True)
def _cuba_node(layer: CubaLIF, ctx: NodeContext) -> nir.NIRNode:
    shape, zeros = ctx.in_shape, ctx.zeros(ctx.in_shape)
    return nir.CubaLIF(tau_syn=ctx.array(layer.tau_syn(), shape), tau_mem=ctx.array(layer.tau_mem(), shape),
                       r=ctx.array(layer.r, shape), v_leak=zeros, v_threshold=ctx.array(layer.threshold(), shape),
                       v_reset=zeros, w_in=np.ones_like(zeros), metadata=_neuron_metadata(layer, ctx.dt))


@register_nir_node(NeuronLayer, neuron=True)
def _per_step_node(layer: NeuronLayer, ctx: NodeContext) -> nir.NIRNode:
    """Any other registered neuron goes through its per-step form: exported when that is an IF or LIF."""
    if isinstance(layer, AdLIF):
        raise ValueError(f"AdLIF has no NIR primitive (NIR has IF, LIF, CubaLIF, LI); {_ADAPTIVE_WHY}")
    try:
        node = _ssm_neuron_node(SSMNeuron.from_layer(layer), ctx)
    except ValueError as err:
        raise ValueError(f"{type(layer).__name__} has no NIR primitive (NIR has IF, LIF, CubaLIF, LI): {err}") from None
    node.metadata["adaspike_layer"] = type(layer).__name__
    return node


@register_nir_node(SSMNeuron, neuron=True)
def _ssm_neuron_node(layer: SSMNeuron, ctx: NodeContext) -> nir.NIRNode:
    """A one-state per-step neuron v_t = α v + b I back to its ODE: τ = −dt/ln α, R = b/(1−α) (ZOH), or IF."""
    if layer.H.shape[-1] != 1 or bool((layer.kick_spike != 0).any()) or bool((layer.kick_reset != -1).any()):
        raise ValueError("only one-state SSMNeurons with plain reset (LIF/IF forms) can be exported to NIR")
    alpha = layer.H[..., 0, 0].to(torch.float64)
    b = layer.B[..., 0].to(torch.float64)
    meta = _neuron_metadata(layer, ctx.dt) | {"discretisation": "zoh", "adaspike_layer": "SSMNeuron"}
    shape = ctx.in_shape
    theta, zeros = ctx.array(layer.threshold, shape), ctx.zeros(shape)
    if bool((alpha == 1).all()):
        return nir.IF(r=ctx.array(b / layer.dt, shape), v_threshold=theta, v_reset=zeros, metadata=meta)
    if bool(((alpha <= 0) | (alpha >= 1)).any()):
        raise ValueError("SSMNeuron decay outside (0, 1) has no LIF time constant")
    tau = tau_from_decay(alpha, layer.dt)
    return nir.LIF(tau=ctx.array(tau, shape), r=ctx.array(b / (1 - alpha), shape), v_leak=zeros, v_threshold=theta,
                   v_reset=zeros, metadata=meta)


def _sequence(model: nn.Module) -> Iterable[tuple[str, nn.Module]]:
    declared = module_sequence(model)
    if declared is not None:
        return declared
    if isinstance(model, (nn.Sequential, nn.ModuleList)):
        return list(model.named_children())
    return [("", model)]


def _walk(model: nn.Module, b: _Builder, prefix: str = "") -> None:
    for name, module in _sequence(model):
        path = f"{prefix}{name}" if name else prefix.rstrip(".") or type(module).__name__.lower()
        if isinstance(module, (nn.Sequential, nn.ModuleList)) or (hasattr(module, "nir_modules")
                                                                  and module is not model):
            _walk(module, b, path + ".")
        elif isinstance(module, TimeFolded):
            _walk(module.module, b, path)
        elif isinstance(module, SpikingLayer):
            _walk(module.synapse.module, b, path + ".synapse")
            b.add(path + ".neuron", neuron_node(module.neuron, b.shape, b.dt))
        elif isinstance(module, RecurrentSpikingLayer):
            _walk(module.synapse.module, b, path + ".synapse")
            neuron = b.add(path + ".neuron", neuron_node(module.neuron, b.shape, b.dt))
            rec = path.replace(".", "_") + "_recurrent"
            b.nodes[rec] = nir.Linear(weight=NodeContext(b.shape).array(module.recurrent))
            b.edges += [(neuron, rec), (rec, neuron)]
        elif isinstance(module, TimeReduce):
            b.time_reduce = module.mode
        else:
            _add_mapped(module, path, b)


def _add_mapped(module: nn.Module, path: str, b: _Builder) -> None:
    """One module through the node map; a neuron keeps the shape, any other op's output shape is probed."""
    try:
        entry = nir_node_builder(module)
    except UnmappedModule:
        raise ValueError(f"cannot export module {path!r} ({type(module).__name__}) to NIR; supported: "
                         f"{mapped_types()}, SpikingLayer, RecurrentSpikingLayer, TimeFolded, TimeReduce (fold "
                         f"BatchNorm first, or add a type with adaspike.interop.register_nir_node)") from None
    ctx = NodeContext(b.shape, lambda: b.out_shape(module), dt=b.dt)
    node = entry.build(module, ctx)
    if node is not None:
        b.add(path, node, None if entry.neuron else ctx.out_shape)


# why AdLIF has no NIR form, not even as coupled nodes: its adaptation w is driven by the membrane u
# (τ_w dw/dt = −w + a·u), but NIR edges out of a neuron carry only its spikes
_ADAPTIVE_WHY = ("AdLIF's adaptation current is driven by the membrane potential (τ_w dw/dt = −w + a·u), and NIR "
                 "edges carry only spikes, so no graph of NIR nodes reproduces it; train with --neuron lif or "
                 "--neuron cuba to export")


def nir_export_problems(model: nn.Module) -> list[str]:
    """Why ``model`` cannot be exported to NIR (empty when it can). Meant for a warning at train time, e.g.
    ``for p in nir_export_problems(model): warnings.warn(p)`` after the model is built."""
    return [f"{name or type(m).__name__}: {_ADAPTIVE_WHY}" for name, m in model.named_modules()
            if isinstance(m, AdLIF)]


def export_nir(model: nn.Module, input_shape: Sequence[int], dt: float | None = None,
               profile: str = "generic", data: dict | None = None) -> nir.NIRGraph:
    """NIR graph of ``model`` for per-sample input shape ``input_shape`` (no T, B axes).

    ``dt`` (seconds) overrides the step written to the metadata hints; by default each neuron's own ``dt``.
    The graph's metadata also records the model's own step (``source_dt``, when its neurons share one) and,
    given ``data`` (e.g. a checkpoint's ``{"dataset", "options", "dt"}``), what the model reads, as JSON
    (``adaspike_data``): so ``import_nir`` can move the model to another step exactly, and ``adaspike eval`` of the
    imported checkpoint needs no flags.
    ``profile``: ``generic`` (true τ in seconds, for any reader that honours the ODE) or a reader from
    ``adaspike.interop.profiles.PROFILES`` (``snntorch``, ``norse``, ``spikingjelly``): the graph that reader
    runs step for step like the model, with warnings for what differs and errors for what it cannot run.
    """
    if profile not in PROFILES:
        raise ValueError(PROFILES.unknown(profile))
    if dt is not None and (not math.isfinite(dt) or dt <= 0):
        raise ValueError(f"dt must be a positive number of seconds, got {dt!r}")
    builder = _Builder(input_shape, dt)
    was_training = model.training
    model.eval()
    try:
        _walk(model, builder)
    finally:
        model.train(was_training)
    graph = builder.finish()
    steps = {float(m.dt) for m in model.modules() if isinstance(m, (NeuronLayer, LeakyIntegrator))}
    if len(steps) == 1:
        graph.metadata["source_dt"] = steps.pop()
    if data:
        graph.metadata["adaspike_data"] = json.dumps(data, sort_keys=True, default=str)
    return apply_profile(graph, profile)
