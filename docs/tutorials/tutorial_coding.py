"""Coding tutorial: hybrid coding with time-step-adaptive neurons, trained briefly on the 8×8 digits.

1. Look at the codes: direct, the faithful temporal (latency) code and the hybrid code (analog step 0, then
   latency spikes).
2. Train a small spiking LeNet for each code with standard neurons (λ, a tied over steps, s ≡ 1) and with
   time-step-adaptive ones (per-step λ_t, a_t and readout weights s_t), selecting the epoch on a validation
   split of the training data and testing once.
3. Read the learned per-step parameters.
"""
import torch

from _common import FIGURES
from adaspike.encoding import ENCODERS, make_encoder
from adaspike.layers.adaptive import PerStepLIF
from adaspike.models import build_model
from adaspike.report import markdown_table, save_figure
from adaspike.report.plots import spike_raster
from adaspike.studies.coding import CodingStudyConfig, batch_loader, evaluate_with_spikes, study_splits
from adaspike.train import Trainer

T = 4
cfg = CodingStudyConfig(dataset="digits", limit=None, val_limit=None, val_fraction=0.15)
(x_train, y_train), (x_val, y_val), (x_test, y_test), classes = study_splits(cfg)
print(f"digits: {len(y_train)} training, {len(y_val)} validation (from the training split), {len(y_test)} test images")

# 1. the codes of one image: [T, B, C, H, W]
image = x_train[:1]
for name in ("direct", "temporal", "hybrid"):
    frames = make_encoder(name, T)(image)
    print(f"{name:8s} {ENCODERS[name][1]}: frames {tuple(frames.shape)}, values per step "
          f"{[round(float(f.mean()), 3) for f in frames]}")
    save_figure(spike_raster(frames[:, 0], title=f"{name} code of one digit, T = {T} (64 pixels)"),
                FIGURES / f"coding_{name}.png")

# 2. train each code with standard and time-step-adaptive neurons
train = batch_loader(x_train, y_train, 32, shuffle=True, seed=0)
val, test = batch_loader(x_val, y_val, 256), batch_loader(x_test, y_test, 256)
rows, nets = [], {}
for encoding in ("direct", "temporal", "hybrid"):
    for adaptive in ("off", "on"):
        torch.manual_seed(0)
        net = build_model("lenet", T=T, encoding=encoding, adaptive=adaptive, num_classes=classes, width=8,
                          input_size=(8, 8))
        trainer = Trainer(net, lr=5e-3, epochs=8, optimizer="adam", scheduler="cosine", seed=0, progress=False)
        trainer.fit(train, val)   # keeps the weights of the best validation epoch
        result = evaluate_with_spikes(net, test, "cpu")  # the test set, once
        rows.append({"encoding": encoding, "adaptive": adaptive, "best epoch": trainer.selected["epoch"],
                     "val acc": round(trainer.selected["val_accuracy"], 3), "test acc": round(result["accuracy"], 3),
                     "spikes/sample": round(result["spikes_per_sample"])})
        nets[encoding, adaptive] = net
print(markdown_table(rows))

# 3. what the adaptive hybrid model learned: λ_t, a_t per layer and the readout's s_t
net = nets["hybrid", "on"]
torch.set_grad_enabled(False)
for index, layer in enumerate(m for m in net.modules() if isinstance(m, PerStepLIF)):
    lam, gain = layer.per_step()
    print(f"layer {index}: λ_t = {[round(float(v), 2) for v in lam]}, a_t = {[round(float(v), 2) for v in gain]}")
print("readout s_t =", [round(float(v), 2) for v in net.readout.step_weight])
