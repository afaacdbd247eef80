"""The peers' own NIR readers, each called as its documentation says, run on time-major input with every neuron
node's output recorded: what ``check_nir`` compares with adaspike's reading of the same file.

=============  ===================================================================  ==========================
reader         call                                                                 how it is fed
=============  ===================================================================  ==========================
snntorch       ``snntorch.import_nir.import_from_nir(graph)``                       one step at a time [B, ...]
norse          ``norse.torch.from_nir(graph, dt=dt)`` (``reset_method=reset_subtract``  one step at a time, state
               where an adaspike file's metadata says ``reset_method: subtract``)
spikingjelly   ``spikingjelly.activation_based.nir_exchange.import_from_nir(graph,  one step at a time, state
               dt=1e-4)`` (its exporter's default step)
sinabs         ``sinabs.nir.from_nir(graph, batch_size=B)``                         [B·T, ...] (squeezed)
rockpool       ``rockpool.nn.modules.from_nir(graph)``                              [B, T, ...] (batch-first)
=============  ===================================================================  ==========================

Every reader gets its own deep copy of the graph (snnTorch and Sinabs edit the graph they read). A node's output
is recorded by a forward hook on the module the reader built for it (each reader names its modules after the
nodes, dots made underscores); for a membrane readout (an LI node written as a never-firing LIF) the hook
records the membrane instead, from wherever that reader keeps it. What a reader prints or logs while reading is
kept (``ReaderRun.said``) instead of shown.

Sinabs 3.1.3 pins nir <= 1.0.4, so ``make setup`` installs it beside the venv (``.venv/sinabs``, or the folder
in ``$ADASPIKE_SINABS_PATH``); ``find_sinabs`` appends that folder to ``sys.path`` (after the venv's own
packages, so nir 1.0.8 still wins).
"""
from __future__ import annotations

import contextlib
import copy
import importlib
import importlib.metadata
import importlib.util
import io
import logging
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nir
import torch
from torch import nn

from ..core.registry import Registry

__all__ = ["READERS", "PeerReader", "ReaderOptions", "ReaderRun", "find_sinabs", "reader_available", "reader_version",
           "run_reader"]


@dataclass(frozen=True)
class PeerReader:
    """One peer's NIR reader. ``module``: what must import for it to be installed; ``distribution``: its package
    (for the version); ``call``: how it is called; ``layout``: how it is fed (``step``: one step at a time,
    [B, ...], with the state it returns; ``flat``: [B·T, ...] at once; ``batch-first``: [B, T, ...] at once);
    ``build(graph, options)``: the reader's module; ``membrane(module, output)``: the membrane of a never-firing
    LIF in that reader, ``None`` where it has no membrane readout."""

    name: str
    label: str
    module: str
    distribution: str
    call: str
    layout: str
    build: Callable[[nir.NIRGraph, "ReaderOptions"], nn.Module]
    membrane: Callable[[nn.Module, object], torch.Tensor] | None = None


@dataclass(frozen=True)
class ReaderOptions:
    """What a reader's call takes besides the graph: Norse's ``dt``, SpikingJelly's step (its writer's), the batch
    size Sinabs builds its squeezed layers for."""

    dt: float
    spikingjelly_dt: float = 1e-4
    batch: int = 1


@dataclass
class ReaderRun:
    """A reader's run: its per-step output [T, B, ...] and each recorded node's [T, B, ...]; ``said``: what it
    printed, logged or warned while reading and running."""

    output: torch.Tensor
    nodes: dict[str, torch.Tensor]
    said: list[str] = field(default_factory=list)


def _snntorch(graph: nir.NIRGraph, options: ReaderOptions) -> nn.Module:
    from snntorch.import_nir import import_from_nir

    return import_from_nir(graph)


