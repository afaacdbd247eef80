"""Moved to :mod:`adaspike.layers.firing` (public as ``adaspike.layers.calibrate_firing``); this path keeps
working for code that imports it from here."""
from ..layers.firing import DEFAULT_BAND_HZ, calibrate_firing, spiking_layers

__all__ = ["DEFAULT_BAND_HZ", "calibrate_firing", "spiking_layers"]
