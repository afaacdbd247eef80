"""``adaspike study coding``: encodings × adaptive neurons × time steps, with training cost."""
from __future__ import annotations

import argparse
from pathlib import Path

from .options import int_list, str_list


def register(commands, studies) -> None:
    parser = studies.add_parser("coding", help="encoding × time-step-adaptive neurons × T ablation (accuracy, "
                                "training time per epoch, peak memory)")
    parser.add_argument("--dataset", default="fashion-mnist", help="static image dataset (default fashion-mnist)")
    parser.add_argument("--root", default=None, help="dataset folder (default: the dataset's usual place)")
    parser.add_argument("--model", type=str_list, default=["resnet", "spikformer"],
                        help="comma list of resnet, sew-resnet, spikformer, lenet")
    parser.add_argument("--encodings", type=str_list, default=["direct", "rate", "temporal", "hybrid"],
                        help="comma list of direct, rate, latency, temporal, temporal-ones, hybrid, temporal-em, "
                        "hybrid-em")
    parser.add_argument("--adaptive", type=str_list, default=["off", "on"],
                        help="comma list of off (tied λ, a; s ≡ 1), neurons (per-step λ, a), on (+ step weights s_t)")
    parser.add_argument("--T", dest="steps", type=int_list, default=[2, 4, 8], help="comma list of time steps")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train-limit", type=int, default=2000, help="first N training images (0 = all)")
    parser.add_argument("--test-limit", type=int, default=0, help="first N test images (0 = the whole test set)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--width", type=int, default=8, help="ResNet base width; Spikformer dim = 4·width")
    parser.add_argument("--bn-mode", default="flat", choices=["shared", "per_step", "flat"],
                        help="BatchNorm over time (evaluation always in eval mode)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per cell")
    parser.add_argument("--no-isolate", action="store_true", help="run cells in this process (memory figures "
                        "then only show new peaks)")
    parser.add_argument("--out", type=Path, default=Path("runs/coding"))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..studies.coding import CodingStudyConfig, run_coding_study, write_results

    cfg = CodingStudyConfig(dataset=args.dataset, models=args.model, encodings=args.encodings,
                            adaptive=args.adaptive, steps=args.steps, train_limit=args.train_limit or None,
                            test_limit=args.test_limit or None, epochs=args.epochs, batch_size=args.batch_size,
                            lr=args.lr, width=args.width, bn_mode=args.bn_mode, seed=args.seed, device=args.device, threads=args.threads,
                            isolate=not args.no_isolate and args.device == "cpu", root=args.root)
    rows = run_coding_study(cfg, args.out)
    print(write_results(cfg, rows, args.out))
    print(f"wrote {args.out}/coding_study.json, .md and .png")
    return 0
