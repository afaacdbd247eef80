"""Conversion neurons on the shared core: IF state-space model + a core spike rule + subtractive reset.

A converted ReLU becomes a ``ConversionNeuron``. It owns no time loop: each call hands its drive to
``adaspike.core.scan`` (reference or fused numba/Triton backend) with explicit state. AdaFire (conversion spec §3)::

    v(t) = v(t−1) + z(t) + δ + θ/(2T)        v(0) = 0, δ = bias-correction shift
    n(t) = clip(⌊v(t)/θ⌋, 0, Γ)              core ``BurstSpike(Γ)``
    v(t) ← v(t) − n(t)·θ                      core subtractive reset (no lower clamp)
    x(t) = n(t)·θ                             graded output to the next layer

How a neuron runs comes from the active ``RunContext`` (``adaspike.convert.context``; ``ConvertedSNN`` installs
one per run), never from flags on the neuron. Two spiking modes:

* ``"sequence"``: the input holds all T steps folded into the batch axis, [T·B, ...] (time-major). The
  neuron unfolds it to [T, B, ...] and scans all steps at once, so a whole network runs layer by layer
  (each conv sees T·B maps in one call) and the scan may use a fused backend.
* ``"step"``: one step [B, ...]; the neuron's explicit ``state`` (a core ``NeuronState``) carries v between
  calls, so samples can leave the batch (IAT early exit) and their later steps are never computed. A step is
  the core's one-step op ``adaspike.core.step`` (bit-identical to ``scan``, which is slow per call for T = 1).

In ``"ann"`` mode a neuron is a plain ReLU (the folded ANN reference) and may capture its activation.

A new conversion neuron is one subclass registered with ``register_conversion_neuron``: say which spike rule it uses
(``spike_rule``) and what it adds to the current each step (``offset``, or ``drive`` for more); see
``AdaFireNeuron``.
"""
from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Callable

import torch
from torch import nn

from ..core import BurstSpike, NeuronState, SignedBurstSpike, if_discrete, scan, step
from ..core.registry import Registry
from ..core.step import signed_if_step
from ..core.step import spike_count as _spike_count
from .context import MODES, RunContext, active_run, run_context

_DEPRECATED_FLAGS = {"mode": "mode", "steps": "steps", "backend": "backend", "capture": "record.activation",
                     "track_output": "record.output_sum", "count_stats": "record.spike_total",
                     "track_peak": "record.peak", "per_sample_counts": "record.per_sample"}


class _RunFlag:
    """A former per-neuron flag, now a field of the ``RunContext``: reading it gives the active context's value,
    writing it (deprecated) sets a fallback context for this neuron that applies only outside any ``run_context``."""

    def __set_name__(self, owner, name):
        self.name, self.path = name, _DEPRECATED_FLAGS[name]

    def _warn(self):
        warnings.warn(f"ConversionNeuron.{self.name} is deprecated: pass RunContext({self.path}=...) with "
                      "adaspike.convert.run_context (ConvertedSNN.run does)", DeprecationWarning, stacklevel=3)

    def __get__(self, neuron, owner=None):
        if neuron is None:
            return self
        self._warn()
        run = neuron.run_now()
        return getattr(run.record, self.path[7:]) if self.path.startswith("record.") else getattr(run, self.path)

    def __set__(self, neuron, value):
        self._warn()
        run = neuron._fallback_run or RunContext()
        if self.path.startswith("record."):
            run = replace(run, record=replace(run.record, **{self.path[7:]: value}))
        else:
            run = replace(run, **{self.path: value})
        neuron._fallback_run = run


