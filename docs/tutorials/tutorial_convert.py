"""Convert tutorial: a ReLU ANN becomes an SNN without training; accuracy grows with the number of steps T."""
import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from _common import FIGURES
from adaspike.convert import convert, evaluate_snn
from adaspike.report import save_figure
from adaspike.report.plots import accuracy_vs_steps

torch.manual_seed(0)
digits = load_digits()
x = torch.tensor(digits.images / 16.0, dtype=torch.float32)[:, None]
y = torch.tensor(digits.target)
train, test = slice(0, 1400), slice(1400, None)
ann = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
opt = torch.optim.Adam(ann.parameters(), lr=3e-3)
for _ in range(150):  # full-batch training: a few seconds
    opt.zero_grad()
    nn.functional.cross_entropy(ann(x[train]), y[train]).backward()
    opt.step()
ann.eval()
with torch.no_grad():
    ann_acc = float((ann(x[test]).argmax(1) == y[test]).float().mean())
print(f"ANN accuracy {ann_acc:.3f}")

loader = DataLoader(TensorDataset(x[test], y[test]), batch_size=256)
steps, accuracy = [1, 2, 4, 8], []
for T in steps:
    snn, report = convert(ann, (x[train], y[train]), T=T)
    accuracy.append(float(evaluate_snn(snn, loader)["accuracy"]))
    print(f"T={T}: SNN accuracy {accuracy[-1]:.3f}")
fig = accuracy_vs_steps(steps, accuracy, label="converted SNN")
fig.axes[0].axhline(ann_acc, ls="--", color="grey", label="ANN")
fig.axes[0].legend()
save_figure(fig, FIGURES / "convert_accuracy_vs_T.png")
assert accuracy[-1] > 0.5, "the converted SNN should classify digits"
