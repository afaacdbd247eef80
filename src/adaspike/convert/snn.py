"""The converted network: the ANN's graph (fx, or the user's module with ReLUs swapped) with core-scan neurons.

``ConvertedSNN(x)`` returns the mean over T of the readout logits (fixed-T output). Without early exit the
network runs layer by layer over all T steps (each layer sees [T·B, ...], each neuron scans its T steps on
a core backend). With an exit rule (IAT, conversion spec §7) the step-wise runner feeds one step at a time; neurons
carry explicit state, samples that exit leave the batch and their later steps are never computed.
Direct coding feeds the static image at every step; ``frames=True`` feeds a frame per step instead.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .context import MODES, RunContext, recording, run_context
from .energy import OperationCounter, layer_flops
from .neuron import ConversionNeuron
from .pooling import RunningMaxPool
from .trace import SynapseInfo, spiking_graph


@dataclass
class SNNRun:
    """Result of one batched run. ``logits``: cumulative logits at each sample's exit divided by its steps."""

    logits: torch.Tensor                  # [B, C]
    exit_step: torch.Tensor               # [B] long, 1..T
    step_logits: torch.Tensor | None      # [T, B, C] per-step readout (only without early exit)
    counter: OperationCounter | None


RUNNERS = ("auto", "sequence", "step")  # how a run without early exit is computed (same results)


def _never_exit(cumulative: torch.Tensor, t: int) -> torch.Tensor:
    return torch.zeros(cumulative.shape[0], dtype=torch.bool, device=cumulative.device)


def input_defaults(frames: bool, neuron=None, maxpool: str | None = None) -> tuple:
    """The neuron and max-pooling a conversion uses when not told: the paper's AdaFire and per-step pooling for
    static inputs; for event frames (a different input each step) signed neurons and running max-pools, which
    remove the errors of inputs that change over time (on real N-MNIST frames the paper's choice loses 8–16 pp
    to the ANN and this one none; docs/pages/real-data.md)."""
    return (neuron if neuron is not None else ("signed" if frames else "adafire"),
            maxpool if maxpool is not None else ("running" if frames else "per_step"))


