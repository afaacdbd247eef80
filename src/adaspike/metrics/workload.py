"""Workload metrics of any adaspike model, collected by hooks while it runs: NeuroBench's and adaspike's.

NeuroBench's definitions (``neurobench`` 2.3), applied to the layers its hooks see:

* **activation sparsity**: zero outputs / all outputs of the activation layers (spiking neurons, ReLU,
  Sigmoid), per batch, averaged over batches weighted by batch size;
* **synaptic operations** of every connection layer (Linear, Conv1d/2d/3d) and call: *effective* = the pairs
  (non-zero input, non-zero weight) — counted as ACs when the call's whole input lies in {0, ±1}, as MACs
  otherwise; *dense* = all pairs (all-ones input and weights). Biases are not synaptic operations;
* **membrane updates**: per neuron layer, every neuron at the first step plus every later step at which its
  membrane changed; **neuron operations** = updates × the operations of one update (dense: every neuron at
  every step).

adaspike's own counts differ on purpose in two ways (docs/pages/api/metrics.md):

* **recurrence**: the recurrent matrix of ``RecurrentSpikingLayer`` is applied inside the scan, where forward
  hooks cannot see it; adaspike counts its operations from the layer's output spikes (V·s_{t−1} at each step);
* **bursts**: an input of integer counts is spikes, and a count of k costs k ACs (NeuroBench: any value other
  than 0/±1 makes the whole call MACs, one per non-zero input).

Operations per neuron update come from the state-space form of size n: n² (H·x) + n (B·I) + 2 (threshold
comparison, reset) for spiking neurons, n² + n for non-spiking readouts; a LIF (n = 1) costs 4, NeuroBench's
figure for snnTorch's ``Leaky``.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from ..layers import LeakyIntegrator, NeuronLayer, RecurrentSpikingLayer
from ..core.clock import layer_steps
from ..layers.discretisation_cache import layer_ssm
from .counts import ConnectionCount, ConnectionWeights, NeuronCount, first_output, ops_per_update, weighted_pairs
from .energy import DEFAULT_ENERGY, EnergyModel
from .neuron_kinds import MEMBRANE_SOURCES, NeuronKind, neuron_kind, register_neuron_type
from .static import CONNECTION_LAYERS, static_metrics
from .stats import StatsCache, column_stats, membrane_changes


class MetricsCollector:
    """Hooks into a model while it runs (``with collector.watch(model): ...``) and tallies the workload.

    Samples are counted from the model's output (logits [B, ...]), so any evaluation loop can run inside.
    """

    def __init__(self, energy: EnergyModel = DEFAULT_ENERGY):
        self.energy = energy
        self.connections: dict[str, ConnectionCount] = {}
        self.neurons: dict[str, NeuronCount] = {}
        self.samples = 0
        self.batches = 0
        self.steps: int | None = None
        self.dt: float | None = None
        self._sparsity_weighted = 0.0       # Σ_batches sparsity(batch) · batch size (NeuroBench's average)
        self._sparsity_weight = 0
        self._batch_nonzero = self._batch_outputs = 0
        self._cache = ConnectionWeights()
        self._stats = StatsCache()
        self._graded = StatsCache()        # spike counts of graded-spike neurons' outputs, by output tensor
        self._model: nn.Module | None = None

    # -- hooks ------------------------------------------------------------------------------------------
    def _synapse_hook(self, name: str):
        def hook(module, args):
            x = args[0]
            entry = self.connections[name]
            linear = isinstance(module, nn.Linear)
            shape = (x.shape[-1],) if linear else tuple(x.shape[1:])
            stats = self._stats.get(x, math.prod(shape))
            graded = self._graded.find(x, math.prod(shape))   # the counts behind a graded neuron's n·θ
            counts = stats.integer or graded is not None
            # bursts: a count of k is k ACs; for binary input that is also NeuroBench's effective count
            weighted = (weighted_pairs(module, self._cache, module.weight, (graded or stats).abs_sum, shape)
                        if counts else None)
            effective = (weighted if stats.binary
                         else weighted_pairs(module, self._cache, module.weight, stats.nonzero, shape))
            if linear:
                dense = float(stats.rows) * module.in_features * module.out_features
            else:
                dense = self._cache.conv_dense(module, shape) * stats.rows
            entry.calls += 1
            entry.dense += dense
            if stats.binary:
                entry.nb_acs += effective
            else:
                entry.nb_macs += effective
            if counts:  # adaspike: spikes and counts are ACs, graded spikes counted by their counts
                entry.acs += weighted
            else:
                entry.macs += effective
        return hook

    def _recurrent_hook(self, name: str):
        def hook(module, args, kwargs, output):
            spikes = first_output(output)
            T, B, F = spikes.shape
            state = kwargs.get("state", args[1] if len(args) > 1 else None)
            # the product at step t reads the spikes of step t − 1 (of the initial state at t = 0): all the
            # layer's spikes (measured once, shared with its neuron's hook) but the last step's
            previous = self._stats.get(spikes, F).abs_sum - spikes[-1].detach().abs().sum(0, dtype=torch.float64)
            if state is not None:
                previous = previous + state.s.detach().abs().reshape(-1, F).sum(0, dtype=torch.float64).cpu()
            entry = self.connections[name]
            entry.calls += T
            entry.dense += float(T * B) * F * F
            entry.acs += weighted_pairs(None, self._cache, module.recurrent, previous, (F,))
            entry.nb_acs += 0.0  # invisible to NeuroBench's hooks
        return hook

    def _neuron_hook(self, name: str):
        def hook(module, args, output):
            entry = self.neurons[name]
            out = first_output(output)
            if self.steps is None and isinstance(module, (NeuronLayer, LeakyIntegrator)):
                self.steps, self.dt = int(out.shape[0]), float(module.dt)
            if entry.kind.activation:
                # columns = the features of one sample at one step (a conv's C·H·W, a Linear's F): what the
                # next connection reads; a Linear over the last axis folds them to its own
                lead = min(entry.kind.leading_axes, out.dim() - 1) if out.dim() > 1 else 0
                columns = max(1, out.numel() // max(1, math.prod(out.shape[:lead])))
                stats = self._stats.get(out, columns)
                nonzero = stats.nonzero_count
                entry.nonzero += nonzero
                entry.outputs += out.numel()
                if entry.kind.spike_counts is not None:
                    counts = entry.kind.spike_counts(module, out.detach())
                    stats = self._graded.put(out, columns, column_stats(counts.reshape(-1, columns)))
                entry.spikes += stats.magnitude if entry.kind.spiking else 0.0
                self._batch_nonzero += nonzero
                self._batch_outputs += out.numel()
            if entry.kind.membrane == "output":
                self._membrane(entry, out.detach().unsqueeze(-1), 0, 1)
        return hook

    def _membrane(self, entry: NeuronCount, states: torch.Tensor, index: int, state_size: int) -> None:
        """NeuroBench's rule on a state trace [T, B, *F, n]: all neurons at the first step, then every change
        of the membrane (component ``index``)."""
        entry.ops_per_update = ops_per_update(state_size, entry.kind.spiking)
        first = states[0].numel() // states.shape[-1]
        entry.membrane_updates += first + membrane_changes(states, index)
        entry.dense_updates += states.numel() // states.shape[-1]
        entry.neurons = states[0, 0].numel() // states.shape[-1]

    def _scan_probe(self, module: NeuronLayer, name: str):
        original = module.run

        def run(current, state=None, return_states=False, ssm=None, recurrent_weight=None, dt=None):
            own = ssm if ssm is not None else layer_ssm(module, current)
            # on a clock (explicit or active) the layer builds its per-step form itself
            clocked = ssm is None and layer_steps(dt, current) is not None
            out = original(current, state, True, None if clocked else own, recurrent_weight, dt=dt)
            self._membrane(self.neurons[name], out.states.detach(), own.mem_index, own.state_size)
            return out
        return run

    def _root_hook(self, module, args, output):
        out = first_output(output)
        batch = int(out.shape[0]) if isinstance(out, torch.Tensor) and out.dim() > 0 else 1
        self.samples += batch
        self.batches += 1
        self._stats.clear()
        self._graded.clear()
        if self._batch_outputs:
            self._sparsity_weighted += (1 - self._batch_nonzero / self._batch_outputs) * batch
            self._sparsity_weight += batch
        self._batch_nonzero = self._batch_outputs = 0

    @contextmanager
    def watch(self, model: nn.Module) -> Iterator["MetricsCollector"]:
        """Register the hooks for the duration of the block (nothing stays on the model afterwards)."""
        handles, probes = [], []
        self._model = model
        try:
            for name, module in model.named_modules():
                label = name or type(module).__name__
                if isinstance(module, CONNECTION_LAYERS):
                    self.connections.setdefault(label, ConnectionCount(label, "synapse"))
                    handles.append(module.register_forward_pre_hook(self._synapse_hook(label)))
                elif isinstance(module, RecurrentSpikingLayer):
                    key = f"{label}.recurrent"
                    self.connections.setdefault(key, ConnectionCount(key, "recurrent"))
                    handles.append(module.register_forward_hook(self._recurrent_hook(key), with_kwargs=True))
                kind = neuron_kind(module)
                if kind is not None and not any(label.startswith(p + ".") for p in self.neurons if p):
                    self.neurons.setdefault(label, NeuronCount(label, kind))
                    handles.append(module.register_forward_hook(self._neuron_hook(label)))
                    if kind.membrane == "scan":
                        module.run = self._scan_probe(module, label)
                        probes.append(module)
            handles.append(model.register_forward_hook(self._root_hook))
            yield self
        finally:
            for handle in handles:
                handle.remove()
            for module in probes:
                del module.run  # the class's method shows through again
            self._stats.clear()
            self._graded.clear()
        self._graded.clear()

    # -- results ----------------------------------------------------------------------------------------
    def result(self, samples: int | None = None, step_s: float | None = None) -> dict:
        """Per-sample metrics (means over the samples seen), per layer and in total; see the module doc.

        ``samples`` overrides the count taken from the watched module's outputs, e.g. when it is called once per
        step (a converted SNN's ``graph_module``, whose batch shrinks as samples exit early). ``step_s`` is the
        input's seconds per step when they differ from the model's dt (a model run on data binned at another
        step, e.g. retime's method ``none``); the per-second figures use it.
        """
        if step_s is not None and not (math.isfinite(step_s) and step_s > 0):
            raise ValueError(f"step_s must be a positive number of seconds, got {step_s!r}")
        if samples is not None:
            self.samples = int(samples)
        n = max(1, self.samples)
        e = self.energy
        layers = []
        for c in self.connections.values():
            layers.append({"layer": c.name, "kind": c.kind, "dense": c.dense / n,
                           "neurobench_macs": c.nb_macs / n, "neurobench_acs": c.nb_acs / n,
                           "macs": c.macs / n, "acs": c.acs / n,
                           "energy_pj": float(e.energy_pj(c.macs, c.acs)) / n})
        neurons = []
        for u in self.neurons.values():
            neurons.append({"layer": u.name, "neurons": u.neurons, "activation": u.kind.activation,
                            "activation_sparsity": (1 - u.nonzero / u.outputs) if u.outputs else None,
                            "spikes": u.spikes / n, "membrane_updates": u.membrane_updates / n,
                            "neuron_ops": u.membrane_updates * u.ops_per_update / n,
                            "neuron_dense_ops": u.dense_updates * u.ops_per_update / n})

        def total(key, kinds=("synapse", "recurrent")):
            return sum(layer[key] for layer in layers if layer["kind"] in kinds)

        energy = total("energy_pj")
        step = step_s if step_s is not None else self.dt
        seconds = self.steps * step if self.steps and step else None
        neurobench = {
            "activation_sparsity": self._sparsity_weighted / self._sparsity_weight if self._sparsity_weight else None,
            "synaptic_operations": {"Effective_MACs": total("neurobench_macs", ("synapse",)),
                                    "Effective_ACs": total("neurobench_acs", ("synapse",)),
                                    "Dense": total("dense", ("synapse",))},
            "membrane_updates": sum(u["membrane_updates"] for u in neurons),
            "neuron_operations": {"Effective Neuron Ops": sum(u["neuron_ops"] for u in neurons),
                                  "Neuron Dense Ops": sum(u["neuron_dense_ops"] for u in neurons)},
        }
        adaspike = {"macs": total("macs"), "acs": total("acs"), "dense": total("dense"),
                    "recurrent_acs": total("acs", ("recurrent",)),
                    "spikes": sum(u["spikes"] for u in neurons),
                    "energy_pj": energy,
                    "energy_pj_per_step": energy / self.steps if self.steps else None,
                    "energy_pj_per_second": energy / seconds if seconds else None,
                    "neurobench_energy_pj": float(e.energy_pj(neurobench["synaptic_operations"]["Effective_MACs"],
                                                              neurobench["synaptic_operations"]["Effective_ACs"]))}
        out = {"samples": self.samples, "steps": self.steps, "dt_s": self.dt, "input_seconds": seconds,
               "energy_model": e.as_dict(), "neurobench": neurobench, "adaspike": adaspike,
               "layers": layers, "neurons": neurons}
        if self._model is not None:
            out["static"] = static_metrics(self._model)
        return out


def _accuracy(logits, y) -> int | None:
    if not (isinstance(logits, torch.Tensor) and isinstance(y, torch.Tensor)) or logits.dim() != 2 \
            or y.dim() != 1 or y.is_floating_point():
        return None
    return int((logits.argmax(1) == y).sum())


@torch.no_grad()
def measure(model: nn.Module, loader, *, energy: EnergyModel = DEFAULT_ENERGY, device=None,
            max_batches: int | None = None) -> dict:
    """Static and workload metrics of ``model`` over ``loader`` ((x, y) batches); adds ``accuracy`` when y
    holds class indices. The model runs in eval mode and is left as it was."""
    was_training = model.training
    model.eval()
    collector = MetricsCollector(energy)
    correct, counted = 0, 0
    try:
        with collector.watch(model):
            for index, (x, y) in enumerate(loader):
                if max_batches is not None and index >= max_batches:
                    break
                if device is not None:
                    x, y = x.to(device), y.to(device)
                hits = _accuracy(model(x), y)
                if hits is not None:
                    correct, counted = correct + hits, counted + int(y.numel())
    finally:
        model.train(was_training)
    result = collector.result()
    result["accuracy"] = correct / counted if counted else None
    return result


__all__ = ["ConnectionCount", "MEMBRANE_SOURCES", "MetricsCollector", "NeuronCount", "NeuronKind", "measure",
           "neuron_kind", "register_neuron_type"]
