"""Which torchvision classification architectures convert, and how closely the SNN follows the ANN at large T.

    OMP_NUM_THREADS=1 python -m benchmarks.convert_zoo                       # every listed model
    python -m benchmarks.convert_zoo --models resnet18 squeezenet1_1 --T 64   # a subset, quicker
    python -m benchmarks.convert_zoo --markdown benchmarks/results/convert_zoo.md

Protocol (each choice is in the JSON's ``protocol``):

* **Models**: torchvision builders with random weights (``weights=None, num_classes=10``; ViT with
  ``image_size`` set to the input size), one at a time, each at ``--size`` (default 32 × 32, the smallest input
  every listed model accepts, VGG's five max-pools included).
* **Real images**: Fashion-MNIST from Debian's ``dataset-fashion-mnist`` (scikit-learn's 8 × 8 digits when it
  is missing), resized bilinearly to the input size, repeated to 3 channels and normalised with ImageNet's
  mean and standard deviation. ``--calib`` training images calibrate, ``--eval`` test images are scored.
* **Non-degenerate random nets**: a randomly initialised net's BatchNorm layers hold running mean 0 and
  variance 1, so activations drift in scale layer after layer and the logits are near-uniform. Before
  conversion each BatchNorm gets a random affine map (γ ~ U(0.5, 1.5), β ~ N(0, 0.1²)) and its running
  statistics are set from the calibration images (training-mode forwards with cumulative averaging,
  ``momentum=None``), then the model goes to eval mode. A random readout of random features has class
  margins that are themselves random projections, as small as any feature error, so by default
  (``--readout probe``) the last ``nn.Linear`` is refitted by ridge least squares to the calibration images'
  labels (no other weight changes; SqueezeNet, whose classifier is a conv, keeps its random one). The table
  reports how many distinct classes the ANN predicts on the scored images, so a degenerate net shows.
* **Conversion**: ``adaspike.convert.convert`` with signed burst neurons (``neuron="signed"``: up to Γ spikes
  of either sign per step, never more negative ones than sent, so no unevenness error) at one burst cap for
  all (``adafire=False, gamma=1024``), thresholds θ = 4 · layer peak / Γ (``threshold_headroom=4``: four times
  the calibration peak passes unclipped, in steps of θ/T) from all ``--calib`` images (default 512) in one
  batch, max-pools of running sums (``maxpool="running"``, exact in rate), no bias correction, ``--T`` steps
  (default 256). The time to convert is the wall time of that call.
  Why not the paper's neuron: ``--neuron adafire --gamma 4 --headroom 0`` (AdaFire, MSE thresholds) loses to
  two errors that do not shrink with T. Test activations exceed the calibration peak (up to 2.2× in
  MobileNetV2's ReLU6 halves, 10⁹× in channels that calibration never saw active), so they are clipped; and
  spikes sent early for inputs that later turn negative cannot be taken back. RegNet: 25 % → 99 %.
* **Agreement**: argmax agreement between the SNN's mean logits over T steps and the ANN's (the original
  torchvision model in eval mode), and the logit relative error ‖SNN − ANN‖ / ‖ANN‖ (Frobenius norm over the
  scored images); the same run also gives both at T/8, T/4 and T/2 steps (``by_T``).
* A model that does not convert is reported with the library's ``UnsupportedOperationError`` message (the op,
  the model's source line, the fix); any other exception counts as a traceback (the target is none).

The library never needs torchvision; without it this script says so and exits. A torchvision wheel whose C++
extension does not load beside the installed torch (PyPI's CUDA builds beside a CPU-only torch: "operator
torchvision::nms does not exist" while ``import torchvision``) still has working pure-Python model builders:
``load_torchvision_models`` then imports ``torchvision.models`` without the package's operator registrations
(detection ops are never used here).
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import platform
import sys
import time
import traceback
import types
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# name → extra builder kwargs (every one also gets weights=None, num_classes=10)
MODELS: dict[str, dict] = {
    "resnet18": {}, "resnet34": {}, "resnet50": {}, "vgg11_bn": {}, "vgg16_bn": {}, "mobilenet_v2": {},
    "mobilenet_v3_small": {}, "mobilenet_v3_large": {}, "efficientnet_b0": {}, "regnet_x_400mf": {},
    "densenet121": {}, "squeezenet1_1": {}, "shufflenet_v2_x1_0": {}, "convnext_tiny": {}, "vit_b_16": {"image_size": None},
}
SMALL_MODELS = ("resnet18", "squeezenet1_1", "shufflenet_v2_x1_0")     # the slow test's subset
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
OUT = Path("benchmarks/results/convert_zoo.json")


def load_torchvision_models():
    """``torchvision.models``, or None when torchvision is not installed (see the module docstring)."""
    beside = Path(sys.prefix) / "torchvision"      # where the Makefile puts it: beside the venv, not in it
    if (beside / "torchvision").is_dir() and str(beside) not in sys.path:
        sys.path.append(str(beside))
    if importlib.util.find_spec("torchvision") is None:
        return None
    try:
        import torchvision.models as models
        return models
    except RuntimeError as err:         # the C++ extension did not load: its fake-op registrations fail
        if "torchvision::" not in str(err):
            raise
    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        del sys.modules[name]
    spec = importlib.util.find_spec("torchvision")
    package = types.ModuleType("torchvision")   # the package without its __init__ (operator registrations)
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    package.__file__ = spec.origin
    sys.modules["torchvision"] = package
    return importlib.import_module("torchvision.models")


def real_images(size: int, calib: int, evaluate: int, seed: int = 0):
    """(calibration images, their labels, scored images, source name): images [N, 3, size, size] float32,
    ImageNet-normalised."""
    try:
        from adaspike.data import load_fashion_mnist

        train, train_y = load_fashion_mnist(split="train")
        test, _ = load_fashion_mnist(split="test")
        source = "Fashion-MNIST (Debian dataset-fashion-mnist)"
    except (FileNotFoundError, OSError):
        from adaspike.data import load_digits_images

        images, labels = load_digits_images()
        half = len(images) // 2
        train, train_y, test = images[:half], labels[:half], images[half:]
        source = "scikit-learn digits"
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(train), size=min(calib, len(train)), replace=False)
    scored = test[rng.choice(len(test), size=min(evaluate, len(test)), replace=False)]

    def prepare(a):
        x = torch.from_numpy(np.ascontiguousarray(a)).float().div_(255.0)
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        return (x - mean) / std

    return prepare(train[chosen]), torch.from_numpy(train_y[chosen]).long(), prepare(scored), source


@torch.no_grad()
def fit_readout(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch: int, ridge: float = 1e-2) -> bool:
    """Least-squares readout: the model's last nn.Linear refitted (ridge) to one-hot labels of ``images``.

    A random readout of random features gives logits whose class margins are themselves random projections,
    as small as any feature error; a fitted readout gives the class structure a trained classifier has. Only
    the last Linear changes. Returns False (nothing changed) when the model has no Linear.
    """
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        return False
    head, feats = linears[-1], []
    handle = head.register_forward_pre_hook(lambda m, inp: feats.append(inp[0].reshape(-1, m.in_features)))
    try:
        for x in images.split(batch):
            model(x)
    finally:
        handle.remove()
    f = torch.cat(feats).double()
    f1 = torch.cat([f, torch.ones(len(f), 1, dtype=f.dtype)], 1)
    target = F.one_hot(labels, head.out_features).double()
    gram = f1.T @ f1
    lam = ridge * gram.diagonal().mean()
    solution = torch.linalg.solve(gram + lam * torch.eye(len(gram), dtype=f.dtype), f1.T @ target)
    head.weight.copy_(solution[:-1].T.to(head.weight.dtype))
    if head.bias is not None:
        head.bias.copy_(solution[-1].to(head.bias.dtype))
    return True


_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


@torch.no_grad()
def set_batchnorm_statistics(model: nn.Module, images: torch.Tensor, batch: int, seed: int = 0) -> int:
    """Random BN affine maps, running statistics from ``images`` (cumulative average); returns the BN count."""
    gen = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, _BATCHNORMS)]
    for bn in bns:
        if bn.affine:
            bn.weight.copy_(torch.rand(bn.weight.shape, generator=gen) + 0.5)
            bn.bias.copy_(0.1 * torch.randn(bn.bias.shape, generator=gen))
        bn.reset_running_stats()
        bn.momentum = None
    if bns:
        model.train()
        for x in images.split(batch):
            model(x)
    for bn in bns:
        bn.momentum = 0.1
    model.eval()
    return len(bns)


def _run_snn(snn, x: torch.Tensor, T: int, batch: int) -> torch.Tensor:
    """Cumulative mean logits after each step: [T, N, C]."""
    parts = []
    for chunk in x.split(batch):
        steps = snn.run(chunk, T, keep_steps=True).step_logits
        parts.append(steps.cumsum(0) / torch.arange(1, T + 1, dtype=steps.dtype).view(-1, 1, 1))
    return torch.cat(parts, dim=1)


def convert_one(models, name: str, size: int, calib: torch.Tensor, scored: torch.Tensor, T: int, batch: int,
                adafire: bool = False, seed: int = 0, labels: torch.Tensor | None = None, gamma: int = 1,
                neuron: str = "adafire", headroom: float | None = None, maxpool: str = "per_step") -> dict:
    """Build, convert and score one architecture; a dict for the JSON (never raises)."""
    from adaspike.convert import UnsupportedOperationError, convert

    row: dict = {"model": name}
    kwargs = dict(MODELS.get(name, {}))
    if "image_size" in kwargs:
        kwargs["image_size"] = size
    torch.manual_seed(seed)
    try:
        model = getattr(models, name)(weights=None, num_classes=10, **kwargs)
    except Exception as err:  # noqa: BLE001 - a builder that fails at this size is reported, not raised
        row.update(status="build failed", error=f"{type(err).__name__}: {err}")
        return row
    row["parameters_M"] = round(sum(p.numel() for p in model.parameters()) / 1e6, 2)
    row["batchnorms"] = set_batchnorm_statistics(model, calib, batch, seed)
    row["readout"] = "least squares" if labels is not None and fit_readout(model, calib, labels, batch) else "random"
    with torch.no_grad():
        ann = torch.cat([model(x) for x in scored.split(batch)])
    row["ann_distinct_classes"] = int(ann.argmax(1).unique().numel())
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # one batch of all calibration images: thresholds from their joint maximum (an EMA over small
            # batches under-estimates the peaks of deep 1 × 1 maps, whose channels see one value per image)
            snn, report = convert(model, calib, T=T, adafire=adafire, bias_correct=False, gamma=gamma,
                                  batch_size=len(calib), threshold_batches=1, neuron=neuron,
                                  threshold_headroom=headroom, maxpool=maxpool)
    except UnsupportedOperationError as err:
        row.update(status="refused", error=str(err), convert_s=round(time.perf_counter() - start, 2))
        return row
    except Exception as err:  # noqa: BLE001 - counted: the target is zero tracebacks
        row.update(status="traceback", error=f"{type(err).__name__}: {err}", traceback=traceback.format_exc())
        return row
    row["convert_s"] = round(time.perf_counter() - start, 2)
    row["neurons"] = len(snn.neurons)
    row["warnings"] = sorted({str(w.message).split(";")[0][:300] for w in caught})
    start = time.perf_counter()
    try:
        with torch.no_grad():
            folded = torch.cat([snn.ann_forward(x)[0] for x in scored.split(batch)])
            cumulative = _run_snn(snn, scored, T, batch)
    except Exception as err:  # noqa: BLE001
        row.update(status="traceback", error=f"{type(err).__name__}: {err}", traceback=traceback.format_exc())
        return row
    row["snn_s"] = round(time.perf_counter() - start, 2)
    row["fold_max_abs_error"] = float((folded - ann).abs().max())
    label = ann.argmax(1)
    by_t = {}
    for t in sorted({max(1, T // 8), max(1, T // 4), max(1, T // 2), T}):
        logits = cumulative[t - 1]
        by_t[str(t)] = {"agreement": float((logits.argmax(1) == label).double().mean()),
                        "logit_rel_error": float((logits - ann).norm() / ann.norm().clamp_min(1e-12))}
    row.update(status="converts", T=T, gammas=sorted(set(report.gammas)), by_T=by_t,
               agreement=by_t[str(T)]["agreement"], logit_rel_error=by_t[str(T)]["logit_rel_error"])
    return row


def markdown_table(rows: list[dict]) -> str:
    lines = ["| model | converts | argmax agreement | logit rel. error | ANN classes | neurons | convert (s) | note |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["status"] == "converts":
            note = "; ".join(w for w in r.get("warnings", []) if "max-pool" in w)
            note = "max-pool approximation" if note else ""
            lines.append(f"| {r['model']} | yes | {100 * r['agreement']:.1f} % | {r['logit_rel_error']:.3f} | "
                         f"{r['ann_distinct_classes']} | {r['neurons']} | {r['convert_s']:.1f} | {note} |")
        else:
            error = r.get("error", "").split(". How to fix")[0].replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {r['model']} | {r['status']} | – | – | {r.get('ann_distinct_classes', '–')} | – | "
                         f"{r.get('convert_s', '–')} | {error} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), help="subset of: " + " ".join(MODELS))
    p.add_argument("--size", type=int, default=32, help="input height = width (default 32)")
    p.add_argument("--T", type=int, default=256, help="time steps (default 256)")
    p.add_argument("--calib", type=int, default=512, help="calibration images (default 512)")
    p.add_argument("--eval", type=int, default=100, help="scored test images (default 100)")
    p.add_argument("--batch", type=int, default=50, help="images per forward (default 50)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--gamma", type=int, default=1024, help="burst cap Γ of every neuron (default 1024; 1: plain IF)")
    p.add_argument("--adafire", action="store_true", help="AdaFire Γ search instead of one Γ for all")
    p.add_argument("--neuron", default="signed", help="conversion neuron (default signed; adafire: the paper's)")
    p.add_argument("--maxpool", choices=("running", "per_step"), default="running",
                   help="running (default): pool running sums, exact in rate; per_step: the spec's approximation")
    p.add_argument("--headroom", type=float, default=4.0,
                   help="θ = headroom·peak/Γ (default 4); 0: the MSE threshold grid")
    p.add_argument("--readout", choices=("probe", "random"), default="probe",
                   help="probe (default): the last Linear refitted by least squares; random: as built")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", type=Path, default=OUT, help=f"JSON (default {OUT})")
    p.add_argument("--markdown", type=Path, default=None, help="also write the table here")
    args = p.parse_args(argv)
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        p.error(f"unknown models {unknown}; choose from {list(MODELS)}")
    models = load_torchvision_models()
    if models is None:
        print("torchvision is not installed (pip install torchvision --no-deps): nothing to convert")
        return 0
    torch.set_num_threads(args.threads)
    calib, labels, scored, source = real_images(args.size, args.calib, args.eval, args.seed)
    protocol = {"input": [3, args.size, args.size], "T": args.T, "neuron": f"{args.neuron}, " + ("Γ search" if args.adafire else f"Γ = {args.gamma} for all")
                + (f", θ = {args.headroom}·peak/Γ per channel" if args.headroom else ", MSE thresholds")
                + f", {args.maxpool} max-pooling, no bias correction",
                "readout": "last Linear refitted by ridge least squares" if args.readout == "probe" else "random", "calibration_images": len(calib),
                "scored_images": len(scored), "data": source, "threads": args.threads,
                "batchnorm": "random γ ~ U(0.5, 1.5), β ~ N(0, 0.1²); running statistics from the calibration "
                             "images", "torch": torch.__version__,
                "torchvision": _dist_version("torchvision"),
                "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}", "seed": args.seed}
    rows = []
    for name in args.models:
        row = convert_one(models, name, args.size, calib, scored, args.T, args.batch, args.adafire, args.seed,
                          labels if args.readout == "probe" else None, args.gamma, args.neuron, args.headroom or None,
                          args.maxpool)
        rows.append(row)
        shown = (f"agreement {100 * row['agreement']:.1f} %, rel. error {row['logit_rel_error']:.3f}, "
                 f"convert {row['convert_s']:.1f} s, SNN {row['snn_s']:.1f} s" if row["status"] == "converts"
                 else row.get("error", "")[:300])
        print(f"{name:20s} {row['status']:10s} {shown}", flush=True)
        args.output.parent.mkdir(parents=True, exist_ok=True)       # after every model: a long run keeps its rows
        args.output.write_text(json.dumps({"protocol": protocol, "models": rows}, indent=1) + "\n")
    table = markdown_table(rows)
    print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"protocol": protocol, "models": rows}, indent=1) + "\n")
    if args.markdown:
        args.markdown.write_text(table + "\n")
    converted = [r for r in rows if r["status"] == "converts"]
    tracebacks = [r["model"] for r in rows if r["status"] == "traceback"]
    print(f"{len(converted)}/{len(rows)} convert; {sum(r['agreement'] >= 0.99 for r in converted)} with agreement "
          f">= 99 %; tracebacks: {tracebacks or 'none'}")
    return 1 if tracebacks else 0


def _dist_version(name: str):
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    sys.exit(main())
