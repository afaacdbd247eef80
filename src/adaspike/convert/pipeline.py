"""``convert``: the training-free ANN→SNN pipeline in the spec's normative order (§2).

1 trace + fold BN → 2 wrap ReLUs as AdaFire neurons (Γ_init) → 3 per-channel MSE thresholds →
4 AdaFire Γ allocation (Pareto DP) → 5 thresholds again with each Γ_l → 6 bias correction →
7 SSC threshold ratios → 8 bias correction again → 9 IAT exit thresholds.
Each of AdaFire, bias correction, SSC and IAT can be switched off; with all off, this is plain IF with MSE
thresholds (the baseline). Without AdaFire a uniform Γ (default 1, binary IF) is used.
"""
from __future__ import annotations

import copy
import logging
import time
import warnings
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import torch
from torch import nn

from .calibrate import bias_correction, fit_thresholds
from .iat import ExitPolicy, calibrate_exit_policy
from .sensitivity import allocate_gammas, compress_thresholds
from .snn import ConvertedSNN

log = logging.getLogger("adaspike")

SSC_RATIOS = tuple(1.0 + 0.5 * i for i in range(19))        # 1.0, 1.5, …, 10.0


@dataclass
class ConversionReport:
    """What the conversion did: chosen Γ_l, thresholds, SSC ratios, IAT thresholds, per-stage snapshots."""

    T: int
    options: dict
    gammas: list[int] = field(default_factory=list)
    ssc_ratios: list[float] | None = None
    exit_policy: ExitPolicy | None = None
    mean_correct_entropy: list[float] | None = None
    adafire_search: dict | None = None
    ssc_search: dict | None = None
    bias_corrections: dict = field(default_factory=dict)
    stages: dict = field(default_factory=dict)          # stage name → ConvertedSNN.neuron_config()
    maxpool_nodes: list[str] = field(default_factory=list)
    timings_s: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """JSON-friendly view (no tensors)."""
        return {"T": self.T, "options": self.options, "gammas": self.gammas, "ssc_ratios": self.ssc_ratios,
                "iat_thresholds": None if self.exit_policy is None else
                [round(float(v), 6) for v in self.exit_policy.thresholds],
                "mean_correct_entropy": self.mean_correct_entropy, "maxpool_nodes": self.maxpool_nodes,
                "timings_s": self.timings_s, "stages": list(self.stages)}


def calibration_batches(data, batch_size: int = 128, device=None) -> tuple[list[torch.Tensor], list | None]:
    """Normalise ``data`` (tensor [N, ...], (x, y) tuple, or iterable of x / (x, y) batches) to batch lists."""
    if isinstance(data, torch.Tensor):
        xs, ys = list(data.split(batch_size)), None
    elif isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        xs, ys = list(data[0].split(batch_size)), list(data[1].split(batch_size))
    else:
        xs, ys = [], []
        for batch in data:
            if isinstance(batch, (tuple, list)):
                xs.append(batch[0])
                ys.append(batch[1])
            else:
                xs.append(batch)
                ys = None
        if not xs:
            raise ValueError("calibration_data is empty")
    xs = [x.to(device) if device is not None else x for x in xs]
    if ys is not None:
        ys = [y.to(device) if device is not None else y for y in ys]
    return xs, ys


