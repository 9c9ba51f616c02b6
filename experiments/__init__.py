"""How Kankei is studied (実験): runs, comparisons, sweeps, sensitivity analysis, provenance, plots.

`experiments.load(DIR)` reads a sweep folder (written by `kankei sweep`) back as one tidy DataFrame;
`load_runs(DIR)` gives its run table and `load_summary(DIR)` one row of outcomes per run.
"""

from experiments.store import load, load_runs, load_summary

__all__ = ["load", "load_runs", "load_summary"]
