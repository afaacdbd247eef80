"""NIR tutorial: export with true time constants, re-import at any dt, move a model to Norse and check it there,
read Norse and snnTorch files."""
from pathlib import Path
import tempfile
import warnings

import nir
import torch
from torch import nn

from _common import FIGURES
from adaspike.interop import export_nir, import_nir, read_nir, write_nir
from adaspike.layers import LIF, LeakyIntegrator, SpikingLayer, TimeFolded
from adaspike.report import save_figure
from adaspike.report.plots import firing_rate_histogram, membrane_trace, spike_raster

torch.manual_seed(0)
dt = 1e-3
model = nn.Sequential(SpikingLayer(nn.Linear(20, 32), LIF(32, tau=10e-3, dt=dt)),
                      TimeFolded(nn.Linear(32, 4)), LeakyIntegrator(4, tau=20e-3, dt=dt))
with torch.no_grad():
    model[0].synapse.module.weight.mul_(6)

# 1. Export: τ in seconds, R as in τ dv/dt = −v + R·I; dt/discretisation/reset only as metadata hints.
graph = export_nir(model, input_shape=(20,))
lif = next(n for n in graph.nodes.values() if isinstance(n, nir.LIF))
print("LIF tau (s):", float(lif.tau[0]), " r:", float(lif.r[0]), " hints:", dict(lif.metadata))
path = write_nir(Path(tempfile.mkdtemp()) / "model.nir", graph)

# 2. Import needs dt. The same file at 1 ms reproduces the model; at 0.5 ms it is the same ODE, finer.
x = (torch.rand(100, 1, 20, generator=torch.Generator().manual_seed(1)) < 0.2).float()
same = import_nir(path, dt="1ms")
with torch.no_grad():
    assert torch.allclose(same(x), model(x), atol=1e-5), "round trip changed the outputs"
    fine = import_nir(path, dt="0.5ms")
    x_fine = x.repeat_interleave(2, dim=0)  # the same held input current, sampled twice as often
    v_coarse, v_fine = same(x)[:, 0, 0], fine(x_fine)[:, 0, 0]
    hidden = model[0](x)
fig = membrane_trace(torch.stack([v_coarse.repeat_interleave(2), v_fine], 1), dt=0.5e-3,
                     labels=["imported at 1 ms", "imported at 0.5 ms"], title="readout membrane, same NIR file")
save_figure(fig, FIGURES / "nir_membrane.png")
save_figure(spike_raster(hidden, dt=dt, title="hidden LIF spikes"), FIGURES / "nir_raster.png")
with torch.no_grad():
    fine_hidden = fine.layers["0_neuron"](fine.layers["0_synapse"](x_fine))
# the fine import steps every 0.5 ms: sum its spikes in 1 ms bins so that both histograms use the same dt
layer_spikes = {"hidden (original, 1 ms)": hidden,
                "hidden (imported at 0.5 ms)": fine_hidden.reshape(-1, 2, *fine_hidden.shape[1:]).sum(1)}
save_figure(firing_rate_histogram(layer_spikes, dt=dt), FIGURES / "nir_rates.png")

# 3. A real round trip with a peer: adaspike → Norse → adaspike. Norse's reader runs Euler at the dt you give it
# and ignores R, so `profile="norse"` writes the τ whose Euler step equals our ZOH step and moves R into the
# weights. Two things Norse's reader has no node for are written with its own nodes: the reset by subtraction as
# a CubaLIF whose synapse passes each step's input through (the node its from_nir gives a reset_method), and the
# leaky-integrator readout as a LIF that never fires, whose membrane is the readout. So the whole model moves.
import norse.torch as norse  # noqa: E402  (peers extra: pip install adaspike[peers])
from norse.torch.functional.reset import reset_subtract  # noqa: E402
from norse.torch.utils.export_nir import to_nir  # noqa: E402

from adaspike.interop import check_nir, forecast_line, reading_forecast  # noqa: E402

print(forecast_line(reading_forecast(graph)))  # who reads the generic file as the model, and the --for for the rest
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the notes: how to call Norse, where the readout's membrane is
    norse_file = write_nir(path.parent / "for_norse.nir", export_nir(model, (20,), profile="norse"))
in_norse = norse.from_nir(read_nir(norse_file), dt=dt, reset_method=reset_subtract)
readout_node = next(name for name, node in graph.nodes.items() if isinstance(node, nir.LI))
with torch.no_grad():
    state, readout = None, []
    for t in range(x.shape[0]):
        _, state = in_norse(x[t], state)
        readout.append(state.state[readout_node][0].v)  # the never-firing LIF's membrane: the LI readout
    theirs = torch.stack(readout)
    ours = model(x)
print(f"adaspike → Norse: readout membranes agree to {float((ours - theirs).abs().max()):.1e}")
assert torch.allclose(ours, theirs, atol=1e-4)

# The same comparison, node by node, as `adaspike check-nir FILE` runs it with every installed peer reader:
report = check_nir(norse_file, ["norse"], model=model, rate=0.2)
print(report.table())
assert not report.differing

# ... and back: Norse 1.1 writes τ·dt instead of τ (τ_file = 1e-5 for a 10 ms neuron); the importer detects the
# writer from the graph (torch tensors, R = 1, τ ≪ dt) and reads it as Norse simulated it.
norse_net = norse.SequentialState(nn.Linear(20, 32), norse.LIFBoxCell())
with torch.no_grad():
    norse_net[0].weight.mul_(8)
back = import_nir(to_nir(norse_net, torch.zeros(20)), dt=dt)
print("detected convention:", back.nir_import["convention"])
with torch.no_grad():
    state, steps = None, []
    for t in range(x.shape[0]):
        z, state = norse_net(x[t], state)
        steps.append(z)
    assert torch.equal(back(x), torch.stack(steps)), "Norse → adaspike changed the spikes"

# 4. snnTorch files: the same numbers mean different dynamics. snnTorch writes tau = 1e-4/(1-beta),
# R = tau/1e-4, and does not record its reset: name it (reset="subtract" is snnTorch's default).
beta = 0.9
peer_tau, peer_r = 1e-4 / (1 - beta), 1 / (1 - beta)
zeros = torch.zeros(1).numpy()
node = nir.LIF(tau=zeros + peer_tau, r=zeros + peer_r, v_leak=zeros, v_threshold=zeros + 1, v_reset=zeros)
peer = nir.NIRGraph(nodes={"input": nir.Input(zeros.shape), "lif": node, "output": nir.Output(zeros.shape)},
                    edges=[("input", "lif"), ("lif", "output")], metadata={})
as_snntorch = import_nir(peer, dt="1ms", convention="snntorch", reset="zero").layers["lif"]
alpha = float(as_snntorch.ssm().H.detach().flatten()[0])
print(f"snnTorch file read as snnTorch meant it: beta per step = {alpha:.4f} (expected {beta})")
assert abs(alpha - beta) < 1e-5
