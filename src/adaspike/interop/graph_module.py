"""Run an imported NIR graph in adaspike's multi-step mode over [T, B, ...].

Every node is an ordinary adaspike module (stateless ops wrapped in ``TimeFolded``, neuron layers, readouts), so
the rest of the library (retime, training, checkpoints) sees a normal model. Nodes run in topological order; a
node's input is the sum of its predecessors' outputs (NIR edges are identities that add). A recurrent loop
``neuron → Linear/Affine → neuron`` runs inside the neuron's scan as V·s_{t−1} (the weights' bias, if any,
becomes a constant drive).
"""
from __future__ import annotations

from graphlib import CycleError, TopologicalSorter

import torch
from torch import nn
import torch.nn.functional as F

from ..layers.neurons import NeuronLayer
from ..layers.readout import reduce_time
from ..layers.synapse import TimeFolded

__all__ = ["NIRGraphModule", "SumPool2d", "neuron_layers"]


class SumPool2d(nn.Module):
    """Sum pooling (NIR SumPool2d): average pooling with divisor 1."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride or kernel_size, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, divisor_override=1)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class NIRGraphModule(nn.Module):
    """A NIR graph as a multi-step module: x [T, B, *in] → y [T, B, *out] (or [B, *out] after ``time_reduce``).

    ``nodes``: name → module (``None`` entries are identities: NIR Input/Output); ``edges``: (source, target)
    pairs without the recurrent loops; ``recurrent``: neuron name → name of its recurrent weight node;
    ``scale``: per-node constant multiplying its input current (an R that the layer cannot hold itself).
    """

    def __init__(self, nodes: dict[str, nn.Module | None], edges: list[tuple[str, str]], inputs: list[str],
                 outputs: list[str], recurrent: dict[str, str] | None = None,
                 scale: dict[str, torch.Tensor] | None = None, time_reduce: str | None = None):
        super().__init__()
        self.layers = nn.ModuleDict({k: m for k, m in nodes.items() if m is not None})
        self.node_names = list(nodes)
        self.edges = [tuple(e) for e in edges]
        self.inputs, self.outputs = list(inputs), list(outputs)
        self.recurrent = dict(recurrent or {})
        self.time_reduce = time_reduce
        self.scaled = sorted((scale or {}).keys())
        for name, value in (scale or {}).items():
            self.register_buffer(f"scale_{name}", torch.as_tensor(value, dtype=torch.float32))
        if len(self.inputs) != 1:
            raise ValueError(f"an imported NIR graph must have exactly one Input node, got {self.inputs}")
        self.order = self._topological_order()

    def _topological_order(self) -> list[str]:
        preds = {name: set() for name in self.node_names}
        for src, dst in self.edges:
            preds[dst].add(src)
        try:
            order = list(TopologicalSorter(preds).static_order())
        except CycleError as err:
            raise ValueError(f"the NIR graph has a cycle that is not a neuron → weights → neuron loop: "
                             f"{err.args[1]}") from None
        self.predecessors = {k: sorted(v) for k, v in preds.items()}
        return [n for n in order if n not in set(self.recurrent.values())]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = self.node_outputs(x)
        out = [values[o] for o in self.outputs]
        y = out[0] if len(out) == 1 else torch.cat([o.flatten(2) for o in out], dim=-1)
        return reduce_time(y, self.time_reduce) if self.time_reduce else y

    def node_outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every node's per-step output [T, B, ...] (spikes of neurons, membranes of leaky integrators), by node
        name, before any time reduction: what ``adaspike check-nir`` compares layer by layer."""
        if x.dim() < 3:
            raise ValueError(f"an imported NIR model takes time-major input [T, B, ...], got shape {tuple(x.shape)}")
        values: dict[str, torch.Tensor] = {}
        for name in self.order:
            if name in self.inputs:
                values[name] = x
                continue
            incoming = [values[p] for p in self.predecessors[name]]
            if not incoming:
                raise ValueError(f"NIR node {name!r} has no input")
            current = incoming[0] if len(incoming) == 1 else sum(incoming)
            values[name] = self._run_node(name, current)
        return values

    def _run_node(self, name: str, current: torch.Tensor) -> torch.Tensor:
        module = self.layers[name] if name in self.layers else None
        if module is None:
            return current
        scale = getattr(self, f"scale_{name}") if name in self.scaled else None
        if name in self.recurrent:
            weights = self.layers[self.recurrent[name]].module
            w = weights.weight
            if weights.bias is not None:
                current = current + weights.bias
            if scale is not None:  # the scale is the neuron's R/θ: it multiplies its whole input, loop included
                current, w = current * scale, w * scale.reshape(-1, 1)
            return module.run(current, recurrent_weight=w).spikes
        return module(current if scale is None else current * scale)

    def extra_repr(self) -> str:
        rec = f", recurrent={self.recurrent}" if self.recurrent else ""
        return f"order={self.order}{rec}" + (f", time_reduce={self.time_reduce}" if self.time_reduce else "")


def neuron_layers(model: nn.Module) -> dict[str, NeuronLayer]:
    """Name → neuron layer of an imported model (for inspection and tests)."""
    return {k: m for k, m in model.named_modules() if isinstance(m, NeuronLayer)}

