"""``adaspike study events``: the conv SNN on event-camera recordings against the MLP, a linear model and an ANN."""
from __future__ import annotations

import argparse
from pathlib import Path

from .options import (add_output, add_process_options, deprecated_alias, int_list, int_list_zero, positive_int,
                      str_list)


def register(commands, studies) -> None:
    from ..studies.events import BASELINES

    from . import command_parser

    parser = command_parser(studies, "events", study=True, description="Train every model with `adaspike train`'s protocol (validation split "
                                "from the training data, best validation epoch, test split once) and write "
                                "events_study.{json,md}, events_learning_curve.png and events_raster.png.")
    parser.add_argument("--dataset", default="nmnist", help="a camera event dataset (nmnist, event-digits, ...)")
    parser.add_argument("--root", help="dataset folder, e.g. ../shared/data/nmnist-dev/NMNIST")
    parser.add_argument("--models", type=str_list, default=list(BASELINES), help=f"comma list of {', '.join(BASELINES)}")
    parser.add_argument("--seeds", type=int_list_zero, default=[0, 1, 2], help="comma list of seeds")
    parser.add_argument("--curve", type=int_list, default=[150, 300, 600],
                        help="learning curve: training recordings (class-balanced subsets)")
    parser.add_argument("--curve-models", type=str_list, default=["conv-snn", "snn", "logistic"],
                        help="models of the learning curve (empty: none)")
    parser.add_argument("--curve-seeds", type=int_list_zero, default=None,
                        help="seeds of the learning curve (default: every --seeds)")
    parser.add_argument("--epochs", type=positive_int, default=None, help="override every recipe's epochs")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="read at most N recordings of every split (a quick look, not the study)")
    parser.add_argument("--convert-time-steps", dest="convert_T", type=int_list, default=[], help="also convert the "
                        "conv ANN for these step counts (frames of t_max/T) and compare it with the conv SNN "
                        "retimed to the same step")
    deprecated_alias(parser, "--convert-T", "--convert-time-steps")
    add_process_options(parser, threads=2)
    add_output(parser, Path("runs/events"), writes="events_study.{json,md} and figures; finished runs in OUT/runs/ "
               "are reused by a rerun")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..studies.events import EventsStudyConfig, run_events_study

    cfg = EventsStudyConfig(dataset=args.dataset, root=args.root, models=args.models, seeds=args.seeds,
                            curve=args.curve, curve_models=args.curve_models,
                            curve_seeds=args.curve_seeds, epochs=args.epochs, limit=args.limit,
                            threads=args.threads, isolate=not args.no_isolate, convert_T=args.convert_T)
    result = run_events_study(cfg, args.out)
    print(result["markdown"])
    print(f"wrote {args.out}/events_study.json, .md, events_learning_curve.png and events_raster.png "
          f"(runs in {args.out}/runs/)")
    return 0
