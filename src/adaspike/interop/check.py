"""Same spikes in every reader: run one NIR file through adaspike's reading and through each installed peer's
own reader on the same random spike input, and compare them node by node (``adaspike check-nir``).

For every neuron node the report gives the fraction of equal spikes, both sides' spike rates and the first step
at which they differ; for a readout that carries a membrane (an LI node, or the never-firing LIF an export
profile writes for one) the fraction of steps within 1e-4 of the membrane's scale. A reader *agrees* when every
node does on at least ``AGREEMENT_TARGET`` of its entries; a reader that refuses the file (its own error) cannot
read it, which is not a disagreement.

The reference is adaspike's reading of the file: for an adaspike file its model, exactly (the writer's per-step
neurons; a file written for a reader with ``--for`` is read as that reader reads it); for another writer's file
its convention, detected or named. So the check works for any NIR file.

``reading_forecast`` says without running anything which readers would read a file differently from the model,
and the ``--for`` that fixes it: a reader reads a file as the model when the file is what its export profile
would have written (``apply_profile`` of the generic graph), node for node.
"""
from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import asdict, dataclass, field

import nir
import numpy as np
import torch

from .detect import flatten_graph
from .importer import import_nir, read_graph, written_dt
from .nodes import NEURON_NODES
from .profiles import PROFILES, apply_profile
from .readers import READERS, reader_available, reader_version, run_reader

__all__ = ["AGREEMENT_TARGET", "LayerAgreement", "NIRCheck", "ReaderCheck", "check_nir", "checked_metadata",
           "forecast_line", "reading_forecast", "spike_input"]

#: the agreement every node must reach for a reader to agree (the issue's target, 99.5 %)
AGREEMENT_TARGET = 0.995
#: a membrane entry agrees when within this fraction of the layer's largest |v|
MEMBRANE_RTOL = 1e-4


@dataclass
class LayerAgreement:
    """One node: ``agreement`` (fraction of equal spikes, or of membrane entries within tolerance), the spike rate
    of each side (spikes per neuron and step; membranes: mean |v|), the first step where they differ and
    ``identical_samples``, the fraction of samples whose whole output (every step and neuron) agrees."""

    node: str
    kind: str
    agreement: float
    rate: float
    reader_rate: float
    first_divergence: int | None
    identical_samples: float


@dataclass
class ReaderCheck:
    """One reader: ``status`` is ``agrees``, ``differs``, ``cannot read`` (the reader refused the file: ``error``)
    or ``not installed``; ``said``: what the reader warned while reading."""

    reader: str
    call: str
    version: str | None
    status: str
    layers: list[LayerAgreement] = field(default_factory=list)
    error: str | None = None
    said: list[str] = field(default_factory=list)

    @property
    def agreement(self) -> float | None:
        """The worst node's agreement (``None`` when nothing was compared)."""
        return min((layer.agreement for layer in self.layers), default=None)


@dataclass
class NIRCheck:
    """The whole check: what was read (``source``, the ``convention`` of adaspike's reading, ``dt``), the input
    (``input_shape``, ``steps``, ``batch``, ``rate``, ``seed``) and one ``ReaderCheck`` per reader; ``model``: the
    model a file was exported from against adaspike's reading of the file (export only). ``activity`` (not
    serialised): the input and adaspike's output of every neuron node, [T, B, ...] by node name, what
    ``adaspike.interop.recording.write_recording`` writes as NIR data."""

    source: str
    convention: str
    dt: float
    input_shape: list[int]
    steps: int
    batch: int
    rate: float
    seed: int
    readers: list[ReaderCheck]
    model: ReaderCheck | None = None

    @property
    def differing(self) -> list[ReaderCheck]:
        return [r for r in self.readers + ([self.model] if self.model else []) if r.status == "differs"]

    def to_dict(self) -> dict:
        out = asdict(self)
        for row, data in zip(self.readers, out["readers"]):
            data["agreement"] = row.agreement
        if self.model is not None:
            out["model"]["agreement"] = self.model.agreement
        return out

    def table(self) -> str:
        """A Markdown table: one row per reader and node."""
        lines = [f"NIR check of {self.source}: adaspike reads it as {self.convention} at dt = {self.dt:g} s; "
                 f"input {self.steps} steps × {self.batch} samples × {self.input_shape}, spike probability "
                 f"{self.rate:g} (seed {self.seed})", "",
                 "| reader | version | status | node | agreement | identical samples | rate adaspike | rate reader | "
                 "first differing step |", "|---|---|---|---|---|---|---|---|---|"]
        for r in ([self.model] if self.model else []) + self.readers:
            if not r.layers:
                lines.append(f"| {r.reader} | {r.version or ''} | {r.status} | | | | | | {r.error or ''} |")
            for layer in r.layers:
                first = "" if layer.first_divergence is None else str(layer.first_divergence)
                kind = " (membrane)" if layer.kind == "membrane" else ""
                lines.append(f"| {r.reader} | {r.version or ''} | {r.status} | {layer.node}{kind} | "
                             f"{layer.agreement:.2%} | {layer.identical_samples:.1%} | {layer.rate:.4g} | "
                             f"{layer.reader_rate:.4g} | {first} |")
        return "\n".join(lines)


