"""Spike agreement of NIR round trips between adaspike and the installed peers, in both directions.

Protocol: each pair builds a small random network (seeded), moves it through a written .nir file, and runs both
sides on the same random spike input (T = 100 steps, B = 8, p = 0.3, seed 1); agreement is the fraction of
equal output spikes. Unsupported pairs record the error the exporter/importer raises.
CPU, a few seconds.

    python scripts/nir_agreement.py -o runs/nir_agreement.json

Sinabs 3.1.3 pins nir <= 1.0.4 beside our nir 1.0.8, so it is not in the venv; ``make setup`` installs it without
its dependencies into ``.venv/sinabs`` (pass ``--sinabs-path .venv/sinabs``; its rows are skipped otherwise).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import sys
import tempfile
import warnings
from pathlib import Path

import nir
import numpy as np
import torch
from torch import nn

from adaspike.interop import export_nir, import_nir, read_nir, write_nir
from adaspike.layers import LIF, CubaLIF, LeakyIntegrator, SpikingLayer, TimeFolded
from adaspike.layers.neurons import AdLIF

T, B, N_IN = 100, 8, 12
TMP = Path(tempfile.mkdtemp())


def inputs() -> torch.Tensor:
    return (torch.rand(T, B, N_IN, generator=torch.Generator().manual_seed(1)) < 0.3).float()


def agreement(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    if ours.shape != theirs.shape:
        raise ValueError(f"output shapes differ: {tuple(ours.shape)} vs {tuple(theirs.shape)}")
    if ours.sum() == 0:
        raise ValueError("silent network: agreement would prove nothing")
    return float((ours == theirs).float().mean())


def stepwise(module, x: torch.Tensor) -> torch.Tensor:
    state, outs = None, []
    for t in range(x.shape[0]):
        out = module(x[t], state)
        y, state = out if isinstance(out, tuple) else (out, None)
        outs.append(y)
    return torch.stack(outs)


def through_file(graph, name: str):
    return read_nir(write_nir(TMP / f"{name}.nir", graph))


# ---- peers → adaspike --------------------------------------------------------------------------------------

def snntorch_net(reset: str, synaptic: bool):
    import snntorch as snn
    vec = lambda n, v: torch.full((n,), v)
    kw = lambda n: dict(threshold=torch.ones(n), init_hidden=True, reset_mechanism=reset)
    middle = (snn.Synaptic(alpha=vec(8, 0.8), beta=vec(8, 0.85), **kw(8)) if synaptic
              else snn.Leaky(beta=vec(8, 0.85), **kw(8)))
    net = nn.Sequential(nn.Linear(N_IN, 16), snn.Leaky(beta=vec(16, 0.9), **kw(16)), nn.Linear(16, 8), middle,
                        nn.Linear(8, 6), snn.Leaky(beta=vec(6, 0.95), output=True, **kw(6)))
    with torch.no_grad():
        for layer in net:
            if isinstance(layer, nn.Linear):
                layer.weight.mul_(2.0)
                layer.bias.add_(0.05)
    return net


def from_snntorch(reset: str, synaptic: bool) -> float:
    import snntorch.utils
    from snntorch.export_nir import export_to_nir
    torch.manual_seed(0)
    net, x = snntorch_net(reset, synaptic), inputs()
    graph = through_file(export_to_nir(net, torch.zeros(1, N_IN), ignore_dims=[0]), "snn")
    ours = import_nir(graph, dt="1ms", convention="snntorch", reset=reset)
    snntorch.utils.reset(net)
    with torch.no_grad():
        return agreement(ours(x), torch.stack([net(x[t])[0] for t in range(T)]))


def from_spikingjelly() -> float:
    from spikingjelly.activation_based import functional, layer, neuron
    from spikingjelly.activation_based.nir_exchange import export_to_nir
    torch.manual_seed(0)
    x = inputs()
    net = nn.Sequential(layer.Linear(N_IN, 16, step_mode="m"), neuron.LIFNode(tau=2.0, step_mode="m"),
                        layer.Linear(16, 8, step_mode="m"), neuron.IFNode(step_mode="m"),
                        layer.Linear(8, 6, step_mode="m"), neuron.LIFNode(tau=4.0, decay_input=False, step_mode="m"))
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Linear):
                m.weight.mul_(2.0)
    graph = through_file(export_to_nir(net, x[:2, :1], dt=1e-4), "sj")
    functional.reset_net(net)
    ours = import_nir(graph, dt="1ms")  # detected: SpikingJelly writes IF with R = 1/δ
    with torch.no_grad():
        return agreement(ours(x), net(x))


def norse_net(cuba: bool, dt: float = 1e-3):
    """Linear → cell → Linear → cell, the cells running at ``dt`` (the same drive per second at any dt)."""
    import norse.torch as norse
    cell = (lambda: norse.LIFCell(dt=dt)) if cuba else (lambda: norse.LIFBoxCell(dt=dt))
    net = norse.SequentialState(nn.Linear(N_IN, 16), cell(), nn.Linear(16, 6), cell())
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Linear):
                m.weight.mul_((12.0 if not cuba else 2.0) * 1e-3 / dt)
                m.bias.add_(0.5 if not cuba else 0.1)
    return net


def norse_file(graph, name: str):
    """A graph Norse wrote in memory, as a file holds it (nir.write cannot store its 0-d tensors: 1-d arrays)."""
    for node in graph.nodes.values():
        for k, v in list(vars(node).items()):
            if isinstance(v, (torch.Tensor, float)) or (isinstance(v, np.ndarray) and v.ndim == 0):
                v = v.detach().numpy() if isinstance(v, torch.Tensor) else v
                setattr(node, k, np.atleast_1d(np.asarray(v, np.float32)))
    return through_file(graph, name)


def from_norse(cuba: bool, in_memory: bool, dt: float = 1e-3) -> float:
    """Norse 1.1's to_nir(dt=dt) of cells running at dt → import_nir at dt (the writer's step: τ·dt_w read so)."""
    from norse.torch.utils.export_nir import to_nir
    torch.manual_seed(0)
    net, x = norse_net(cuba, dt), inputs()
    graph = to_nir(net, torch.zeros(N_IN), dt=dt)  # unbatched sample: the Input type a reader can check
    if not in_memory:
        graph = norse_file(graph, "norse")
    # in memory the torch tensors tell Norse; a written LIF-only file matches several writers: name it
    ours = import_nir(graph, dt=dt, convention="auto" if in_memory or cuba else "norse-1.1")
    with torch.no_grad():
        return agreement(ours(x), stepwise(net, x))


def rockpool_net(readout: bool = False, lif_neuron: bool = True):
    """LIFTorch (CubaLIF, per-neuron τ_mem) → LIFNeuronTorch (LIF; or LIFTorch) → LIFTorch, or an ExpSynTorch (LI)
    readout."""
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import ExpSynTorch, LIFNeuronTorch, LIFTorch, LinearTorch
    last = (ExpSynTorch(6, tau=10e-3, dt=1e-3) if readout else LIFTorch(6, tau_mem=10e-3, tau_syn=3e-3, dt=1e-3))
    net = Sequential(LinearTorch((N_IN, 16), has_bias=True),
                     LIFTorch(16, tau_mem=torch.linspace(5e-3, 25e-3, 16), tau_syn=5e-3, dt=1e-3),
                     LinearTorch((16, 8)),
                     LIFNeuronTorch(8, tau_mem=10e-3, dt=1e-3) if lif_neuron else LIFTorch(8, tau_mem=10e-3, dt=1e-3),
                     LinearTorch((8, 6)), last)
    with torch.no_grad():
        for name, m in net.modules().items():
            if name.endswith("LinearTorch"):
                m.weight.mul_(2.0)
    return net


def from_rockpool(in_memory: bool = False, readout: bool = False):
    """Rockpool's to_nir → import_nir (convention detected); Rockpool is batch-first. With the LI readout the
    return is the largest |difference| of the readout traces, else the spike agreement."""
    from rockpool.nn.modules import to_nir
    torch.manual_seed(0)
    net, x = rockpool_net(readout), inputs()
    graph = to_nir(net)  # torch tensors inside; to_nir also runs the net once, so its state is reset below
    # (nir.write cannot store its LI: Rockpool puts ExpSynTorch's τ in as a tensor that requires grad)
    graph = graph if in_memory or readout else through_file(graph, "rockpool")
    net.reset_state()
    ours = import_nir(graph, dt="1ms")
    assert ours.nir_import["convention"] == "rockpool"
    with torch.no_grad():
        theirs = net(x.transpose(0, 1))[0].transpose(0, 1)
        mine = ours(x)
    return float((mine - theirs).abs().max()) if readout else agreement(mine, theirs)


def rockpool_self() -> float:
    """Reference, not a gate: Rockpool's own from_nir on its own file (its step comes back as min τ/(1+R));
    LIFTorch layers only, since its from_nir cannot read the LIF it writes for LIFNeuronTorch."""
    from rockpool.nn.modules import from_nir, to_nir
    torch.manual_seed(0)
    net, x = rockpool_net(lif_neuron=False), inputs()
    graph = through_file(to_nir(net), "rockpool_self")
    net.reset_state()
    with torch.no_grad():
        theirs = net(x.transpose(0, 1))[0]
        again = from_nir(graph)(x.transpose(0, 1))[0]
    return agreement(theirs, again)


def sinabs_net(norm_input: bool):
    """Sinabs LIF (per-neuron τ in steps) → IAF → LIF; per-neuron thresholds, since nir 1.0.8's LIF asserts that
    all its parameters share one shape (Sinabs writes a scalar threshold otherwise)."""
    import sinabs.layers as sl
    net = nn.Sequential(nn.Linear(N_IN, 16), sl.LIF(tau_mem=torch.linspace(3, 20, 16), spike_threshold=torch.ones(16),
                                                    norm_input=norm_input),
                        nn.Linear(16, 8), sl.IAF(spike_threshold=torch.ones(8), min_v_mem=-torch.ones(8)),
                        nn.Linear(8, 6),
                        sl.LIF(tau_mem=torch.full((6,), 8.0), spike_threshold=torch.ones(6), norm_input=norm_input))
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Linear):
                m.weight.mul_(12.0 if norm_input else 2.0)
    return net


def from_sinabs(norm_input: bool = True, in_memory: bool = False) -> float:
    """sinabs.nir.to_nir → import_nir with the convention named (r = 1 files match several writers)."""
    from sinabs.nir import to_nir
    torch.manual_seed(0)
    net, x = sinabs_net(norm_input), inputs()
    graph = to_nir(net, torch.zeros(1, 1, N_IN))  # Sinabs layers take [batch, time, ...]
    graph = graph if in_memory else through_file(graph, "sinabs")
    for m in net:
        if hasattr(m, "reset_states"):
            m.reset_states()
    ours = import_nir(graph, dt="1ms", convention="sinabs" if norm_input else "sinabs-raw")
    with torch.no_grad():
        return agreement(ours(x), net(x.transpose(0, 1)).transpose(0, 1))


def sinabs_self(norm_input: bool) -> float:
    """Reference, not a gate: Sinabs' own from_nir (LIF read as norm_input=False, IAF clipped at −θ)."""
    from sinabs.nir import from_nir, to_nir
    torch.manual_seed(0)
    net, x = sinabs_net(norm_input), inputs()
    graph = through_file(to_nir(net, torch.zeros(1, 1, N_IN)), "sinabs_self")
    for m in net:
        if hasattr(m, "reset_states"):
            m.reset_states()
    with torch.no_grad():
        theirs = net(x.transpose(0, 1))
        again = from_nir(graph, batch_size=B)(x.transpose(0, 1).reshape(B * T, N_IN))
    again = again[0] if isinstance(again, tuple) else again
    return agreement(theirs, again.reshape(theirs.shape))


