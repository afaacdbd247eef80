"""Why a converted event-frame ANN loses to its ANN: the order of the frames, not the conversion.

    python scripts/frames_gap.py runs/events-nmnist/runs/conv-ann_nall_seed0/ann.safetensors \
        --dataset nmnist --root ../shared/data/nmnist-dev/NMNIST --T 8

Converts the conv ANN of `adaspike study events` three ways at T steps and scores each on the test split:
the recording's own frames in time order (what the study reports), the same frames in a random order per
recording, and the whole-recording frame at every step (stationary input: a static image's conversion).
Every variant has the same mean input over the T steps, which is what the ANN sees.
"""
from __future__ import annotations

import argparse
import json

import torch
from torch.utils.data import DataLoader, TensorDataset

from adaspike.studies.convert import conversion_rows
from adaspike.studies.event_baselines import frames as _frames, load_frame_ann as _load_frame_ann
from adaspike.train import read_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ann")
    parser.add_argument("--dataset", default="nmnist")
    parser.add_argument("--root", default=None)
    parser.add_argument("--T", type=int, default=8)
    parser.add_argument("--methods", default="baseline,+iat")
    parser.add_argument("--neuron", default=None, help="conversion neuron (default: convert's for frames, signed)")
    parser.add_argument("--maxpool", default=None, help="per_step or running (default: convert's for frames)")
    parser.add_argument("--budget", default=None, choices=("accuracy", "paper"), help="AdaFire's spike budget")
    parser.add_argument("--views", default="time order,shuffled order,stationary (mean frame)",
                        help="comma-separated subset of the three inputs")
    args = parser.parse_args()
    options = {"frames": True, **{k: v for k, v in (("neuron", args.neuron), ("maxpool", args.maxpool),
                                                     ("budget", args.budget)) if v is not None}}
    torch.set_num_threads(2)
    ann = _load_frame_ann(args.ann)
    data = dict(read_checkpoint(args.ann)[2]["data"]["options"])
    x_train, y_train, _ = _frames(args.dataset, args.root, "train", args.T, data)
    x_test, y_test, _ = _frames(args.dataset, args.root, "test", args.T, data)
    generator = torch.Generator().manual_seed(0)

    def shuffled(x):
        order = torch.argsort(torch.rand(x.shape[:2], generator=generator), dim=1)
        return x[torch.arange(x.shape[0])[:, None], order]

    def stationary(x):
        return x.mean(dim=1, keepdim=True).expand_as(x).contiguous()

    results = {}
    views = (("time order", lambda x: x), ("shuffled order", shuffled), ("stationary (mean frame)", stationary))
    for name, view in [v for v in views if v[0] in args.views.split(",")]:
        rows, ann_ref = conversion_rows(ann, (args.T * view(x_train), y_train),
                                        DataLoader(TensorDataset(args.T * view(x_test), y_test), batch_size=128),
                                        [args.T], options=options, methods=args.methods.split(","))
        results[name] = {r["method"]: r["accuracy"] for r in rows}
        results["ANN"] = round(100 * ann_ref["accuracy"], 2)
        print(name, results[name], flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