def _norse(graph: nir.NIRGraph, options: ReaderOptions) -> nn.Module:
    import norse.torch as norse

    said = dict(graph.metadata or {}).get("reset_method", b"")
    if (said.decode() if isinstance(said, bytes) else str(said)) == "subtract":  # as an adaspike export says to call it
        from norse.torch.functional.reset import reset_subtract

        return norse.from_nir(graph, dt=options.dt, reset_method=reset_subtract)
    return norse.from_nir(graph, dt=options.dt)


def _spikingjelly(graph: nir.NIRGraph, options: ReaderOptions) -> nn.Module:
    from spikingjelly.activation_based.nir_exchange import import_from_nir

    return import_from_nir(graph, dt=options.spikingjelly_dt)


def _sinabs(graph: nir.NIRGraph, options: ReaderOptions) -> nn.Module:
    from sinabs.nir import from_nir

    return from_nir(graph, batch_size=options.batch)


def _rockpool(graph: nir.NIRGraph, options: ReaderOptions) -> nn.Module:
    from rockpool.nn.modules import from_nir

    return from_nir(graph)


def _first(output):
    return output[0] if isinstance(output, (tuple, list)) else output


def _snntorch_membrane(module: nn.Module, output) -> torch.Tensor:
    return module.mem  # init_hidden=True: the Leaky module holds its membrane


def _norse_membrane(module: nn.Module, output) -> torch.Tensor:
    state = output[1]
    return (state if hasattr(state, "v") else state[1]).v  # LIFBoxCell: (z, state); its CubaLIF: (z, (syn, lif))


def _spikingjelly_membrane(module: nn.Module, output) -> torch.Tensor:
    return output[1][0]  # the node's explicit state after the step: (v,)


READERS: Registry[PeerReader] = Registry("NIR reader", {r.name: r for r in (
    PeerReader("snntorch", "snnTorch", "snntorch", "snntorch", "snntorch.import_nir.import_from_nir(graph)", "step",
               _snntorch, _snntorch_membrane),
    PeerReader("norse", "Norse", "norse", "norse", "norse.torch.from_nir(graph, dt=dt)", "step", _norse,
               _norse_membrane),
    PeerReader("spikingjelly", "SpikingJelly", "spikingjelly", "spikingjelly",
               "spikingjelly.activation_based.nir_exchange.import_from_nir(graph, dt=1e-4)", "step", _spikingjelly,
               _spikingjelly_membrane),
    PeerReader("sinabs", "Sinabs", "sinabs", "sinabs", "sinabs.nir.from_nir(graph, batch_size=B)", "flat", _sinabs),
    PeerReader("rockpool", "Rockpool", "rockpool", "rockpool", "rockpool.nn.modules.from_nir(graph)", "batch-first",
               _rockpool),
)})


def find_sinabs() -> bool:
    """Whether Sinabs can be imported, appending the folder it was installed into beside the venv to ``sys.path``
    (``$ADASPIKE_SINABS_PATH``, else ``<venv>/sinabs``) when that is where it is."""
    if importlib.util.find_spec("sinabs") is not None:
        return True
    for folder in (os.environ.get("ADASPIKE_SINABS_PATH"), Path(sys.prefix) / "sinabs"):
        if folder and (Path(folder) / "sinabs" / "nir.py").is_file():
            sys.path.append(str(folder))  # appended: the venv's own packages (nir 1.0.8) win
            importlib.invalidate_caches()
            return importlib.util.find_spec("sinabs") is not None
    return False


def reader_available(name: str) -> bool:
    """Whether the peer ``name`` is installed (its package found; nothing imported)."""
    if name == "sinabs":
        return find_sinabs()
    return importlib.util.find_spec(READERS[name].module) is not None


