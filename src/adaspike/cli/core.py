"""Core commands: train and demo."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .options import add_config_option, add_output, apply_config, device, int_list, positive_int, str_list, time_arg


def register(commands, studies) -> None:
    from ..layers import registered_neurons
    from ..studies.train_run import ADLIF_FORMS
    from . import command_parser

    train = command_parser(commands, "train", description="Train an SNN. The validation set is carved from the training "
                                "split, the best validation epoch is kept, and the test split is evaluated "
                                "once at the end. The run resumes from OUT/last.safetensors if interrupted. "
                                "Options shown as 'recipe' take the chosen model's measured recipe (below).",
                                epilog=_recipes_epilog())
    _data_options(train)
    train.add_argument("--model", default=RECIPE, help="a registered model (snn: the MLP/RNN; conv-snn: the "
                       "convolutional SNN) or a user model package.module:factory; default: conv-snn for camera "
                       "events (event-digits, event-fashion-mnist, nmnist), snn otherwise")
    train.add_argument("--model-options", type=json_object, default=None,
                       help="the model builder's own options as JSON, e.g. '{\"channels\": [16, 32]}' for conv-snn")
    train.add_argument("--neuron", default=RECIPE, choices=registered_neurons(), help="neuron model")
    train.add_argument("--adlif-form", default=RECIPE, choices=ADLIF_FORMS,
                       help="adLIF parameters: continuous time constants in seconds, or sparch-style per-step "
                       "decays")
    train.add_argument("--hidden", type=int_list, default=RECIPE,
                       help="hidden layer widths, e.g. 128,128 (conv-snn: fully connected layers after the convs)")
    train.add_argument("--recurrent", action=argparse.BooleanOptionalAction, default=RECIPE,
                       help="recurrent hidden layers (snn)")
    train.add_argument("--readout", default=RECIPE, help="li-mean, li-max, li-softmax, mean or sum (snn)")
    train.add_argument("--epochs", type=positive_int, default=RECIPE,
                       help="maximum epochs (cosine schedule over them)")
    train.add_argument("--patience", type=int, default=RECIPE,
                       help="stop after this many epochs without a better validation accuracy (0: never)")
    train.add_argument("--lr", type=float, default=RECIPE, help="peak learning rate (AdamW)")
    train.add_argument("--weight-decay", type=float, default=RECIPE, help="AdamW weight decay")
    train.add_argument("--dropout", type=float, default=RECIPE, help="dropout on hidden spikes")
    train.add_argument("--augment", action=argparse.BooleanOptionalAction, default=RECIPE,
                       help="augmentation: time/channel masking of speech-like data; shifts and event drop of "
                       "camera events")
    train.add_argument("--val-fraction", type=float, default=0.15,
                       help="part of the training split held out for validation")
    train.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda", type=device)
    train.add_argument("--nproc", type=positive_int, default=1, help="data-parallel processes (torch.distributed, gloo)")
    add_output(train, Path("runs/train"), writes="model.safetensors, metrics.json/csv, learning_curve.png")
    add_config_option(train)
    train.set_defaults(func=lambda args: _train(apply_config(train, args)))

    demo = command_parser(commands, "demo", description="The main job: train the core model on the embedded "
                          "event-digits as `adaspike train` does, then the short retime, conversion and coding "
                          "studies; results.md, results.json and figures under the output folder.")
    add_output(demo, Path("runs/demo"), writes="results.md, results.json, figures and each part's files")
    demo.add_argument("--skip", type=str_list, default=[], help="parts to skip: retime,convert,coding")
    demo.add_argument("--epochs", type=int, default=None, help="override the core training epochs")
    demo.set_defaults(func=_demo)


def _data_options(parser, dataset_required: bool = True) -> None:
    parser.add_argument("--dataset", default="event-digits" if dataset_required else None,
                        help="event-digits, event-fashion-mnist, nmnist, shd, ssc, wav-folder, digits, ...")
    parser.add_argument("--root", help="dataset folder (for datasets read from disk)")
    parser.add_argument("--dt", type=time_arg, default=None, help="time step, e.g. 4ms (event data)")
    parser.add_argument("--pool", type=positive_int, default=None, help="sum pxp pixel blocks or channel groups")
    parser.add_argument("--limit", type=positive_int, default=None, help="read at most N samples of every split "
                        "(class-balanced where the loader supports it)")
    parser.add_argument("--pattern", default=None, help="wav-folder: file-name pattern of the labels, e.g. "
                        "'{label}_{speaker}_{take}.wav' (default: labels from sub-folders)")
    parser.add_argument("--batch-size", type=positive_int, default=32, help="samples per batch")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights and the data order")


def _dataset_options(args) -> dict:
    return {k: v for k, v in (("pool", args.pool), ("limit", args.limit), ("pattern", args.pattern))
            if v is not None}


class _Recipe:
    """The default of the train options that the chosen model's recipe sets (shown as 'recipe' in --help)."""

    def __repr__(self) -> str:
        return "recipe"


RECIPE = _Recipe()
RECIPE_OPTIONS = ("model", "neuron", "adlif_form", "hidden", "recurrent", "readout", "epochs", "patience", "lr",
                  "weight_decay", "dropout", "augment")


def json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r} ({err})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"channels\": [16, 32]}}', got {text!r}")
    return value


def _recipes_epilog() -> str:
    from ..data import DATASETS
    from ..studies.train_run import MODEL_DEFAULTS, TRAIN_DEFAULTS

    def describe(recipe: dict) -> str:
        return ", ".join(f"{k}={list(v) if isinstance(v, tuple) else v}" for k, v in recipe.items() if k != "model")

    parts = [f"Recipes (docs/results.md): snn, the default for datasets not named below: {describe(TRAIN_DEFAULTS)}."]
    for name, recipe in MODEL_DEFAULTS.items():
        datasets = ", ".join(sorted(k for k, entry in DATASETS.items() if entry.model == name))
        parts.append(f"{name}, the default for {datasets}: as snn but {describe(recipe)}.")
    return " ".join(parts)


def _train(args) -> int:
    from ..studies.train_run import train_run

    recipe = {k: (None if getattr(args, k) is RECIPE else getattr(args, k)) for k in RECIPE_OPTIONS}
    result = train_run(dataset=args.dataset, root=args.root, dt=args.dt, model_options=args.model_options,
                       batch_size=args.batch_size, seed=args.seed, out=args.out, progress=args.progress,
                       nproc=args.nproc, device=args.device, val_fraction=args.val_fraction or None,
                       **recipe, **_dataset_options(args))
    print(_train_summary(result, args.out))
    return 0


def _train_summary(result: dict, out: Path) -> str:
    selected = result.get("selected") or {}
    rates = ", ".join(f"{k} {v:.1f} Hz" for k, v in result["spike_rates_hz"].items())
    lines = [f"test accuracy {100 * result['test_accuracy']:.2f}% ({result['test_samples']} samples, evaluated once)",
             f"selected epoch {selected.get('epoch', result['epochs_run'])} of {result['epochs_run']} run"
             + (f" (validation accuracy {100 * selected['val_accuracy']:.2f}%)" if selected else ""),
             f"hidden rates: {rates}",
             f"training time {result['train_time_s']:.0f} s; model, metrics.json/csv, learning_curve.png in {out}/"]
    return "\n".join(lines)


def _demo(args) -> int:
    from ..studies.demo import run_demo

    return run_demo(args.out, skip=set(args.skip), epochs=args.epochs, progress=args.progress)
