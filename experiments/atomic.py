"""All-or-nothing output folders (アトミックな書き出し): write into a temporary sibling, then swap it in."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_folder(directory: Path) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces `directory`, on failure it is removed.

    A run that fails or is interrupted leaves the previous `directory` as it was.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = directory.with_name(f".{directory.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = directory.with_name(f".{directory.name}.old")
    if directory.exists():
        if old.exists():
            shutil.rmtree(old)
        directory.rename(old)
    tmp.rename(directory)
    shutil.rmtree(old, ignore_errors=True)
