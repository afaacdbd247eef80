"""CLI: ``adaspike train-ann``, ``adaspike convert`` and ``adaspike study convert``."""
from __future__ import annotations

import importlib
from pathlib import Path

from .options import (add_output, checkpoint_path, deprecated_alias, device, int_list, nonnegative_float, output_file,
                      positive_float, positive_int)


def _train(args) -> int:
    from ..studies.convert import train_ann

    out = output_file(args.out or Path("runs") / f"ann_{args.arch}_{Path(args.dataset).name}", "model.safetensors")
    _, accuracy, history = train_ann(args.arch, args.dataset, epochs=args.epochs, batch_size=args.batch_size,
                                     lr=args.lr, seed=args.seed, out=out, root=args.root, limit=args.limit,
                                     device=args.device)
    print(f"trained {args.arch} on {args.dataset}: test accuracy {100 * accuracy:.2f} % "
          f"({len(history)} epochs) -> {out}")
    return 0


def _methods(args) -> tuple[str, ...]:
    chosen = ["baseline"]
    # each stage builds on the previous ones (SSC on AdaFire, IAT on SSC), as the pipeline runs them
    if args.adafire or args.ssc or args.iat:
        chosen.append("+adafire")
    if args.ssc or args.iat:
        chosen.append("+ssc")
    if args.iat:
        chosen.append("+iat")
    if args.compare_budget:
        from ..studies.convert import UNCONSTRAINED
        chosen.append(UNCONSTRAINED)
    return tuple(chosen)


def _budget(args) -> tuple[int | None, float]:
    """(gamma_target, spike_budget): ``--budget paper`` is the paper's Γ = 4, η = 1 (overriding both options);
    otherwise ``--gamma-target`` (default: max Γ; 0 means the same) and ``--spike-budget``."""
    from ..convert.pipeline import DEFAULT_SPIKE_BUDGET, PAPER_GAMMA_TARGET

    if getattr(args, "budget", None) == "paper":
        return PAPER_GAMMA_TARGET, DEFAULT_SPIKE_BUDGET
    return args.gamma_target or None, args.spike_budget


def _options(args) -> dict:
    gamma_target, spike_budget = _budget(args)
    return {"gammas": tuple(args.gammas), "gamma_target": gamma_target,
            "spike_budget": spike_budget, "ssc_kl_budget": args.kl_budget, "iat_alpha": args.alpha,
            "iat_beta": args.beta, "iat_tolerance": args.iat_tolerance, "iat_folds": args.iat_folds,
            "threshold_quantiser": args.quantiser, "neuron": getattr(args, "neuron", None),
            "maxpool": getattr(args, "maxpool", None), "threshold_headroom": getattr(args, "headroom", None),
            # per-stage bars: on a terminal unless --no-progress (convert's None = only on a terminal)
            "progress": None if getattr(args, "progress", True) else False}


def load_user_model(spec: str, weights: Path | None):
    """``module:factory`` → ``factory()`` with weights from ``.safetensors`` or ``.pt`` (weights_only=True)."""
    import torch

    module_name, sep, factory_name = spec.partition(":")
    if not sep or not module_name or not factory_name:
        raise ValueError(f"--model must look like 'package.module:factory', got {spec!r}")
    factory = getattr(importlib.import_module(module_name), factory_name, None)
    if factory is None:
        raise ValueError(f"{module_name} has no attribute {factory_name!r}")
    model = factory()
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{spec}() returned {type(model).__name__}, not a torch.nn.Module")
    if weights is not None:
        if weights.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(weights))
        else:
            state = torch.load(weights, map_location="cpu", weights_only=True)  # never unpickles objects
            if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
                state = state["state_dict"]
        model.load_state_dict(state)
    return model.eval()


def _convert(args) -> int:
    from ..studies.convert import run_study

    if (args.ann is None) == (args.model is None):
        raise ValueError("give either --ann CKPT (written by train-ann) or --model module:factory [--weights FILE]")
    if args.ann is not None:
        from ..train import load_model, read_checkpoint

        _, _, meta = read_checkpoint(args.ann)
        name = meta.get("arch") or "ann"
        ann = load_model(args.ann).eval()
    else:
        name = args.model.partition(":")[2]
        ann = load_user_model(args.model, args.weights)
    result = run_study(name, ann, args.dataset, args.out, args.T, calib_size=args.calib_size, limit=args.limit,
                       test_limit=args.test_limit, batch_size=args.batch_size, device=args.device, root=args.root,
                       options=_options(args), methods=_methods(args))
    print(result["table"])
    print(f"\nwrote {args.out}/convert_*.json, .md and .png")
    return 0


