"""Export a converted SNN to NIR: IF nodes with the burst cap and graded output in their metadata.

Each conversion neuron becomes ``nir.IF`` (r = 1, v_threshold = θ, reset by subtraction, one step = one NIR
time unit of the discrete model). What plain NIR IF cannot say is in the node's metadata:

* ``burst_cap`` Γ: up to Γ spikes per step, n = clip(⌊v/θ⌋, 0, Γ);
* ``graded_output``: the neuron sends n·θ, not n (a consumer may instead scale its weights by θ);
* ``input_offset``: the constant current δ + θ/(2T) added every step. When the neuron is fed by one Conv/Linear
  alone it is also folded into that node's bias, so a plain IF simulator sees the same drive.

Residual additions become several edges into one node (NIR sums a node's inputs). The graph's metadata
records T, the coding (direct or frames) and the readout (mean of the output over T). Max-pooling has no NIR
node and is refused. The graph is written with ``adaspike.interop.write_nir`` (atomic).

Every module's node comes from the one node map ``adaspike.interop.node_map`` (shared with ``export_nir``; here in
float64, with a zero bias where a layer has none); this file walks the fx graph and registers the conversion
neuron's entry there.
"""
from __future__ import annotations

import operator
from pathlib import Path

import nir
import numpy as np
import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from ..core import BinarySpike, BurstSpike
from ..core.step import is_unit_integrator
from ..interop.node_map import NodeContext, UnmappedModule, build_nir_node, register_nir_node
from .context import run_context
from .neuron import ConversionNeuron
from .snn import ConvertedSNN
from .trace import UnsupportedOperationError, describe

_FLATTEN_METHODS = {"flatten", "view", "reshape"}
_PASS_METHODS = {"contiguous"}
_BIASED = (nir.Conv1d, nir.Conv2d, nir.Affine)    # synapse nodes a neuron's constant current folds into


def _shape(node: fx.Node) -> tuple[int, ...]:
    return tuple(node.meta["tensor_meta"].shape[1:])


@torch.no_grad()
def converted_to_nir(snn: ConvertedSNN, example: torch.Tensor) -> nir.NIRGraph:
    """The NIR graph of ``snn`` (traced conversions only); ``example``: one input batch, for the shapes."""
    if not snn.traced:
        raise UnsupportedOperationError("NIR export needs a torch.fx-traced conversion; this model was converted "
                                        "by module replacement (its own forward is not a graph)")
    gm = snn.graph_module
    with snn.running("ann"):
        ShapeProp(gm).propagate(example.mean(1) if snn.frames else example)
    nodes: dict[str, nir.NIRNode] = {}
    edges: list[tuple[str, str]] = []
    producers: dict[fx.Node, list[str]] = {}
    index = {id(n): i for i, n in enumerate(snn.neurons)}

    def connect(node: fx.Node, name: str, source) -> None:
        for src in producers[source]:
            edges.append((src, name))
        producers[node] = [name]

    for node in gm.graph.nodes:
        if node.op == "placeholder":
            nodes["input"] = nir.Input({"input": np.array(_shape(node))})
            producers[node] = ["input"]
        elif node.op == "output":
            out = node.args[0]
            nodes["output"] = nir.Output({"output": np.array(_shape(out))})
            connect(node, "output", out)
        elif node.op == "call_module":
            mod = gm.get_submodule(node.target)
            name = str(node.target).replace(".", "_")
            src = node.args[0]
            built = _mapped(mod, node, src, layer=index.get(id(mod)), steps=snn.T)
            if built is None:           # a pass-through module
                producers[node] = producers[src]
                continue
            nodes[name] = built
            fed = producers[src]
            if isinstance(mod, ConversionNeuron) and len(fed) == 1 and isinstance(nodes[fed[0]], _BIASED):
                _fold_offset(nodes[fed[0]], built)
            connect(node, name, src)
        elif node.op in ("call_function", "call_method"):
            target = node.target
            if target in (operator.add, torch.add) or target == "add":
                producers[node] = [p for a in node.args if isinstance(a, fx.Node) for p in producers[a]]
            elif target in (torch.flatten,) or target in _FLATTEN_METHODS:
                name = f"flatten_{node.name}"
                nodes[name] = _mapped(nn.Flatten(), node, node.args[0])
                connect(node, name, node.args[0])
            elif target in (F.avg_pool2d, F.adaptive_avg_pool2d):
                pool = (nn.AvgPool2d(*node.args[1:], **node.kwargs) if target is F.avg_pool2d
                        else nn.AdaptiveAvgPool2d(node.args[1]))
                name = f"pool_{node.name}"
                nodes[name] = _mapped(pool, node, node.args[0])
                connect(node, name, node.args[0])
            elif target in _PASS_METHODS:
                producers[node] = producers[node.args[0]]
            elif target in ("size", operator.getitem):
                continue            # shape bookkeeping for a later view/reshape
            else:
                raise UnsupportedOperationError(f"no NIR node for {describe(node)}")
        else:
            raise UnsupportedOperationError(f"no NIR node for {describe(node)}")
    meta = {"source": "adaspike.convert", "time_steps": int(snn.T), "step": "discrete: one NIR time unit per step",
            "coding": "frames: one input frame per step" if snn.frames else "direct: the same input every step",
            "readout": "mean over the T steps of the output node"}
    return nir.NIRGraph(nodes, edges, metadata=meta)