def spike_input(shape, steps: int, batch: int, rate: float, seed: int) -> torch.Tensor:
    """Bernoulli spikes [steps, batch, *shape] with probability ``rate`` (seeded)."""
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(steps, batch, *shape, generator=generator) < rate).float()


def _input_name(graph: nir.NIRGraph) -> str:
    nodes, _ = flatten_graph(graph)
    inputs = [k for k, v in nodes.items() if isinstance(v, nir.Input)]
    if len(inputs) != 1:
        raise ValueError(f"a NIR graph to check needs one Input node, this one has {len(inputs)}")
    return inputs[0]


def _sample_shape(graph: nir.NIRGraph) -> list[int]:
    """The per-sample input shape a graph reads: from its first weight node where that decides it (writers
    record batch or time axes in their Input types), else the Input node's type."""
    nodes, edges = flatten_graph(graph)
    inputs = [_input_name(graph)]
    declared = [int(s) for s in np.ravel(list(nodes[inputs[0]].input_type.values())[0])]
    first = [nodes[d] for s, d in edges if s == inputs[0]]
    if len(first) == 1 and isinstance(first[0], (nir.Affine, nir.Linear)):
        return [int(np.shape(first[0].weight)[1])]
    if len(first) == 1 and isinstance(first[0], nir.Conv2d):
        channels = int(np.shape(first[0].weight)[1]) * int(first[0].groups)
        return [channels, *declared[-2:]]
    return declared


def _readouts(nodes: dict) -> tuple[set[str], set[str]]:
    """(never-firing LIFs whose membrane an export profile made the readout, LI nodes): both carry membranes."""
    def membrane(node) -> bool:
        value = dict(node.metadata or {}).get("readout", b"")
        return (value.decode() if isinstance(value, bytes) else str(value)) == "membrane"
    return ({k for k, v in nodes.items() if isinstance(v, nir.LIF) and membrane(v)},
            {k for k, v in nodes.items() if isinstance(v, nir.LI)})


def _compare(node: str, ours: torch.Tensor, theirs: torch.Tensor, membrane: bool) -> LayerAgreement:
    if tuple(ours.shape) != tuple(theirs.shape):
        if ours.numel() != theirs.numel():
            raise ValueError(f"node {node!r}: output shapes differ, {tuple(ours.shape)} here and "
                             f"{tuple(theirs.shape)} in the reader")
        theirs = theirs.reshape(ours.shape)
    ours, theirs = ours.double(), theirs.double()
    if membrane:
        scale = max(float(ours.abs().max()), 1e-12)
        same = (ours - theirs).abs() <= MEMBRANE_RTOL * scale
        rates = float(ours.abs().mean()), float(theirs.abs().mean())
    else:
        same = ours == theirs
        rates = float(ours.mean()), float(theirs.mean())
    per_step = same.reshape(same.shape[0], -1).all(dim=1)
    first = None if bool(per_step.all()) else int((~per_step).nonzero()[0])
    samples = same.reshape(same.shape[0], same.shape[1], -1).all(dim=2).all(dim=0) if same.dim() > 1 else same
    return LayerAgreement(node, "membrane" if membrane else "spikes", float(same.float().mean()), *rates, first,
                          float(samples.float().mean()))


