"""Operation counts and the energy model of the conversion spec (§10).

Per sample, summed over the steps it ran (to its exit step under IAT)::

    E = Σ_{t ≤ t_exit} [ 4.6 pJ · F_1  +  Σ_{l ≥ 2} 0.9 pJ · F_l · d_l(t) ]

F_1: MACs of the layer fed with the analog image (direct coding: every step); F_l: FLOPs of layer l
(conv C_in·C_out·k_h·k_w·H_out·W_out, linear in·out; groups and bias ignored); d_l(t): fraction of non-zero
entries of layer l's input at step t, so a burst of k spikes is ONE accumulate (graded-spike hardware).
Plain synaptic operations are also reported: SOP_l(t) = F_l · n̄_l(t), n̄ the mean spike *count* per input
element of the neuron feeding layer l (a burst of k counts k; exact through average pooling).
The non-spiking readout is reported on its own line ('readout') and included in the total; the spec's
reference leaves it out. The ANN reference costs 4.6 pJ per MAC for every conv/linear.

The costs and the MAC rule live in :mod:`adaspike.metrics.energy` (one energy model for every adaspike model);
this module keeps conversion's graded-spike convention and its per-sample accumulators on top of it.
"""
from __future__ import annotations

import torch
from torch import nn

from ..metrics import NeuronKind, register_neuron_type
from ..metrics.energy import DEFAULT_ENERGY, E_AC_PJ, E_MAC_PJ, nominal_macs
from .neuron import ConversionNeuron

def spike_counts(neuron: ConversionNeuron, graded: torch.Tensor) -> torch.Tensor:
    """The counts n behind a conversion neuron's graded output n·θ (θ per channel); exact, as n is an integer."""
    theta = neuron._view(neuron.threshold, graded).to(graded.dtype)
    return torch.where(theta > 0, torch.round(graded / theta.clamp(min=torch.finfo(graded.dtype).tiny)), 0.0)


# converted neurons for adaspike.metrics: activation sparsity of their graded outputs n·θ; adaspike's columns
# count the connections they feed in ACs, k for a count of k (NeuroBench's see graded values: MACs)
register_neuron_type(ConversionNeuron, NeuronKind(activation=True, membrane="none",
                                                  spike_counts=spike_counts, leading_axes=1))


def layer_flops(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    """MACs per sample: conv C_in·C_out·k_h·k_w·H_out·W_out, linear in·out."""
    return nominal_macs(module, out)


class OperationCounter:
    """Per-sample, per-layer accumulators filled by ``ConvertedSNN`` while it steps.

    ``density[l, b]`` = Σ_t d_l(t) and ``spike_count[l, b]`` = Σ_t n̄_l(t) over the steps sample b ran.
    """

    def __init__(self, names: list[str], kinds: list[str], flops: list[int], batch: int, device=None):
        self.names, self.kinds = names, kinds
        self.flops = torch.tensor(flops, dtype=torch.float64)
        self.density = torch.zeros(len(names), batch, dtype=torch.float64, device=device)
        self.spike_count = torch.zeros(len(names), batch, dtype=torch.float64, device=device)
        self.steps = torch.zeros(batch, dtype=torch.float64, device=device)

    def energy_per_layer_pj(self) -> torch.Tensor:
        """[layers, batch] pJ: MAC energy for the analog-input layer, AC energy × density for the rest."""
        f = self.flops.to(self.density.device).unsqueeze(1)
        first = torch.tensor([k == "first" for k in self.kinds], device=self.density.device).unsqueeze(1)
        return torch.where(first, DEFAULT_ENERGY.energy_pj(macs=f * self.steps.unsqueeze(0)),
                           DEFAULT_ENERGY.energy_pj(acs=f * self.density))

    def sops_per_layer(self) -> torch.Tensor:
        """[layers, batch] synaptic operations (bursts counted by size; the analog layer counts its MACs)."""
        f = self.flops.to(self.density.device).unsqueeze(1)
        first = torch.tensor([k == "first" for k in self.kinds], device=self.density.device).unsqueeze(1)
        return torch.where(first, f * self.steps.unsqueeze(0), f * self.spike_count)


def ann_energy_pj(flops: list[int]) -> float:
    """Energy of one ANN inference: 4.6 pJ per MAC of every conv/linear."""
    return float(DEFAULT_ENERGY.energy_pj(macs=float(sum(flops))))


def summarise_energy(counters: list[OperationCounter], ann_flops: list[int]) -> dict:
    """Mean per-sample energy (pJ) and SOPs, per layer and in total, with the saving against the ANN."""
    energy = torch.cat([c.energy_per_layer_pj() for c in counters], dim=1)
    sops = torch.cat([c.sops_per_layer() for c in counters], dim=1)
    names, kinds = counters[0].names, counters[0].kinds
    not_readout = torch.tensor([k != "readout" for k in kinds], device=energy.device)
    per_sample = energy.sum(0)
    e_ann = ann_energy_pj(ann_flops)
    layers = [{"layer": n, "kind": k, "flops": int(f), "energy_pj": float(e), "sops": float(s)}
              for n, k, f, e, s in zip(names, kinds, counters[0].flops.tolist(), energy.mean(1), sops.mean(1))]
    return {
        "energy_pj": float(per_sample.mean()),
        "energy_pj_without_readout": float(energy[not_readout].sum(0).mean()),
        "energy_pj_per_sample_std": float(per_sample.std()) if per_sample.numel() > 1 else 0.0,
        "sops": float(sops.sum(0).mean()),
        "ann_energy_pj": e_ann,
        "energy_saving": 1.0 - float(per_sample.mean()) / e_ann,
        "layers": layers,
        "convention": "pJ: 4.6/MAC for the analog-input layer, 0.9/AC x non-zero input density elsewhere "
                      "(a burst is one AC); SOPs count a burst of k as k; readout included",
    }


__all__ = ["E_AC_PJ", "E_MAC_PJ", "OperationCounter", "ann_energy_pj", "layer_flops", "summarise_energy"]
