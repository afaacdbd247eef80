"""``adaspike eval``: a checkpoint on the test split of its dataset, on any clock, with provenance.

The clock options run the same checkpoint on step lengths that are data: ``--jitter J`` draws each step's length
from dt·(1 ± J) per sample (the model is told the true lengths, or, with ``--nominal-clock``, assumes its own dt),
``--events`` advances from one event time to the next (event-driven, no fixed bins). The JSON written with ``-o``
(and printed on stdout) records what ran: checkpoint, dataset and split, the model's and the data's step, the
clock, and the number of samples.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from .. import __version__
from .options import add_output, checkpoint_path, nonnegative_float, output_file, time_arg


def register(commands, studies) -> None:
    from . import command_parser
    from .core import _data_options

    evaluate = command_parser(commands, "eval", description="Evaluate a checkpoint on the test split of its "
                              "dataset. The dataset, its options and dt come from the checkpoint's metadata; flags "
                              "override them (an explicit --dt prints a note when it differs from the model's "
                              "step). --jitter and --events run it on a clock of irregular steps instead. The "
                              "metrics (JSON, with what ran) go to stdout, and to OUT/metrics.json with -o.")
    evaluate.add_argument("checkpoint", type=checkpoint_path, help="model checkpoint (.safetensors, or a run folder)")
    _data_options(evaluate, dataset_required=False)
    add_output(evaluate, writes="metrics.json and, with --metrics, metrics_layers.png")
    evaluate.add_argument("--metrics", action="store_true", help="also collect NeuroBench-style workload metrics, "
                          "synaptic operations and energy (adaspike.metrics); with -o, also draw them per layer "
                          "beside the JSON (<name>_layers.png)")
    clock = evaluate.add_argument_group("clock (step lengths as data)")
    clock.add_argument("--jitter", type=nonnegative_float, default=None, metavar="FRACTION",
                       help="each step lasts dt·(1 + FRACTION·u), u uniform in [-1, 1], drawn per sample (a drifting "
                       "clock); the model is told the true lengths")
    clock.add_argument("--nominal-clock", action="store_true",
                       help="with --jitter or a --dt other than the model's: the model assumes every step lasts its "
                       "own dt (the naive reading; without it the model is told the true step lengths)")
    clock.add_argument("--events", action="store_true",
                       help="event-driven: advance from one event time to the next (closed-form decay over the "
                       "gaps), one sample at a time")
    clock.add_argument("--resolution", type=time_arg, default=1e-6,
                       help="with --events: the time resolution of the event timestamps")
    clock.add_argument("--clock-seed", type=int, default=0, help="with --jitter: seed of the drawn step lengths")
    clock.add_argument("--substeps", action=argparse.BooleanOptionalAction, default=None,
                       help="on a clock: neurons advance steps longer than their own dt in sub-steps of at most it "
                       "(the step's drive held), keeping the resolution they were trained at; on by default with "
                       "--events (a gap between events is then checked for spikes at least every dt)")
    clock.add_argument("--spike-rule", choices=("seconds", "steps"), default="seconds",
                       help="on a clock: keep each neuron's spike capacity per second (default) or one spike per "
                       "step whatever its length")
    evaluate.set_defaults(func=_eval)


def _clock_kind(args) -> str:
    if args.events and args.jitter is not None:
        raise ValueError("choose one clock: --jitter or --events")
    if args.nominal_clock and args.jitter is None and args.dt is None:
        raise ValueError("--nominal-clock reads another clock naively; it needs --jitter or --dt")
    if args.jitter is not None and not args.jitter < 1:
        raise ValueError(f"--jitter must be a fraction in [0, 1), got {args.jitter:g}")
    return "events" if args.events else "jitter" if args.jitter is not None else "fixed"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _eval(args) -> int:
    from ..report import write_json
    from ..retime import ClockedForward, neurons_per_sample, source_dt
    from ..studies.experiment import make_loaders
    from ..train import evaluate, load_model, read_checkpoint
    from .core import _dataset_options

    kind = _clock_kind(args)
    _, _, meta = read_checkpoint(args.checkpoint)
    data = meta.get("data", {})
    dataset = args.dataset or data.get("dataset")
    if dataset is None:
        raise ValueError("the checkpoint does not name its dataset; pass --dataset")
    dt = args.dt or data.get("dt")
    options = {**data.get("options", {}), **_dataset_options(args)}
    model = load_model(args.checkpoint)
    try:
        model_dt = source_dt(model)
    except ValueError:
        model_dt = None
    batch_size = 1 if kind == "events" else args.batch_size
    root = args.root or data.get("root")
    loaders = make_loaders(dataset, dt=dt, batch_size=batch_size, test_batch_size=batch_size, root=root,
                           val_fraction=None, **options)
    test_set = loaders.test_set
    other_step = dt is not None and model_dt is not None and abs(dt - model_dt) > 1e-12 * model_dt
    if other_step and kind == "fixed":
        if args.nominal_clock:
            print(f"note: the model assumes its own dt = {model_dt:g}s on data binned at {dt:g}s (--nominal-clock)",
                  file=sys.stderr)
        elif hasattr(test_set, "set_clock"):
            kind = "regular"        # one model, any clock: told the data's step, as `adaspike retime` would
            print(f"note: running the model built for {model_dt:g}s on the {dt:g}s clock of the data (zoh, spike "
                  f"rule in {args.spike_rule}{', sub-steps' if args.substeps else ''})", file=sys.stderr)
        else:
            print(f"note: evaluating at dt = {dt:g}s, but the model was built for {model_dt:g}s; use `adaspike "
                  "retime` to adapt it", file=sys.stderr)
    forward = None
    if kind != "fixed":
        if not hasattr(test_set, "set_clock"):
            raise ValueError(f"{dataset} is not event data; --jitter and --events need event recordings")
        if model_dt is None:
            raise ValueError("this model has no neuron layers with a common dt to run on another clock")
        test_set.set_clock(kind, jitter=args.jitter or 0.0, seed=args.clock_seed, resolution=args.resolution)
        args.substeps = kind == "events" if args.substeps is None else args.substeps
        forward = ClockedForward(assume_nominal=args.nominal_clock, spike_rule=args.spike_rule,
                                 substeps=args.substeps)
    collectors = []
    if args.metrics:  # the same pass: the collector's hooks watch the evaluation
        from ..metrics import MetricsCollector

        collectors.append(MetricsCollector())
    metrics = evaluate(model, loaders.test, progress=args.progress, forward=forward, collectors=collectors)
    if args.metrics:  # per-second figures follow the data's step, which --dt may set apart from the model's
        metrics["metrics"] = collectors[0].result(step_s=dt)
    metrics["provenance"] = {
        "checkpoint": str(args.checkpoint), "checkpoint_sha256": _sha256(args.checkpoint), "dataset": dataset,
        "root": root, "split": "test", "options": options, "data_dt": getattr(test_set, "dt", dt),
        "model_dt": model_dt, "t_max": getattr(test_set, "t_max", None), "samples": metrics["samples"],
        "clock": {"kind": kind, **({"jitter": args.jitter, "seed": args.clock_seed,
                                    "model_told_true_steps": not args.nominal_clock} if kind == "jitter" else {}),
                  **({"resolution": args.resolution} if kind == "events" else {}),
                  **({"spike_rule": args.spike_rule, "substeps": args.substeps} if kind != "fixed" else {})},
        "adaspike": __version__}
    if forward is not None:
        metrics["clock_cost"] = forward.summary(neurons_per_sample(model), model_dt,
                                                args.resolution if kind == "events" else None)
    print(json.dumps(metrics, indent=2))
    if args.out:
        path = output_file(args.out, "metrics.json")
        write_json(path, metrics)
        if args.metrics:
            from ..report import save_figure
            from ..report.plots import layer_operations

            plot = save_figure(layer_operations(metrics["metrics"]["layers"], title=args.checkpoint.name),
                               path.with_name(path.stem + "_layers.png"))
            print(f"wrote {path} and {plot}", file=sys.stderr)  # stdout stays one JSON document
    return 0


__all__ = ["register"]
