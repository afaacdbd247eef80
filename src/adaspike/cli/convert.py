"""CLI: ``adaspike train-ann``, ``adaspike convert`` and ``adaspike study convert``."""
from __future__ import annotations

from pathlib import Path

from .options import int_list


def _train(args) -> int:
    from ..studies.convert import train_ann

    out = args.output or Path("runs") / f"ann_{args.arch}_{args.dataset}.safetensors"
    _, accuracy, history = train_ann(args.arch, args.dataset, epochs=args.epochs, batch_size=args.batch_size,
                                     lr=args.lr, seed=args.seed, out=out, root=args.root,
                                     limit_train=args.limit_train, device=args.device)
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
    return tuple(chosen)


def _options(args) -> dict:
    options = {"gammas": tuple(args.gammas), "spike_budget": args.spike_budget, "ssc_kl_budget": args.kl_budget,
               "iat_alpha": args.alpha, "iat_beta": args.beta, "threshold_quantiser": args.quantiser}
    if args.gamma_target:
        options["gamma_target"] = args.gamma_target
    return options


def _convert(args) -> int:
    from ..studies.convert import run_study
    from ..train import load_model, read_checkpoint

    _, _, meta = read_checkpoint(args.ann)
    saved_arch = meta.get("arch")
    if args.arch and saved_arch and args.arch != saved_arch:
        raise ValueError(f"--arch {args.arch} does not match the checkpoint's architecture {saved_arch!r}")
    ann = load_model(args.ann).eval()
    result = run_study(args.arch or saved_arch or "ann", ann, args.dataset, args.out, args.T,
                       calib_size=args.calib_size, test_limit=args.test_limit, batch_size=args.batch_size,
                       device=args.device, root=args.root, options=_options(args), methods=_methods(args))
    print(result["table"])
    print(f"\nwrote {args.out}/convert_*.json, .md and .png")
    return 0


def _study(args) -> int:
    from ..studies.convert import run_study, train_ann

    args.out.mkdir(parents=True, exist_ok=True)
    ann, accuracy, _ = train_ann(args.arch, args.dataset, epochs=args.epochs, batch_size=128, lr=args.lr,
                                 seed=args.seed, out=args.out / f"ann_{args.arch}.safetensors", root=args.root,
                                 limit_train=args.limit_train, device=args.device)
    result = run_study(args.arch, ann.eval(), args.dataset, args.out, args.T, calib_size=args.calib_size,
                       test_limit=args.test_limit, batch_size=args.batch_size, device=args.device, root=args.root,
                       options=_options(args), methods=_methods(args))
    print(result["table"])
    return 0


def _common(p) -> None:
    p.add_argument("--dataset", default="fashion-mnist", help="static image dataset of adaspike.data")
    p.add_argument("--root", help="dataset directory (default: the loader's)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    p.add_argument("--seed", type=int, default=0)


def _conversion_options(p) -> None:
    p.add_argument("--T", type=int_list, default=[1, 2, 4, 8, 16, 32], help="time steps, comma separated")
    p.add_argument("--adafire", action="store_true", help="add the AdaFire rows (per-layer burst caps)")
    p.add_argument("--ssc", action="store_true", help="add the SSC rows (on top of AdaFire)")
    p.add_argument("--iat", action="store_true", help="add the IAT early-exit rows (on top of SSC)")
    p.add_argument("--gammas", type=int_list, default=list(range(1, 9)), help="Γ candidates (default 1..8)")
    p.add_argument("--gamma-target", type=int, default=None, help="Γ whose spike count sets the budget (max)")
    p.add_argument("--spike-budget", type=float, default=1.0, help="η: spike budget ratio for AdaFire")
    p.add_argument("--kl-budget", type=float, default=1.0, help="τ_KL: SSC KL budget ratio")
    p.add_argument("--alpha", type=float, default=0.6, help="IAT α")
    p.add_argument("--beta", type=float, default=0.4, help="IAT β")
    p.add_argument("--quantiser", choices=("floor", "round"), default="floor", help="threshold-fit quantiser")
    p.add_argument("--calib-size", type=int, default=1024, help="calibration images (un-augmented train set)")
    p.add_argument("--batch-size", type=int, default=128, help="calibration batch size")
    p.add_argument("--test-limit", type=int, default=None, help="evaluate on the first N test images only")
    p.add_argument("--out", "-o", type=Path, default=Path("runs/convert"), help="output directory")


def register(commands, studies) -> None:
    p = commands.add_parser("train-ann", help="train a ReLU + BatchNorm source CNN for conversion")
    p.add_argument("--arch", choices=("vgg", "resnet"), required=True)
    _common(p)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--limit-train", type=int, default=None, help="train on the first N images only")
    p.add_argument("--output", "-o", type=Path, default=None, help="checkpoint path (.safetensors)")
    p.set_defaults(func=_train)

    p = commands.add_parser("convert", help="convert a trained ANN to an SNN; tables (JSON + Markdown) and plots")
    p.add_argument("--ann", type=Path, required=True, help="checkpoint written by train-ann")
    p.add_argument("--arch", choices=("vgg", "resnet"), default=None, help="checked against the checkpoint")
    _common(p)
    _conversion_options(p)
    p.set_defaults(func=_convert)

    p = studies.add_parser("convert", help="train-ann then convert, in one run")
    p.add_argument("--arch", choices=("vgg", "resnet"), default="vgg")
    _common(p)
    _conversion_options(p)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--limit-train", type=int, default=None)
    p.set_defaults(func=_study, adafire=True, ssc=True, iat=True)