def reader_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(READERS[name].distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


@contextlib.contextmanager
def _kept_quiet(said: list[str]):
    """Keep what a reader prints, logs (root logger, loguru) and warns in ``said`` instead of showing it."""
    root = logging.getLogger()

    class Keep(logging.Handler):
        def emit(self, record):
            said.append(record.getMessage())

    handlers, level = root.handlers[:], root.level
    root.handlers, root.level = [Keep(logging.WARNING)], min(level, logging.WARNING) or logging.WARNING
    loguru = sys.modules.get("loguru")
    printed = io.StringIO()
    try:
        if loguru is not None:
            loguru.logger.disable("spikingjelly")
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(printed):
            warnings.simplefilter("always")
            yield
        said += [str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning)]
    finally:
        root.handlers, root.level = handlers, level
        if loguru is not None:
            loguru.logger.enable("spikingjelly")
        said += [line.strip() for line in printed.getvalue().splitlines() if "warning" in line.lower()]


def _module_for(net: nn.Module, node: str) -> nn.Module | None:
    """The module a reader built for NIR node ``node`` (named after it, dots made underscores; nirtorch prefixes
    Python keywords with ``nir_node_``)."""
    modules = dict(net.named_modules())
    for name in (node, node.replace(".", "_"), "nir_node_" + node.replace(".", "_")):
        if name in modules:
            return modules[name]
    return None


def _to_time_major(chunks: list[torch.Tensor], layout: str, steps: int, batch: int) -> torch.Tensor:
    if layout == "step":
        return torch.stack(chunks)
    (value,) = chunks[-1:]  # a whole-sequence reader: its last call holds the run
    if layout == "flat":
        return value.reshape(batch, steps, *value.shape[1:]).transpose(0, 1)
    return value.transpose(0, 1)  # batch-first


def _feed(net: nn.Module, layout: str, x: torch.Tensor) -> torch.Tensor:
    steps, batch = x.shape[:2]
    if layout == "step":
        state, outs = None, []
        for t in range(steps):
            out = net(x[t], state)
            y, state = out if isinstance(out, tuple) else (out, None)
            outs.append(_first(y))
        return torch.stack(outs)
    if layout == "flat":
        y = _first(net(x.transpose(0, 1).reshape(batch * steps, *x.shape[2:])))
        return y.reshape(batch, steps, *y.shape[1:]).transpose(0, 1)
    return _first(net(x.transpose(0, 1))).transpose(0, 1)


def run_reader(name: str, graph: nir.NIRGraph, x: torch.Tensor, nodes: list[str] = (),
               membranes: frozenset[str] = frozenset(), *, dt: float = 1e-3,
               spikingjelly_dt: float = 1e-4) -> ReaderRun:
    """Read ``graph`` with peer ``name`` and run it on ``x`` [T, B, ...]: its output and the outputs of ``nodes``
    (NIR node names; the membrane for the never-firing LIFs in ``membranes``, which an export profile made the
    readout), all [T, B, ...]. A node the reader built no module for is left out of ``ReaderRun.nodes``. Errors of
    the reader propagate."""
    reader = READERS[name]
    if name == "sinabs":
        find_sinabs()
    steps, batch = x.shape[:2]
    said: list[str] = []
    chunks: dict[str, list[torch.Tensor]] = {}
    with _kept_quiet(said), torch.no_grad():
        net = reader.build(copy.deepcopy(graph), ReaderOptions(dt, spikingjelly_dt, batch))
        net.eval()
        hooks = []
        for node in nodes:
            module = _module_for(net, node)
            if module is None:
                continue
            if node in membranes and reader.membrane is None:
                raise ValueError(f"{reader.label} keeps no membrane to read for the readout {node!r}")
            read = reader.membrane if node in membranes else (lambda m, out: _first(out))
            chunks[node] = []
            hooks.append(module.register_forward_hook(
                lambda m, args, out, node=node, read=read: chunks[node].append(read(m, out).detach().clone())))
        try:
            output = _feed(net, reader.layout, x.float())
        finally:
            for hook in hooks:
                hook.remove()
    recorded = {node: _to_time_major(values, reader.layout, steps, batch) for node, values in chunks.items() if values}
    return ReaderRun(output, recorded, list(dict.fromkeys(said)))
