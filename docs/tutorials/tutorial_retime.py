"""Retime tutorial: train on speech events at 4 ms, retime zero-shot, deploy at 1, 2, 8 and 16 ms.

Data: adaspike's spoken digits (espeak-ng voices -> cochlea-like front end -> events), speakers of the test split
unseen in training; without espeak-ng, the embedded event-digits. Protocol: validation split carved from the
training split, best validation epoch kept, test split evaluated once per deployment step; seed 0, one CPU thread.
"""
import shutil
import tempfile
from pathlib import Path

import torch

from _common import FIGURES, show
from adaspike.report import save_figure
from adaspike.report.plots import accuracy_vs_ratio
from adaspike.retime import retime
from adaspike.studies.experiment import make_loaders, with_dataset_defaults
from adaspike.studies.train_run import train_run
from adaspike.train import evaluate, load_model

DATASET = "spoken-digits" if shutil.which("espeak-ng") else "event-digits"
SOURCE_DT, TARGET_DTS, LIMIT = 4e-3, (1e-3, 2e-3, 4e-3, 8e-3, 16e-3), 1200

# 1. train at 4 ms, exactly as `adaspike train` does (small: at most 1200 samples per split, one 64-neuron adLIF layer)
run = Path(tempfile.mkdtemp(prefix="adaspike-retime-"))  # model.safetensors, metrics.json, learning_curve.png
result = train_run(dataset=DATASET, dt=SOURCE_DT, hidden=(64,), epochs=12, seed=0, out=run, progress=False,
                   limit=LIMIT)
show("train", f"{DATASET}: {result['train_samples']} training, {result['val_samples']} validation, "
     f"{result['test_samples']} test samples")
show("train", f"trained at {SOURCE_DT * 1e3:g} ms: selected epoch {result['selected']['epoch']} of "
     f"{result['epochs_run']}, test accuracy {result['test_accuracy']:.3f}")
model = load_model(run / "model.safetensors")

# 2. retime zero-shot to each deployment step, and read the test data binned at that step
options = with_dataset_defaults(DATASET, {"limit": LIMIT})
ratios = [dt / SOURCE_DT for dt in TARGET_DTS]
accuracy = {"zoh": [], "euler": [], "none": []}
for dt, rho in zip(TARGET_DTS, ratios):
    test = make_loaders(DATASET, dt=dt, batch_size=64, val_fraction=None, **options).test
    for method in accuracy:
        deployed = model if rho == 1 else retime(model, ratio=rho, method=method, unstable="ignore")
        accuracy[method].append(evaluate(deployed, test)["accuracy"])
    show("deploy", f"deployed at {dt * 1e3:4g} ms (ρ = {rho:5.3g}): "
         + ", ".join(f"{m} {accuracy[m][-1]:.3f}" for m in accuracy))

fig = accuracy_vs_ratio(ratios, accuracy)
fig.axes[0].set_title(f"{DATASET}: trained at 4 ms, retimed zero-shot")
save_figure(fig, FIGURES / "retime_accuracy.png")
show("deploy", "zoh keeps", f"{min(accuracy['zoh']):.3f}-{max(accuracy['zoh']):.3f};",
     "none (per-step parameters kept) falls to", f"{min(accuracy['none']):.3f}")
