"""Training-free ANN→SNN conversion with adaptive calibration (AdaFire, SSC, IAT) and energy accounting.

``snn, report = adaspike.convert.convert(ann, calibration_data, T=8, adafire=True, ssc=False, iat=False)``;
see ``pipeline.convert`` for the stages and ``/shared/spec/conversion.md`` for the equations.

Library choices (documented deviations or readings of the spec):

* Bias correction is stored as a per-channel shift δ on each neuron's membrane current (identical to
  correcting the preceding layer's bias); the ANN reference keeps the original folded weights and biases.
* The baseline is binary IF (Γ = 1) + MSE thresholds + bias correction (SNN-Calibration "light");
  pass ``bias_correct=False`` for the bare IF + MSE conversion.
* Max pooling is applied to each step's graded spike map: the max of per-step maps is not the max of
  rates (it over-estimates it when different inputs fire at different steps), so it only approximates
  the ANN; conversion warns, and average pooling (exact in rate) is recommended.
* Residual blocks: the shortcut (identity spikes or the BN-folded 1x1 conv of the input spikes) is added
  to the membrane current before the threshold; downsample convs count as spiking (AC) layers in energy.
* Hidden Linear + ReLU layers spike; only the final classifier is a non-spiking readout
  (``spiking_linear=False`` keeps ReLUs after Linear layers analog, as the reference code does).
* The readout's ACs are reported per layer and included in the total energy (the reference omits them).
* IAT calibration needs labels; without them the ANN's predictions stand in.
"""
from .calibrate import bias_correction, fit_thresholds, mse_threshold, quantise
from .energy import E_AC_PJ, E_MAC_PJ, OperationCounter, ann_energy_pj, layer_flops, summarise_energy
from .evaluate import evaluate_ann, evaluate_snn
from .iat import ExitPolicy, calibrate_exit_policy, exit_score, normalised_entropy, thresholds_from_entropy
from .neuron import AdaFireNeuron, run_adafire
from .pipeline import SSC_RATIOS, ConversionReport, calibration_batches, convert, copy_snn
from .search import brute_force, pareto_dp, symmetric_kl
from .sensitivity import allocate_gammas, compress_thresholds, layer_tables
from .snn import ConvertedSNN, SNNRun
from .trace import UnsupportedOperationError, fold_batchnorm, spiking_graph

__all__ = [name for name in dir() if not name.startswith("_")]
