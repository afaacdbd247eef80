"""AdaFire burst neuron: a subtractive-reset IF neuron that may emit up to Γ spikes per step.

Per step t (T steps in a run, threshold θ per channel, burst cap Γ)::

    v(t) = v(t−1) + z(t) + δ + θ/(2T)        v(0) = 0, δ = bias-correction shift
    n(t) = clip(⌊v(t)/θ⌋, 0, Γ)              burst size
    v(t) ← v(t) − n(t)·θ                      reset by subtraction (no lower clamp)
    x(t) = n(t)·θ                             graded output to the next layer

For a constant z the rate after T steps is (θ/T)·clip(⌊Tz/θ + ½⌋, 0, ΓT): the θ/(2T) shift turns the
floor of plain IF into rounding. Γ = 1 is exactly the binary IF rule. δ is the per-channel bias correction;
it is kept on the neuron (equivalent to correcting the preceding layer's bias) so the synapses stay the
original folded ANN weights.

In ``"ann"`` mode the module is a plain ReLU (the folded ANN reference) and can capture its activations.
"""
from __future__ import annotations

import torch
from torch import nn


class AdaFireNeuron(nn.Module):
    """Stateful single-step burst neuron; ``ConvertedSNN`` drives it step by step and resets it per run."""

    def __init__(self, channels: int, per_channel: bool, name: str = ""):
        super().__init__()
        self.node_name = name
        self.per_channel = per_channel
        # conv: one threshold per channel; linear: a scalar threshold. The bias shift is always per channel.
        self.register_buffer("threshold", torch.ones(channels if per_channel else 1))
        self.register_buffer("bias_shift", torch.zeros(channels))
        self.gamma = 1
        self.half_shift = True
        self.steps = 1                       # T of the run: sets the θ/(2T) shift
        self.mode = "snn"                    # "snn" | "ann"
        self.capture = False                 # ann mode: keep the last activation in .activation
        self.track_output = False            # snn mode: accumulate the output sum for bias correction
        self.reset_state()

    def extra_repr(self) -> str:
        return f"node={self.node_name!r}, channels={self.threshold.numel()}, gamma={self.gamma}"

    def reset_state(self) -> None:
        self.v: torch.Tensor | None = None
        self.activation: torch.Tensor | None = None
        self.output_sum: torch.Tensor | None = None
        self.spike_total: torch.Tensor | float = 0.0   # Σ n over steps and batch (a burst of k counts k)
        self.last_mean_count: torch.Tensor | None = None   # [B] mean spike count per element, last step

    def keep(self, index: torch.Tensor) -> None:
        """Drop the state of samples that left the batch (early exit)."""
        if self.v is not None:
            self.v = self.v[index]
        if self.output_sum is not None:
            self.output_sum = self.output_sum[index]

    @staticmethod
    def _view(p: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """[C] or [1] → broadcastable against [B, C, ...]."""
        return p.view(1, -1, *([1] * (like.dim() - 2)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.mode == "ann":
            a = torch.relu(z)
            if self.capture:
                self.activation = a.detach()
            return a
        theta = self._view(self.threshold, z)
        drive = z + self._view(self.bias_shift, z)
        if self.half_shift:
            drive = drive + theta / (2 * self.steps)
        v = drive if self.v is None else self.v + drive
        n = torch.clamp(torch.floor(v / theta), 0, self.gamma)
        out = n * theta
        self.v = v - out
        self.spike_total = self.spike_total + n.sum()      # stays on the device: no sync per step
        self.last_count = n
        self.last_mean_count = n.flatten(1).mean(1)
        if self.track_output:
            self.output_sum = out if self.output_sum is None else self.output_sum + out
        return out


def run_adafire(current: torch.Tensor, threshold: float, gamma: int = 1, half_shift: bool = True) -> torch.Tensor:
    """Run one AdaFire population (scalar θ) over currents [T, B, *F]; returns the spike counts n(t)."""
    neuron = AdaFireNeuron(1, per_channel=False)  # one channel: broadcasts over any feature shape
    neuron.threshold.fill_(float(threshold))
    neuron.gamma, neuron.half_shift, neuron.steps = int(gamma), half_shift, current.shape[0]
    neuron.to(current.dtype)
    counts = []
    for z in current:
        neuron(z)
        counts.append(neuron.last_count)
    return torch.stack(counts)
