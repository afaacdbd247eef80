"""NIR interop: export with true continuous time constants, import that requires ``dt``.

    graph = export_nir(model, input_shape=(2, 34, 34))      # τ in seconds, R as in the ODE, hints in metadata
    write_nir("model.nir", graph)
    model = import_nir("model.nir", dt="1ms")        # the writer detected; or convention="snntorch", ...
    report = check_nir("model.nir")                  # the same spikes in every installed peer reader?
"""
from __future__ import annotations

import os
import pathlib

import nir

from ..report.io import atomic_path
from .conventions import AUTO, CONVENTIONS, Convention, get_convention, leaky_step
from .export import export_nir, neuron_node, nir_export_problems
from .node_map import MODULE_NODES, NodeContext, register_nir_node
from .graph_module import NIRGraphModule, SumPool2d, neuron_layers
from .detect import detect_convention, flatten_graph
from .importer import import_nir, read_graph
from .profiles import PROFILES, Profile, apply_profile
from .readers import READERS
from .check import NIRCheck, check_nir, forecast_line, reading_forecast


def write_nir(path: str | os.PathLike, graph: nir.NIRGraph) -> pathlib.Path:
    """Write ``graph`` with ``nir.write`` atomically, through the package's one atomic writer."""
    with atomic_path(path) as tmp:
        nir.write(tmp, graph)
    return pathlib.Path(path)


def read_nir(path: str | os.PathLike) -> nir.NIRGraph:
    """Read a ``.nir`` file; a missing or unreadable file is a clear error, not h5py's."""
    return read_graph(path)


__all__ = ["AUTO", "CONVENTIONS", "Convention", "MODULE_NODES", "NIRCheck", "NIRGraphModule", "NodeContext",
           "PROFILES", "Profile", "READERS", "SumPool2d", "apply_profile", "check_nir", "detect_convention",
           "export_nir", "flatten_graph", "forecast_line", "get_convention", "import_nir", "leaky_step",
           "neuron_layers", "neuron_node", "nir_export_problems", "read_nir", "reading_forecast", "register_nir_node",
           "write_nir"]
