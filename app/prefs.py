"""The app's small memory between runs: `UiPrefs`, the ui.json file under TOMES_HOME.

Nothing is read or written on import; the file is written atomically (a temporary file, then
a rename), so a crash never leaves half of it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["UiPrefs"]


class UiPrefs:
    """What the app remembers between runs (TOMES_HOME/ui.json): the last opened project."""

    def __init__(self, home: Path) -> None:
        self.path = Path(home) / "ui.json"

    def load(self) -> dict[str, Any]:
        """The stored values; empty when the file is missing, unreadable or not an object."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def last_project(self) -> str | None:
        """The last opened project's name, if one was stored."""
        value = self.load().get("last_project")
        return value if isinstance(value, str) and value else None

    def remember(self, project: str | None) -> None:
        """Store the last project; written to a temporary file and renamed, so a crash never
        leaves half a file."""
        data = self.load()
        if data.get("last_project") == project:
            return
        data["last_project"] = project
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".ui.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
