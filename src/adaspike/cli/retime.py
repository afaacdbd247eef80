"""CLI: ``adaspike retime CHECKPOINT --dt 1ms --method zoh -o OUT`` and ``adaspike study retime ...``."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .options import (add_output, checkpoint_path, int_list, int_list_zero, nonnegative_float, output_file, str_list,
                      time_arg, time_list)


def _retime_checkpoint(args) -> int:
    from ..retime import retime
    from ..train import load_model, read_checkpoint, save_checkpoint

    model = load_model(args.checkpoint)
    _, _, source_meta = read_checkpoint(args.checkpoint)
    scale = args.input_scale if args.input_scale == "auto" else float(args.input_scale)
    new = retime(model, dt=args.dt, ratio=args.ratio, method=args.method, input_scale=scale,
                 readout=args.readout, unstable=args.unstable, spike_rule=args.spike_rule)
    info = new.retime_info.as_dict()
    metadata = {"retime": info}
    if isinstance(source_meta.get("data"), dict):  # the data the model reads, now binned at the target step
        metadata["data"] = {**source_meta["data"], "dt": info["target_dt"]}
    path = save_checkpoint(output_file(args.out, "model.safetensors"), new, metadata=metadata)
    print(f"retimed {args.checkpoint} from {info['source_dt']:g}s to {info['target_dt']:g}s "
          f"(ρ = {info['ratio']:g}, method {args.method}, input scale {info['input_scale']:g}, "
          f"spike rule {info['spike_rule']}) -> {path}")
    return 0


def _fractions(text: str) -> list[float]:
    """Comma-separated clock jitters, each a fraction in [0, 1)."""
    values = [nonnegative_float(part) for part in text.split(",") if part.strip()]
    if any(v >= 1 for v in values):
        raise argparse.ArgumentTypeError(f"clock jitters are fractions of the step in [0, 1), got {text!r}")
    return values


def _study(args) -> int:
    from ..studies.retime import RetimeStudyConfig, run_study

    options = dict(json.loads(args.dataset_options)) if args.dataset_options else {}
    if args.pool is not None:
        options["pool"] = args.pool
    if args.pattern:
        options["pattern"] = args.pattern
    cfg = RetimeStudyConfig(dataset=args.dataset, train_dt=args.train_dt, eval_dts=args.eval_dt,
                            methods=args.methods, spike_rules=args.spike_rules, neurons=args.neuron,
                            seeds=args.seeds, checkpoint=args.checkpoint, direct_dts=args.direct_dt,
                            model=args.model, epochs=args.epochs, hidden=args.hidden,
                            recurrent=False if args.feedforward else None,
                            readout=args.readout, adlif_form=args.adlif_form, batch_size=args.batch_size,
                            lr=args.lr, dataset_options=options, root=args.root, limit=args.limit,
                            jitters=args.jitter, events=args.events, event_limit=args.event_limit,
                            substeps=args.substeps)
    result = run_study(cfg, args.out)
    print(result["table"])
    print("\nagainst the source:\n" + result["targets"])
    if result.get("coarse_fine"):
        print("\ntrain coarse, deploy fine:\n" + result["coarse_fine"])
    out = Path(args.out)
    print(f"\nwrote {out / 'retime_study.json'}, {out / 'retime_study.md'}, {out / 'retime_study.png'} and "
          f"{out / 'retime_rates.png'}")
    return 0


def register(commands, studies) -> None:
    from ..retime import READOUT_MODES, SPIKE_RULES, retime_methods
    from . import command_parser

    p = command_parser(commands, "retime", description="Re-discretise every neuron of a trained checkpoint for a "
                       "new time step without training. The new checkpoint (OUT/model.safetensors) keeps the "
                       "source's dataset metadata at the new dt, so `adaspike eval` reads the data at the model's "
                       "new step.")
    p.add_argument("checkpoint", type=checkpoint_path, help="trained model checkpoint (.safetensors, or a run folder)")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--dt", type=time_arg, help="target time step, e.g. 1ms")
    target.add_argument("--ratio", type=float, help="ρ = Δ_T/Δ_S instead of --dt")
    p.add_argument("--method", choices=retime_methods(), default="zoh",
                   help="zoh/euler/bilinear: re-discretise the continuous-time model; tau: decays to the power ρ; "
                   "none: keep the per-step parameters")
    p.add_argument("--input-scale", default="auto", help="'auto' (1/ρ for count inputs under zoh/euler/"
                   "bilinear) or a number multiplying the drive W·x of count inputs")
    p.add_argument("--readout", choices=READOUT_MODES, default="auto",
                   help="time sums in the readout: 'auto' scales them by ρ (logits keep their scale), 'mean' makes them "
                   "means, 'keep' leaves them")
    p.add_argument("--unstable", choices=("raise", "warn", "ignore"), default="raise",
                   help="what to do when a retimed per-step system is unstable")
    p.add_argument("--spike-rule", choices=SPIKE_RULES, default="seconds",
                   help="'seconds': keep each neuron's spike capacity per second (refractory period or bursts); "
                   "'steps': one spike per step at the new step (the plain maps)")
    add_output(p, required=True, writes="model.safetensors, the retimed checkpoint")
    p.set_defaults(func=_retime_checkpoint)

    from ..studies.train_run import ADLIF_FORMS

    s = command_parser(studies, "retime", study=True, description="Train source models at --train-dt with `adaspike train`'s defaults (or "
                           "load --checkpoint), then evaluate every method x spike rule at every --eval-dt on the "
                           "test split; --direct-dt also trains models directly at those steps.")
    s.add_argument("--dataset", default="event-digits", help="any load_dataset name, wav-folder or spoken-digits")
    s.add_argument("--root", help="dataset folder (wav-folder, shd, nmnist, ...)")
    s.add_argument("--pattern", help="wav-folder file-name pattern, e.g. '{label}_{speaker}_{take}.wav'")
    s.add_argument("--pool", type=int, help="pool pixels/channels (default: the dataset's recommended pool)")
    s.add_argument("--dataset-options", help="extra dataset options as JSON")
    s.add_argument("--limit", type=int, help="read at most N samples of every split (class-balanced)")
    s.add_argument("--train-dt", type=time_arg, default=4e-3, help="source time step")
    s.add_argument("--eval-dt", type=time_list, default=[1e-3, 2e-3, 4e-3, 8e-3, 16e-3], help="target steps")
    s.add_argument("--methods", type=str_list, default=list(retime_methods()), help="retime methods")
    s.add_argument("--spike-rules", type=str_list, default=list(SPIKE_RULES),
                   help="'seconds' (capacity per second, the default of `adaspike retime`) and/or 'steps' "
                   "(the plain maps)")
    s.add_argument("--neuron", type=str_list, default=["lif", "adlif"], help="neuron kinds to train")
    s.add_argument("--seeds", type=int_list_zero, default=[0], help="training seeds, e.g. 0,1,2")
    s.add_argument("--direct-dt", type=time_list, default=[], help="also train directly at these steps")
    s.add_argument("--model", default="snn", help="the model trained (`adaspike train --model`): snn (the MLP/RNN) "
                   "or conv-snn (the convolutional SNN for camera events)")
    s.add_argument("--adlif-form", choices=ADLIF_FORMS, default=None, help="adLIF parameterisation (default: the "
                   "model's recipe)")
    s.add_argument("--checkpoint", help="evaluate these trained models instead of training (comma-separated, "
                   "e.g. the seeds of one recipe; labelled by model and neuron, rows by their training seed)")
    s.add_argument("--epochs", type=int, default=None, help="maximum training epochs (default: the model's recipe)")
    s.add_argument("--hidden", type=int_list, default=None, help="hidden layer widths (default: the model's recipe)")
    s.add_argument("--feedforward", action="store_true", help="no recurrent weights (snn)")
    s.add_argument("--readout", default=None, help="readout (snn; default: the recipe's)")
    s.add_argument("--batch-size", type=int, default=None, help="samples per batch (default: the model's recipe)")
    s.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the model's recipe)")
    s.add_argument("--jitter", type=_fractions, default=[], help="any clock: also evaluate on drifting clocks "
                   "whose steps last Δ_S·(1 ± j), drawn per sample, told the true lengths and naive, e.g. 0.1,0.3")
    s.add_argument("--events", action="store_true", help="any clock: also evaluate event-driven, each recording on "
                   "its own event times (one sample at a time)")
    s.add_argument("--event-limit", type=int, default=None, help="event-driven runs on the first N test samples")
    s.add_argument("--substeps", action="store_true", help="any clock: also every --eval-dt coarser than the "
                   "training step on a regular clock with sub-steps (neurons advance at most their own step per "
                   "update, the step's drive held)")
    add_output(s, Path("runs/retime"), writes="retime_study.json/.md/.png, retime_rates.png and the source runs")
    s.set_defaults(func=_study)
