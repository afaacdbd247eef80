"""adaspike: adaptive spiking neural networks on one continuous-time state-space core."""
from . import core, layers
from .core import parse_time, scan

__version__ = "0.1.0"
__all__ = ["core", "layers", "parse_time", "scan", "__version__"]
