"""Command-line value types shared by the `kankei` sub-commands (引数の型)."""

from __future__ import annotations

import argparse
import tomllib
from collections.abc import Callable
from typing import Any

from model.errors import ScenarioError


def parse_value(text: str) -> Any:
    """Read a command-line value as TOML (numbers, booleans, lists, strings), else keep the text."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def overrides(pairs: list[str]) -> dict[str, object]:
    """`--set KEY=VALUE` pairs as dotted overrides; a pair without '=' is a ScenarioError (exit 2)."""
    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ScenarioError("--set", pair, "expected KEY=VALUE, e.g. run.people_per_agent=1000")
        out[key.strip()] = parse_value(value.strip())
    return out


def whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(
                f"must be at least 1, got {value}" if minimum == 1 else f"must be ≥ {minimum}, got {value}")
        return value

    return parse


positive_int = whole_number(1)
seed = whole_number(0)


def positive_float(text: str) -> float:
    """An argparse type: a finite number above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
    return value


def open_share(text: str) -> float:
    """An argparse type: a share strictly between 0 and 1."""
    value = positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be below 1, got {text}")
    return value
