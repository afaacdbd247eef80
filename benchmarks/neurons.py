"""The same LIF neuron in adaspike and in each installed peer, as multi-step modules over [T, B, *F].

Shared dynamics (adaspike's per-step form): v_t = α (v_{t-1} − θ s_{t-1}) + I_t, s_t = Θ(v_t − θ), θ = 1,
α = 0.95 (τ = 20 steps), reset by subtraction, gradients through the reset. Differences are listed in
``NOTES`` and printed with the results.
"""
from __future__ import annotations

import importlib.util
import math
from typing import Callable

import torch
from torch import nn

ALPHA = 0.95
THRESHOLD = 1.0
DT = 1e-3

NOTES = {
    "adaspike": "LIF layer (τ = −dt/ln α, r = 1/(1−α) so the per-step gain is 1), fast-sigmoid surrogate",
    "adaspike-ref": "same layer forced onto the reference (plain PyTorch) scan",
    "snntorch": "Leaky(β = α), Python loop over steps; its reset subtracts θ undecayed: v_t = αv + I − θs "
                "(adaspike: α(v − θs) + I); arctan surrogate",
    "norse": "LIFBoxCell (Euler, τ_mem_inv = (1−α)/dt, reset_subtract), Python loop; the current is scaled by "
             "1/(1−α) first so the per-step gain is 1; SuperSpike surrogate",
    "spikingjelly": "LIFNode(τ = 1/(1−α), decay_input=False, v_reset=None), step_mode 'm' (multi-step op); "
                    "sigmoid surrogate",
    "plain-layer": "plain PyTorch, layer by layer: each Linear/Conv over all T·B rows at once, then a Python loop "
                   "of the LIF step (recurrent: + V·s_{t−1} per step); fast-sigmoid surrogate as adaspike",
    "plain-step": "plain PyTorch, step by step: the whole network on x_t, then x_{t+1} (what a recurrent model "
                  "written by hand does); same LIF step and surrogate",
}

SLOPE = 25.0  # adaspike's default fast-sigmoid slope, so the plain loops compute the same gradients


class PlainSpike(torch.autograd.Function):
    """Θ(v − θ) with the fast-sigmoid surrogate, written as a user would in plain PyTorch."""

    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return (z >= 0).to(z.dtype)

    @staticmethod
    def backward(ctx, grad):
        (z,) = ctx.saved_tensors
        return grad / (SLOPE * z.abs() + 1.0) ** 2


def plain_lif_step(current: torch.Tensor, state):
    """One LIF step in plain PyTorch: v = α(v − θ s) + I, s = Θ(v − θ); ``state`` = (v, s) or None."""
    v = current if state is None else ALPHA * (state[0] - THRESHOLD * state[1]) + current
    s = PlainSpike.apply(v - THRESHOLD)
    return s, (v, s)


def plain_lif(features):
    """The plain layer-wise loop's neuron: a Python loop of ``plain_lif_step`` over the steps of [T, B, *F]."""
    return StepLoop(plain_lif_step)


def installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


class AdaspikeLIF(nn.Module):
    def __init__(self, features, backend: str = "auto"):
        super().__init__()
        from adaspike.layers import LIF

        tau = -DT / math.log(ALPHA)
        # scalar parameters broadcast to any feature shape (dense or conv maps)
        self.lif = LIF((), tau=tau, r=1.0 / (1.0 - ALPHA), learn_tau=False, threshold=THRESHOLD, dt=DT,
                       backend=backend)

    def forward(self, x):
        return self.lif(x)


class StepLoop(nn.Module):
    """Run a single-step neuron over time; ``step(x_t, state) -> (s_t, state)``."""

    def __init__(self, step: Callable, scale: float = 1.0):
        super().__init__()
        self.step, self.scale = step, scale

    def forward(self, x):
        state, out = None, []
        for t in range(x.shape[0]):
            s, state = self.step(x[t] * self.scale if self.scale != 1.0 else x[t], state)
            out.append(s)
        return torch.stack(out)


def snntorch_lif(features):
    import snntorch as snn

    leaky = snn.Leaky(beta=ALPHA, threshold=THRESHOLD, reset_mechanism="subtract")

    def step(x, mem):
        mem = torch.zeros_like(x) if mem is None else mem
        return leaky(x, mem)

    module = StepLoop(step)
    module.leaky = leaky
    return module


def norse_lif(features):
    from norse.torch import LIFBoxCell, LIFBoxParameters
    from norse.torch.functional.reset import reset_subtract

    params = LIFBoxParameters(tau_mem_inv=torch.tensor((1 - ALPHA) / DT), v_th=torch.tensor(THRESHOLD),
                              reset_method=reset_subtract)
    cell = LIFBoxCell(params, dt=DT)
    module = StepLoop(lambda x, s: cell(x, s), scale=1.0 / (1.0 - ALPHA))
    module.cell = cell
    return module


class SpikingJellyLIF(nn.Module):
    def __init__(self, features):
        super().__init__()
        from spikingjelly.activation_based import neuron

        self.node = neuron.LIFNode(tau=1.0 / (1.0 - ALPHA), decay_input=False, v_reset=None,
                                   v_threshold=THRESHOLD, step_mode="m")

    def forward(self, x):
        from spikingjelly.activation_based import functional

        functional.reset_net(self.node)
        return self.node(x)


def spikingjelly_step(features):
    """Single-step SpikingJelly LIF for recurrent loops (its state lives in the node; reset per sequence)."""
    from spikingjelly.activation_based import functional, neuron

    node = neuron.LIFNode(tau=1.0 / (1.0 - ALPHA), decay_input=False, v_reset=None, v_threshold=THRESHOLD,
                          step_mode="s")

    def step(x, state):
        if state is None:
            functional.reset_net(node)
        return node(x), True

    module = StepLoop(step)
    module.node = node
    return module


def step_impls() -> dict[str, Callable]:
    """Name -> factory(features) -> StepLoop whose ``step`` a recurrent loop can drive (peers and the plain
    layer-wise loop)."""
    impls = {}
    if installed("snntorch"):
        impls["snntorch"] = snntorch_lif
    if installed("norse"):
        impls["norse"] = norse_lif
    if installed("spikingjelly"):
        impls["spikingjelly"] = spikingjelly_step
    impls["plain-layer"] = plain_lif
    return impls


def available_impls(include_reference: bool = True) -> dict[str, Callable]:
    """Name -> factory(features) -> multi-step neuron module, for adaspike and every installed peer."""
    impls = {"adaspike": lambda f: AdaspikeLIF(f)}
    if include_reference:
        impls["adaspike-ref"] = lambda f: AdaspikeLIF(f, backend="reference")
    if installed("snntorch"):
        impls["snntorch"] = snntorch_lif
    if installed("norse"):
        impls["norse"] = norse_lif
    if installed("spikingjelly"):
        impls["spikingjelly"] = SpikingJellyLIF
    impls["plain-layer"] = plain_lif
    return impls


class Identity(nn.Module):
    """The floor: no neuron dynamics at all."""

    def forward(self, x):
        return x