@torch.no_grad()
def convert(ann: nn.Module, calibration_data, T: int = 8, *, adafire: bool = True, bias_correct: bool = True,
            ssc: bool = False, iat: bool = False, gamma: int = 1, gammas: Sequence[int] = tuple(range(1, 9)),
            gamma_target: int | None = None, spike_budget: float = 1.0, ssc_ratios: Iterable[float] = SSC_RATIOS,
            ssc_kl_budget: float = 1.0, iat_alpha: float = 0.6, iat_beta: float = 0.4, iat_score: str = "entropy",
            threshold_quantiser: str = "floor", threshold_batches: int = 7, batch_size: int = 128,
            spiking_linear: bool = True, half_shift: bool = True, device=None) -> tuple[ConvertedSNN, ConversionReport]:
    """Convert a ReLU ANN into a ``ConvertedSNN`` running ``T`` steps; returns (snn, report).

    ``calibration_data``: a tensor of images, an (images, labels) tuple or an iterable of batches (x or
    (x, y)); un-augmented training data is recommended. The first batch is used for the Γ/SSC searches and
    bias correction, up to ``threshold_batches`` for thresholds, all of them for IAT (labels needed there;
    without labels the ANN's predictions stand in).
    """
    if T < 1:
        raise ValueError(f"T must be >= 1, got {T}")
    options = dict(T=T, adafire=adafire, bias_correct=bias_correct, ssc=ssc, iat=iat, gamma=gamma,
                   gammas=list(gammas), gamma_target=gamma_target, spike_budget=spike_budget,
                   ssc_kl_budget=ssc_kl_budget, iat_alpha=iat_alpha, iat_beta=iat_beta, iat_score=iat_score,
                   threshold_quantiser=threshold_quantiser, threshold_batches=threshold_batches,
                   batch_size=batch_size, spiking_linear=spiking_linear, half_shift=half_shift)
    xs, ys = calibration_batches(calibration_data, batch_size, device)
    snn = ConvertedSNN(ann, T, spiking_linear).to(device or xs[0].device)
    snn.eval()
    report = ConversionReport(T=T, options=options, maxpool_nodes=list(snn.maxpool_nodes))
    if snn.maxpool_nodes:
        warnings.warn(f"max-pooling spike maps ({', '.join(snn.maxpool_nodes)}) only approximates the ANN's "
                      "max-pool of rates (it takes the max of each step's map); prefer average pooling",
                      stacklevel=2)
    if not snn.neurons:
        raise ValueError("the ANN has no ReLU after a Conv2d/Linear: nothing to convert into spiking neurons")
    for n in snn.neurons:
        n.half_shift = half_shift
    snn.measure_flops(xs[0])
    clock = time.perf_counter()

    def stage(name: str) -> None:
        nonlocal clock
        report.stages[name] = snn.neuron_config()
        now = time.perf_counter()
        report.timings_s[name] = round(now - clock, 3)
        clock = now

    gammas = sorted(int(g) for g in gammas)
    start_gamma = max(gammas) if adafire else int(gamma)
    _set_gammas(snn, [start_gamma] * len(snn.neurons))
    fit_thresholds(snn, xs[:threshold_batches], T, threshold_quantiser)
    stage("thresholds")
    if adafire:
        search = allocate_gammas(snn, xs[0], T, gammas, gamma_target or max(gammas), spike_budget)
        report.adafire_search = search
        _set_gammas(snn, search["gammas"])
        fit_thresholds(snn, xs[:threshold_batches], T, threshold_quantiser)
    report.gammas = [n.gamma for n in snn.neurons]
    if bias_correct:
        report.bias_corrections["after_thresholds"] = bias_correction(snn, xs[0], T)
    stage("adafire" if adafire else "baseline")
    if ssc:
        search = compress_thresholds(snn, xs[0], T, list(ssc_ratios), ssc_kl_budget)
        report.ssc_search, report.ssc_ratios = search, search["ratios"]
        if bias_correct:
            report.bias_corrections["after_ssc"] = bias_correction(snn, xs[0], T)
        stage("ssc")
    if iat:
        labels = ys if ys is not None else [snn.ann_forward(x)[0].argmax(1) for x in xs]
        step_logits = [snn.run(x, T, keep_steps=True).step_logits for x in xs]
        policy, mean_entropy = calibrate_exit_policy(step_logits, labels, iat_alpha, iat_beta, iat_score)
        report.exit_policy, report.mean_correct_entropy = policy, [float(v) for v in mean_entropy]
        stage("iat")
    return snn, report


def _set_gammas(snn: ConvertedSNN, gammas: Sequence[int]) -> None:
    for neuron, g in zip(snn.neurons, gammas):
        neuron.gamma = int(g)


def copy_snn(snn: ConvertedSNN) -> ConvertedSNN:
    """An independent copy (to evaluate several stage snapshots side by side)."""
    return copy.deepcopy(snn)
