"""Recordings in NIR's own data format (nir ≥ 1.0.8: ``NIRGraphData`` of ``NIRNodeData`` holding
``TimeGriddedData``, written by ``nir.write_data``): per node of a graph, its output over time, with the step
``dt`` in the field NIR gives it.

``adaspike check-nir -o OUT`` and ``adaspike export-nir --for READER`` write ``activity.nir`` beside the model:
the check's random input (node ``input``) and adaspike's reading of every neuron node (spikes, or membranes of
readouts) on it, so that any reader can be compared step for step without adaspike, and the step the file was
checked at is stated where NIR data states it. ``recorded_dt`` reads it back: ``import_nir`` of a file with such
a recording beside it needs no ``dt``.
"""
from __future__ import annotations

import os
from pathlib import Path

import nir
import numpy as np
import torch

from ..report.io import atomic_path

__all__ = ["RECORDING_NAME", "dt_beside", "recorded_dt", "recording", "write_recording"]

#: the recording's file name, beside the model's ``model.nir``
RECORDING_NAME = "activity.nir"


def recording(values: dict[str, torch.Tensor], dt: float) -> nir.NIRGraphData:
    """``values`` (node name → [T, B, ...] over time) as NIR data: each node's ``output`` observable a
    ``TimeGriddedData`` [samples, steps, neurons] at ``dt`` (booleans where the values are 0/1 spikes)."""
    nodes = {}
    for name, value in values.items():
        data = value.detach().cpu().reshape(value.shape[0], value.shape[1], -1).transpose(0, 1).numpy()
        binary = bool(np.isin(data, (0, 1)).all())
        data = data.astype(bool) if binary else np.ascontiguousarray(data, dtype=np.float32)
        nodes[name] = nir.NIRNodeData(observables={"output": nir.TimeGriddedData(data=data, dt=float(dt))})
    return nir.NIRGraphData(nodes=nodes)


def write_recording(path: str | os.PathLike, values: dict[str, torch.Tensor], dt: float) -> Path:
    """Write ``recording(values, dt)`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        nir.write_data(tmp, recording(values, dt))
    return Path(path)


def recorded_dt(path: str | os.PathLike) -> float | None:
    """The step a NIR data file states (its ``TimeGriddedData.dt``; every one must agree), ``None`` when it holds
    no time-gridded data; an unreadable or inconsistent file is a clear error."""
    try:
        data = nir.read_data(str(path))
    except (OSError, KeyError, ValueError) as err:
        raise ValueError(f"{path} is not a readable NIR data file ({type(err).__name__}: {err})") from None
    steps = set()

    def walk(graph_data) -> None:
        for node in graph_data.nodes.values():
            if isinstance(node, nir.NIRGraphData):
                walk(node)
                continue
            steps.update(float(o.dt) for o in node.observables.values() if isinstance(o, nir.TimeGriddedData))

    walk(data)
    if len(steps) > 1:
        raise ValueError(f"{path} states several steps {sorted(steps)}; name the one to run at with --dt")
    return steps.pop() if steps else None


def dt_beside(model_path: str | os.PathLike) -> float | None:
    """The step stated by the recording beside a ``.nir`` model file (``activity.nir`` in its folder), if any."""
    path = Path(model_path).with_name(RECORDING_NAME)
    return recorded_dt(path) if path.is_file() and path != Path(model_path) else None
