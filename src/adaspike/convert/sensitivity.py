"""Layer-wise sensitivity tables for AdaFire (Γ per layer) and SSC (threshold ratio per layer).

For each layer i and candidate value g, only layer i is changed, the whole SNN runs T steps on one batch,
and we record S[g][i] = symmetric KL(ANN ‖ SNN mean-over-T logits) and C[g][i] = spike count of layer i
(a burst of k counts k). The unmodified network is run once and shared by all layers; each other run
recomputes only the layers from i on (``replay.LayerReplay``), which leaves S and C unchanged.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from .context import recording
from .neuron import ConversionNeuron
from .replay import LayerReplay
from .search import pareto_dp, symmetric_kl
from .snn import ConvertedSNN

Setter = Callable[[ConversionNeuron, object], Callable[[], None]]   # apply value, return an undo


def _measure(snn: ConvertedSNN, run, ann_logits: torch.Tensor) -> tuple[float, list[float]]:
    return symmetric_kl(ann_logits, run.logits), [float(n.spike_total) for n in snn.neurons]


@torch.no_grad()
def layer_tables(snn: ConvertedSNN, x: torch.Tensor, T: int, candidates: Sequence, setter: Setter,
                 neutral=None, replay: bool = True, burst_caps: bool = False
                 ) -> tuple[list[list[float]], list[list[float]]]:
    """``S[k][i]``, ``C[k][i]`` for candidate k and layer i; ``neutral`` is the candidate that changes nothing.

    With ``replay`` (default) each run recomputes only the layers downstream of the changed one
    (``LayerReplay``; same tables as ``replay=False``, which reruns the whole network every time).
    ``burst_caps``: the candidates are burst caps Γ and ``neutral`` every layer's current one. When layer i's
    largest count in one step of the unmodified run is below ``neutral`` its cap never clipped, and neither
    would any cap at or above that peak: the run would be the unmodified one, so its entries are copied
    instead of computed (also exact).
    """
    ann_logits, _ = snn.ann_forward(x)
    L = len(snn.neurons)
    S = [[0.0] * L for _ in candidates]
    C = [[0.0] * L for _ in candidates]
    with recording(peak=burst_caps):
        runs = LayerReplay(snn, x, T, enabled=replay)
    # a neuron that did not report its peak (e.g. its own forward) gets no shortcut
    peaks = [n.peak_count if burst_caps and neutral is not None and n.peak_count is not None else float("inf")
             for n in snn.neurons]
    base = _measure(snn, runs.base, ann_logits) if neutral is not None else None
    for k, value in enumerate(candidates):
        for i, neuron in enumerate(snn.neurons):
            if base is not None and (value == neutral or peaks[i] <= value and peaks[i] < neutral):
                kl, spikes = base
            else:
                undo = setter(neuron, value)
                try:    # only layer i's count is read from this run
                    with recording(count_only=frozenset([neuron])):
                        kl, spikes = _measure(snn, runs.run_from(i), ann_logits)
                finally:
                    undo()
            S[k][i], C[k][i] = kl, spikes[i]
    return S, C


def set_gamma(neuron: ConversionNeuron, gamma) -> Callable[[], None]:
    old = neuron.gamma
    neuron.gamma = int(gamma)

    def undo():
        neuron.gamma = old
    return undo


def scale_threshold(neuron: ConversionNeuron, ratio) -> Callable[[], None]:
    old = neuron.threshold.clone()
    neuron.threshold.mul_(float(ratio))

    def undo():
        neuron.threshold.copy_(old)
    return undo


def allocate_gammas(snn: ConvertedSNN, x: torch.Tensor, T: int, gammas: Sequence[int], gamma_target: int,
                    spike_budget: float) -> dict:
    """AdaFire: choose Γ_l per layer (all layers must currently be at max(gammas) with matching thresholds)."""
    gammas = list(gammas)
    if gamma_target not in gammas:
        raise ValueError(f"gamma_target {gamma_target} is not among the candidates {gammas}")
    S, C = layer_tables(snn, x, T, gammas, set_gamma, neutral=snn.neurons[0].gamma, burst_caps=True)
    budget = spike_budget * sum(C[gammas.index(gamma_target)])      # the row of the candidate *value*
    choice = pareto_dp(S, C, gammas, budget)
    if choice is None:
        choice = [min(gammas)] * len(snn.neurons)
    return {"gammas": choice, "sensitivity": S, "spikes": C, "budget": budget, "candidates": gammas}


def compress_thresholds(snn: ConvertedSNN, x: torch.Tensor, T: int, ratios: Sequence[float],
                        kl_budget: float) -> dict:
    """SSC: threshold ratio r_l per layer minimising spikes with Σ S ≤ τ_KL·Σ S[1.0]; applied in layer order."""
    ratios = [float(r) for r in ratios]
    if 1.0 not in ratios:
        raise ValueError("SSC ratios must include 1.0 (the unmodified network)")
    S, E = layer_tables(snn, x, T, ratios, scale_threshold, neutral=1.0)
    budget = kl_budget * sum(S[ratios.index(1.0)]) * (1 + 1e-9)     # keep the all-1.0 choice feasible
    choice = pareto_dp(E, S, ratios, budget) or [1.0] * len(snn.neurons)
    for neuron, r in zip(snn.neurons, choice):          # layer order (conversion spec §9.1)
        neuron.threshold.mul_(r)
    return {"ratios": choice, "sensitivity": S, "spikes": E, "budget": budget, "candidates": ratios}
