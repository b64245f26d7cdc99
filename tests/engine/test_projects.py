from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ProjectExists, ProjectNotFound, StoreError
from engine.store.projects import Projects


def test_create_list_rename_delete(tmp_path: Path) -> None:
    projects = Projects(tmp_path)
    assert projects.list() == []
    a = projects.create("Acme contracts")
    projects.create("Ünïcode & spaces")
    assert [p.name for p in projects.list()] == ["Acme contracts", "Ünïcode & spaces"]
    with pytest.raises(ProjectExists):
        projects.create("Acme contracts")
    renamed = projects.rename("Acme contracts", "Acme 2026")
    assert renamed.folder == a.folder
    with renamed.open() as store:
        assert store.get_meta("name") == "Acme 2026"
    projects.delete("Acme 2026")
    assert [p.name for p in projects.list()] == ["Ünïcode & spaces"]
    assert not a.folder.exists()


def test_not_found_lists_known_projects(tmp_path: Path) -> None:
    projects = Projects(tmp_path)
    projects.create("One")
    with pytest.raises(ProjectNotFound, match="projects: One"):
        projects.get("Two")
    assert projects.get("one").name == "One"  # case-insensitive fallback


def test_slug_collisions_get_distinct_folders(tmp_path: Path) -> None:
    projects = Projects(tmp_path)
    a = projects.create("My Project")
    b = projects.create("my-project")
    assert a.folder != b.folder


def test_blank_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="needs a name"):
        Projects(tmp_path).create("   ")


def test_half_created_project_does_not_list(tmp_path: Path) -> None:
    (tmp_path / "projects" / "ghost").mkdir(parents=True)
    assert Projects(tmp_path).list() == []
