"""Conversion neurons on the shared core: IF state-space model + a core spike rule + subtractive reset.

A converted ReLU becomes a ``ConversionNeuron``. It owns no time loop: each call hands its drive to
``adaspike.core.scan`` (reference or fused numba/Triton backend) with explicit state. AdaFire (conversion spec §3)::

    v(t) = v(t−1) + z(t) + δ + θ/(2T)        v(0) = 0, δ = bias-correction shift
    n(t) = clip(⌊v(t)/θ⌋, 0, Γ)              core ``BurstSpike(Γ)``
    v(t) ← v(t) − n(t)·θ                      core subtractive reset (no lower clamp)
    x(t) = n(t)·θ                             graded output to the next layer

Two ways to drive a neuron (``ConvertedSNN`` chooses):

* ``"sequence"``: the input holds all T steps folded into the batch axis, [T·B, ...] (time-major). The
  neuron unfolds it to [T, B, ...] and scans all steps at once, so a whole network runs layer by layer
  (each conv sees T·B maps in one call) and the scan may use a fused backend.
* ``"step"``: one step [B, ...]; the neuron's explicit ``state`` (a core ``NeuronState``) carries v between
  calls, so samples can leave the batch (IAT early exit) and their later steps are never computed. With
  ``backend="auto"`` a step is the core scan's IF update written out for one step (``_step``, bit-identical
  to ``scan``, which is slow per call for T = 1); any other backend calls ``scan``.

In ``"ann"`` mode a neuron is a plain ReLU (the folded ANN reference) and may capture its activation.

A new conversion neuron is one subclass registered with ``register_conversion_neuron``: say which spike rule it uses
(``spike_rule``) and what it adds to the current each step (``offset``, or ``drive`` for more); see
``AdaFireNeuron``.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..core import BurstSpike, NeuronState, if_discrete, scan
from ..core.step import burst_counts, burst_if_step, if_update

MODES = ("ann", "sequence", "step")


class ConversionNeuron(nn.Module):
    """Base of all conversion neurons: IF dynamics, explicit state, statistics for calibration and energy."""

    def __init__(self, channels: int, per_channel: bool, name: str = ""):
        super().__init__()
        self.node_name = name
        self.per_channel = per_channel
        # conv: one threshold per channel; linear: a scalar threshold. The bias shift is always per channel.
        self.register_buffer("threshold", torch.ones(channels if per_channel else 1))
        self.register_buffer("bias_shift", torch.zeros(channels))
        self.gamma = 1
        self.steps = 1                       # T of the run (sets e.g. the θ/(2T) shift)
        self.mode = "sequence"
        self.backend = "auto"                # core scan backend
        self.capture = False                 # ann mode: keep the last activation in .activation
        self.track_output = False            # snn modes: accumulate the output sum for bias correction
        self.count_stats = True              # snn modes: spike totals / mean counts (searches, energy)
        self.track_peak = False              # snn modes: keep the largest count of one step in .peak_count
        self.per_sample_counts = True        # snn modes: .mean_count per sample (ConvertedSNN.run: only to count ops)
        self.reset_state()

    # -- what a subclass defines ----------------------------------------------------------------------
    def spike_rule(self):
        """The core spike rule (``BinarySpike``/``BurstSpike``/...) of this neuron."""
        raise NotImplementedError

    def offset(self) -> torch.Tensor:
        """Per-channel constant added to the synaptic current every step (default: the bias shift δ)."""
        return self.bias_shift

    def drive(self, z: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """The per-step membrane current from the synaptic current ``z`` (θ broadcastable against z)."""
        return z + self._view(self.offset().to(z.dtype), z)     # one pass over z

    # -- state ------------------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return f"node={self.node_name!r}, channels={self.threshold.numel()}, gamma={self.gamma}"

    def reset_state(self) -> None:
        self.state: NeuronState | None = None                 # explicit scan state (step mode)
        self.activation: torch.Tensor | None = None
        self.output_sum: torch.Tensor | None = None            # Σ_t x(t) per sample (bias correction)
        self.spike_total: torch.Tensor | float = 0.0           # Σ n over steps and batch (a burst of k counts k)
        self.mean_count: torch.Tensor | None = None            # [B] Σ_t over this call of the mean count per element
        self.peak_count: float | None = None                   # largest n of one step (with track_peak)

    def keep(self, index: torch.Tensor) -> None:
        """Drop the state of samples that left the batch (early exit)."""
        if self.state is not None:
            self.state = NeuronState(self.state.x[index], self.state.s[index])
        if self.output_sum is not None:
            self.output_sum = self.output_sum[index]

    @staticmethod
    def _view(p: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """[C] or [1] → broadcastable against [B, C, ...]."""
        return p.view(1, -1, *([1] * (like.dim() - 2)))

    def _ssm(self, like: torch.Tensor):
        # parameters shaped [C, 1, 1] (conv) / [C] (linear) so they broadcast over the feature axes
        theta = self._view(self.threshold, like)[0]
        return if_discrete(1.0, theta.to(like.dtype))

    # -- forward ----------------------------------------------------------------------------------------
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.mode == "ann":
            a = torch.relu(z)
            if self.capture:
                self.activation = a.detach()
            return a
        theta = self._view(self.threshold, z).to(z.dtype)
        if self.mode == "sequence":
            current = self.drive(z, theta)
            T = int(self.steps)
            current = current.reshape(T, z.shape[0] // T, *z.shape[1:])
            out = scan(current, self._ssm(z), reset="subtract", spike_fn=self.spike_rule(), backend=self.backend)
            counts = out.spikes
            graded = counts * theta
            result = graded.reshape(z.shape)
            if self.count_stats and self.per_sample_counts:
                self.mean_count = counts.flatten(2).mean(2).sum(0)
            if self.track_output:
                self._add_output(graded.sum(0))
        elif self.mode == "step":
            rule = self.spike_rule()
            plain_if = type(self)._ssm is ConversionNeuron._ssm and not getattr(rule, "refractory", 0)
            own_drive = type(self).drive is ConversionNeuron.drive  # δ from offset() only: the fused step applies
            if self.backend == "auto" and plain_if and type(rule) is BurstSpike and own_drive:
                # drive, IF update, spike counts and graded output in one pass (core.step)
                v, counts, result = burst_if_step(z, self.offset(), self.threshold, self.state,
                                                  int(rule.max_spikes))
                self.state = NeuronState(v.unsqueeze(-1), counts)
            elif self.backend == "auto" and plain_if:
                counts = self._step(self.drive(z, theta), theta, rule)
                result = counts * theta
            else:
                current = self.drive(z, theta)
                out = scan(current.unsqueeze(0), self._ssm(z), reset="subtract", spike_fn=rule,
                           state=self.state, backend=self.backend)
                self.state = out.final
                counts = out.spikes[0]
                result = counts * theta
            if self.count_stats and self.per_sample_counts:
                self.mean_count = counts.flatten(1).mean(1)
            if self.track_output:
                self._add_output(result)
        else:
            raise ValueError(f"neuron mode must be one of {MODES}, got {self.mode!r}")
        if self.count_stats:
            self.spike_total = self.spike_total + counts.sum()      # stays on the device: no sync per call
        if self.track_peak and counts.numel():
            self.peak_count = max(self.peak_count or 0.0, float(counts.max()))
        return result

    def _step(self, current: torch.Tensor, theta: torch.Tensor, rule) -> torch.Tensor:
        """One step of the core's IF scan (H = B = 1, subtractive reset), for inference without gradients.

        The core scan with T = 1 pays per call for its validation and, on a fused backend, for layout copies
        (~16 ms a conv layer on CPU against ~4 ms here); the step runner calls it once per layer and step.
        Same operations in the same order as ``core.reference_scan`` (v = (x − θ·s) + I), so the spikes and the
        state are bit-identical to ``scan`` (tests/convert/test_convert_fast.py). Refractory rules, a subclass
        with its own ``_ssm`` and any ``backend`` other than "auto" run the core scan.
        """
        v = if_update(current, theta, self.state)
        counts = self.spike_count(rule, v, theta)
        self.state = NeuronState(v.unsqueeze(-1), counts)
        return counts

    @staticmethod
    def spike_count(rule, v: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """Spike counts of the core ``rule`` at membrane ``v``, without gradients."""
        if type(rule) is BurstSpike:
            return burst_counts(v, theta, int(rule.max_spikes))
        return rule(v, theta)

    def _add_output(self, step_sum: torch.Tensor) -> None:
        self.output_sum = step_sum if self.output_sum is None else self.output_sum + step_sum


NEURONS: dict[str, type[ConversionNeuron]] = {}


def register_conversion_neuron(name: str) -> Callable[[type[ConversionNeuron]], type[ConversionNeuron]]:
    """Class decorator: make a ``ConversionNeuron`` subclass available to ``convert(neuron=name)``."""
    def add(cls: type[ConversionNeuron]) -> type[ConversionNeuron]:
        if not issubclass(cls, ConversionNeuron):
            raise TypeError(f"{cls.__name__} must subclass ConversionNeuron")
        NEURONS[name] = cls
        return cls
    return add


def make_neuron(kind: str | type[ConversionNeuron], channels: int, per_channel: bool, name: str = "",
                **options) -> ConversionNeuron:
    """The neuron factory: a registered name (or a ``ConversionNeuron`` class) → a fresh neuron."""
    cls = NEURONS.get(kind) if isinstance(kind, str) else kind
    if cls is None:
        raise ValueError(f"unknown conversion neuron {kind!r}; registered: {sorted(NEURONS)}")
    neuron = cls(channels, per_channel, name)
    for key, value in options.items():
        if not hasattr(neuron, key):
            raise TypeError(f"{cls.__name__} has no option {key!r}")
        setattr(neuron, key, value)
    return neuron


@register_conversion_neuron("adafire")
class AdaFireNeuron(ConversionNeuron):
    """AdaFire: IF + ``BurstSpike(Γ)`` + subtractive reset, driven by z + δ + θ/(2T) (``half_shift``)."""

    def __init__(self, channels: int, per_channel: bool, name: str = ""):
        super().__init__(channels, per_channel, name)
        self.half_shift = True

    def spike_rule(self):
        return BurstSpike(int(self.gamma))

    def offset(self) -> torch.Tensor:
        # the half-threshold shift, spread over the T steps, turns IF's floor into rounding
        return self.bias_shift + self.threshold / (2 * self.steps) if self.half_shift else self.bias_shift


def run_adafire(current: torch.Tensor, threshold: float, gamma: int = 1, half_shift: bool = True,
                backend: str = "auto") -> torch.Tensor:
    """Run one AdaFire population (scalar θ) over currents [T, B, *F]; returns the spike counts n(t)."""
    T = current.shape[0]
    neuron = make_neuron("adafire", 1, per_channel=False, gamma=int(gamma), half_shift=half_shift, steps=T,
                         backend=backend).to(current.dtype)
    neuron.threshold.fill_(float(threshold))
    # one channel broadcasts over any feature shape: give the neuron [T·B, 1, ...] and read the counts back
    flat = current.reshape(T * current.shape[1], 1, -1)
    with torch.no_grad():
        out = neuron(flat)
    return (out / float(threshold)).round().reshape(current.shape)


__all__ = ["AdaFireNeuron", "ConversionNeuron", "MODES", "NEURONS", "make_neuron", "register_conversion_neuron",
           "run_adafire"]
