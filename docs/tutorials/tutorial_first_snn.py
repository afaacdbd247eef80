"""Your first SNN in 10 minutes: build a network from layers, train it with a plain PyTorch loop on event-digits,
evaluate it, run it at other time steps (retime, run_on_clock) and export it to NIR.

Data: event-digits, adaspike's event-camera recordings of scikit-learn's 8×8 digits (made on this machine by its
event-camera simulator; nothing is downloaded), pooled 2×2 to 2×17×17 = 578 inputs per step, 0.3 s per sample
(75 steps of 4 ms). Protocol: 15 % of the 1438 training recordings (class-balanced, split seed 0) held out for
validation; Adam (lr 2e-3), 20 epochs, batch 64; the epoch with the best validation accuracy is kept; the 359 test
recordings are evaluated once per deployment step. Seed 0, one CPU thread.
"""
import copy
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from _common import FIGURES, show
from adaspike.data import load_dataset, split_dataset, time_major_collate
from adaspike.interop import export_nir, import_nir, write_nir
from adaspike.layers import LIF, LeakyIntegrator, RecurrentSpikingLayer, TimeFolded, TimeReduce, calibrate_firing
from adaspike.report import save_figure
from adaspike.report.plots import learning_curve, metric_curve, spike_raster
from adaspike.retime import retime, run_on_clock

torch.manual_seed(0)
DT, EPOCHS = 4e-3, 20


def loader(data, shuffle=False):
    """Batches of ``(x [T, B, 2, 17, 17], labels [B])``: time_major_collate puts time first."""
    return DataLoader(data, batch_size=64, shuffle=shuffle, collate_fn=time_major_collate,
                      generator=torch.Generator().manual_seed(0) if shuffle else None)


def test_loader(dt):
    """The test recordings binned at step ``dt``: the same events, more or fewer steps."""
    return loader(load_dataset("event-digits", "test", dt=dt, pool=2))


# 1. data: recordings binned at 4 ms, a validation split carved from the training split
train_set, val_set = split_dataset(load_dataset("event-digits", "train", dt=DT, pool=2), 0.15, seed=0)
train, val = loader(train_set, shuffle=True), loader(val_set)
x, y = next(iter(train))
show("data", f"{len(train_set)} training, {len(val_set)} validation recordings; a batch: x {tuple(x.shape)} "
     f"(T, B, polarity, height, width), labels {tuple(y.shape)}")

# 2. the network: layers are nn.Modules over time-major [T, B, ...] tensors; time constants are in seconds
model = nn.Sequential(
    TimeFolded(nn.Flatten()),                     # [T, B, 2, 17, 17] -> [T, B, 578]
    RecurrentSpikingLayer(578, 128, LIF(128, tau=20e-3, dt=DT)),  # W x_t + V s_{t-1}
    TimeFolded(nn.Linear(128, 10)),               # spikes -> 10 class currents
    LeakyIntegrator(10, tau=20e-3, dt=DT),        # a non-spiking readout membrane
    TimeReduce("mean"),                           # its mean over time: logits [B, 10]
)
with torch.no_grad():
    silent = float(model[1](model[0](x)).mean()) / DT
init = calibrate_firing(model, x)  # scale the input weights until the hidden layer fires at 10-40 Hz
show("model", f"hidden layer at PyTorch's default init: {silent:.1f} Hz; after calibrate_firing: "
     f"{init['after']['1']:.1f} Hz (input weights x{init['scales']['1']:.2f})")
show("model", f"{sum(p.numel() for p in model.parameters())} parameters, the hidden τ among them (learnable, "
     f"in seconds, bounded to [1 ms, 1 s])")


@torch.no_grad()
def evaluate(net, batches, forward=None):
    """(accuracy, mean loss) of ``net`` over ``batches``; ``forward(net, x)`` replaces ``net(x)`` when given."""
    net.eval()
    correct = total = loss = 0.0
    for x, y in batches:
        logits = forward(net, x) if forward else net(x)
        loss += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += float((logits.argmax(-1) == y).sum())
        total += len(y)
    return correct / total, loss / total


