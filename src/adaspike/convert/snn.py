"""The converted network: the ANN's fx graph with AdaFire neurons, run step by step with direct coding.

``ConvertedSNN(x)`` returns the mean over T of the readout logits (fixed-T output). ``run`` steps explicitly
and supports real early exit: samples whose score passes the step's threshold leave the batch, their neuron
state is dropped and later steps no longer compute for them (IAT inference, spec §7).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .energy import OperationCounter, layer_flops
from .neuron import AdaFireNeuron
from .trace import SynapseInfo, spiking_graph, synapse_table


@dataclass
class SNNRun:
    """Result of one batched run. ``logits``: cumulative logits at each sample's exit divided by its steps."""

    logits: torch.Tensor                  # [B, C]
    exit_step: torch.Tensor               # [B] long, 1..T
    step_logits: torch.Tensor | None      # [T, B, C] per-step readout (only without early exit)
    counter: OperationCounter | None


class ConvertedSNN(nn.Module):
    """Spiking version of a traced ANN. Neurons are in layer order in ``self.neurons``."""

    def __init__(self, ann: nn.Module, T: int = 8, spiking_linear: bool = True):
        super().__init__()
        self.graph_module, neurons, self.maxpool_nodes = spiking_graph(ann, spiking_linear)
        self.neurons: list[AdaFireNeuron] = neurons     # registered through graph_module
        self.synapses: list[SynapseInfo] = synapse_table(self.graph_module, neurons)
        self.T = int(T)

    # -- configuration ---------------------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        if mode not in ("ann", "snn"):
            raise ValueError(f"mode must be 'ann' or 'snn', got {mode!r}")
        for n in self.neurons:
            n.mode = mode

    def reset_state(self) -> None:
        for n in self.neurons:
            n.reset_state()

    def neuron_config(self) -> dict:
        """Thresholds, burst caps and bias shifts of all neurons (a snapshot of one pipeline stage)."""
        return {"threshold": [n.threshold.detach().clone().cpu() for n in self.neurons],
                "bias_shift": [n.bias_shift.detach().clone().cpu() for n in self.neurons],
                "gamma": [int(n.gamma) for n in self.neurons]}

    def load_neuron_config(self, config: dict) -> None:
        for n, th, sh, g in zip(self.neurons, config["threshold"], config["bias_shift"], config["gamma"]):
            n.threshold.copy_(th)
            n.bias_shift.copy_(sh)
            n.gamma = int(g)

    # -- ANN reference -----------------------------------------------------------------------------------
    @torch.no_grad()
    def ann_forward(self, x: torch.Tensor, capture: bool = False) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The BN-folded ANN (neurons act as ReLU); optionally returns every neuron's activation."""
        self.set_mode("ann")
        for n in self.neurons:
            n.capture = capture
        try:
            logits = self.graph_module(x)
            acts = [n.activation for n in self.neurons] if capture else []
        finally:
            for n in self.neurons:
                n.capture, n.activation = False, None
            self.set_mode("snn")
        return logits, acts

    @torch.no_grad()
    def measure_flops(self, x: torch.Tensor) -> list[int]:
        """Per-sample MACs of every conv/linear (one ANN pass on one sample); stored in ``self.synapses``."""
        handles = []
        for info in self.synapses:
            def hook(module, inputs, output, info=info):
                info.flops = layer_flops(module, inputs[0], output)
            handles.append(info.module.register_forward_hook(hook))
        try:
            self.ann_forward(x[:1])
        finally:
            for h in handles:
                h.remove()
        return [s.flops for s in self.synapses]

    # -- spiking inference ---------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x).logits

    @torch.no_grad()
    def run(self, x: torch.Tensor, T: int | None = None, exit_rule: Callable | None = None,
            count_ops: bool = False, keep_steps: bool = False) -> SNNRun:
        """Feed the static image ``x`` [B, ...] for up to T steps.

        ``exit_rule(cumulative_logits [b, C], t) -> bool mask [b]`` (t is 1-based) removes samples from the
        batch as soon as it returns True; everyone left exits at T. ``keep_steps`` keeps the per-step
        logits [T, B, C] (not allowed together with ``exit_rule``).
        """
        T = int(T or self.T)
        if exit_rule is not None and keep_steps:
            raise ValueError("keep_steps needs every sample to run all T steps; drop exit_rule")
        self.set_mode("snn")
        self.reset_state()
        for n in self.neurons:
            n.steps = T
        batch = x.shape[0]
        counter = self._counter(batch, x.device) if count_ops else None
        active = torch.arange(batch, device=x.device)
        cumulative = None
        final_logits = exit_step = None
        steps = []
        handles, densities = self._density_hooks() if count_ops else ([], {})
        try:
            for t in range(1, T + 1):
                out = self.graph_module(x)
                cumulative = out.clone() if cumulative is None else cumulative + out
                if final_logits is None:
                    final_logits = out.new_zeros((batch, out.shape[1]))
                    exit_step = torch.full((batch,), T, dtype=torch.long, device=x.device)
                if keep_steps:
                    steps.append(out)
                if counter is not None:
                    self._accumulate(counter, densities, active)
                leaving = torch.ones_like(active, dtype=torch.bool) if t == T else \
                    (exit_rule(cumulative, t) if exit_rule is not None else None)
                if leaving is None or not bool(leaving.any()):
                    continue
                gone = active[leaving]
                final_logits[gone] = cumulative[leaving] / t
                exit_step[gone] = t
                stay = (~leaving).nonzero().squeeze(1)
                if stay.numel() == 0:
                    break
                active, x, cumulative = active[stay], x[stay], cumulative[stay]
                for n in self.neurons:
                    n.keep(stay)
        finally:
            for h in handles:
                h.remove()
        return SNNRun(final_logits, exit_step, torch.stack(steps) if keep_steps else None, counter)

    def _counter(self, batch: int, device) -> OperationCounter:
        if any(s.flops == 0 for s in self.synapses):
            raise RuntimeError("call measure_flops(x) before counting operations")
        return OperationCounter([s.name for s in self.synapses], [s.kind for s in self.synapses],
                                [s.flops for s in self.synapses], batch, device)

    def _density_hooks(self):
        densities: dict[int, torch.Tensor] = {}
        handles = []
        for i, info in enumerate(self.synapses):
            def hook(module, inputs, i=i):
                densities[i] = (inputs[0] != 0).flatten(1).double().mean(1)
            handles.append(info.module.register_forward_pre_hook(hook))
        return handles, densities

    def _accumulate(self, counter: OperationCounter, densities: dict, active: torch.Tensor) -> None:
        counter.steps[active] += 1
        for i, info in enumerate(self.synapses):
            counter.density[i, active] += densities[i]
            if info.source is not None:
                counter.spike_count[i, active] += self.neurons[info.source].last_mean_count.double()

