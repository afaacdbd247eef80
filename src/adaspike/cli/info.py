"""``adaspike info``: a checkpoint's metadata (read from its header, without torch), or what this install has."""
from __future__ import annotations

import json
from pathlib import Path


def register(commands, studies) -> None:
    from . import command_parser

    info = command_parser(commands, "info", description="With a checkpoint: its metadata (model, data, training "
                          "record) and tensor counts, read from the file's header. Without: the version, the scan "
                          "backends, datasets and models this install provides.")
    info.add_argument("checkpoint", type=Path, nargs="?",
                      help="checkpoint whose metadata to show; without it: version, backends, datasets, models")
    info.set_defaults(func=_info)


def _info(args) -> int:
    from .. import __version__
    from ..train import read_metadata

    if args.checkpoint is None:
        from ..core import available_backends
        from ..data import DATASETS
        from ..models import registered_models

        print(f"adaspike {__version__}")
        print("scan backends:", ", ".join(available_backends()))
        print("datasets:", ", ".join(DATASETS))
        print("models:", ", ".join(registered_models()))
        return 0
    meta, counts = read_metadata(args.checkpoint)
    meta = {k: v for k, v in meta.items() if k not in ("param_groups", "scheduler")}
    print(json.dumps({**meta, **counts}, indent=2, default=str))
    return 0


__all__ = ["register"]
