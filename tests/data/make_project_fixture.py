"""Write tests/data/project-<last migration>.db: a small project made by the current schema
(documents, chunks, a chat with a cited answer, a pinned note, a project setting, and from
m006_grid on a review grid with a computed cell and a reviewer's edit).

Run it once whenever a migration is added, and keep every earlier file: tests/reliability/
test_upgrade.py opens each of them with the current code, so every later migration is proved
on data written by every earlier release.

    .venv/bin/python tests/data/make_project_fixture.py
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.store import ProjectStore

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))


def main() -> Path:
    from engine.intake import ingest_paths
    from engine.settings import Settings
    from engine.store import ProjectStore
    from engine.store.chats import ChatLog
    from engine.store.migrations import migration_names
    from tests.support.answers import sample_answer
    from tests.support.fixtures import make_pdf

    last = migration_names()[-1]
    target = HERE / f"project-{last}.db"
    with tempfile.TemporaryDirectory() as tmp:
        pdf = make_pdf(
            Path(tmp) / "lease.pdf",
            ["Lease between Anna Berg and Lake Homes.", "The monthly rent is 1,450 euros."],
        )
        db = Path(tmp) / "project.db"
        settings = Settings.load(env={"TOMES_HOME": tmp})
        with ProjectStore(db) as store:
            store.set_meta("name", "Upgrade fixture")
            list(ingest_paths(store, [pdf], settings))
            log = ChatLog(store)
            session = log.create_session("Rent questions")
            _, answer_id = log.add_exchange(session.id, "What is the term?", sample_answer())
            log.pin_answer(answer_id)
            log.add_note("Free note", "Check clause 4 with the client.")
            store.db.execute(
                "INSERT INTO project_settings(key, value) VALUES (?, ?)",
                ["retrieval.budget", json.dumps(3000)],
            )
            store.db.conn.commit()
            if "m006_grid" in migration_names():
                _grid(store)
            with store.db.ensure_autocommit_on():
                store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                store.db.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        shutil.copy(db, target)
    return target


def _grid(store: ProjectStore) -> None:
    """A grid of one question over the lease, its cell, and a reviewer's edit."""
    from engine.store import grids
    from engine.types import CellReview, CellState, Citation, GridCell, GridColumn
    from ingest.types import Locator

    doc = store.documents()[0]
    grid = grids.create_grid(store, "Leases", [GridColumn("What is the rent?", "Rent")], [])
    cite = Citation("e1", f"{doc.id[:16]}:0", doc.name, Locator(doc.id, page=2),
                    "The monthly rent is 1,450 euros.", True, doc.id)  # fmt: skip
    cell = GridCell(doc.id, doc.name, "What is the rent?", CellState.FOUND, "1,450 euros [e1].",
                    (cite,), "fixture")  # fmt: skip
    grids.write_cell(store, cell)
    review = CellReview(True, "EUR 1,450", "1,450 euros [e1].", False, "per month")
    grids.save_review(store, grid.id, doc.id, "What is the rent?", review)


if __name__ == "__main__":
    print(f"wrote {main()}")
