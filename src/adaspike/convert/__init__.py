"""Training-free ANN→SNN conversion with adaptive calibration (AdaFire, SSC, IAT) and energy accounting.

``snn, report = adaspike.convert.convert(ann, calibration_data, T=8, adafire=True, ssc=False, iat=False)``;
see ``pipeline.convert`` for the stages and ``docs/pages/specs/conversion.md`` for the equations (the
"conversion spec §N" that comments in this package cite).

Library choices (documented deviations or readings of the spec):

* Bias correction is stored as a per-channel shift δ on each neuron's membrane current (identical to
  correcting the preceding layer's bias); the ANN reference keeps the original folded weights and biases.
* The baseline is binary IF (Γ = 1) + MSE thresholds + bias correction (SNN-Calibration "light");
  pass ``bias_correct=False`` for the bare IF + MSE conversion.
* Max pooling right after a ReLU moves in front of it (the neuron integrates the pooled current): exact when
  that current comes from the analog image only (a stem); elsewhere, and for pools that cannot move, the max of
  each step's map is not the max of rates (it over-estimates it when inputs vary from step to step), so it
  only approximates the ANN; conversion warns, and average pooling (exact in rate) is recommended.
* Residual blocks: the shortcut (identity spikes or the BN-folded 1x1 conv of the input spikes) is added
  to the membrane current before the threshold; downsample convs count as spiking (AC) layers in energy.
* Hidden Linear + ReLU layers spike; only the final classifier is a non-spiking readout
  (``spiking_linear=False`` keeps ReLUs after Linear layers analog, as the reference code does).
* The readout's ACs are reported per layer and included in the total energy (the reference omits them).
* IAT calibration needs labels; without them the ANN's predictions stand in.
* Neurons are core models (IF + ``BurstSpike`` + subtractive reset) run by ``adaspike.core.scan``; without
  early exit the network runs layer by layer over all steps, with IAT a step-wise runner exits for real.
"""
from .context import Record, RunContext, recording, run_context
from .calibrate import bias_correction, fit_thresholds, mse_threshold, quantise
from .energy import E_AC_PJ, E_MAC_PJ, OperationCounter, ann_energy_pj, layer_flops, summarise_energy
from .evaluate import evaluate_ann, evaluate_snn
from .iat import (ALPHAS, ExitPolicy, calibrate_exit_policy, exit_score, normalised_entropy, posthoc_accuracy,
                  select_exit_policy, thresholds_from_entropy)
from .nir_export import converted_to_nir, export_converted
from .neuron import (NEURONS, AdaFireNeuron, ConversionNeuron, SignedNeuron, make_neuron, register_conversion_neuron,
                     run_adafire)
from .pipeline import (DEFAULT_GAMMA_TARGET, DEFAULT_GAMMAS, DEFAULT_SPIKE_BUDGET, SSC_RATIOS, ConversionReport,
                       calibration_batches, convert)
from .search import brute_force, pareto_dp, symmetric_kl
from .sensitivity import allocate_gammas, compress_thresholds, layer_tables
from .snn import ConvertedSNN, SNNRun
from .trace import UnsupportedOperationError, spiking_graph

__all__ = [
    "ALPHAS", "AdaFireNeuron", "ConversionNeuron", "ConversionReport", "ConvertedSNN", "DEFAULT_GAMMAS",
    "DEFAULT_GAMMA_TARGET", "DEFAULT_SPIKE_BUDGET", "E_AC_PJ", "E_MAC_PJ", "NEURONS", "OperationCounter", "Record",
    "RunContext", "SNNRun", "SSC_RATIOS", "UnsupportedOperationError", "allocate_gammas", "ann_energy_pj", "bias_correction",
    "brute_force", "calibrate_exit_policy", "calibration_batches", "compress_thresholds", "convert", "converted_to_nir",
    "evaluate_ann", "evaluate_snn", "exit_score", "export_converted", "fit_thresholds", "layer_flops", "layer_tables", "make_neuron",
    "mse_threshold", "normalised_entropy", "pareto_dp", "posthoc_accuracy", "quantise", "recording", "register_conversion_neuron",
    "run_adafire", "run_context", "select_exit_policy", "spiking_graph", "summarise_energy", "symmetric_kl",
    "thresholds_from_entropy",
]
