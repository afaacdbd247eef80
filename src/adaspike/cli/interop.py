"""NIR commands: ``adaspike export-nir`` and ``adaspike import-nir``."""
from __future__ import annotations

import json
import math
from pathlib import Path

from .options import add_output, checkpoint_path, int_list, output_file, time_arg


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
                        "Norse, SpikingJelly, Rockpool) runs step for step like the model (warnings say what "
                        "differs)")
    export.set_defaults(func=_export)

    imp = command_parser(commands, "import-nir", description="Import a NIR graph into OUT/model.safetensors. NIR stores no time step, so --dt is required for "
                              "other writers' files; adaspike's own record theirs (the default), and at another "
                              "--dt are moved there as `adaspike retime` would move the original model. The "
                              "writer's convention is detected from the graph, or named with --convention.")
    imp.add_argument("nir_file", type=Path, help="the .nir file to read")
    imp.add_argument("--dt", type=time_arg, default=None,
                     help="the step to run at, e.g. 1ms (default: the step an adaspike file records)")
    imp.add_argument("--convention", default="auto", choices=conventions,
                     help="which library wrote the file (default: detect it from the graph; an error names the "
                     "candidates when it cannot tell)")
    imp.add_argument("--method", choices=DISCRETISATIONS, default=None,
                     help="discretisation (default: the file's metadata hint, else zoh)")
    imp.add_argument("--reset", choices=RESET_MODES, default=None,
                     help="reset mode (default: the file's metadata or the writer's convention; snnTorch files "
                     "do not record it and need this flag)")
    imp.add_argument("--time-reduce", choices=REDUCTIONS, default=None,
                     help="reduce the output over time into logits")
    imp.add_argument("--dataset", default=None,
                     help="dataset the network was trained on, recorded so that `adaspike eval` needs no --dataset")
    add_output(imp, required=True, writes="model.safetensors, the imported checkpoint")
    imp.set_defaults(func=_import)


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
    from ..interop import export_nir, write_nir
    from ..train import load_model

    from ..train import read_checkpoint

    model = load_model(args.checkpoint)
    data = {k: v for k, v in read_checkpoint(args.checkpoint)[2].get("data", {}).items()
            if k in ("dataset", "options", "dt", "t_max")}
    graph = export_nir(model, _input_shape(args, model), dt=args.dt, profile=args.profile, data=data or None)
    path = write_nir(output_file(args.out, "model.nir"), graph)
    kinds = sorted({type(n).__name__ for n in graph.nodes.values()})
    print(json.dumps({"nir": str(path), "for": args.profile, "nodes": len(graph.nodes), "types": kinds},
                     indent=2))
    return 0


def _import(args) -> int:
    from ..interop import read_nir
    from ..interop.rebuild import imported_model
    from ..train import save_checkpoint

    options = {k: v for k, v in (("method", args.method), ("reset", args.reset),
                                 ("time_reduce", args.time_reduce)) if v is not None}
    graph = read_nir(args.nir_file)
    model = imported_model(graph, dt=args.dt, convention=args.convention, **options)
    convention, dt = model.nir_import["convention"], model.nir_import["dt"]
    # "data" is what `adaspike eval` reads: the dataset and options the file records (an adaspike export), the
    # step the network now runs at, and --dataset when given
    recorded = json.loads(graph.metadata.get("adaspike_data", "{}")) if convention == "adaspike" else {}
    data = {**recorded, "dt": dt, **({"dataset": args.dataset} if args.dataset else {})}
    path = save_checkpoint(output_file(args.out, "model.safetensors"), model, {"nir": {"source": str(args.nir_file), "dt": dt, "convention": convention,
                                              "written_dt": model.nir_import.get("written_dt"), **options},
                                      "data": data})
    neurons = sum(1 for m in model.modules() if hasattr(m, "dt"))
    print(json.dumps({"checkpoint": str(path), "dt": dt, "convention": convention,
                      "neuron_layers": neurons, **({"retimed_from": model.nir_import["written_dt"]}
                                                   if getattr(model, "retime_info", None) else {})}, indent=2))
    return 0
