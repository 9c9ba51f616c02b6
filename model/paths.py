"""Where Kankei's files are (場所): the built-in scenarios and data, and the default results folder.

In a checkout (the repository with its `pyproject.toml`), the scenarios are `scenarios/` at the
repository root and results go to `results/` there. In an installed wheel the same files ship as
package data (`model/_scenarios/`, see `pyproject.toml`) and results go to `results/` in the
current directory. This module imports nothing heavy, so the command line can answer `--help`
without loading the model.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent


def checkout_root() -> Path | None:
    """The repository root when running from a checkout, else None (an installed wheel)."""
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "scenarios" / "baseline.toml").is_file():
        return _CHECKOUT
    return None


def scenarios_dir() -> Path:
    """The folder holding the built-in scenarios (`baseline.toml`, ...) and `data/`."""
    root = checkout_root()
    return root / "scenarios" if root is not None else _PACKAGE / "_scenarios"


def default_scenario() -> Path:
    """The default scenario, `baseline.toml`."""
    return scenarios_dir() / "baseline.toml"


def status_quo_scenario() -> Path:
    """The status quo, `status_quo.toml`: today's policies at their actual sizes (the default baseline
    of `kankei compare`)."""
    return scenarios_dir() / "status_quo.toml"


def results_dir() -> Path:
    """The default parent of output folders: `results/` of the checkout, else of the current directory."""
    root = checkout_root()
    return (root if root is not None else Path.cwd()) / "results"
