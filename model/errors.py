"""The error a user's input raises (入力エラー): a scenario, a targets file or a command-line value that
cannot be used. A module of its own, free of pydantic, so that the command line can name it before it
imports anything heavy (a Ctrl-C during those imports is then handled like any other)."""

from __future__ import annotations

from pathlib import Path


class ScenarioError(ValueError):
    """A scenario that cannot be used: names the file, the key and what is allowed."""

    def __init__(self, source: str | Path | None, key: str, message: str) -> None:
        self.source = str(source) if source is not None else "<scenario>"
        self.key = key
        self.message = message
        where = f"{self.source}: {key}" if key else self.source
        super().__init__(f"{where}: {message}")