def _study(args) -> int:
    from ..studies.convert import run_study, train_ann

    args.out.mkdir(parents=True, exist_ok=True)
    ann, _, _ = train_ann(args.arch, args.dataset, epochs=args.epochs, batch_size=128, lr=args.lr, seed=args.seed,
                          out=args.out / f"ann_{args.arch}.safetensors", root=args.root, limit=args.limit,
                          device=args.device)
    result = run_study(args.arch, ann.eval(), args.dataset, args.out, args.T, calib_size=args.calib_size,
                       limit=args.limit, test_limit=args.test_limit, batch_size=args.batch_size, device=args.device,
                       root=args.root, options=_options(args), methods=_methods(args))
    print(result["table"])
    return 0


def _events(args) -> int:
    from ..studies.convert import event_frames_study

    result = event_frames_study(args.out, T=args.T, dataset=args.dataset, epochs=args.epochs, seed=args.seed,
                                mean_frame_control=args.mean_frame_control)
    print(result["table"])
    if "control_table" in result:
        print("\nControl: the same ANN converted for the mean frame at every step\n")
        print(result["control_table"])
    return 0


def _common(p) -> None:
    p.add_argument("--dataset", default="fashion-mnist",
                   help="a load_dataset name, or a folder with train/test .safetensors (or .pt) holding x and y")
    deprecated_alias(p, "--data", "--dataset")
    p.add_argument("--root", help="dataset directory (default: the loader's)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cuda", type=device)
    p.add_argument("--seed", type=int, default=0, help="seed of the calibration subset and of training")
    p.add_argument("--limit", type=positive_int, default=None, help="read at most N samples of every split")


def _conversion_options(p) -> None:
    p.add_argument("--time-steps", dest="T", type=int_list, default=[1, 2, 4, 8, 16, 32],
                   help="SNN time steps T to convert for, comma separated")
    deprecated_alias(p, "--T", "--time-steps")
    p.add_argument("--adafire", action="store_true", help="add the AdaFire rows (per-layer burst caps)")
    p.add_argument("--ssc", action="store_true", help="add the SSC rows (on top of AdaFire)")
    p.add_argument("--iat", action="store_true", help="add the IAT early-exit rows (on top of SSC)")
    p.add_argument("--compare-budget", action="store_true",
                   help="also convert with the budget at max Γ (unconstrained) to compare energy; since that is "
                        "the default budget, use it with --budget paper to put the paper's rows beside it")
    p.add_argument("--gammas", type=int_list, default=list(range(1, 9)), help="Γ candidates (default 1..8)")
    p.add_argument("--budget", choices=("accuracy", "paper"), default="accuracy",
                   help="AdaFire spike budget: 'accuracy' (default) is the all-max-Γ spike count (--gamma-target, "
                        "--spike-budget apply); 'paper' reproduces the paper's code, the all-Γ = 4 count with "
                        "η = 1, which cost up to 1.6 points at T = 2 on the models of docs/results.md")
    p.add_argument("--gamma-target", type=int, default=None,
                   help="Γ whose all-layer spike count sets the AdaFire budget (default: max Γ, effectively "
                        "unconstrained; 0 means the same; the paper's code uses 4, see --budget paper)")
    p.add_argument("--spike-budget", type=positive_float, default=1.0, help="η: spike budget ratio for AdaFire (default 1.0)")
    p.add_argument("--kl-budget", type=positive_float, default=1.0, help="τ_KL: SSC KL budget ratio (default 1.0)")
    p.add_argument("--alpha", type=float, default=None,
                   help="fix IAT α (default: chosen on held-back calibration data within --iat-tolerance)")
    p.add_argument("--beta", type=float, default=None, help="fix IAT β (default 1 − α)")
    p.add_argument("--iat-tolerance", type=nonnegative_float, default=0.3,
                   help="max accuracy loss (points) of IAT against the fixed-T SNN on held-back calibration data")
    p.add_argument("--iat-folds", type=positive_int, default=4,
                   help="cross-fitting folds for choosing IAT α: each calibration image is held back once (1: hold "
                        "back the last quarter only)")
    p.add_argument("--quantiser", choices=("floor", "round"), default="floor", help="threshold-fit quantiser")
    p.add_argument("--neuron", default=None, help="conversion neuron: adafire (the paper's; default for images) "
                   "or signed (negative spikes with memory; default for event frames)")
    p.add_argument("--maxpool", choices=("per_step", "running"), default=None,
                   help="max-pool each step's spikes (the spec; default for images) or running sums (exact in rate; "
                        "default for event frames)")
    p.add_argument("--headroom", type=positive_float, default=None,
                   help="thresholds θ = headroom·layer peak/Γ instead of the MSE grid (large-T fidelity)")
    p.add_argument("--calib-size", type=positive_int, default=1024, help="calibration images (un-augmented train set)")
    p.add_argument("--batch-size", type=positive_int, default=128, help="calibration batch size")
    p.add_argument("--test-limit", type=positive_int, default=None, help="evaluate on the first N test samples only")
    add_output(p, Path("runs/convert"), writes="convert_*.json, .md and .png")


