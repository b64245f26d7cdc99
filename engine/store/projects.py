"""Projects on disk: one folder per project under `TOMES_HOME/projects/`, holding the project's
SQLite database (`project.db`, with its WAL files) and the backups taken before migrations."""

from __future__ import annotations

import json
import re
import shutil
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from engine.errors import ProjectExists, ProjectNotFound, StoreError
from engine.store.db import ProjectStore

__all__ = ["Project", "Projects"]

_DB_NAME = "project.db"


@dataclass(frozen=True, slots=True)
class Project:
    """A project's name and where it lives."""

    name: str
    folder: Path

    @property
    def db_path(self) -> Path:
        return self.folder / _DB_NAME

    def open(self) -> ProjectStore:
        """Open the project's store (runs pending migrations, backing up first)."""
        return ProjectStore(self.db_path)


def _slug(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._").lower()
    return text[:60] or "project"


def _check_name(name: str) -> str:
    clean = " ".join(name.split())
    if not clean:
        raise StoreError("a project needs a name (any text, e.g. 'Acme contracts')")
    if len(clean) > 120:
        raise StoreError("a project name can be at most 120 characters")
    return clean


class Projects:
    """The set of projects under one Tomes home."""

    def __init__(self, home: Path) -> None:
        self.root = Path(home) / "projects"

    def list(self) -> list[Project]:
        """Every project, sorted by name. A folder without a readable database is skipped."""
        if not self.root.is_dir():
            return []
        out = []
        for folder in sorted(self.root.iterdir()):
            name = self._read_name(folder)
            if name is not None:
                out.append(Project(name, folder))
        return sorted(out, key=lambda p: p.name.lower())

    def _read_name(self, folder: Path) -> str | None:
        marker = folder / "project.json"
        try:
            return str(json.loads(marker.read_text(encoding="utf-8"))["name"])
        except (OSError, ValueError, KeyError):
            return None

    def get(self, name: str) -> Project:
        wanted = _check_name(name)
        for project in self.list():
            if project.name == wanted:
                return project
        for project in self.list():  # forgiving second pass: case-insensitive
            if project.name.lower() == wanted.lower():
                return project
        known = ", ".join(p.name for p in self.list()) or "none yet"
        raise ProjectNotFound(f"no project named {wanted!r} (projects: {known})")

    def exists(self, name: str) -> bool:
        try:
            self.get(name)
        except ProjectNotFound:
            return False
        return True

    def create(self, name: str) -> Project:
        clean = _check_name(name)
        if self.exists(clean):
            raise ProjectExists(f"a project named {clean!r} already exists")
        self.root.mkdir(parents=True, exist_ok=True)
        slug = base = _slug(clean)
        n = 2
        while (self.root / slug).exists():
            slug = f"{base}-{n}"
            n += 1
        folder = self.root / slug
        folder.mkdir()
        project = Project(clean, folder)
        with project.open() as store:
            store.set_meta("name", clean)
        # The marker is written last: a folder without it is not a project (a crash during
        # creation leaves nothing that lists).
        self._write_name(folder, clean)
        return project

    def _write_name(self, folder: Path, name: str) -> None:
        tmp = folder / "project.json.tmp"
        tmp.write_text(json.dumps({"name": name}), encoding="utf-8")
        tmp.replace(folder / "project.json")

    def get_or_create(self, name: str) -> Project:
        try:
            return self.get(name)
        except ProjectNotFound:
            return self.create(name)

    def rename(self, name: str, new_name: str) -> Project:
        project = self.get(name)
        clean = _check_name(new_name)
        if clean != project.name and self.exists(clean):
            raise ProjectExists(f"a project named {clean!r} already exists")
        with project.open() as store:
            store.set_meta("name", clean)
        self._write_name(project.folder, clean)
        return Project(clean, project.folder)

    def delete(self, name: str) -> None:
        project = self.get(name)
        # Remove the marker first so a half-deleted folder never lists as a project.
        (project.folder / "project.json").unlink(missing_ok=True)
        shutil.rmtree(project.folder, ignore_errors=True)