class ConvertedSNN(nn.Module):
    """Spiking version of a traced ANN. Neurons are in layer order in ``self.neurons``."""

    def __init__(self, ann: nn.Module, T: int = 8, spiking_linear: bool = True, *, neuron=None,
                 frames: bool = False, example: torch.Tensor | None = None, concrete_args: dict | None = None,
                 leaf_modules: tuple = (), max_rows: int = 4096, runner: str = "auto", maxpool: str | None = None):
        super().__init__()
        neuron, maxpool = input_defaults(frames, neuron, maxpool)
        built = spiking_graph(ann, spiking_linear, neuron=neuron, example=example, concrete_args=concrete_args,
                              leaf_modules=leaf_modules, constant_input=not frames, maxpool=maxpool)
        self.graph_module, neurons, self.maxpool_nodes, self.synapses, self.traced = built
        self.neurons: list[ConversionNeuron] = neurons     # registered through graph_module
        # state-keeping pools (maxpool="running"): reset and trimmed with the neurons
        self.pools = [m for m in self.graph_module.modules() if isinstance(m, RunningMaxPool)]
        self.T = int(T)
        self.frames = bool(frames)       # True: fed a different frame per step, x [T, B, ...]
        self.max_rows = int(max_rows)    # rows (steps × samples) per layer-by-layer call
        if runner not in RUNNERS:
            raise ValueError(f"runner must be one of {RUNNERS}, got {runner!r}")
        self.runner = runner
        self.backend = "auto"                     # core scan backend of the neurons (set_backend)
        self.graph_call: Callable | None = None   # stands in for graph_module in run() (LayerReplay)

    # -- configuration ---------------------------------------------------------------------------------
    def running(self, mode: str, T: int | None = None, **changes):
        """A ``run_context`` for this network's neurons: ``mode``, ``T`` steps and its backend (a context manager;
        blocks nest, and what an enclosing ``recording`` asks for is kept)."""
        return run_context(mode=mode, steps=int(T or self.T), backend=self.backend, **changes)

    def set_mode(self, mode: str) -> None:
        """Deprecated: a mode set on every neuron; use ``with snn.running(mode): ...``."""
        warnings.warn("ConvertedSNN.set_mode is deprecated: run the graph inside `with snn.running(mode):`",
                      DeprecationWarning, stacklevel=2)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        for n in self.neurons:
            n._fallback_run = RunContext(mode=mode, steps=self.T, backend=self.backend)

    def reset_state(self) -> None:
        for n in [*self.neurons, *self.pools]:
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
        """The BN-folded ANN (neurons act as ReLU); optionally returns every neuron's activation.

        With ``frames`` the ANN sees the mean frame (the rate the SNN's first layer integrates).
        """
        if self.frames:
            x = x.mean(1)
        try:
            with self.running("ann"), recording(activation=capture):
                logits = self.graph_module(x)
            acts = [n.activation for n in self.neurons] if capture else []
        finally:
            for n in self.neurons:
                n.activation = None
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

    def set_backend(self, backend: str) -> None:
        """Core scan backend of the neurons in this network's runs ('auto', 'reference', 'numba', 'triton')."""
        self.backend = backend

    @torch.no_grad()
    def run(self, x: torch.Tensor, T: int | None = None, exit_rule: Callable | None = None,
            count_ops: bool = False, keep_steps: bool = False) -> SNNRun:
        """Feed the static image ``x`` [B, ...] (direct coding) or, built with ``frames=True``, one frame per
        step from ``x`` [B, T, ...].

        Without ``exit_rule`` the ``sequence`` runner runs layer by layer over all T steps (time folded into the
        batch; chunks of at most ``max_rows`` rows bound the memory) and the ``step`` runner calls the graph once
        per step; ``runner="auto"`` (the default) takes ``step`` on CPU, where it is faster, and ``sequence``
        elsewhere. Both give the same logits. ``exit_rule(cumulative_logits [b, C], t) ->
        bool mask [b]`` (t is 1-based) switches to the step-wise runner: samples leave the batch as soon as it
        returns True and their later steps are never computed; everyone left exits at T. ``keep_steps`` keeps
        the per-step logits [T, B, C] (not allowed together with ``exit_rule``).
        """
        T = int(T or self.T)
        if exit_rule is not None and keep_steps:
            raise ValueError("keep_steps needs every sample to run all T steps; drop exit_rule")
        if self.frames:
            if x.dim() < 3 or x.shape[1] != T:
                raise ValueError(f"this SNN is fed frames [B, T, ...] with T = {T}; got shape {tuple(x.shape)}")
            x = x.transpose(0, 1)        # time-major inside
        with recording(per_sample=count_ops):     # only the operation counter reads per-sample counts
            return self._run(x, T, exit_rule, count_ops, keep_steps)

    def _run(self, x: torch.Tensor, T: int, exit_rule: Callable | None, count_ops: bool, keep_steps: bool) -> SNNRun:
        if exit_rule is None and self._stepwise_for(x):
            return self._run_stepwise(x, T, _never_exit, count_ops, keep_steps)
        if exit_rule is not None:
            return self._run_stepwise(x, T, exit_rule, count_ops)
        batch = x.shape[1] if self.frames else x.shape[0]
        chunk = max(1, self.max_rows // T)
        parts = [self._run_sequence(x[:, i:i + chunk] if self.frames else x[i:i + chunk], T, count_ops)
                 for i in range(0, batch, chunk)]
        steps = torch.cat([p[0] for p in parts], dim=1)
        counter = _merge_counters([p[1] for p in parts]) if count_ops else None
        return SNNRun(steps.mean(0), torch.full((batch,), T, dtype=torch.long, device=steps.device),
                      steps if keep_steps else None, counter)

    def _stepwise_for(self, x: torch.Tensor) -> bool:
        # "auto": on CPU one graph call per step beats folding T into the batch (convs on [T·B, ...] rows pay
        # for their large temporaries): 2.5 s against 4.0 s for a Fashion-MNIST ResNet, 250 images, T = 8,
        # one thread (same logits). On GPUs the folded layer-by-layer run keeps the device busy.
        return self.runner == "step" or (self.runner == "auto" and x.device.type == "cpu")

    def _run_sequence(self, x: torch.Tensor, T: int, count_ops: bool):
        """All T steps at once: input [T·b, ...] through the graph, each neuron scanning its T steps."""
        self.reset_state()
        b = x.shape[1] if self.frames else x.shape[0]
        if self.frames:
            seq = x.reshape(T * b, *x.shape[2:])
        else:
            seq = x.unsqueeze(0).expand(T, *x.shape).reshape(T * b, *x.shape[1:])
        counter = self._counter(b, x.device) if count_ops else None
        handles, densities = self._density_hooks(T) if count_ops else ([], {})
        try:
            with self.running("sequence", T):
                out = (self.graph_call or self.graph_module)(seq)
        finally:
            for h in handles:
                h.remove()
        if counter is not None:
            counter.steps += T
            self._accumulate(counter, densities, torch.arange(b, device=x.device))
        return out.reshape(T, b, *out.shape[1:]), counter

    def _run_stepwise(self, x: torch.Tensor, T: int, exit_rule: Callable, count_ops: bool,
                      keep_steps: bool = False) -> SNNRun:
        self.reset_state()
        batch = x.shape[1] if self.frames else x.shape[0]
        counter = self._counter(batch, x.device) if count_ops else None
        active = torch.arange(batch, device=x.device)
        cumulative = final_logits = exit_step = None
        steps = []                  # per-step logits (keep_steps: only without exits, all samples stay)
        handles, densities = self._density_hooks(1) if count_ops else ([], {})
        try:
            with self.running("step", T):
                for t in range(1, T + 1):
                    out = (self.graph_call or self.graph_module)(x[t - 1][active] if self.frames else x)
                    cumulative = out.clone() if cumulative is None else cumulative + out
                    if keep_steps:
                        steps.append(out)
                    if final_logits is None:
                        final_logits = out.new_zeros((batch, out.shape[1]))
                        exit_step = torch.full((batch,), T, dtype=torch.long, device=x.device)
                    if counter is not None:
                        counter.steps[active] += 1
                        self._accumulate(counter, densities, active)
                    leaving = torch.ones_like(active, dtype=torch.bool) if t == T else exit_rule(cumulative, t)
                    if not bool(leaving.any()):
                        continue
                    gone = active[leaving]
                    final_logits[gone] = cumulative[leaving] / t
                    exit_step[gone] = t
                    stay = (~leaving).nonzero().squeeze(1)
                    if stay.numel() == 0:
                        break
                    active, cumulative = active[stay], cumulative[stay]
                    if not self.frames:
                        x = x[stay]
                    for n in [*self.neurons, *self.pools]:
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

    def _density_hooks(self, T: int):
        """Per synapse: Σ over the call's steps of the fraction of non-zero inputs, per sample [b]."""
        densities: dict[int, torch.Tensor] = {}
        handles = []
        for i, info in enumerate(self.synapses):
            def hook(module, inputs, i=i):
                d = (inputs[0] != 0).flatten(1).double().mean(1)
                densities[i] = d.reshape(T, -1).sum(0)
            handles.append(info.module.register_forward_pre_hook(hook))
        return handles, densities

    def _accumulate(self, counter: OperationCounter, densities: dict, active: torch.Tensor) -> None:
        for i, info in enumerate(self.synapses):
            counter.density[i, active] += densities[i]
            if info.source is not None:
                counter.spike_count[i, active] += self.neurons[info.source].mean_count.double()


def _merge_counters(counters: list[OperationCounter]) -> OperationCounter:
    """One counter over the concatenated batch of several chunk counters."""
    first = counters[0]
    merged = OperationCounter(first.names, first.kinds, first.flops.tolist(), 0, first.density.device)
    merged.density = torch.cat([c.density for c in counters], dim=1)
    merged.spike_count = torch.cat([c.spike_count for c in counters], dim=1)
    merged.steps = torch.cat([c.steps for c in counters])
    return merged