def register(commands, studies) -> None:
    from . import command_parser

    p = command_parser(commands, "train-ann", description="Train a ReLU + BatchNorm CNN (VGG or ResNet) on a "
                       "static image dataset as the source of `adaspike convert`; writes OUT/model.safetensors.")
    p.add_argument("--arch", choices=("vgg", "resnet"), required=True, help="source architecture")
    _common(p)
    p.add_argument("--epochs", type=positive_int, default=3, help="training epochs")
    p.add_argument("--batch-size", type=positive_int, default=128, help="training batch size")
    p.add_argument("--lr", type=positive_float, default=2e-3, help="Adam learning rate (cosine schedule)")
    add_output(p, writes="model.safetensors; default runs/ann_<arch>_<dataset>")
    p.set_defaults(func=_train)

    p = command_parser(commands, "convert", description="Convert a trained ANN (train-ann's checkpoint, or your "
                       "own model) into an SNN without training: thresholds from calibration images, and with "
                       "--adafire/--ssc/--iat the paper's burst budget, spike compression and early exit; writes "
                       "accuracy, steps and energy tables (JSON + Markdown) and plots.")
    p.add_argument("--ann", type=checkpoint_path, default=None, help="checkpoint written by train-ann (or its folder)")
    p.add_argument("--model", default=None, help="your own model: 'package.module:factory' returning an nn.Module")
    p.add_argument("--weights", type=Path, default=None,
                   help="weights for --model: .safetensors, or .pt (a state dict, loaded with weights_only=True)")
    _common(p)
    _conversion_options(p)
    p.set_defaults(func=_convert)

    p = command_parser(studies, "convert", study=True)
    p.add_argument("--arch", choices=("vgg", "resnet"), default="vgg", help="source architecture")
    _common(p)
    _conversion_options(p)
    p.add_argument("--epochs", type=positive_int, default=3, help="training epochs")
    p.add_argument("--lr", type=positive_float, default=2e-3, help="Adam learning rate (cosine schedule)")
    p.set_defaults(func=_study, adafire=True, ssc=True, iat=True)

    p = command_parser(studies, "convert-events", study=True)
    p.add_argument("--dataset", default="event-digits", help="event dataset of load_dataset (t_max 0.3 s)")
    p.add_argument("--time-steps", dest="T", type=positive_int, default=8, help="frames per sample = SNN time steps")
    deprecated_alias(p, "--T", "--time-steps")
    p.add_argument("--epochs", type=positive_int, default=30, help="ANN training epochs")
    p.add_argument("--seed", type=int, default=0, help="training seed")
    add_output(p, Path("runs/convert_events"), writes="the tables and plots")
    p.add_argument("--mean-frame-control", action="store_true",
                   help="also convert for the mean frame at every step (separates conversion error from frame order)")
    p.set_defaults(func=_events)
