"""``adaspike study coding``: encodings × adaptive neurons × time steps × seeds, with training cost."""
from __future__ import annotations

import argparse
from pathlib import Path

from .options import (add_output, add_process_options, deprecated_alias, device, int_list, int_list_zero,
                      str_list)


def float_list(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


def register(commands, studies) -> None:
    from ..encoding import ENCODERS

    from . import command_parser

    parser = command_parser(studies, "coding", study=True, description="Encoding × time-step-adaptive neurons × T "
                            "ablation: accuracy mean ± sd over seeds, epochs to a target accuracy, time per epoch, "
                            "peak memory.")
    parser.add_argument("--dataset", default="fashion-mnist", help="static image dataset")
    parser.add_argument("--root", default=None, help="dataset folder (default: the dataset's usual place)")
    parser.add_argument("--model", type=str_list, default=["resnet", "spikformer"],
                        help="comma list of resnet, sew-resnet, spikformer, lenet")
    parser.add_argument("--encodings", type=str_list, default=["direct", "rate", "temporal", "hybrid"],
                        help="comma list of: " + "; ".join(f"{k} ({v[1]})" for k, v in ENCODERS.items()))
    parser.add_argument("--adaptive", type=str_list, default=["off", "on"],
                        help="comma list of off (tied λ, a; s ≡ 1), neurons (per-step λ, a), on (+ step weights s_t)")
    parser.add_argument("--time-steps", dest="steps", type=int_list, default=[2, 4, 7],
                        help="comma list of SNN time steps T")
    deprecated_alias(parser, "--T", "--time-steps")
    parser.add_argument("--seeds", type=int_list_zero, default=[0, 1, 2], help="comma list of seeds (init, order, noise)")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs per run")
    parser.add_argument("--limit", type=int, default=2000,
                        help="at most N class-balanced training images, and N validation images unless "
                        "--val-limit (0 = all)")
    parser.add_argument("--val-limit", type=int, default=None,
                        help="at most N class-balanced validation images (default: --limit; 0 = all)")
    parser.add_argument("--test-limit", type=int, default=0, help="first N test images (0 = the whole test set)")
    parser.add_argument("--val-fraction", type=float, default=0.1,
                        help="fraction of the training split held out for validation (model selection)")
    parser.add_argument("--batch-size", type=int, default=64, help="training batch size")
    parser.add_argument("--lr", type=float, default=5e-3, help="Adam learning rate (cosine schedule)")
    parser.add_argument("--width", type=int, default=8, help="LeNet/ResNet base width; Spikformer dim = 4·width")
    parser.add_argument("--convs", type=int, default=2, help="LeNet conv blocks (the authors' demo: 3)")
    parser.add_argument("--hidden", type=int, default=128, help="LeNet fc width (the authors' demo: 256)")
    parser.add_argument("--bn-mode", default="flat", choices=["shared", "per_step", "flat"],
                        help="BatchNorm over time (selection and test in eval mode)")
    parser.add_argument("--mixup", action="store_true",
                        help="mixup before encoding, λ ~ U(0, 1), off for the last 27.5%% of epochs (authors' recipe)")
    parser.add_argument("--train-bn-at-eval", action="store_true",
                        help="also report test accuracy with training-mode BatchNorm, batches of 256 (the "
                        "authors' code never calls eval(); for reproduction only)")
    parser.add_argument("--target", dest="targets", type=float_list, default=[0.75, 0.8],
                        help="comma list of validation accuracies; reports the epochs each setting needs to reach them")
    parser.add_argument("--device", default="cpu", help="torch device", type=device)
    add_process_options(parser, threads=1)
    add_output(parser, Path("runs/coding"), writes="the tables and plots; finished runs in OUT/runs/ are reused by a "
               "rerun")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..studies.coding import CodingStudyConfig, run_coding_study, write_results

    val_limit = args.limit if args.val_limit is None else args.val_limit
    cfg = CodingStudyConfig(dataset=args.dataset, models=args.model, encodings=args.encodings,
                            adaptive=args.adaptive, steps=args.steps, seeds=args.seeds, limit=args.limit or None,
                            val_limit=val_limit or None, test_limit=args.test_limit or None,
                            val_fraction=args.val_fraction, epochs=args.epochs, batch_size=args.batch_size,
                            lr=args.lr, width=args.width, convs=args.convs, hidden=args.hidden,
                            bn_mode=args.bn_mode, mixup=args.mixup, train_bn_at_eval=args.train_bn_at_eval,
                            targets=args.targets, device=args.device, threads=args.threads,
                            isolate=not args.no_isolate and args.device == "cpu", root=args.root)
    rows = run_coding_study(cfg, args.out)
    print(write_results(cfg, rows, args.out))
    print(f"wrote {args.out}/coding_study.json, .md and .png (runs in {args.out}/runs/)")
    return 0
