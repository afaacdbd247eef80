"""Time one training epoch of `adaspike train`'s default model on a dataset (issue 27: the conv SNN on nmnist-dev).

    python -m benchmarks.train_epoch --root ../shared/data/nmnist-dev/NMNIST            # nmnist, 2 threads
    python -m benchmarks.train_epoch --dataset event-digits --epochs 3 -o benchmarks/results/train_epoch_ed.json

The model, data, augmentation and optimiser are exactly those of ``adaspike train --dataset D`` (``train_settings``;
the validation split carved out, so an epoch is the 85 % training part), built by the same code. ``--epochs``
epochs are timed one by one after one untimed warm-up epoch (numba and torch first-call costs); the median is the
figure. The load average before and after is recorded: a figure taken while other jobs ran is not a clean one.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch


def measure(dataset: str, root: str | None, epochs: int, threads: int, model: str | None = None) -> dict:
    from adaspike.studies.experiment import event_model, make_loaders
    from adaspike.studies.train_run import default_augmentation, model_kwargs, train_settings
    from adaspike.train import Trainer
    from adaspike.train.firing_init import calibrate_firing

    torch.set_num_threads(threads)
    settings = train_settings(dataset, model)
    loaders = make_loaders(dataset, dt=settings["dt"], batch_size=settings["batch_size"], root=root,
                           **settings["options"])
    torch.manual_seed(0)
    net = event_model(loaders.train_set, model=settings["model"], dt=float(loaders.train_set.dt),
                      **model_kwargs(settings))
    calibrate_firing(net, next(iter(loaders.train))[0])
    augmentation = default_augmentation(loaders.train_set, **settings["augmentation"]) if settings["augment"] else None
    trainer = Trainer(net, lr=settings["lr"], epochs=epochs + 1, optimizer="adamw", scheduler="cosine",
                      weight_decay=settings["weight_decay"], batch_transform=augmentation, progress=False)
    load_before = os.getloadavg()
    times = [record["epoch_time_s"] for record in trainer.fit(loaders.train)]  # no validation pass: training only
    return {"dataset": dataset, "model": settings["model"], "model_config": getattr(net, "config", None),
            "train_samples": len(loaders.train_set), "batches": len(loaders.train), "dt_s": float(loaders.train_set.dt),
            "steps": int(next(iter(loaders.train))[0].shape[0]), "warmup_epoch_s": times[0],
            "epoch_s": times[1:], "median_epoch_s": statistics.median(times[1:]), "threads": threads,
            "load_average_before": load_before, "load_average_after": os.getloadavg(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="nmnist")
    parser.add_argument("--root", default="../shared/data/nmnist-dev/NMNIST")
    parser.add_argument("--model", default=None, help="default: the dataset's (`adaspike train`'s)")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs (after one warm-up epoch)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("-o", "--out", type=Path, default=Path("benchmarks/results/train_epoch_nmnist.json"))
    args = parser.parse_args(argv)
    root = None if args.dataset != "nmnist" else args.root
    result = measure(args.dataset, root, args.epochs, args.threads, args.model)
    busy = max(result["load_average_before"][0], result["load_average_after"][0]) > args.threads + 0.5
    result["quiet"] = not busy
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{result['model']} on {result['dataset']}: median epoch {result['median_epoch_s']:.1f} s "
          f"({result['train_samples']} recordings, {result['batches']} batches, T = {result['steps']}, "
          f"{args.threads} threads) -> {args.out}")
    if busy:
        print(f"note: load average {result['load_average_before'][0]:.1f} / {result['load_average_after'][0]:.1f} "
              f"on {os.cpu_count()} CPUs: other jobs ran, so this is not a quiet-machine figure")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
