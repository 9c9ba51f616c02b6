"""Provenance (来歴) of a run: code version, parameter hash, seeds, package versions, wall time."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from model.parameters import ScenarioConfig
from model.paths import checkout_root

PACKAGES = ("kankei", "mesa", "numba", "numpy", "pandas", "pyarrow", "pydantic", "matplotlib")


def code_version() -> str:
    """`git describe` of the checkout (with -dirty when it has changes), else the package version."""
    root = checkout_root()
    if root is None:
        return metadata.version("kankei")
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=root,
                             capture_output=True, text=True, timeout=10, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return metadata.version("kankei")


def parameter_hash(config: ScenarioConfig) -> str:
    """SHA-256 of the validated scenario (canonical JSON); equal hashes mean equal parameters."""
    text = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that shape the results."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def manifest(config: ScenarioConfig, scenario_file: str, seeds: list[int], wall_seconds: float,
             extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest written beside a run's outputs."""
    return {
        "scenario": config.run.name or Path(scenario_file).stem,
        "scenario_file": scenario_file,
        "code_version": code_version(),
        "parameter_hash": parameter_hash(config),
        "seeds": seeds,
        "packages": package_versions(),
        "wall_seconds": round(wall_seconds, 3),
        "parameters": config.model_dump(mode="json"),
        **(extra or {}),
    }