def _mapped(mod: nn.Module, node: fx.Node, src: fx.Node, **extra) -> nir.NIRNode | None:
    """``mod``'s node from the one node map (``interop.node_map``), in float64 with explicit biases (the neuron
    offsets fold into them); a refusal names the graph node."""
    ctx = NodeContext(_shape(src), _shape(node), dtype=np.float64, zero_bias=True, **extra)
    try:
        return build_nir_node(mod, ctx)
    except UnmappedModule:
        raise UnsupportedOperationError(f"no NIR node for {type(mod).__name__} at {describe(node)}") from None
    except UnsupportedOperationError:
        raise
    except ValueError as err:
        raise UnsupportedOperationError(f"{err} (at {describe(node)})") from None


def _burst_cap(neuron: ConversionNeuron) -> int:
    """Γ of a neuron that a NIR IF node with a burst cap expresses exactly; refuses any other neuron."""
    rule = neuron.spike_rule()
    plain = type(rule) in (BinarySpike, BurstSpike) and not rule.refractory and not rule.strict
    if not plain or not is_unit_integrator(neuron.ssm()):
        raise UnsupportedOperationError(
            f"{type(neuron).__name__} ({neuron.node_name}) has no NIR IF form: export writes IF with gain 1, "
            f"subtractive reset and n = clip(floor(v / θ), 0, Γ), and this neuron's dynamics or spike rule {rule!r} "
            "differ")
    return int(rule.max_spikes)


@register_nir_node(ConversionNeuron, neuron=True)
def _if_node(neuron: ConversionNeuron, ctx: NodeContext) -> nir.IF:
    """The conversion neuron's entry in the node map; ``ctx.extra``: ``layer`` (its index), ``steps`` (T)."""
    layer, T, shape = ctx.extra.get("layer"), ctx.extra.get("steps"), ctx.in_shape
    if T is None:
        raise UnsupportedOperationError(f"{type(neuron).__name__} ({neuron.node_name}) needs the run's step count "
                                        "for its NIR node: export the converted SNN with converted_to_nir")
    per = neuron.threshold.view(-1, *([1] * (len(shape) - 1))) if neuron.per_channel else neuron.threshold
    theta = np.broadcast_to(ctx.array(per), shape).copy()
    with run_context(steps=T):     # the offset of a T-step run (AdaFire's θ/(2T))
        offset = ctx.array(neuron.offset().view(-1, *([1] * (len(shape) - 1))))
    meta = {"layer": layer, "name": neuron.node_name, "kind": type(neuron).__name__, "reset": "subtract",
            "burst_cap": _burst_cap(neuron), "spike_rule": "n = clip(floor(v / v_threshold), 0, burst_cap)",
            "graded_output": True, "output": "n * v_threshold",
            "input_offset": np.broadcast_to(offset, shape).copy(), "input_offset_folded": False}
    return nir.IF(r=np.ones(shape), v_threshold=theta, v_reset=ctx.zeros(shape), metadata=meta)


def _fold_offset(synapse, neuron: nir.IF) -> None:
    """Add the neuron's per-step constant current to its only synapse's bias."""
    offset = neuron.metadata["input_offset"]
    per_channel = offset.reshape(offset.shape[0], -1)[:, 0]
    synapse.bias = synapse.bias + per_channel
    neuron.metadata["input_offset_folded"] = True


def export_converted(snn: ConvertedSNN, example: torch.Tensor, path: str | Path) -> Path:
    """``converted_to_nir`` written atomically to ``path`` with ``adaspike.interop.write_nir``."""
    from ..interop import write_nir

    return write_nir(path, converted_to_nir(snn, example))


__all__ = ["converted_to_nir", "export_converted"]