CNN_BATCH = 100  # samples: identical trains on ≥ 99 % of them is then a count, not a rounding of 8


def sinabs_cnn():
    """An N-MNIST-shaped CNN of IAF layers built as the NIR paper's network was (``min_v_mem=-1``, squeezed layers
    over [batch·time, 2, 34, 34]): conv → IAF → sum-pool → conv → IAF → sum-pool → flatten → linear → IAF."""
    import sinabs.layers as sl
    iaf = lambda: sl.IAFSqueeze(batch_size=CNN_BATCH, min_v_mem=-1.0, spike_threshold=1.0)
    net = nn.Sequential(nn.Conv2d(2, 8, 3, stride=2, padding=1), iaf(), sl.SumPool2d(2),
                        nn.Conv2d(8, 16, 3, padding=1), iaf(), sl.SumPool2d(2), nn.Flatten(),
                        nn.Linear(16 * 4 * 4, 10), iaf())
    with torch.no_grad():
        for m in net:
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.mul_(2.0)
    return net


def sinabs_cnn_vs_sinabs(floor: bool = True) -> float:
    """The CNN written by sinabs.nir.to_nir, read by adaspike (--convention sinabs) and by Sinabs' own from_nir on
    the same spikes: the worst layer's spike agreement; identical spike trains on ≥ 99 % of samples are required
    too. ``floor=False`` reads it without Sinabs' IF floor (what adaspike did before), for the record."""
    from dataclasses import replace

    from sinabs.nir import to_nir
    from adaspike.interop import CONVENTIONS
    from adaspike.interop.check import check_nir
    torch.manual_seed(0)
    graph = to_nir(sinabs_cnn(), torch.zeros(CNN_BATCH, 2, 34, 34))
    # nir.write cannot store the None that Sinabs leaves in Conv2d.input_shape and Flatten.input_type: give them
    # the shapes they read
    for name, size in (("0", 34), ("3", 8)):
        graph.nodes[name].input_shape = np.array([size, size])
    graph.nodes["6"].input_type = {"input": np.array([16, 4, 4])}
    path = write_nir(TMP / "sinabs_cnn.nir", graph)
    convention = "sinabs" if floor else replace(CONVENTIONS["sinabs"], if_floor=False)
    report = check_nir(path, ["sinabs"], convention=convention, input_shape=[2, 34, 34], steps=T, batch=CNN_BATCH,
                       rate=0.1, seed=1)
    (row,) = report.readers
    if row.status == "cannot read":
        raise ValueError(row.error)
    if all(layer.rate == 0 for layer in row.layers):
        raise ValueError("silent network: agreement would prove nothing")
    identical = min(layer.identical_samples for layer in row.layers)
    if floor and identical < 0.99:
        raise ValueError(f"identical spike trains on only {identical:.1%} of samples")
    return row.agreement


