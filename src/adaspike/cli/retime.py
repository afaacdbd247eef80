"""CLI: ``adaspike retime CHECKPOINT --dt 1ms --method zoh -o OUT`` and ``adaspike study retime ...``."""
from __future__ import annotations

import json
from pathlib import Path

from .options import int_list, str_list, time_arg, time_list


def _retime_checkpoint(args) -> int:
    from ..retime import retime
    from ..train import load_model, save_checkpoint

    model = load_model(args.checkpoint)
    scale = args.input_scale if args.input_scale == "auto" else float(args.input_scale)
    new = retime(model, dt=args.dt, ratio=args.ratio, method=args.method, input_scale=scale,
                 readout=args.readout, unstable=args.unstable, spike_rule=args.spike_rule)
    info = new.retime_info.as_dict()
    path = save_checkpoint(args.output, new, metadata={"retime": info})
    print(f"retimed {args.checkpoint} from {info['source_dt']:g}s to {info['target_dt']:g}s "
          f"(ρ = {info['ratio']:g}, method {args.method}, input scale {info['input_scale']:g}, "
          f"spike rule {info['spike_rule']}) -> {path}")
    return 0


def _study(args) -> int:
    from ..studies.experiment import with_dataset_defaults
    from ..studies.retime import RetimeStudyConfig, run_study

    options = dict(json.loads(args.dataset_options)) if args.dataset_options else {}
    if args.pool is not None:
        options["pool"] = args.pool
    if args.pattern:
        options["pattern"] = args.pattern
    options = with_dataset_defaults(args.dataset, options)
    cfg = RetimeStudyConfig(dataset=args.dataset, train_dt=args.train_dt, eval_dts=args.eval_dt,
                            methods=args.methods, neurons=args.neuron, checkpoint=args.checkpoint,
                            epochs=args.epochs, hidden=args.hidden, recurrent=not args.feedforward,
                            readout=args.readout, adlif_form=args.adlif_form, batch_size=args.batch_size,
                            lr=args.lr, seed=args.seed, dataset_options=options, root=args.root,
                            limit_train=args.limit_train, limit_test=args.limit_test)
    result = run_study(cfg, args.out)
    print(result["table"])
    print("\nratio 1/2 against the seed paper:\n" + result["comparison"])
    print(f"\nwrote {Path(args.out) / 'retime_study.json'}, .md and .png")
    return 0


def register(commands, studies) -> None:
    from ..retime import METHODS, READOUT_MODES, SPIKE_RULES

    p = commands.add_parser("retime", help="re-discretise a trained checkpoint for another time step (zero-shot)")
    p.add_argument("checkpoint", type=Path)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--dt", type=time_arg, help="target time step, e.g. 1ms")
    target.add_argument("--ratio", type=float, help="ρ = Δ_T/Δ_S instead of --dt")
    p.add_argument("--method", choices=METHODS, default="zoh")
    p.add_argument("--input-scale", default="auto", help="'auto' (1/ρ for count inputs under zoh/euler/"
                   "bilinear) or a number multiplying the drive W·x of count inputs")
    p.add_argument("--readout", choices=READOUT_MODES, default="auto")
    p.add_argument("--unstable", choices=("raise", "warn", "ignore"), default="raise")
    p.add_argument("--spike-rule", choices=SPIKE_RULES, default="seconds",
                   help="'seconds': keep each neuron's spike capacity per second (refractory period or bursts); "
                   "'steps': one spike per step at the new step (the plain maps)")
    p.add_argument("-o", "--output", type=Path, required=True, help="retimed checkpoint (.safetensors)")
    p.set_defaults(func=_retime_checkpoint)

    s = studies.add_parser("retime", help="train once, evaluate every (method, target dt) zero-shot")
    s.add_argument("--dataset", default="event-digits", help="any load_dataset name, wav-folder or spoken-digits")
    s.add_argument("--root", help="dataset folder (wav-folder, shd, nmnist, ...)")
    s.add_argument("--pattern", help="wav-folder file-name pattern, e.g. '{label}_{speaker}_{take}.wav'")
    s.add_argument("--pool", type=int, help="pool pixels/channels (event-digits default 2)")
    s.add_argument("--dataset-options", help="extra dataset options as JSON")
    s.add_argument("--train-dt", type=time_arg, default=4e-3)
    s.add_argument("--eval-dt", type=time_list, default=[1e-3, 2e-3, 4e-3, 8e-3, 16e-3])
    s.add_argument("--methods", type=str_list, default=list(METHODS))
    s.add_argument("--neuron", type=str_list, default=["lif", "adlif"])
    s.add_argument("--adlif-form", choices=("discrete", "continuous"), default="discrete")
    s.add_argument("--checkpoint", help="evaluate this trained model instead of training")
    s.add_argument("--epochs", type=int, default=8)
    s.add_argument("--hidden", type=int_list, default=[128])
    s.add_argument("--feedforward", action="store_true", help="no recurrent weights")
    s.add_argument("--readout", default="li-mean")
    s.add_argument("--batch-size", type=int, default=64)
    s.add_argument("--lr", type=float, default=2e-3)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--limit-train", type=int)
    s.add_argument("--limit-test", type=int)
    s.add_argument("--out", type=Path, default=Path("runs/retime"))
    s.set_defaults(func=_study)
