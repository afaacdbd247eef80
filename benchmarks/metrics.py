"""Cost of collecting ``adaspike.metrics`` during evaluation: `python -m benchmarks.metrics [--repeats 5]`.

For each model, the same pre-loaded batches (data loading excluded, so the overhead is relative to the model's
own compute; the event models also through their DataLoader, as ``adaspike eval`` runs them) are evaluated with ``adaspike.train.evaluate`` plainly and inside ``MetricsCollector().watch``,
in alternating order, ``--repeats`` times each; we report the medians and the overhead (watched / plain − 1).
Models: the event-digits defaults checkpoint (``--checkpoint``, recurrent adLIF at 4 ms) on its test split,
the same model retimed to 2 ms (zoh), and a direct-coded Spiking ResNet (T = 4, width 16) on 512 random
28×28 images. Target (issue 18): overhead ≤ 10 %.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from adaspike.metrics import MetricsCollector
from adaspike.train import evaluate


def _batches(loader) -> list:
    return [(x, y) for x, y in loader]


def event_models(checkpoint: Path, batch_size: int) -> dict:
    from adaspike.retime import retime
    from adaspike.studies.experiment import make_loaders
    from adaspike.train import load_model, read_checkpoint

    _, _, meta = read_checkpoint(checkpoint)
    data = meta["data"]
    model = load_model(checkpoint)
    out = {}
    for label, dt in (("event-digits defaults (4 ms)", None), ("retimed to 2 ms (zoh)", 2e-3)):
        net = model if dt is None else retime(model, dt=dt, method="zoh")
        loaders = make_loaders(data["dataset"], dt=dt or data["dt"], batch_size=batch_size, val_fraction=None,
                               **data.get("options", {}))
        out[label] = (net, _batches(loaders.test))
        out[label + ", with its DataLoader"] = (net, loaders.test)
    return out


def resnet_model(batch_size: int) -> dict:
    from adaspike.models import build_model

    torch.manual_seed(0)
    net = build_model("spiking-resnet", T=4, encoding="direct", width=16)
    g = torch.Generator().manual_seed(0)
    batches = [(torch.rand(batch_size, 1, 28, 28, generator=g), torch.randint(0, 10, (batch_size,), generator=g))
               for _ in range(512 // batch_size)]
    return {"spiking ResNet direct T=4 (random images)": (net, batches)}


def time_overhead(net, batches, repeats: int) -> dict:
    net.eval()
    plain, watched = [], []
    with MetricsCollector().watch(net):  # warm-up (numba compilation, caches, the event cache)
        evaluate(net, batches)
    for _ in range(repeats):
        tic = time.perf_counter()
        evaluate(net, batches)
        plain.append(time.perf_counter() - tic)
        collector = MetricsCollector()
        tic = time.perf_counter()
        with collector.watch(net):
            evaluate(net, batches)
        watched.append(time.perf_counter() - tic)
    p, w = statistics.median(plain), statistics.median(watched)
    return {"plain_s": p, "with_metrics_s": w, "overhead_%": 100 * (w / p - 1),
            "samples": collector.samples, "plain_all_s": plain, "with_metrics_all_s": watched}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=Path("runs/retime-ed/adlif_4ms_seed0/model.safetensors"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/metrics_overhead_cpu.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    models = {**(event_models(args.checkpoint, args.batch_size) if args.checkpoint.is_file() else {}),
              **resnet_model(args.batch_size)}
    rows = {}
    for label, (net, batches) in models.items():
        rows[label] = time_overhead(net, batches, args.repeats)
        r = rows[label]
        print(f"{label}: plain {r['plain_s']:.3f} s, with metrics {r['with_metrics_s']:.3f} s "
              f"({r['overhead_%']:+.1f} %, {r['samples']} samples)", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": platform.platform(), "threads": 1, "repeats": args.repeats,
                                    "batch_size": args.batch_size, "results": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
