"""Argument helpers shared by the sub-commands: time values, comma lists, TOML config files."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.units import parse_time

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


HELP_FORMAT = argparse.ArgumentDefaultsHelpFormatter  # every option's help shows its default


def time_arg(text: str) -> float:
    try:
        return parse_time(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


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
            if action.type is not None and isinstance(value, str):
                value = action.type(value)
            setattr(argv_args, dest, value)
    return argv_args
