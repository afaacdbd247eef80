"""NIR commands: ``adaspike export-nir``, ``adaspike import-nir`` and ``adaspike check-nir``."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from .options import (add_output, checkpoint_path, int_list, output_file, positive_float, positive_int, str_list,
                      time_arg)


def register(commands, studies) -> None:
    from ..core import DISCRETISATIONS, RESET_MODES
    from ..interop.conventions import AUTO, CONVENTIONS
    from ..interop.profiles import PROFILES
    from ..layers.readout import REDUCTIONS
    from . import command_parser

    # choices come from the registries: a new convention or reader profile needs no edit here
    conventions, profiles = (AUTO, *sorted(CONVENTIONS)), tuple(PROFILES)
    export = command_parser(commands, "export-nir", description="Export a trained model to NIR (OUT/model.nir) "
                            "with its true continuous time constants; dt, discretisation and reset mode go into "
                            "node metadata as hints, the model's step and data options into the graph's.")
    export.add_argument("checkpoint", type=checkpoint_path, help="the model checkpoint (.safetensors, or a run "
                        "folder) to export")
    add_output(export, required=True, writes="model.nir")
    export.add_argument("--dt", type=time_arg, default=None, help="step recorded in the metadata hints "
                        "(default: each layer's own dt)")
    export.add_argument("--input-shape", type=int_list, default=None,
                        help="per-step input shape, e.g. 2,34,34 (default: from the checkpoint's model config)")
    export.add_argument("--for", dest="profile", choices=profiles, default="generic",
                        help="the reader: generic NIR with true τ (default), or a file that this reader (snnTorch, "
                        "Norse, SpikingJelly, Sinabs, Rockpool) runs step for step like the model (warnings say "
                        "what differs); a line after every export names the readers that read the file "
                        "differently and the --for that fixes it")
    export.add_argument("--no-check", dest="check", action="store_false",
                        help="skip what export does with --for: run `adaspike check-nir` on the written file against "
                        "the model and the --for reader (when installed), recording the readers checked in the "
                        "file's metadata")
    export.set_defaults(func=_export)

    imp = command_parser(commands, "import-nir",
                         description="Import a NIR graph into OUT/model.safetensors. NIR stores no time step, so --dt "
                         "is required for other writers' files (unless NIR data beside the file, activity.nir, "
                         "states it); adaspike's own record theirs (the default), and at another --dt are moved there "
                         "as `adaspike retime` would move the original model. The writer's convention is detected "
                         "from the graph, or named with --convention.")
    imp.add_argument("nir_file", type=Path, help="the .nir file to read")
    imp.add_argument("--dt", type=time_arg, default=None,
                     help="the step to run at, e.g. 1ms (default: the step an adaspike file records, or that NIR "
                     "data beside the file, activity.nir, states)")
    imp.add_argument("--convention", default="auto", choices=conventions,
                     help="which library wrote the file (default: detect it from the graph; an error names the "
                     "candidates when it cannot tell)")
    imp.add_argument("--method", choices=DISCRETISATIONS, default=None,
                     help="discretisation (default: the file's metadata hint, else zoh)")
    imp.add_argument("--reset", choices=RESET_MODES, default=None,
                     help="reset mode (default: the file's metadata or the writer's convention; snnTorch files "
                     "do not record it and need this flag)")
    imp.add_argument("--writer-dt", type=time_arg, default=None,
                     help="the step the writer ran at, where its files depend on it without recording it: Norse "
                     "1.1's to_nir(dt=...) and SpikingJelly's export_to_nir(dt=...) (default: --dt for Norse 1.1, "
                     "0.1ms for SpikingJelly)")
    imp.add_argument("--time-reduce", choices=REDUCTIONS, default=None,
                     help="reduce the output over time into logits")
    imp.add_argument("--dataset", default=None,
                     help="dataset the network was trained on, recorded so that `adaspike eval` needs no --dataset")
    add_output(imp, required=True, writes="model.safetensors, the imported checkpoint")
    imp.set_defaults(func=_import)

    from ..interop.readers import READERS

    check = command_parser(commands, "check-nir", description="Run one NIR file through adaspike's reading and "
                           "through every installed peer reader (snnTorch, Norse, SpikingJelly, Sinabs, Rockpool), "
                           "each called as its documentation says, on the same random spike input; report per "
                           "node the spike agreement, both rates and the first differing step. Works for any NIR "
                           "file (another writer's needs its convention where the file does not tell). Exit status "
                           "1 when a reader that reads the file disagrees on more than 0.5 % of a node's spikes.")
    check.add_argument("nir_file", type=Path, help="the .nir file to check")
    check.add_argument("--readers", type=str_list, default=None,
                       help=f"readers to run, comma-separated, from {','.join(READERS)} (default: all; those not "
                       "installed are reported so)")
    check.add_argument("--dt", type=time_arg, default=None, help="the step adaspike reads the file at, also "
                       "Norse's dt (default: the step an adaspike file records, else 1ms, Norse's default)")
    check.add_argument("--convention", default="auto", choices=conventions,
                       help="which library wrote the file (default: detect it)")
    check.add_argument("--reset", choices=RESET_MODES, default=None,
                       help="reset mode, for writers whose files do not record it (snnTorch)")
    check.add_argument("--writer-dt", type=time_arg, default=None,
                       help="the writer's step (Norse 1.1, SpikingJelly), as for import-nir; also SpikingJelly's dt")
    check.add_argument("--input-shape", type=int_list, default=None,
                       help="per-step input shape, e.g. 2,34,34 (default: from the graph)")
    check.add_argument("--steps", type=positive_int, default=100, help="time steps of the random input")
    check.add_argument("--batch", type=positive_int, default=8, help="samples of the random input")
    check.add_argument("--rate", type=positive_float, default=0.2, help="spike probability per input and step")
    check.add_argument("--seed", type=int, default=0, help="seed of the random input")
    add_output(check, writes="check.json and check.md")
    check.set_defaults(func=_check)


def _input_shape(args, model) -> list[int]:
    if args.input_shape:
        expected = getattr(model, "input_size", None)
        if expected is not None and math.prod(args.input_shape) != int(expected):
            shape = ",".join(map(str, args.input_shape))
            raise ValueError(f"--input-shape {shape} has {math.prod(args.input_shape)} features; the model "
                             f"expects {int(expected)}")
        return args.input_shape
    kwargs = (getattr(model, "config", None) or {}).get("kwargs", {})
    shape = kwargs.get("input_shape") or getattr(model, "input_shape", None)
    if shape is None:
        raise ValueError("cannot tell the model's input shape; pass --input-shape, e.g. --input-shape 2,34,34")
    return [int(s) for s in shape]


def _export(args) -> int:
    import tempfile
    import warnings

    from ..interop import apply_profile, export_nir, write_nir
    from ..interop.check import check_nir, checked_metadata, forecast_line, reading_forecast
    from ..interop.readers import READERS, reader_available
    from ..interop.recording import RECORDING_NAME, write_recording
    from ..train import load_model, read_checkpoint

    model = load_model(args.checkpoint)
    data = {k: v for k, v in read_checkpoint(args.checkpoint)[2].get("data", {}).items()
            if k in ("dataset", "options", "dt", "t_max")}
    shape = _input_shape(args, model)
    generic = export_nir(model, shape, dt=args.dt, data=data or None)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        graph = apply_profile(generic, args.profile)
    for warning in said:  # the profile's notes, once each, without a source line
        print(f"adaspike: note: {warning.message}", file=sys.stderr)
    forecast = reading_forecast(generic, args.profile)
    report = None
    if args.check and args.profile != "generic":
        readers = [args.profile] if args.profile in READERS and reader_available(args.profile) else []
        if not readers:
            print(f"adaspike: note: {args.profile} is not installed here: the file is checked against the model "
                  "only", file=sys.stderr)
        with tempfile.TemporaryDirectory() as folder:  # the check reads the file as written, through HDF5
            report = check_nir(write_nir(Path(folder) / "model.nir", graph), readers, model=model, dt=args.dt)
        graph.metadata["nir_check"] = checked_metadata(report, forecast)
    else:
        graph.metadata["nir_check"] = json.dumps({"checked": {}, "forecast": {r: f["reads"]
                                                                              for r, f in forecast.items()}})
    path = write_nir(output_file(args.out, "model.nir"), graph)
    if report is not None:
        report.source = str(path)
        print(report.table(), file=sys.stderr)
        if path.name == "model.nir":  # beside it: the check's input and spikes as NIR data, which state dt
            write_recording(path.with_name(RECORDING_NAME), report.activity, report.dt)
    kinds = sorted({type(n).__name__ for n in graph.nodes.values()})
    print(json.dumps({"nir": str(path), "for": args.profile, "nodes": len(graph.nodes), "types": kinds,
                      **({"checked": {r.reader: r.status for r in report.readers + [report.model]}}
                         if report else {})}, indent=2))
    print(forecast_line(forecast), file=sys.stderr)
    if report is not None and report.differing:
        print(f"adaspike: warning: {', '.join(r.reader for r in report.differing)} read(s) {path} differently "
              "from the model (table above)", file=sys.stderr)
    return 0


def _import(args) -> int:
    from ..interop import read_nir
    from ..interop.rebuild import imported_model
    from ..interop.importer import written_dt
    from ..interop.recording import dt_beside
    from ..train import save_checkpoint

    options = {k: v for k, v in (("method", args.method), ("reset", args.reset),
                                 ("time_reduce", args.time_reduce), ("writer_dt", args.writer_dt)) if v is not None}
    graph = read_nir(args.nir_file)
    dt = args.dt
    if dt is None and written_dt(graph) is None:  # NIR data beside the file may state the step
        dt = dt_beside(args.nir_file)
    model = imported_model(graph, dt=dt, convention=args.convention, **options)
    convention, dt = model.nir_import["convention"], model.nir_import["dt"]
    # "data" is what `adaspike eval` reads: the dataset and options the file records (an adaspike export), the
    # step the network now runs at, and --dataset when given
    recorded = json.loads(graph.metadata.get("adaspike_data", "{}")) if written_dt(graph) is not None else {}
    data = {**recorded, "dt": dt, **({"dataset": args.dataset} if args.dataset else {})}
    provenance = {"source": str(args.nir_file), "dt": dt, "convention": convention,
                  "written_dt": model.nir_import.get("written_dt"), **options}
    path = save_checkpoint(output_file(args.out, "model.safetensors"), model, {"nir": provenance, "data": data})
    neurons = sum(1 for m in model.modules() if hasattr(m, "dt"))
    print(json.dumps({"checkpoint": str(path), "dt": dt, "convention": convention,
                      "neuron_layers": neurons, **({"retimed_from": model.nir_import["written_dt"]}
                                                   if getattr(model, "retime_info", None) else {})}, indent=2))
    return 0


def _check(args) -> int:
    from ..interop.check import check_nir
    from ..interop.recording import RECORDING_NAME, write_recording
    from ..report import write_json, write_text

    target = None
    if args.out is not None:
        target = output_file(args.out, "check.json")
        if target.is_file() and not args.overwrite:
            raise FileExistsError(f"{target} exists; pass --overwrite to replace it, or choose another -o folder")
    report = check_nir(args.nir_file, args.readers, dt=args.dt, convention=args.convention, reset=args.reset,
                       writer_dt=args.writer_dt, input_shape=args.input_shape, steps=args.steps, batch=args.batch,
                       rate=args.rate, seed=args.seed)
    table = report.table()
    print(table)
    for row in report.readers:
        for line in row.said:
            print(f"  {row.reader} said: {line[:200]}")
    if target is not None:
        write_json(target, report.to_dict())
        write_text(target.with_suffix(".md"), table + "\n")
        activity = write_recording(target.with_name(RECORDING_NAME), report.activity, report.dt)
        print(f"wrote {target}, {target.with_suffix('.md')} and {activity} (the input and adaspike's spikes as NIR "
              "data, with dt)")
    if report.differing:
        print(f"differs: {', '.join(r.reader for r in report.differing)} read the file differently from adaspike",
              file=sys.stderr)
        return 1
    return 0
