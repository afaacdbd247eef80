"""Stacks of spiking layers for event data (N-MNIST/SHD-style): flatten per step, spiking hidden layers
(feed-forward or recurrent), a leaky-integrator or time-reduced readout."""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from ..core.multistep import check_time_major
from ..core.units import DEFAULT_BIN_DT
from ..layers import (LeakyIntegrator, RecurrentSpikingLayer, SoftmaxSum, TimeFolded, TimeReduce, make_neuron,
                      spiking_linear)
from .registry import register_model

READOUTS = ("li-mean", "li-softmax", "li-max", "mean", "sum")
_REDUCTIONS = {"li-mean": "mean", "li-max": "max", "mean": "mean", "sum": "sum"}  # li-softmax: SoftmaxSum


class SpikingMLP(nn.Module):
    """[T, B, *input_shape] → logits [B, classes].

    ``readout``: ``li-mean`` (leaky integrator, mean membrane over time), ``li-max``, ``li-softmax`` (the SHD
    sum-of-softmax), or ``mean``/``sum`` of a spiking output layer's counts.
    """

    def __init__(self, input_size: int, hidden: Sequence[int], classes: int, *, neuron: str = "adlif",
                 recurrent: bool = True, dt: float = DEFAULT_BIN_DT, readout: str = "li-mean", readout_tau: float = 20e-3,
                 input_gain: float = 1.0, dropout: float = 0.0, neuron_options: dict | None = None):
        super().__init__()
        if readout not in READOUTS:
            raise ValueError(f"unknown readout {readout!r}; choose one of {READOUTS}")
        if isinstance(hidden, (str, bytes)) or any(isinstance(w, bool) or int(w) != w or w < 1 for w in hidden):
            raise ValueError(f"hidden must be a list of positive layer widths, got {hidden!r}")
        if isinstance(classes, bool) or int(classes) != classes or classes < 1 or int(input_size) < 1:
            raise ValueError(f"classes and input_size must be positive integers, got {classes!r}, {input_size!r}")
        self.input_kind = "counts"  # binned event counts: retime rescales their drive
        self.input_size = int(input_size)
        self.readout_name = readout
        options = dict(neuron_options or {})
        layers, size = [], input_size
        for width in hidden:
            cell = make_neuron(neuron, width, dt=dt, **options)
            layer = (RecurrentSpikingLayer(size, width, cell, recurrent_init_gain=0.5) if recurrent
                     else spiking_linear(size, width, cell))
            _init_drive(layer.synapse.module, input_gain if size == input_size else 1.0)
            layers.append(layer)
            size = width
        self.hidden = nn.ModuleList(layers)
        self.dropout = nn.Dropout(dropout)
        self.head = TimeFolded(nn.Linear(size, classes))
        if readout.startswith("li"):
            self.readout = LeakyIntegrator(classes, tau=readout_tau, dt=dt)
        else:
            self.readout = make_neuron(neuron, classes, dt=dt, **options)
        # the time reduction is a module, so retime and export find it like any other (no mode string to read)
        self.reduce = SoftmaxSum(log=True) if readout == "li-softmax" else TimeReduce(_REDUCTIONS[readout])

    @property
    def readout_mode(self) -> str:
        """The ``readout`` this model was built with (read-only; the reduction itself is ``self.reduce``)."""
        return self.readout_name

    def nir_modules(self) -> list[tuple[str, nn.Module]]:
        """The modules in data-flow order, for NIR export: flatten, hidden layers, head, readout, reduction."""
        if isinstance(self.reduce, SoftmaxSum):
            raise ValueError("SpikingMLP readout 'li-softmax' has no NIR form (use li-mean, li-max, mean or sum)")
        return [("flatten", TimeFolded(nn.Flatten())), *((f"hidden.{i}", m) for i, m in enumerate(self.hidden)),
                ("head", self.head), ("readout", self.readout), ("reduce", self.reduce)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_time_major(x, name="SpikingMLP input")
        h = x.flatten(2)
        if h.shape[-1] != self.input_size:
            raise ValueError(f"SpikingMLP expects {self.input_size} features per step, got {tuple(x.shape[2:])} "
                             f"(= {h.shape[-1]}); was the data binned or pooled differently from training?")
        for layer in self.hidden:
            h = self.dropout(layer(h))
        return self.reduce(self.readout(self.head(h)))


def _init_drive(linear: nn.Linear, gain: float) -> None:
    # sparse count inputs: scale so the initial drive sits near threshold (per-neuron fan-in)
    with torch.no_grad():
        nn.init.normal_(linear.weight, 0.0, gain * 2.0 / math.sqrt(linear.in_features))
        if linear.bias is not None:
            linear.bias.zero_()


@register_model("snn")
def snn(input_shape: Sequence[int], classes: int, hidden: Sequence[int] = (128,), **kwargs) -> SpikingMLP:
    """Builder for checkpoints: ``input_shape`` is the per-step feature shape (e.g. [2, 17, 17] or [700])."""
    return SpikingMLP(int(math.prod(input_shape)), list(hidden), classes, **kwargs)