# 3. train: a plain PyTorch loop; the scan's surrogate gradient flows through every spike
optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
history, best = [], (-1.0, None, 0)
for epoch in range(1, EPOCHS + 1):
    model.train()
    seen = correct = total_loss = 0.0
    for x, y in train:
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        seen += len(y)
        total_loss += loss.item() * len(y)
        correct += float((logits.argmax(-1) == y).sum())
    val_accuracy, val_loss = evaluate(model, val)
    history.append({"epoch": epoch, "train_loss": total_loss / seen, "train_accuracy": correct / seen,
                    "val_loss": val_loss, "val_accuracy": val_accuracy})
    if val_accuracy > best[0]:
        best = (val_accuracy, copy.deepcopy(model.state_dict()), epoch)
    show("train", f"epoch {epoch}: train loss {total_loss / seen:.3f}, train accuracy {correct / seen:.3f}, "
         f"validation accuracy {val_accuracy:.3f}")
model.load_state_dict(best[1])
tau_ms = model[1].neuron.tau().detach() * 1e3
show("train", f"kept epoch {best[2]}; hidden τ learned: {float(tau_ms.min()):.1f}-{float(tau_ms.max()):.1f} ms "
     f"(median {float(tau_ms.median()):.1f} ms, all started at 20 ms)")
fig = learning_curve(history, selected_epoch=best[2])
fig.suptitle(f"event-digits, 578-128 recurrent LIF at 4 ms: epoch {best[2]} kept", fontsize=9)
save_figure(fig, FIGURES / "first_snn_learning_curve.png")

# 4. evaluate once on the test split, and look at the hidden spikes of one test recording
test_4ms = test_loader(DT)
accuracy, _ = evaluate(model, test_4ms)
show("test", f"test accuracy at 4 ms (epoch {best[2]}, best validation {best[0]:.3f}): {accuracy:.3f}")
x, y = next(iter(test_4ms))
with torch.no_grad():
    hidden = model[1](model[0](x))
save_figure(spike_raster(hidden[:, 0], dt=DT, title=f"hidden LIF spikes, test recording 0 (digit {int(y[0])})"),
            FIGURES / "first_snn_raster.png")

# 5. other time steps, no retraining. The neurons are ODEs: retime re-discretises each at the new step (zoh: exact
# for held inputs) and rescales the count inputs; run_on_clock runs the same model on a clock given as step lengths
# (a float, or [T] / [T, B] seconds, for drifting clocks); `none` keeps the per-step decays, as a framework that
# stores β instead of τ must.
steps_ms, curves = (2, 4, 8, 16), {"retime zoh": [], "run_on_clock": [], "none (per-step β kept)": []}
for ms in steps_ms:
    dt = ms * 1e-3
    data = test_4ms if ms == 4 else test_loader(dt)
    zoh = model if ms == 4 else retime(model, dt=dt, method="zoh")
    none = model if ms == 4 else retime(model, dt=dt, method="none")
    curves["retime zoh"].append(evaluate(zoh, data)[0])
    curves["run_on_clock"].append(evaluate(model, data, forward=lambda net, x: run_on_clock(net, x, dt))[0])
    curves["none (per-step β kept)"].append(evaluate(none, data)[0])
    show("deploy", f"at {ms:2d} ms ({len(next(iter(data))[0])} steps): "
         + ", ".join(f"{name} {values[-1]:.3f}" for name, values in curves.items()))
fig = metric_curve({k: (steps_ms, v) for k, v in curves.items()}, xlabel="deployment step (ms)", logx=True,
                   ylabel="test accuracy", title="trained at 4 ms, deployed at other steps without retraining")
fig.axes[0].set_xticks(steps_ms, [str(ms) for ms in steps_ms])
save_figure(fig, FIGURES / "first_snn_deploy.png")

# 6. export to NIR (τ in seconds, not per-step factors) and read it back at 1 ms: retime's model at 1 ms
path = write_nir(Path(tempfile.mkdtemp()) / "first_snn.nir", export_nir(model, input_shape=(2, 17, 17)))
at_1ms = import_nir(path, dt="1ms")
test_1ms = test_loader(1e-3)
same = evaluate(at_1ms, test_1ms)[0], evaluate(retime(model, dt=1e-3), test_1ms)[0]
show("nir", f"wrote {path.name} ({path.stat().st_size // 1024} KiB); imported at 1 ms: test accuracy {same[0]:.3f} "
     f"(retime to 1 ms: {same[1]:.3f})")
