"""How Kankei is studied (実験): runs, comparisons, sweeps, sensitivity analysis, provenance, plots.

`experiments.load(DIR)` reads a sweep folder (written by `kankei sweep`) back as one tidy DataFrame;
`load_runs(DIR)` gives its run table and `load_summary(DIR)` one row of outcomes per run. They are
imported on first use, so the command line starts without pyarrow.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load", "load_runs", "load_summary"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from experiments import store

        return getattr(store, name)
    raise AttributeError(f"module 'experiments' has no attribute {name!r}")