# ---- adaspike → peers --------------------------------------------------------------------------------------

def adaspike_net(neuron: str, dt: float, method: str = "zoh", readout: bool = False, reset: str = "zero",
                 strict: bool = True, max_spikes: int = 1) -> nn.Sequential:
    kw = dict(dt=dt, method=method, reset=reset, strict=strict, max_spikes=max_spikes)
    make = {"lif": lambda n, tau: LIF(n, tau=tau, **kw),
            "cubalif": lambda n, tau: CubaLIF(n, tau_mem=tau, **kw),
            "adlif": lambda n, tau: AdLIF(n, **kw)}[neuron]
    layers = [SpikingLayer(nn.Linear(N_IN, 16), make(16, 5e-3)), SpikingLayer(nn.Linear(16, 6), make(6, 8e-3))]
    if readout:
        layers += [TimeFolded(nn.Linear(6, 3)), LeakyIntegrator(3, tau=10e-3, dt=dt)]
    net = nn.Sequential(*layers)
    with torch.no_grad():
        net[0].synapse.module.weight.mul_(25.0)
        net[0].synapse.module.bias.add_(1.0)
        net[1].synapse.module.weight.mul_(30.0)
    return net


def snn_model(recurrent: bool, readout: str = "sum", **neuron_options) -> nn.Module:
    """The registered ``snn`` model (what ``adaspike train`` builds): a spiking output layer (``readout="sum"``) or
    its LI readout, reset to zero unless ``neuron_options`` say otherwise."""
    from adaspike.models import build_model
    model = build_model("snn", input_shape=[3, N_IN // 3], classes=4, hidden=[16], neuron="lif", dt=1e-3,
                        recurrent=recurrent, readout=readout, input_gain=8.0,
                        neuron_options={"reset": "zero", "strict": True, **neuron_options})
    with torch.no_grad():
        for m in model.modules():  # drive both layers hard enough to fire
            if isinstance(m, nn.Linear):
                m.weight.mul_(15.0)
                m.bias.add_(0.5)
    return model


def to_peer(peer: str, neuron: str = "lif", dt: float = 1e-3, method: str = "zoh", readout: bool = False,
            model: nn.Module | None = None, reset: str = "zero", **spike_rule) -> float:
    """Export for ``peer`` through a written file and run ``check_nir`` on it: the worst of the peer's node-by-node
    agreement with adaspike's reading of the file and of that reading's agreement with the model itself."""
    from adaspike.interop.check import check_nir

    torch.manual_seed(0)
    net = model or adaspike_net(neuron, dt, method, readout, reset, **spike_rule)
    shape = tuple(getattr(net, "config", {}).get("kwargs", {}).get("input_shape", (N_IN,)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = write_nir(TMP / f"to_{peer}.nir", export_nir(net, shape, profile=peer))
    report = check_nir(path, [] if peer == "generic" else [peer], model=net, steps=T, batch=B, rate=0.3, seed=1)
    rows = [report.model, *report.readers]
    for row in rows:
        if row.status in ("cannot read", "not installed"):
            raise ValueError(f"{row.reader} {row.status}: {row.error}")
    if all(layer.rate == 0 for row in rows for layer in row.layers if layer.kind == "spikes"):
        raise ValueError("silent network: agreement would prove nothing")
    return min(row.agreement for row in rows)


# Rockpool's and Sinabs' spike rule: subtract, fire at v ≥ θ, ⌊v/θ⌋ spikes per step (255 is the most the core's
# counts hold)
ROCKPOOL_RULE = dict(reset="subtract", strict=False, max_spikes=255)

# (pair, direction, run, expected): expected None = supported (agreement ≥ 99.5 %), else a phrase that the
# error must contain, naming the missing feature
CASES = [
    ("snnTorch Leaky, reset zero", "→ adaspike", lambda: from_snntorch("zero", False), None),
    ("snnTorch Leaky, reset subtract", "→ adaspike", lambda: from_snntorch("subtract", False), None),
    ("snnTorch Synaptic, reset zero", "→ adaspike", lambda: from_snntorch("zero", True), "drops the step's"),
    ("snnTorch Synaptic, reset subtract", "→ adaspike", lambda: from_snntorch("subtract", True), None),
    ("SpikingJelly LIF + IF + LIF(decay_input=False)", "→ adaspike", from_spikingjelly, None),
    ("Norse 1.1 LIFBoxCell (.nir file)", "→ adaspike", lambda: from_norse(False, False), None),
    ("Norse 1.1 LIFBoxCell (graph in memory, torch tensors)", "→ adaspike", lambda: from_norse(False, True), None),
    ("Norse 1.1 LIFCell (CubaLIF)", "→ adaspike", lambda: from_norse(True, False), None),
    ("Norse 1.1 LIFBoxCell written and run at 0.5 ms", "→ adaspike", lambda: from_norse(False, False, 5e-4), None),
    ("Norse 1.1 LIFCell (CubaLIF) written and run at 0.5 ms", "→ adaspike", lambda: from_norse(True, False, 5e-4),
     None),
    ("adaspike LIF, 1 ms, ZOH, --for snntorch", "adaspike →", lambda: to_peer("snntorch"), None),
    ("adaspike LIF, 1 ms, ZOH, --for norse", "adaspike →", lambda: to_peer("norse"), None),
    ("adaspike LIF, 1 ms, ZOH, --for spikingjelly", "adaspike →", lambda: to_peer("spikingjelly"), None),
    ("adaspike LIF, 0.5 ms, Euler, --for norse", "adaspike →", lambda: to_peer("norse", dt=5e-4, method="euler"),
     None),
    ("adaspike snn model (flatten, LIF, spiking head), --for norse", "adaspike →",
     lambda: to_peer("norse", model=snn_model(False)), None),
    ("adaspike snn model (flatten, LIF, spiking head), --for snntorch", "adaspike →",
     lambda: to_peer("snntorch", model=snn_model(False)), None),
    ("adaspike recurrent snn model, --for norse", "adaspike →", lambda: to_peer("norse", model=snn_model(True)),
     None),
    ("adaspike recurrent snn model, --for snntorch", "adaspike →",
     lambda: to_peer("snntorch", model=snn_model(True)), "recurrent"),
    ("adaspike LIF + LI readout, --for norse", "adaspike →", lambda: to_peer("norse", readout=True), None),
    ("adaspike LIF + LI readout, --for snntorch", "adaspike →", lambda: to_peer("snntorch", readout=True), None),
    ("adaspike LIF + LI readout, --for spikingjelly", "adaspike →", lambda: to_peer("spikingjelly", readout=True),
     None),
    ("adaspike CubaLIF, --for snntorch", "adaspike →", lambda: to_peer("snntorch", "cubalif"), "same step's"),
    ("adaspike CubaLIF, --for norse", "adaspike →", lambda: to_peer("norse", "cubalif"), "same step's"),
    ("adaspike LIF, reset subtract, --for snntorch", "adaspike →", lambda: to_peer("snntorch", reset="subtract"),
     "resets to zero"),
    ("adaspike LIF, reset subtract, --for norse", "adaspike →", lambda: to_peer("norse", reset="subtract"), None),
    ("adaspike recurrent snn model, reset subtract, LI readout (train's LIF default), --for norse", "adaspike →",
     lambda: to_peer("norse", model=snn_model(True, readout="li-mean", reset="subtract")), None),
    ("adaspike recurrent snn model, reset subtract, LI readout (train's LIF default), --for snntorch", "adaspike →",
     lambda: to_peer("snntorch", model=snn_model(True, readout="li-mean", reset="subtract")), "--no-recurrent"),
    ("adaspike LIF, reset subtract, --for spikingjelly", "adaspike →",
     lambda: to_peer("spikingjelly", reset="subtract"), "resets to zero"),
    ("adaspike AdLIF, any profile", "adaspike →", lambda: to_peer("generic", "adlif"), "no NIR primitive"),
    ("Sinabs LIF (norm_input=True) + IAF + LIF, --convention sinabs", "→ adaspike", from_sinabs, None),
    ("Sinabs LIF (norm_input=True) + IAF + LIF, graph in memory", "→ adaspike",
     lambda: from_sinabs(in_memory=True), None),
    ("Sinabs LIF (norm_input=False) + IAF + LIF, --convention sinabs-raw", "→ adaspike",
     lambda: from_sinabs(False), None),
    ("Sinabs IAF CNN (min_v_mem=-1), adaspike against Sinabs' from_nir", "→ adaspike", sinabs_cnn_vs_sinabs, None),
    ("Sinabs ← adaspike LIF, 1 ms, ZOH, subtract, ≤255 spikes, --for sinabs", "adaspike →",
     lambda: to_peer("sinabs", **ROCKPOOL_RULE), None),
    ("Sinabs ← adaspike LIF + LI readout, subtract, ≤255 spikes, --for sinabs", "adaspike →",
     lambda: to_peer("sinabs", readout=True, **ROCKPOOL_RULE), None),
    ("Sinabs ← adaspike snn model (flatten, LIF, spiking head), --for sinabs", "adaspike →",
     lambda: to_peer("sinabs", model=snn_model(False, **ROCKPOOL_RULE)), None),
    ("Sinabs ← adaspike LIF, reset zero, --for sinabs", "adaspike →", lambda: to_peer("sinabs"), "by subtraction"),
    ("Rockpool LIFTorch + LIFNeuronTorch + LIFTorch (.nir file)", "→ adaspike", from_rockpool, None),
    ("Rockpool LIFTorch + LIFNeuronTorch + LIFTorch (graph in memory)", "→ adaspike",
     lambda: from_rockpool(in_memory=True), None),
    ("adaspike LIF, 1 ms, ZOH, subtract, ≤255 spikes, --for rockpool", "adaspike →",
     lambda: to_peer("rockpool", **ROCKPOOL_RULE), None),
    ("adaspike LIF, 0.5 ms, Euler, subtract, ≤255 spikes, --for rockpool", "adaspike →",
     lambda: to_peer("rockpool", dt=5e-4, method="euler", **ROCKPOOL_RULE), None),
    ("adaspike LIF, reset zero, --for rockpool", "adaspike →", lambda: to_peer("rockpool"), "by subtraction"),
    ("adaspike LIF, one spike per step, --for rockpool", "adaspike →",
     lambda: to_peer("rockpool", reset="subtract", strict=False), "spikes per step"),
    ("adaspike LIF + LI readout, --for rockpool", "adaspike →",
     lambda: to_peer("rockpool", readout=True, **ROCKPOOL_RULE), "no usable LI"),
    ("adaspike CubaLIF, --for rockpool", "adaspike →", lambda: to_peer("rockpool", "cubalif", **ROCKPOOL_RULE),
     "same step's"),
    ("adaspike snn model (flatten, LIF, spiking head), --for rockpool", "adaspike →",
     lambda: to_peer("rockpool", model=snn_model(False, **ROCKPOOL_RULE)), "no Flatten"),
    ("adaspike recurrent snn model, --for rockpool", "adaspike →",
     lambda: to_peer("rockpool", model=snn_model(True, **ROCKPOOL_RULE)), "recurrent"),
]


# peers against themselves, for scale: printed and recorded, not tested
REFERENCE = [("Rockpool LIFTorch ×3 → Rockpool (its own to_nir → from_nir)", "reference", rockpool_self),
             ("Sinabs LIF (norm_input=True) + IAF + LIF → Sinabs (its own from_nir)", "reference",
              lambda: sinabs_self(True)),
             ("Sinabs LIF (norm_input=False) + IAF + LIF → Sinabs (its own from_nir)", "reference",
              lambda: sinabs_self(False)),
             ("Sinabs IAF CNN, adaspike without the IF floor against Sinabs' from_nir (before)", "reference",
              lambda: sinabs_cnn_vs_sinabs(floor=False))]


# ---- adaspike check-nir on files: peers' own exporters, adaspike's exports with and without --for -------------

def _peer_written() -> list[tuple[str, object]]:
    """(label, () → (path, check_nir options)) for files written by each peer's own exporter."""
    def snntorch_file(reset):
        from snntorch.export_nir import export_to_nir
        torch.manual_seed(0)
        graph = export_to_nir(snntorch_net(reset, False), torch.zeros(1, N_IN), ignore_dims=[0])
        return through_file(graph, f"check_snntorch_{reset}"), {"convention": "snntorch", "reset": reset}

    def spikingjelly_file():
        from spikingjelly.activation_based import layer, neuron
        from spikingjelly.activation_based.nir_exchange import export_to_nir
        torch.manual_seed(0)
        net = nn.Sequential(layer.Linear(N_IN, 16, step_mode="m"), neuron.LIFNode(tau=2.0, step_mode="m"),
                            layer.Linear(16, 8, step_mode="m"), neuron.IFNode(step_mode="m"),
                            layer.Linear(8, 6, step_mode="m"), neuron.LIFNode(tau=4.0, decay_input=False,
                                                                              step_mode="m"))
        with torch.no_grad():
            for m in net:
                if isinstance(m, nn.Linear):
                    m.weight.mul_(2.0)
        return through_file(export_to_nir(net, inputs()[:2, :1], dt=1e-4), "check_sj"), {}

    def norse_written(cuba, dt):
        from norse.torch.utils.export_nir import to_nir
        torch.manual_seed(0)
        graph = norse_file(to_nir(norse_net(cuba, dt), torch.zeros(N_IN), dt=dt), f"check_norse_{cuba}_{dt}")
        return graph, {"convention": "norse-1.1", "dt": dt}

    def sinabs_written():
        from sinabs.nir import to_nir
        torch.manual_seed(0)
        graph = to_nir(sinabs_net(False), torch.zeros(1, 1, N_IN))
        return through_file(graph, "check_sinabs"), {"convention": "sinabs-raw"}

    def rockpool_written():
        from rockpool.nn.modules import to_nir
        torch.manual_seed(0)
        return through_file(to_nir(rockpool_net(lif_neuron=False)), "check_rockpool"), {}

    def braille():
        import norse
        path = Path(norse.__file__).parent / "torch" / "utils" / "test" / "braille.nir"
        return path, {"convention": "snntorch", "reset": "subtract"}

    return [("snnTorch Leaky ×3, reset zero (export_to_nir)", lambda: snntorch_file("zero")),
            ("snnTorch Leaky ×3, reset subtract (export_to_nir)", lambda: snntorch_file("subtract")),
            ("SpikingJelly LIF + IF + LIF (export_to_nir, dt=1e-4)", spikingjelly_file),
            ("Norse 1.1 LIFBoxCell ×2 (to_nir, dt=1 ms)", lambda: norse_written(False, 1e-3)),
            ("Norse 1.1 LIFBoxCell ×2 (to_nir, dt=0.5 ms)", lambda: norse_written(False, 5e-4)),
            ("Sinabs LIF(norm_input=False) + IAF + LIF (to_nir)", sinabs_written),
            ("Rockpool LIFTorch ×3 (to_nir)", rockpool_written),
            ("braille.nir (NIR paper task, snnTorch RSynaptic; shipped with Norse)", braille)]


def _adaspike_written() -> list[tuple[str, object]]:
    """(label, () → (path, options)) for adaspike's exports of one model, generic and for each reader."""
    zero = dict(reset="zero", strict=True)
    rule = ROCKPOOL_RULE

    def export(profile, net_kw, name):
        torch.manual_seed(0)
        net = adaspike_net("lif", 1e-3, **net_kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return write_nir(TMP / f"check_{name}.nir", export_nir(net, (N_IN,), profile=profile)), {}

    return [("adaspike LIF ×2 + LI readout, ZOH 1 ms, reset zero: generic (no --for)",
             lambda: export("generic", {**zero, "readout": True}, "generic_zero")),
            ("adaspike LIF ×2, ZOH 1 ms, subtract, ≤255 spikes: generic (no --for)",
             lambda: export("generic", rule, "generic_subtract")),
            *((f"adaspike LIF ×2 + LI readout, reset zero: --for {p}",
               (lambda p=p: export(p, {**zero, "readout": True}, f"for_{p}"))) for p in ("snntorch", "norse",
                                                                                         "spikingjelly")),
            ("adaspike LIF ×2, reset subtract: --for norse", lambda: export("norse", {"reset": "subtract"},
                                                                            "for_norse_subtract")),
            ("adaspike LIF ×2 + LI readout, subtract, ≤255 spikes: --for sinabs",
             lambda: export("sinabs", {**rule, "readout": True}, "for_sinabs")),
            ("adaspike LIF ×2, subtract, ≤255 spikes: --for rockpool",
             lambda: export("rockpool", rule, "for_rockpool"))]


def check_files() -> list[dict]:
    """``check_nir`` (every installed reader) on each file of ``_peer_written`` and ``_adaspike_written``."""
    from adaspike.interop.check import check_nir
    rows = []
    for label, make in _peer_written() + _adaspike_written():
        try:
            path, options = make()
            report = check_nir(path, steps=T, batch=B, rate=0.3, seed=1, **options)
        except Exception as err:  # a writer missing here, or a file adaspike cannot read
            rows.append({"file": label, "reader": "-", "status": "error", "agreement": None, "error": str(err)})
            continue
        for row in report.readers:
            rows.append({"file": label, "reader": row.reader, "status": row.status, "agreement": row.agreement,
                         "identical_samples": min((x.identical_samples for x in row.layers), default=None),
                         "first_divergence": min((x.first_divergence for x in row.layers
                                                  if x.first_divergence is not None), default=None),
                         "error": row.error, "convention": report.convention})
    return rows


# ---- trained models, run by the peers on their own test split ---------------------------------------------

def trained_accuracy(checkpoint: Path, readers: list[str], limit: int | None = None) -> list[dict]:
    """Test accuracy of a trained checkpoint as adaspike runs it, as adaspike runs each reader's file, and as each
    reader runs that file (``--for READER``), on the checkpoint's own test split; logits are the readout (its
    membrane where the file writes a leaky integrator as a never-firing LIF, else the output spikes) reduced over
    time as the model reduces it. A reader the model cannot be exported for records the export's error."""
    from adaspike.interop.check import _readouts
    from adaspike.interop.detect import flatten_graph
    from adaspike.interop.nodes import NEURON_NODES as _NEURONS
    from adaspike.interop.readers import run_reader
    from adaspike.layers.readout import reduce_time
    from adaspike.studies.experiment import make_loaders
    from adaspike.train import load_model, read_checkpoint

    checkpoint = checkpoint / "model.safetensors" if checkpoint.is_dir() else checkpoint
    model = load_model(checkpoint).eval()
    data = read_checkpoint(checkpoint)[2]["data"]
    options = {**data.get("options", {}), **({"limit": limit} if limit else {})}
    test = make_loaders(data["dataset"], dt=data.get("dt"), batch_size=64, test_batch_size=64, val_fraction=None,
                        **options).test
    shape = list(model.config["kwargs"]["input_shape"])
    rows, correct, total = [], 0, 0
    with torch.no_grad():
        for x, y in test:
            correct += int((model(x).argmax(-1) == y).sum())
            total += len(y)
    rows.append({"reader": "adaspike (the checkpoint)", "accuracy": correct / total, "samples": total,
                 "error": None})
    for reader in readers:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                graph = through_file(export_nir(model, shape, profile=reader), f"trained_{reader}")
        except ValueError as err:
            rows.append({"reader": reader, "accuracy": None, "samples": total, "error": str(err)})
            continue
        nodes, edges = flatten_graph(graph)
        out_node = next(s for s, d in edges if isinstance(nodes[d], nir.Output))
        if not isinstance(nodes[out_node], _NEURONS):
            raise ValueError(f"the file's output {out_node!r} is not a neuron node")
        membrane = frozenset(_readouts({out_node: nodes[out_node]})[0])
        reduce = graph.metadata.get("time_reduce")
        ours = import_nir(graph)
        ours.time_reduce = None
        counts = {"file in adaspike": 0, reader: 0}
        agree = 0
        with torch.no_grad():
            for x, y in test:
                mine = reduce_time(ours.node_outputs(x)[out_node], reduce) if reduce else ours(x).sum(0)
                run = run_reader(reader, graph, x, [out_node], membrane, dt=float(graph.metadata["source_dt"]))
                theirs = run.nodes[out_node]
                theirs = reduce_time(theirs, reduce) if reduce else theirs.sum(0)
                counts["file in adaspike"] += int((mine.argmax(-1) == y).sum())
                counts[reader] += int((theirs.argmax(-1) == y).sum())
                agree += int((mine.argmax(-1) == theirs.argmax(-1)).sum())
        rows.append({"reader": f"adaspike reading the --for {reader} file",
                     "accuracy": counts["file in adaspike"] / total, "samples": total, "error": None})
        rows.append({"reader": reader, "accuracy": counts[reader] / total, "samples": total, "error": None,
                     "same_prediction": agree / total})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=None, help="JSON file for the results (default: none)")
    parser.add_argument("--sinabs-path", type=Path, default=None,
                        help="folder holding sinabs installed with --no-deps (make setup: .venv/sinabs)")
    parser.add_argument("--only", default=None, help="run only the pairs whose name starts with this")
    parser.add_argument("--trained", type=Path, nargs="*", default=None,
                        help="instead of the pairs: trained checkpoints (or run folders) whose test accuracy is "
                        "measured as each --readers peer runs them")
    parser.add_argument("--readers", default="snntorch,norse", help="peers for --trained, comma-separated")
    parser.add_argument("--limit", type=int, default=None, help="--trained: at most this many test samples")
    parser.add_argument("--check-files", action="store_true", help="instead of the pairs: adaspike check-nir on "
                        "files written by each peer's exporter and by adaspike (generic and --for each reader)")
    args = parser.parse_args(argv)
    if args.sinabs_path is not None:
        sys.path.append(str(args.sinabs_path))  # appended: the venv's own packages (nir 1.0.8) win
    logging.getLogger().setLevel(logging.ERROR)
    if args.check_files:
        rows = check_files()
        for row in rows:
            shown = f"{row['agreement']:.2%}" if row["agreement"] is not None else (row["error"] or "")[:160]
            print(f"| {row['file']} | {row['reader']} | {row['status']} | {shown} |", flush=True)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(rows, indent=2))
        return 0
    if args.trained:
        results = {}
        for checkpoint in args.trained:
            rows = trained_accuracy(checkpoint, args.readers.split(","), args.limit)
            results[str(checkpoint)] = rows
            for row in rows:
                shown = f"{row['accuracy']:.2%}" if row["accuracy"] is not None else f"refused: {row['error']}"
                print(f"| {checkpoint} | {row['reader']} | {shown} | {row['samples']} |", flush=True)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=2))
        return 0
    rows = []
    for name, direction, run, *_ in CASES + REFERENCE:
        if args.only and not name.startswith(args.only):
            continue
        if name.startswith("Sinabs") and importlib.util.find_spec("sinabs") is None:
            continue
        try:
            value, error = run(), None
        except Exception as err:  # an unsupported pair: record the error it gives
            value, error = None, f"{type(err).__name__}: {err}"
        rows.append({"pair": name, "direction": direction, "value": value, "error": error})
        shown = f"{value:.2%}" if value is not None else f"error: {error}"
        print(f"| {name} | {direction} | {shown} |", flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
