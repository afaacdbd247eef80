"""Energy and synaptic-operation metrics for every adaspike model, compatible with NeuroBench.

``result = adaspike.metrics.measure(model, loader)`` runs ``model`` over ``loader`` with hooks and returns
NeuroBench's static and workload metrics (by NeuroBench's definitions), adaspike's burst-aware synaptic
operations with the recurrent synapses included, and the energy per layer, per sample, per step and per
second of input. From ``adaspike.train.evaluate`` pass ``collectors=[MetricsCollector()]``; around a loop of
your own use ``with MetricsCollector().watch(model): ...``.
See docs/pages/api/metrics.md for where adaspike differs from NeuroBench on purpose.
"""
from .energy import DEFAULT_ENERGY, E_AC_PJ, E_MAC_PJ, EnergyModel, nominal_macs
from .static import (CONNECTION_LAYERS, connection_sparsity, connection_weights, footprint_bytes, parameter_count,
                     static_metrics)
from .summary import LAYER_COLUMNS, SUMMARY_COLUMNS, layer_rows, summary_row
from .counts import ConnectionCount, NeuronCount
from .neuron_kinds import NeuronKind, neuron_kind, register_neuron_type
from .workload import MetricsCollector, measure

__all__ = [
    "CONNECTION_LAYERS", "ConnectionCount", "DEFAULT_ENERGY", "E_AC_PJ", "E_MAC_PJ", "EnergyModel", "LAYER_COLUMNS",
    "MetricsCollector", "NeuronCount", "NeuronKind", "SUMMARY_COLUMNS", "connection_sparsity", "connection_weights",
    "footprint_bytes", "layer_rows", "measure", "neuron_kind", "nominal_macs", "parameter_count",
    "register_neuron_type", "static_metrics", "summary_row",
]