def _short(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return f"{type(err).__name__}: {text[:300]}"


def _check_reader(name: str, graph: nir.NIRGraph, x: torch.Tensor, ours: dict[str, torch.Tensor],
                  readouts: tuple[set[str], set[str]], dt: float, spikingjelly_dt: float) -> ReaderCheck:
    reader = READERS[name]
    row = ReaderCheck(name, reader.call, None, "not installed")
    if not reader_available(name):
        return row
    row.version = reader_version(name)
    try:
        run = run_reader(name, graph, x, list(ours), frozenset(readouts[0]), dt=dt, spikingjelly_dt=spikingjelly_dt)
    except Exception as err:  # the reader's own refusal (or crash): it cannot read this file
        row.status, row.error = "cannot read", _short(err)
        return row
    row.said = run.said[:5]
    missing = [n for n in ours if n not in run.nodes]
    if missing:
        row.status, row.error = "cannot read", f"it built no module for the nodes {missing}"
        return row
    try:
        row.layers = [_compare(n, ours[n], run.nodes[n], n in readouts[0] | readouts[1]) for n in ours]
    except ValueError as err:
        row.status, row.error = "cannot read", str(err)
        return row
    row.status = "agrees" if row.agreement >= AGREEMENT_TARGET else "differs"
    return row


def check_nir(source: nir.NIRGraph | str | os.PathLike, readers: list[str] | None = None, *,
              dt: float | str | None = None, convention: str = "auto", reset: str | None = None,
              writer_dt: float | str | None = None, input_shape=None, steps: int = 100, batch: int = 8,
              rate: float = 0.2, seed: int = 0, model: torch.nn.Module | None = None) -> NIRCheck:
    """Run ``source`` (a graph or a ``.nir`` path) through adaspike's reading and through ``readers`` (names from
    ``adaspike.interop.readers.READERS``; ``None``: every one, those not installed reported so) on the same random
    spikes, and compare them node by node (``NIRCheck``).

    ``dt``: the step adaspike reads the file at, and Norse's ``dt``: by default the step an adaspike file records,
    else Norse's own default, 1 ms. ``convention``, ``reset``, ``writer_dt``: as for ``import_nir`` (a peer's
    file that does not say who wrote it needs its convention). ``writer_dt`` is also SpikingJelly's ``dt``.
    ``model``: the model the file was exported from, compared too (per-step outputs of its neuron layers are not
    at hand, so its output against the file's output node).
    """
    name = str(source) if not isinstance(source, nir.NIRGraph) else "a NIR graph"
    graph = source if isinstance(source, nir.NIRGraph) else read_graph(source)
    unknown = sorted(set(readers or ()) - set(READERS))
    if unknown:
        raise ValueError(READERS.unknown(unknown[0] if len(unknown) == 1 else unknown))
    for value, what in ((steps, "steps"), (batch, "batch")):
        if int(value) < 1:
            raise ValueError(f"{what} must be at least 1, got {value}")
    if not (0 < rate <= 1) or not math.isfinite(rate):
        raise ValueError(f"rate (the input's spike probability per step) must lie in (0, 1], got {rate}")
    if dt is None:
        dt = written_dt(graph) or 1e-3
    ours_model = import_nir(graph, dt=dt, convention=convention, reset=reset, writer_dt=writer_dt, adapt=False,
                            frozen=True)
    dt = float(ours_model.nir_import["dt"])
    shape = [int(s) for s in (input_shape or _sample_shape(graph))]
    x = spike_input(shape, steps, batch, rate, seed)
    nodes, _ = flatten_graph(graph)
    neuron_nodes = [k for k, v in nodes.items() if isinstance(v, NEURON_NODES)]
    readouts = _readouts({k: nodes[k] for k in neuron_nodes})
    with torch.no_grad():
        values = ours_model.node_outputs(x)
    ours = {k: values[k.replace(".", "_")] for k in neuron_nodes}
    sj_dt = float(writer_dt) if isinstance(writer_dt, (int, float)) else 1e-4
    asked = list(READERS) if readers is None else readers
    rows = [_check_reader(r, graph, x, ours, readouts, dt, sj_dt) for r in asked]
    report = NIRCheck(name, ours_model.nir_import["convention"], dt, shape, steps, batch, rate, seed, rows)
    report.activity = {_input_name(graph): x, **ours}
    if model is not None:
        report.model = _check_model(model, ours_model, x)
    return report


def _check_model(model: torch.nn.Module, ours, x: torch.Tensor) -> ReaderCheck:
    """The exported model against adaspike's reading of the file, on the file's output (its time reduction
    included): equal spike counts, or values within tolerance."""
    row = ReaderCheck("model", "the model the file was exported from", None, "agrees")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            theirs, mine = model(x), ours(x)
    finally:
        model.train(was_training)
    counts = bool((mine == mine.round()).all() and (theirs == theirs.round()).all())
    row.layers = [_compare("output", mine.unsqueeze(0), theirs.unsqueeze(0), membrane=not counts)]
    row.status = "agrees" if row.agreement >= AGREEMENT_TARGET else "differs"
    return row


def _same_nodes(a: nir.NIRGraph, b: nir.NIRGraph) -> bool:
    """Whether two graphs hold the same nodes and edges, parameters within float32 rounding (metadata aside)."""
    if set(a.nodes) != set(b.nodes) or sorted(a.edges) != sorted(b.edges):
        return False
    for name, node in a.nodes.items():
        other = b.nodes[name]
        if type(node) is not type(other):
            return False
        for key, value in vars(node).items():
            if key in ("metadata", "input_type", "output_type"):
                continue
            mine, theirs = np.asarray(value), np.asarray(getattr(other, key, None))
            if mine.dtype.kind in "fiu" and theirs.dtype.kind in "fiu":
                if mine.shape != theirs.shape or not np.allclose(mine, theirs, rtol=1e-5, atol=0):
                    return False
    return True


def reading_forecast(generic: nir.NIRGraph, written: str = "generic") -> dict[str, dict]:
    """Which readers run the file that ``export_nir(..., profile=written)`` writes as the model (``generic``: the
    profile-free graph), without running them: reader → ``{"reads": "alike" | "differently" | "cannot",
    "fix": "--for X" | None, "why": ...}``. adaspike reads every adaspike file as its model."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        written_graph = apply_profile(generic, written)
        forecast = {"adaspike": {"reads": "alike", "fix": None, "why": None}}
        for reader, profile in PROFILES.items():
            if profile is None:
                continue
            try:
                theirs = apply_profile(generic, reader)
            except ValueError as err:
                forecast[reader] = {"reads": "cannot", "fix": None, "why": " ".join(str(err).split())}
                continue
            alike = reader == written or _same_nodes(written_graph, theirs)
            forecast[reader] = {"reads": "alike" if alike else "differently",
                                "fix": None if alike else f"--for {reader}", "why": None}
    return forecast


def forecast_line(forecast: dict[str, dict]) -> str:
    """The forecast in one line: who reads the file as the model, who differently (and the ``--for`` that fixes
    it), who cannot run the model at all."""
    alike = [r for r, f in forecast.items() if f["reads"] == "alike"]
    differ = [f"{r} ({f['fix']})" for r, f in forecast.items() if f["reads"] == "differently"]
    cannot = [r for r, f in forecast.items() if f["reads"] == "cannot"]
    parts = [f"read as the model by {', '.join(alike)}"]
    if differ:
        parts.append(f"read DIFFERENTLY by {', '.join(differ)}")
    if cannot:
        parts.append(f"no --for runs it in {', '.join(cannot)} (`--for NAME` says why)")
    return "NIR readers: " + "; ".join(parts)


def checked_metadata(report: NIRCheck, forecast: dict[str, dict]) -> str:
    """What a file records about the readers it was checked against (graph metadata ``nir_check``, JSON)."""
    checked = {r.reader: {"version": r.version, "status": r.status, "agreement": r.agreement}
               for r in report.readers if r.status != "not installed"}
    if report.model is not None:
        checked["model"] = {"status": report.model.status, "agreement": report.model.agreement}
    return json.dumps({"checked": checked, "input": {"steps": report.steps, "batch": report.batch,
                                                     "rate": report.rate, "seed": report.seed},
                       "forecast": {r: f["reads"] for r, f in forecast.items()}}, sort_keys=True)
