"""Any clock: one neuron, and one network, at regular steps, on a drifting clock and on raw event times.

Data: 400 input events (Poisson, 2 kHz in all over 8 input channels, µs timestamps) for the neuron figure; 64
random count frames for the network checks. No training: a random adLIF neuron and a random recurrent LIF
network, seed 0. One CPU thread, a few seconds.
"""
import matplotlib.pyplot as plt
import numpy as np
import torch

from _common import FIGURES, show
from adaspike.core import AdLIFParams, rule_for_steps, scan
from adaspike.data import audio_events
from adaspike.data.events import bin_events_on_edges, event_grid, jittered_edges
from adaspike.models import build_model
from adaspike.report import save_figure
from adaspike.retime import retime, run_on_clock

torch.manual_seed(0)
rng = np.random.default_rng(0)

# 1. one adLIF neuron, trained (say) at 4 ms, fed events with µs timestamps over 0.2 s
SOURCE_DT, T_MAX_US = 4e-3, 200_000
times = np.sort(rng.integers(0, T_MAX_US, 400))
events = audio_events(times, rng.integers(0, 8, 400))
weights = torch.linspace(0.2, 0.6, 8, dtype=torch.float64)  # one synaptic weight per input channel
neuron = AdLIFParams(tau_u=15e-3, tau_w=80e-3, a=0.3, b=0.4, threshold=1.0).continuous()


def run(edges_us: np.ndarray):
    """The neuron on the clock with bin edges ``edges_us``: counts per step, scaled to the source step."""
    counts = torch.as_tensor(bin_events_on_edges(events, edges_us, sensor_shape=(8,)), dtype=torch.float64)
    steps = torch.as_tensor(np.diff(edges_us) * 1e-6)
    drive = (counts @ weights) * (SOURCE_DT / steps)  # an event count is a charge: per-second current × Δ_S
    out = scan(drive.reshape(-1, 1, 1), neuron, dt=steps, spike_fn=rule_for_steps(steps, SOURCE_DT),
               return_states=True)
    ends = edges_us[1:] * 1e-6
    return ends, out.states[:, 0, 0, 0].numpy(), ends[out.spikes[:, 0, 0].numpy() > 0]


clocks = {
    "4 ms (trained)": np.arange(0, T_MAX_US + 1, 4000),
    "1 ms": np.arange(0, T_MAX_US + 1, 1000),
    "drifting, 4 ms ± 30 %": jittered_edges(T_MAX_US, 4000, 0.3, np.random.default_rng(1)),
    "event times (1 µs)": event_grid(events, T_MAX_US, 1),
}
fig, (ax, raster) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
for row, (name, edges) in enumerate(clocks.items()):
    ends, membrane, spikes = run(edges)
    style = dict(lw=0.9) if len(ends) > 300 else dict(marker=".", ms=3, lw=0.8)
    ax.plot(ends * 1e3, membrane, label=f"{name}: {len(ends)} steps", **style)
    raster.vlines(spikes * 1e3, row + 0.6, row + 1.4, lw=0.8, color=f"C{row}")
    show("neuron", f"{name:24s} {len(ends):6d} steps, {len(spikes):3d} spikes, "
         f"spike-time of the first: {spikes[0] * 1e3 if len(spikes) else float('nan'):6.2f} ms")
ax.axhline(1.0, color="k", lw=0.6, ls=":", label="threshold θ")
ax.set_ylabel("membrane u")
ax.legend(fontsize=8, loc="upper right")
ax.set_title("one adLIF neuron (trained at 4 ms) on four clocks: the same continuous-time model")
raster.set_yticks(range(1, len(clocks) + 1), [n.split(" (")[0].split(",")[0] for n in clocks], fontsize=7)
raster.set_xlabel("time (ms)")
save_figure(fig, FIGURES / "any_clock_neuron.png")

# 2. a network: a regular clock at its own step is the model itself; at another step it is `retime`'s model
model = build_model("snn", input_shape=[20], classes=4, hidden=[32], neuron="lif", recurrent=True, dt=SOURCE_DT)
with torch.no_grad():
    model.hidden[0].synapse.module.weight.mul_(3)  # a random net that fires
model.eval()
x = (torch.rand(50, 64, 20) < 0.1).float()  # 50 steps of counts at 4 ms
with torch.no_grad():
    same = torch.equal(run_on_clock(model, x, torch.full((50,), SOURCE_DT, dtype=torch.float64)), model(x))
    fine = torch.zeros(200, 64, 20)
    fine[0::4] = x  # the same counts on a 1 ms grid (each in the first of its four sub-bins)
    agree = (run_on_clock(model, fine, 1e-3).argmax(-1) == retime(model, dt=1e-3)(fine).argmax(-1)).float().mean()
    steps = SOURCE_DT * (1 + 0.3 * (2 * torch.rand(50, 64, dtype=torch.float64) - 1))  # one clock per sample
    told = run_on_clock(model, x, steps).argmax(-1)
show("network", f"on its own 4 ms clock, bit-identical to model(x): {same}")
show("network", f"on a 1 ms clock, predictions equal to retime(model, dt=1ms): {float(agree):.0%}")
show("network", f"on 64 drifting clocks (±30 %, [T, B] step lengths): predictions for {told.numel()} samples")
