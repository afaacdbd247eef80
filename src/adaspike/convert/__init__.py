"""Training-free ANN→SNN conversion with adaptive calibration (AdaFire, SSC, IAT) and energy accounting.

``snn, report = adaspike.convert.convert(ann, calibration_data, T=8, adafire=True, ssc=False, iat=False)``;
see ``pipeline.convert`` for the stages and ``/shared/spec/conversion.md`` for the equations.
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
