"""Upgrades never lose work: every checked-in project database (one per schema release, see
tests/data/make_project_fixture.py) opens with the current code, runs every later migration,
and keeps its documents, chats, notes and settings; a backup is taken before a migration."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from sqlite_utils import Database

from engine.store import ProjectStore
from engine.store.chats import ChatLog
from engine.store.migrations import MIGRATIONS, migration_names
from tests.support.answers import sample_answer

DATA = Path(__file__).resolve().parents[1] / "data"
FIXTURES = sorted(DATA.glob("project-*.db"))


def test_there_is_a_fixture_for_the_current_schema() -> None:
    last = migration_names()[-1]
    assert (DATA / f"project-{last}.db").is_file(), (
        f"run tests/data/make_project_fixture.py to add a fixture for {last} (keep the old ones)"
    )


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_old_project_opens_and_keeps_everything(fixture: Path, tmp_path: Path) -> None:
    db = tmp_path / "project.db"
    shutil.copy(fixture, db)
    # Releases were cut from parallel branches: whether a fixture holds a grid is read from
    # it, not from its name (project-m007_ocr was written before grids were merged).
    with closing(sqlite3.connect(fixture)) as old:
        had_grids = bool(old.execute("SELECT 1 FROM sqlite_master WHERE name = 'grids'").fetchone())
    with ProjectStore(db) as store:
        assert not MIGRATIONS.pending(store.db)
        assert store.integrity_ok()
        assert [d.name for d in store.documents()] == ["lease.pdf"]
        hit, _ = store.search("monthly rent")[0]
        assert (hit.locator.page, hit.locator.page_end) == (1, 2)  # both pages in one chunk
        log = ChatLog(store)
        (session,) = log.sessions()
        assert session.title == "Rent questions"
        assert log.answers(session.id) == [sample_answer()]
        titles = [n.title for n in log.notes()]
        assert titles == ["What is the term?", "Free note"]
        assert '"page": 4' in log.notes()[0].citations_json
        value = store.db.execute(
            "SELECT value FROM project_settings WHERE key = 'retrieval.budget'"
        ).fetchone()
        assert value == ("3000",)
        # and it is still a working project: new documents and chats can be added
        log.add_exchange(session.id, "Again?", sample_answer())
        assert len(log.messages(session.id)) == 4
        if had_grids:
            _grid_kept(store)


def _grid_kept(store: ProjectStore) -> None:
    """A fixture written with review grids keeps its grid, cell and review."""
    from engine.store import grids

    (grid,) = grids.grids(store)
    doc = store.documents()[0]
    cell = grids.cells(store, [doc.id], grid.questions)[(doc.id, "What is the rent?")]
    assert cell.answer == "1,450 euros [e1]." and cell.citations[0].locator.page == 2
    review = grids.reviews(store, grid.id)[(doc.id, "What is the rent?")]
    assert (review.edited, review.original, review.comment) == (
        "EUR 1,450", "1,450 euros [e1].", "per month",
    )  # fmt: skip


def test_migration_backs_up_first_and_keeps_data(tmp_path: Path) -> None:
    """A project written by the first schema release is migrated, after a backup copy."""
    db = tmp_path / "project.db"
    conn = sqlite3.connect(db)
    old = Database(conn)
    MIGRATIONS.apply(old, stop_before="m002_memory")  # the schema as the first release left it
    old.execute("INSERT INTO meta (key, value) VALUES ('name', 'Old project')")
    old.execute(
        "INSERT INTO documents (id, name, source_key, kind, size_bytes, n_chunks, added_at) "
        "VALUES ('d1', 'old.pdf', '/x/old.pdf', 'pdf', 10, 1, '2026-01-01')"
    )
    old.execute(
        "INSERT INTO chunks (id, doc_id, ordinal, text, n_tokens, page) "
        "VALUES ('d1:0', 'd1', 0, 'The alpha clause survives upgrades.', 7, 3)"
    )
    conn.commit()
    conn.close()
    with ProjectStore(db) as store:  # runs the later migrations, backing up first
        assert not MIGRATIONS.pending(store.db)
        assert store.get_meta("name") == "Old project"
        hit, _ = store.search("alpha clause")[0]
        assert (hit.document, hit.locator.page) == ("old.pdf", 3)
        assert ChatLog(store).sessions() == []  # the new tables exist and work
    (backup_path,) = sorted((tmp_path / "backups").glob("*.db"))
    assert "before-m002_memory" in backup_path.name
    backup = sqlite3.connect(backup_path)
    names = [r[0] for r in backup.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]
    assert names == ["m001_documents"]
    assert backup.execute("SELECT text FROM chunks").fetchone() == (
        "The alpha clause survives upgrades.",
    )
    backup.close()


def test_empty_database_migrates_from_scratch(tmp_path: Path) -> None:
    with ProjectStore(tmp_path / "new.db") as store:
        applied = [m.name for m in MIGRATIONS.applied(store.db)]
    assert applied == list(migration_names())
    assert not (tmp_path / "backups").exists()  # nothing to back up in a new project
