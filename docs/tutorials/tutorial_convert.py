"""Convert tutorial: a user's own ReLU CNN becomes an SNN without training, with AdaFire + SSC + IAT and energy.

Data: scikit-learn's 8×8 digits (1 400 train / 397 test), CPU, seed 0. Runs in well under a minute.
"""
import warnings

import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from _common import FIGURES
from adaspike.convert import convert, evaluate_ann, evaluate_snn, export_converted
from adaspike.report import save_figure
from adaspike.report.plots import accuracy_vs_steps

torch.manual_seed(0)
digits = load_digits()
x = torch.tensor(digits.images / 16.0, dtype=torch.float32)[:, None]
y = torch.tensor(digits.target)
train, test = slice(0, 1400), slice(1400, None)


class MyCNN(nn.Module):
    """An ordinary user model: its forward checks the input shape, which torch.fx cannot trace.
    Conversion then falls back to swapping its nn.ReLU modules for spiking neurons."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                                      nn.AvgPool2d(2), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU())
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(32 * 4 * 4, 10))

    def forward(self, images):
        if images.shape[-2:] != (8, 8):
            raise ValueError("MyCNN expects 8x8 digits")
        return self.classifier(self.features(images))


ann = MyCNN()
opt = torch.optim.Adam(ann.parameters(), lr=3e-3)
loader = DataLoader(TensorDataset(x[train], y[train]), batch_size=64, shuffle=True)
for _ in range(15):
    for xb, yb in loader:
        opt.zero_grad()
        nn.functional.cross_entropy(ann(xb), yb).backward()
        opt.step()
ann.eval()
test_loader = DataLoader(TensorDataset(x[test], y[test]), batch_size=400)

steps, accuracy = [1, 2, 4, 8], []
for T in steps:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # nothing to warn about here; shown for completeness
        # defaults of the paper's code: Γ ∈ 1..8, budget at Γ = 4 (η = 1); IAT α chosen on held-back data
        snn, report = convert(ann, (x[train], y[train]), T=T, adafire=True, ssc=True, iat=True)
    if T == steps[0]:
        ann_result = evaluate_ann(snn, test_loader)
        print(f"ANN accuracy {ann_result['accuracy']:.3f}, {ann_result['energy_pj'] / 1e6:.3f} uJ per sample")
    fixed = evaluate_snn(snn, test_loader, T)
    early = evaluate_snn(snn, test_loader, T, exit_policy=report.exit_policy)
    accuracy.append(early["accuracy"])
    sel = report.iat_selection
    print(f"T={T}: gammas {report.gammas}, SSC ratios {report.ssc_ratios}")
    print(f"      fixed-T {fixed['accuracy']:.3f} ({fixed['energy_pj'] / 1e6:.3f} uJ) | IAT alpha={sel['alpha']} "
          f"beta={sel['beta']}: {early['accuracy']:.3f} in {early['mean_steps']:.2f} steps "
          f"({early['energy_pj'] / 1e6:.3f} uJ, saving {100 * early['energy_saving']:.1f} % vs ANN)")

# the fx fallback kept the user's forward, so NIR export (which needs a traced graph) is shown on a traced copy
traced = nn.Sequential(*ann.features, *ann.classifier).eval()
snn, report = convert(traced, (x[train], y[train]), T=4)
path = export_converted(snn, x[:2], FIGURES / "convert_digits.nir")
print(f"NIR graph with {len(snn.neurons)} IF nodes (burst caps {report.gammas}) -> {path.name}")

fig = accuracy_vs_steps(steps, [100 * a for a in accuracy], label="AdaFire + SSC + IAT")
fig.axes[0].set_ylabel("accuracy (%)")
fig.axes[0].axhline(100 * ann_result["accuracy"], ls="--", color="grey", label="ANN")
fig.axes[0].legend()
save_figure(fig, FIGURES / "convert_accuracy_vs_T.png")
assert accuracy[-1] > 0.8, "the converted SNN should classify digits"