class ConversionNeuron(nn.Module):
    """Base of all conversion neurons: IF dynamics, explicit state, statistics for calibration and energy.

    Its parameters are the threshold θ, the bias shift δ and the burst cap Γ (``gamma``); how it runs (mode, T,
    backend, what to record) comes from the active ``RunContext``, not from flags on the neuron.
    """

    mode, steps, backend, capture, track_output, count_stats, track_peak, per_sample_counts = (
        _RunFlag() for _ in range(8))

    def __init__(self, channels: int, per_channel: bool, name: str = ""):
        super().__init__()
        self.node_name = name
        self.per_channel = per_channel
        # conv: one threshold per channel; linear: a scalar threshold. The bias shift is always per channel.
        self.register_buffer("threshold", torch.ones(channels if per_channel else 1))
        self.register_buffer("bias_shift", torch.zeros(channels))
        self.gamma = 1
        self._fallback_run: RunContext | None = None      # only set through the deprecated flags
        self.reset_state()

    def run_now(self) -> RunContext:
        """The context this call runs in: the active ``run_context``, else the default ``RunContext()``."""
        return active_run() or self._fallback_run or RunContext()

    # -- what a subclass defines ----------------------------------------------------------------------
    def spike_rule(self):
        """The core spike rule (``BinarySpike``/``BurstSpike``/...) of this neuron."""
        raise NotImplementedError

    def offset(self) -> torch.Tensor:
        """Per-channel constant added to the synaptic current every step (default: the bias shift δ); the active
        ``RunContext`` says how many steps the run has."""
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
        self.peak_count: float | None = None                   # largest n of one step (with record.peak)

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

    def ssm(self, dt=None):
        """The per-step form (``NeuronLayer``'s name for it): IF with gain 1, v = v − θ·s + I, one step per call
        (``dt`` is ignored: a converted network counts steps, not seconds). θ is shaped [C, 1, 1] for conv maps
        (per channel) and [1] otherwise, so it broadcasts over the feature axes."""
        theta = self.threshold.view(-1, 1, 1) if self.per_channel else self.threshold
        return if_discrete(1.0, theta)

    # -- forward ----------------------------------------------------------------------------------------
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        run = self.run_now()
        if run.mode == "ann":
            a = torch.relu(z)
            if run.record.activation:
                self.activation = a.detach()
            return a
        with run_context(run):          # offset() and drive() read the same context
            counts, result = (self._sequence if run.mode == "sequence" else self._step)(z, run)
        counts = self.events(counts)
        record = run.record
        if record.counts(self):
            self.spike_total = self.spike_total + counts.sum()      # stays on the device: no sync per call
            if record.per_sample:   # [B]: Σ over this call's steps of the mean count per element
                per_step = counts if run.mode == "sequence" else counts.unsqueeze(0)
                self.mean_count = per_step.flatten(2).mean(2).sum(0)
        if record.peak and counts.numel():
            self.peak_count = max(self.peak_count or 0.0, float(counts.max()))
        return result

    def _sequence(self, z: torch.Tensor, run: RunContext) -> tuple[torch.Tensor, torch.Tensor]:
        """All T steps folded into the batch, [T·B, ...]: one scan; returns (counts [T, B, ...], output [T·B, ...])."""
        theta = self._view(self.threshold, z).to(z.dtype)
        T = int(run.steps)
        current = self.drive(z, theta).reshape(T, z.shape[0] // T, *z.shape[1:])
        counts = scan(current, self.ssm(), reset="subtract", spike_fn=self.spike_rule(), backend=run.backend).spikes
        graded = counts * theta
        if run.record.output_sum:
            self._add_output(graded.sum(0))
        return counts, graded.reshape(z.shape)

    def _step(self, z: torch.Tensor, run: RunContext) -> tuple[torch.Tensor, torch.Tensor]:
        """One step [B, ...] from ``self.state`` with the core's one-step op (bit-identical to ``scan``; the
        scan with T = 1 pays per call for validation and layouts, as much as the step itself)."""
        offset_only = type(self).drive is ConversionNeuron.drive     # δ from offset(): the step adds it in its pass
        current = z if offset_only else self.drive(z, self._view(self.threshold, z).to(z.dtype))
        out = step(self.ssm(), current, self.state, self.spike_rule(), offset=self.offset() if offset_only else None,
                   graded=True, backend=run.backend)
        self.state = out.final
        if run.record.output_sum:
            self._add_output(out.graded)
        return out.spikes, out.graded

    @staticmethod
    def events(counts: torch.Tensor) -> torch.Tensor:
        """Spike events per element from the signed counts n(t) (what the statistics and energy count)."""
        return counts

    @staticmethod
    def spike_count(rule, v: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """Spike counts of the core ``rule`` at membrane ``v``, without gradients."""
        return _spike_count(rule, v, theta)

    def _add_output(self, step_sum: torch.Tensor) -> None:
        self.output_sum = step_sum if self.output_sum is None else self.output_sum + step_sum


NEURONS: Registry[type[ConversionNeuron]] = Registry("conversion neuron")


def register_conversion_neuron(name: str) -> Callable[[type[ConversionNeuron]], type[ConversionNeuron]]:
    """Class decorator: make a ``ConversionNeuron`` subclass available to ``convert(neuron=name)``."""
    def add(cls: type[ConversionNeuron]) -> type[ConversionNeuron]:
        if not issubclass(cls, ConversionNeuron):
            raise TypeError(f"{cls.__name__} must subclass ConversionNeuron")
        return NEURONS.add(name, cls)
    return add


def make_neuron(kind: str | type[ConversionNeuron], channels: int, per_channel: bool, name: str = "",
                **options) -> ConversionNeuron:
    """The neuron factory: a registered name (or a ``ConversionNeuron`` class) → a fresh neuron."""
    cls = kind if isinstance(kind, type) else NEURONS[kind]
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
        if not self.half_shift:
            return self.bias_shift
        return self.bias_shift + self.threshold / (2 * self.run_now().steps)


@register_conversion_neuron("signed")
class SignedNeuron(AdaFireNeuron):
    """AdaFire with signed bursts and memory (core ``SignedBurstSpike``): a neuron may send up to Γ negative
    spikes per step, but never more than it has sent, so its total output stays ≥ 0.

    AdaFire's mean output equals the quantised ReLU of its mean input only when the input is constant in time;
    spikes sent early for an input that later turns negative cannot be taken back (the "unevenness" error,
    which compounds in deep networks). Here the total count N(t) tracks round(Σ I/θ) (half shift on) at every
    step, so the output after T steps is the quantised ReLU of the integrated input, layer after layer
    (Wang et al., IJCAI 2022). A negative spike costs a synaptic event like a positive one (``events``).
    Not expressible in NIR (no signed-spike IF node).
    """

    def spike_rule(self):
        return SignedBurstSpike(int(self.gamma))

    @staticmethod
    def events(counts: torch.Tensor) -> torch.Tensor:
        return counts.abs()

    def _sequence(self, z: torch.Tensor, run: RunContext) -> tuple[torch.Tensor, torch.Tensor]:
        """The T steps folded in [T·B, ...], one ``_step`` each (the signed rule has no scan kernel)."""
        T, self.state = int(run.steps), None
        counts, graded = zip(*(self._step(z_t, run) for z_t in z.reshape(T, z.shape[0] // T, *z.shape[1:])))
        self.state = None           # a sequence run keeps no state between calls
        return torch.stack(counts), torch.stack(graded).reshape(z.shape)

    def _step(self, z: torch.Tensor, run: RunContext) -> tuple[torch.Tensor, torch.Tensor]:
        out = signed_if_step(z, self.threshold, self.state, self.spike_rule(), offset=self.offset())
        self.state = out.final
        if run.record.output_sum:
            self._add_output(out.graded)
        return out.spikes, out.graded


def run_adafire(current: torch.Tensor, threshold: float, gamma: int = 1, half_shift: bool = True,
                backend: str = "auto") -> torch.Tensor:
    """Run one AdaFire population (scalar θ) over currents [T, B, *F]; returns the spike counts n(t)."""
    T = current.shape[0]
    neuron = make_neuron("adafire", 1, per_channel=False, gamma=int(gamma), half_shift=half_shift).to(current.dtype)
    neuron.threshold.fill_(float(threshold))
    # one channel broadcasts over any feature shape: give the neuron [T·B, 1, ...] and read the counts back
    flat = current.reshape(T * current.shape[1], 1, -1)
    with torch.no_grad(), run_context(RunContext(mode="sequence", steps=T, backend=backend)):
        out = neuron(flat)
    return (out / float(threshold)).round().reshape(current.shape)


__all__ = ["AdaFireNeuron", "ConversionNeuron", "MODES", "NEURONS", "SignedNeuron", "make_neuron",
           "register_conversion_neuron", "run_adafire"]
