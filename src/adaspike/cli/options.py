"""Argument helpers shared by the sub-commands: time values, comma lists, TOML config files."""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class HelpFormat(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help shows its default once: not when the text already states it, not for flags (a
    store_true/false default only restates the flag), not when there is none."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text.lower() or action.default in (None, argparse.SUPPRESS) or isinstance(
                action, (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._VersionAction,
                         argparse._HelpAction)):
            return text
        return super()._get_help_string(action)


HELP_FORMAT = HelpFormat


def time_arg(text: str) -> float:
    from ..core.units import parse_time  # imported when a time is parsed: building the parser needs no torch

    try:
        return parse_time(text, strict=True)  # on the CLI a bare "4" (seconds) is refused, not warned
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def device(text: str) -> str:
    """A torch device this build can use: 'cuda' on a CPU-only torch is refused before any data loads."""
    name = text.strip().lower()
    if name == "cpu":
        return name         # no torch import: --help and CPU runs stay fast
    import torch

    try:
        kind = torch.device(name).type
    except (RuntimeError, ValueError) as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not a torch device (cpu, cuda, cuda:1, mps)") from err
    if kind == "cuda" and not torch.cuda.is_available():
        why = ("this torch is a CPU build (torch.version.cuda is None); install torch's CUDA build first, see "
               "docs/pages/install.md" if torch.version.cuda is None else "torch sees no CUDA device")
        raise argparse.ArgumentTypeError(f"--device {text}: {why}")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise argparse.ArgumentTypeError(f"--device {text}: torch sees no MPS device")
    return name


def positive_int(text: str) -> int:
    """An integer >= 1 (process counts, pool sizes, epochs, batch sizes)."""
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _finite_float(text: str, allow_zero: bool) -> float:
    # float() accepts "nan" and "inf": refuse them, and negatives (and zero unless allowed)
    bound = ">= 0" if allow_zero else "> 0"
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a number {bound}, got {text!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise argparse.ArgumentTypeError(f"expected a finite number {bound}, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (budgets, rates)."""
    return _finite_float(text, allow_zero=False)


def nonnegative_float(text: str) -> float:
    """A finite number >= 0 (tolerances)."""
    return _finite_float(text, allow_zero=True)


def time_list(text: str) -> list[float]:
    return [time_arg(part) for part in text.split(",") if part.strip()]


def str_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _ints(text: str, minimum: int, what: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < minimum:
        raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r}")
    return values


def int_list(text: str) -> list[int]:
    """Comma-separated positive integers (layer widths, step counts)."""
    return _ints(text, 1, "positive integers")


def int_list_zero(text: str) -> list[int]:
    """Comma-separated integers >= 0 (seeds)."""
    return _ints(text, 0, "integers >= 0")


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML file whose keys set this command's options "
                        "(flags on the command line win)")


def apply_config(parser: argparse.ArgumentParser, argv_args: argparse.Namespace) -> argparse.Namespace:
    """Re-read options from ``--config`` TOML: keys are option names with '-' or '_'."""
    path = getattr(argv_args, "config", None)
    if path is None:
        return argv_args
    if path.is_dir():
        raise IsADirectoryError(f"config file {path} is a folder, not a TOML file")
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    with path.open("rb") as handle:
        try:
            config = tomllib.load(handle)
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"{path}: invalid TOML ({err})") from None
    known = {action.dest: action for action in parser._actions}
    for key, value in config.items():
        dest = key.replace("-", "_")
        if dest not in known:
            raise ValueError(f"{path}: unknown option {key!r}")
        action = known[dest]
        # command-line flags win over the file: only fill values still at their default
        if getattr(argv_args, dest) == action.default:
            setattr(argv_args, dest, _config_value(path, key, value, action))
    return argv_args


def _config_value(path: Path, key: str, value, action: argparse.Action):
    """Check a TOML value as the command line would: through the option's type and choices."""
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse.BooleanOptionalAction)):
        if not isinstance(value, bool):
            raise ValueError(f"{path}: option {key!r} must be true or false, got {value!r}")
        return value if not isinstance(action, argparse._StoreFalseAction) else not value
    if isinstance(value, (dict, bool)) or (isinstance(value, list) and any(isinstance(v, (list, dict)) for v in value)):
        raise ValueError(f"{path}: option {key!r} has an invalid value {value!r}")
    if action.type is not None:
        # the same parser as the flag: lists become "a,b", numbers their text (so dt = 4 is refused like --dt 4)
        text = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
        try:
            value = action.type(text)
        except (argparse.ArgumentTypeError, ValueError, TypeError) as err:
            raise ValueError(f"{path}: option {key!r} = {value!r}: {err}") from None
    elif isinstance(value, list):
        raise ValueError(f"{path}: option {key!r} takes one value, got the list {value!r}")
    if action.choices is not None and value not in action.choices:
        raise ValueError(f"{path}: option {key!r} = {value!r} is not one of {list(action.choices)}")
    return value


def deprecated_alias(parser: argparse.ArgumentParser, old: str, new: str) -> None:
    """Accept the old spelling ``old`` of option ``new`` for one release, with a warning on stderr."""
    target = next(a for a in parser._actions if new in a.option_strings)

    class Alias(argparse.Action):
        def __call__(self, _parser, namespace, values, option_string=None):
            print(f"adaspike: warning: {old} is deprecated and will be removed; use {new}", file=sys.stderr)
            setattr(namespace, target.dest, values)

    parser.add_argument(old, dest=target.dest, type=target.type, choices=target.choices, action=Alias,
                        default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def add_process_options(parser: argparse.ArgumentParser, threads: int) -> None:
    """``--threads`` and ``--no-isolate``, for the studies that train each run in a fresh process."""
    parser.add_argument("--threads", type=positive_int, default=threads, help="torch threads per run")
    parser.add_argument("--no-isolate", action="store_true", help="run in this process (peak memory then only "
                        "shows new peaks)")


def add_output(parser: argparse.ArgumentParser, default: Path | None = None, *, writes: str = "its files",
               required: bool = False) -> None:
    """``-o/--out``: the output folder, the one meaning it has in every command (a command that writes one file
    writes it inside, under a fixed name)."""
    parser.add_argument("-o", "--out", type=Path, default=default, required=required,
                        help=f"output folder (for {writes})")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a finished run (or file) in the output folder instead of refusing")


def output_file(out: Path, name: str) -> Path:
    """The file ``name`` inside the output folder ``out``. A path ending in ``name``'s suffix is taken as the
    file itself, the old meaning of ``-o`` for single-file commands (deprecated, with a warning)."""
    out = Path(out)
    if out.suffix and out.suffix == Path(name).suffix and not out.is_dir():
        print(f"adaspike: warning: -o {out} names a file; -o now names an output folder (this one would "
              f"write {out.with_suffix('') / name}); file paths will stop working in a later release",
              file=sys.stderr)
        return out
    return out / name


def checkpoint_path(text: str) -> Path:
    """A checkpoint argument: a .safetensors file, or a run folder holding model.safetensors."""
    path = Path(text)
    return path / "model.safetensors" if path.is_dir() else path
