"""Safe, all-or-nothing output folders (安全な書き出し): Kankei replaces only what it wrote itself.

`check_output_folder(DIR, kind)` runs before any work and refuses (a `ScenarioError`, exit 2)
anything that is not safe to replace: a regular file, a symbolic link, a mount point, the current
folder, a folder Kankei did not write (no ``manifest.json`` of the same `kind`) or a Kankei folder
that also holds files its manifest does not list (other than pages `kankei report` wrote into it).
It also checks that the folder can be written. `check_report_file` does the same for the one file
`kankei report` writes.

`atomic_folder(DIR, kind)` yields a hidden temporary sibling to write into; on success it writes
the manifest's ``kind`` and ``files`` and swaps the sibling in (the previous folder of the same
kind is removed only after the new one is in place), on any failure it removes the sibling and
leaves ``DIR`` as it was. A regular file is never moved, and nothing outside ``DIR`` is touched.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from model.errors import ScenarioError

MANIFEST = "manifest.json"
KINDS = ("run", "compare", "calibrate", "validate")
# a full disk or quota, a file too large, a read-only file system, no permission
WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}
REPORT_MARK = b"<title>Kankei: "       # in the head of every page `kankei report` writes


def is_kankei_report(path: Path) -> bool:
    """Is this file an HTML page `kankei report` wrote (report-<lang>.html by default)?"""
    try:
        with open(path, "rb") as fh:
            return REPORT_MARK in fh.read(400)
    except OSError:
        return False


def check_report_file(path: str | Path) -> Path:
    """The report's file, if `kankei report` may write it: new, or a page it wrote before."""
    p = _absolute(path)
    if p.is_dir() or p.is_symlink():
        raise ScenarioError("--out", str(path), "is a folder or a symbolic link; give a file name, e.g. report.html")
    if p.exists() and not is_kankei_report(p):
        raise ScenarioError("--out", str(path), "exists and is not a page `kankei report` wrote; Kankei never "
                            "overwrites a file it did not write. Give a new file name")
    _check_writable(_nearest_existing(p.parent), str(path))
    return p


def _absolute(directory: str | Path) -> Path:
    return Path(os.path.normpath(Path(directory).absolute()))


def _manifest(directory: Path) -> dict[str, Any] | None:
    try:
        info = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _manifest_kind(info: dict[str, Any]) -> str | None:
    kind = info.get("kind")
    if kind is None and "parameter_hash" in info and "files" in info:
        return "run"          # written by `kankei run` before manifests named their kind
    return kind if isinstance(kind, str) else None


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output_folder(directory: str | Path, kind: str) -> Path:
    """The absolute output folder, if `kind`'s command may write it; else a ScenarioError naming why.

    Allowed: a path that does not exist yet, an empty folder, or a folder holding a Kankei
    ``manifest.json`` of the same kind and nothing its manifest does not list.
    """
    d = _absolute(directory)
    shown = str(directory)
    where = "--out"
    if d == Path(os.getcwd()).absolute() or Path(os.getcwd()).absolute().is_relative_to(d):
        raise ScenarioError(where, shown, "is the current folder or holds it; give a new folder, "
                            f"e.g. --out {Path(shown) / 'results'}")
    if d.is_symlink():
        raise ScenarioError(where, shown, "is a symbolic link; give the folder itself or a new path")
    if d.exists() and not d.is_dir():
        raise ScenarioError(where, shown, "exists and is not a folder; Kankei never moves or replaces a file. "
                            "Give a new folder")
    if d.is_dir():
        if os.path.ismount(d):
            raise ScenarioError(where, shown, "is a mount point; give a new folder inside it, "
                                f"e.g. --out {Path(shown) / 'results'}")
        try:
            entries = sorted(p.name for p in d.iterdir())
        except OSError as exc:
            raise ScenarioError(where, shown, f"cannot read the folder: {exc.strerror}") from None
        if entries:
            info = _manifest(d)
            found = _manifest_kind(info) if info is not None else None
            if found != kind:
                what = (f"a Kankei {found!r} folder" if found else
                        "a folder Kankei did not write (no Kankei manifest.json)")
                raise ScenarioError(where, shown, f"is {what} and is not empty; `kankei {kind}` replaces only a "
                                    f"folder it wrote itself. Give a new or empty folder")
            listed = set(info.get("files") or [])
            foreign = [name for name in entries if name not in listed
                       and not (name.startswith("report-") and is_kankei_report(d / name))]
            if foreign:
                more = f", ... ({len(foreign)} in all)" if len(foreign) > 5 else ""
                raise ScenarioError(where, shown, f"holds files Kankei did not write ({', '.join(foreign[:5])}{more}); "
                                    "move them away or give another folder")
    _check_writable(_nearest_existing(d.parent), shown)
    return d


def _check_writable(existing: Path, shown: str) -> None:
    """Create and remove a probe folder where the output's parents will be created."""
    if not existing.is_dir():
        raise ScenarioError("--out", shown, f"{existing} is not a folder")
    probe = existing / f".kankei-probe-{os.getpid()}"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError as exc:
        raise ScenarioError("--out", shown, f"cannot write in {existing}: {exc.strerror or exc}") from None


def write_error(directory: Path, exc: OSError) -> ScenarioError:
    """A write failure (full disk, read-only file system, no permission) as a one-line error."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        reason += " (free some space and run again)"
    return ScenarioError("--out", str(directory), f"cannot write: {reason}; nothing was written and the folder "
                         "is as it was")


@contextmanager
def atomic_folder(directory: str | Path, kind: str) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces `directory`, on failure it is removed.

    `directory` is checked with `check_output_folder` first (again at the swap). The manifest in
    the result records `kind` and the list of files, which is what makes the folder Kankei's.
    A write error (e.g. a full disk) becomes a ScenarioError; `directory` is then unchanged.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    d = check_output_folder(directory, kind)
    tmp = d.with_name(f".{d.name}.tmp-{os.getpid()}")
    try:
        d.parent.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
    except OSError as exc:
        raise write_error(d, exc) from None
    try:
        yield tmp
        info = _manifest(tmp) or {}
        info["kind"] = kind
        info["files"] = sorted({p.name for p in tmp.iterdir()} | {MANIFEST})
        (tmp / MANIFEST).write_text(json.dumps(info, indent=2, ensure_ascii=False), encoding="utf-8")
        check_output_folder(directory, kind)          # nothing foreign arrived meanwhile
        _swap(tmp, d)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise write_error(d, exc) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap(tmp: Path, d: Path) -> None:
    if d.is_dir() and not any(d.iterdir()):
        os.rename(tmp, d)             # replaces an empty folder atomically
        return
    if not d.exists():
        os.rename(tmp, d)
        return
    old = d.with_name(f".{d.name}.old-{os.getpid()}")
    os.rename(d, old)                 # a Kankei folder of this kind, holding only its own files
    try:
        os.rename(tmp, d)
    except OSError:
        os.rename(old, d)
        raise
    shutil.rmtree(old, ignore_errors=True)
