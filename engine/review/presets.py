"""Question presets for review grids: the ones Tomes ships (files in engine/review/presets/)
and the user's own (TOMES_HOME/presets/*.json, usable in every project).

    for preset in list_presets(home): preset.name, preset.columns
    save_preset(home, "My NDA checks", [GridColumn("Is there a non-solicit clause?")])

A preset file is JSON: {"name": ..., "description": ..., "columns": [{"question", "label"}]}.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.errors import TomesError
from engine.types import GridColumn

__all__ = [
    "CONTRACT_REVIEW",
    "Preset",
    "delete_preset",
    "find_preset",
    "list_presets",
    "save_preset",
]

CONTRACT_REVIEW = "Contract review"
_SHIPPED = Path(__file__).with_name("presets")
_MAX_QUESTIONS = 500


@dataclass(frozen=True, slots=True)
class Preset:
    """A named list of questions (with short column labels)."""

    name: str
    columns: tuple[GridColumn, ...]
    description: str = ""
    shipped: bool = False  # comes with Tomes (cannot be changed or deleted)


def _read(path: Path, *, shipped: bool) -> Preset:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        columns = tuple(
            GridColumn(" ".join(str(c["question"]).split()), str(c.get("label") or ""))
            for c in data["columns"]
        )
        return Preset(str(data["name"]), columns, str(data.get("description") or ""), shipped)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TomesError(f"the question preset {path.name} cannot be read ({exc})") from exc


def _user_dir(home: Path) -> Path:
    return Path(home) / "presets"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "preset"


def list_presets(home: Path) -> list[Preset]:
    """The shipped presets, then the user's (by name). A user file that cannot be read is
    left out rather than hiding every other preset."""
    shipped = [_read(p, shipped=True) for p in sorted(_SHIPPED.glob("*.json"))]
    names = {p.name.lower() for p in shipped}
    own: list[Preset] = []
    folder = _user_dir(home)
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            try:
                preset = _read(path, shipped=False)
            except TomesError:
                continue
            if preset.name.lower() not in names:
                own.append(preset)
    return shipped + sorted(own, key=lambda p: p.name.lower())


def find_preset(home: Path, name: str) -> Preset:
    """The preset called `name` (case-insensitive); the error lists the ones there are."""
    presets = list_presets(home)
    for preset in presets:
        if preset.name.lower() == name.strip().lower():
            return preset
    known = ", ".join(repr(p.name) for p in presets)
    raise TomesError(f"no question preset called {name!r}; there are: {known}")


def save_preset(
    home: Path, name: str, columns: Sequence[GridColumn], *, description: str = ""
) -> Preset:
    """Save (or replace) a preset of the user's."""
    name = " ".join(name.split())
    if not name:
        raise TomesError("name the preset first")
    cols = tuple(c for c in columns if c.question.strip())
    if not cols:
        raise TomesError("a preset needs at least one question")
    if len(cols) > _MAX_QUESTIONS:
        raise TomesError(f"a preset holds at most {_MAX_QUESTIONS} questions (got {len(cols)})")
    if any(p.shipped and p.name.lower() == name.lower() for p in list_presets(home)):
        raise TomesError(
            f"{name!r} is a preset that comes with Tomes; save yours under another name"
        )
    folder = _user_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "name": name,
        "description": description,
        "columns": [{"question": c.question, "label": c.label} for c in cols],
    }
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".preset.", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1)
        os.replace(tmp, folder / f"{_slug(name)}.json")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Preset(name, cols, description)


def delete_preset(home: Path, name: str) -> None:
    preset = find_preset(home, name)
    if preset.shipped:
        raise TomesError(f"{preset.name!r} comes with Tomes and cannot be deleted")
    for path in _user_dir(home).glob("*.json"):
        try:
            if _read(path, shipped=False).name.lower() == preset.name.lower():
                path.unlink()
        except TomesError:
            continue
