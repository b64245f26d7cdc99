"""Projects on disk: one folder per project under `TOMES_HOME/projects/`, holding the project's
SQLite database (`project.db`, with its WAL files) and the backups taken before migrations."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.errors import ProjectExists, ProjectGone, ProjectNotFound, StoreError
from engine.store import locks
from engine.store.db import ProjectStore
from engine.store.private import private_dir, touch_private

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

    def open(self, *, create: bool = False) -> ProjectStore:
        """Open the project's store (runs pending migrations, backing up first). A project
        deleted meanwhile raises ProjectGone instead of coming back as an empty database."""
        if not create and not self.db_path.exists():
            raise ProjectGone(f"the project {self.name!r} no longer exists (it was deleted)")
        return ProjectStore(self.db_path, create=create)

    def writing(self) -> contextlib.AbstractContextManager[None]:
        """Held while writing the project for long (ingest, indexing): deleting it waits."""
        return _writing(self)


@contextlib.contextmanager
def _writing(project: Project) -> Iterator[None]:
    try:
        lock = locks.writing(project.folder)
        lock.__enter__()
    except FileNotFoundError:
        raise ProjectGone(
            f"the project {project.name!r} no longer exists (it was deleted)"
        ) from None
    try:
        if not (project.folder / "project.json").exists():
            raise ProjectGone(f"the project {project.name!r} was deleted")
        yield
    finally:
        lock.__exit__(None, None, None)


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
        private_dir(self.root.parent)  # TOMES_HOME itself: 0700
        private_dir(self.root)
        slug = base = _slug(clean)
        n = 2
        while (self.root / slug).exists():
            slug = f"{base}-{n}"
            n += 1
        folder = self.root / slug
        folder.mkdir(mode=0o700)
        project = Project(clean, folder)
        with project.open(create=True) as store:
            store.set_meta("name", clean)
        # The marker is written last: a folder without it is not a project (a crash during
        # creation leaves nothing that lists).
        self._write_name(folder, clean)
        return project

    def _write_name(self, folder: Path, name: str) -> None:
        tmp = touch_private(folder / "project.json.tmp")
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

    def delete(self, name: str, *, wait: float = 10.0) -> None:
        """Delete a project. Another process writing it (adding files, indexing) holds its
        lock: this waits up to `wait` seconds for it to finish, then raises ProjectBusy."""
        project = self.get(name)
        with locks.exclusive(
            project.folder, wait=wait, what=f"cannot delete the project {project.name!r} now"
        ):
            # Remove the marker first so a half-deleted folder never lists as a project.
            (project.folder / "project.json").unlink(missing_ok=True)
            shutil.rmtree(project.folder, ignore_errors=True)
