"""NIR interop: export with true continuous time constants, import that requires ``dt``.

    graph = export_nir(model, input_shape=(2, 34, 34))      # τ in seconds, R as in the ODE, hints in metadata
    write_nir("model.nir", graph)
    model = import_nir("model.nir", dt="1ms", convention="adaspike")   # or snntorch | spikingjelly | sinabs
"""
from __future__ import annotations

import os
import pathlib
import tempfile

import nir

from .conventions import CONVENTIONS, Convention, get_convention, leaky_step
from .export import export_nir, neuron_node
from .graph_module import NIRGraphModule, SumPool2d, neuron_layers
from .importer import flatten_graph, import_nir


def write_nir(path: str | os.PathLike, graph: nir.NIRGraph) -> pathlib.Path:
    """Write ``graph`` with ``nir.write``, atomically (temporary file, then rename)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        nir.write(tmp, graph)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_nir(path: str | os.PathLike) -> nir.NIRGraph:
    return nir.read(path)


__all__ = ["CONVENTIONS", "Convention", "NIRGraphModule", "SumPool2d", "export_nir", "flatten_graph",
           "get_convention", "import_nir", "leaky_step", "neuron_layers", "neuron_node", "read_nir", "write_nir"]
