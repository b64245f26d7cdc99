"""Review-grid rows: grid definitions (`grids`), computed cells (`grid_cells`) and the
reviewer's marks (`grid_reviews`).

A cell is keyed by (doc_id, question) and shared by every grid that asks that question of that
document; its `made_by` says how it was computed. Each cell is written in its own transaction
the moment it is finished, so a killed process loses none. Reviews are keyed by (grid, doc_id,
question) and never touched by a recompute.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from engine.errors import StoreError
from engine.store.chats import citations_from_json
from engine.types import CellReview, CellState, Grid, GridCell, GridColumn, GridRow

if TYPE_CHECKING:
    from engine.store.db import ProjectStore

__all__ = [
    "cell_stamps",
    "cells",
    "clear_cells",
    "create_grid",
    "delete_grid",
    "grid",
    "grid_by_name",
    "grids",
    "prune_orphans",
    "reviews",
    "save_review",
    "update_grid",
    "write_cell",
]

_GRID_COLS = "id, name, columns, documents, created_at, updated_at"
_IN_BATCH = 500  # ids per IN (...) list: far below SQLite's variable limit


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _columns_json(columns: Sequence[GridColumn]) -> str:
    return json.dumps(
        [{"question": c.question, "label": c.label} for c in columns], ensure_ascii=False
    )


def _rows_json(rows: Sequence[GridRow]) -> str:
    return json.dumps([{"doc_id": r.doc_id, "name": r.name} for r in rows], ensure_ascii=False)


def _grid(row: Sequence[Any]) -> Grid:
    gid, name, columns, documents, created, updated = row
    cols = tuple(
        GridColumn(str(c["question"]), str(c.get("label") or "")) for c in json.loads(columns)
    )
    docs = tuple(GridRow(str(d["doc_id"]), str(d.get("name") or "")) for d in json.loads(documents))
    return Grid(int(gid), str(name), cols, docs, str(created), str(updated))


# ---------------------------------------------------------------------------------- grids
def grids(store: ProjectStore) -> list[Grid]:
    """Every grid of the project, most recently changed first."""
    rows = store.db.execute(f"SELECT {_GRID_COLS} FROM grids ORDER BY updated_at DESC, id DESC")
    return [_grid(r) for r in rows.fetchall()]


def grid(store: ProjectStore, grid_id: int) -> Grid:
    row = store.db.execute(f"SELECT {_GRID_COLS} FROM grids WHERE id = ?", [grid_id]).fetchone()
    if row is None:
        raise StoreError(f"no review grid {grid_id} in this project (it was deleted?)")
    return _grid(row)


def grid_by_name(store: ProjectStore, name: str) -> Grid | None:
    row = store.db.execute(f"SELECT {_GRID_COLS} FROM grids WHERE name = ?", [name]).fetchone()
    return _grid(row) if row else None


def create_grid(
    store: ProjectStore, name: str, columns: Sequence[GridColumn], documents: Sequence[GridRow]
) -> Grid:
    now = _now()
    with store.transaction():
        if grid_by_name(store, name) is not None:
            raise StoreError(f"a review grid called {name!r} already exists; choose another name")
        cur = store.db.execute(
            "INSERT INTO grids (name, columns, documents, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [name, _columns_json(columns), _rows_json(documents), now, now],
        )
    return grid(store, int(cur.lastrowid or 0))


def update_grid(
    store: ProjectStore,
    grid_id: int,
    *,
    name: str | None = None,
    columns: Sequence[GridColumn] | None = None,
    documents: Sequence[GridRow] | None = None,
) -> Grid:
    """Change a grid's name, questions or documents (cells and reviews of questions and
    documents it keeps stay as they are)."""
    with store.transaction():
        old = grid(store, grid_id)
        if name is not None and name != old.name and grid_by_name(store, name) is not None:
            raise StoreError(f"a review grid called {name!r} already exists; choose another name")
        store.db.execute(
            "UPDATE grids SET name = ?, columns = ?, documents = ?, updated_at = ? WHERE id = ?",
            [
                old.name if name is None else name,
                _columns_json(old.columns if columns is None else columns),
                _rows_json(old.documents if documents is None else documents),
                _now(),
                grid_id,
            ],
        )
    return grid(store, grid_id)


def delete_grid(store: ProjectStore, grid_id: int) -> None:
    """Delete a grid and its reviews (computed cells stay: other grids may share them)."""
    with store.transaction():
        store.db.execute("DELETE FROM grid_reviews WHERE grid_id = ?", [grid_id])
        store.db.execute("DELETE FROM grids WHERE id = ?", [grid_id])


# ---------------------------------------------------------------------------------- cells
def _batches(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), _IN_BATCH):
        yield items[i : i + _IN_BATCH]


def cell_stamps(
    store: ProjectStore, doc_ids: Sequence[str], questions: Sequence[str]
) -> dict[tuple[str, str], tuple[str, CellState]]:
    """(doc_id, question) → (made_by, state) of the stored cells among these (no text read:
    cheap enough to plan a 10,000-cell grid)."""
    wanted = set(questions)
    out: dict[tuple[str, str], tuple[str, CellState]] = {}
    for batch in _batches(list(dict.fromkeys(doc_ids))):
        marks = ",".join("?" * len(batch))
        rows = store.db.execute(
            f"SELECT doc_id, question, made_by, state FROM grid_cells WHERE doc_id IN ({marks})",
            list(batch),
        )
        for doc_id, question, made_by, state in rows:
            if question in wanted:
                out[(doc_id, question)] = (made_by, CellState(state))
    return out


def cells(
    store: ProjectStore, doc_ids: Sequence[str], questions: Sequence[str]
) -> dict[tuple[str, str], GridCell]:
    """The stored cells of these documents and questions, by (doc_id, question), with their
    document's current name. `current` is left True: the caller compares `made_by`."""
    wanted = set(questions)
    out: dict[tuple[str, str], GridCell] = {}
    for batch in _batches(list(dict.fromkeys(doc_ids))):
        marks = ",".join("?" * len(batch))
        rows = store.db.execute(
            "SELECT c.doc_id, coalesce(d.name, ''), c.question, c.state, c.answer, c.citations, "
            "c.made_by, c.error, c.prompt_tokens, c.completion_tokens, c.seconds "
            "FROM grid_cells c LEFT JOIN documents d ON d.id = c.doc_id "
            f"WHERE c.doc_id IN ({marks})",
            list(batch),
        )
        for doc_id, name, question, state, answer, cites, made_by, error, pt, ct, secs in rows:
            if question not in wanted:
                continue
            out[(doc_id, question)] = GridCell(
                doc_id=doc_id,
                document=name,
                question=question,
                state=CellState(state),
                answer=answer,
                citations=citations_from_json(json.loads(cites)),
                made_by=made_by,
                error=error,
                prompt_tokens=int(pt),
                completion_tokens=int(ct),
                seconds=float(secs),
            )
    return out


def write_cell(store: ProjectStore, cell: GridCell) -> None:
    """Store a finished cell (replacing any earlier one of its document and question), in its
    own transaction: once this returns, a crash cannot lose it."""
    if cell.state is CellState.PENDING:
        raise ValueError("a pending cell has nothing to store")
    citations = [{**c.to_json(), "doc_id": c.doc_id} for c in cell.citations]
    with store.transaction():
        store.db.execute(
            "INSERT INTO grid_cells (doc_id, question, made_by, state, answer, citations, error, "
            "prompt_tokens, completion_tokens, seconds, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(doc_id, question) DO UPDATE SET made_by = excluded.made_by, "
            "state = excluded.state, answer = excluded.answer, citations = excluded.citations, "
            "error = excluded.error, prompt_tokens = excluded.prompt_tokens, "
            "completion_tokens = excluded.completion_tokens, seconds = excluded.seconds, "
            "created_at = excluded.created_at",
            [
                cell.doc_id,
                cell.question,
                cell.made_by,
                cell.state.value,
                cell.answer,
                json.dumps(citations, ensure_ascii=False),
                cell.error,
                cell.prompt_tokens,
                cell.completion_tokens,
                round(cell.seconds, 4),
                _now(),
            ],
        )


def clear_cells(store: ProjectStore, doc_ids: Sequence[str]) -> None:
    """Forget the computed cells of these documents (the next run computes them again;
    reviews stay)."""
    with store.transaction():
        for batch in _batches(list(dict.fromkeys(doc_ids))):
            marks = ",".join("?" * len(batch))
            store.db.execute(f"DELETE FROM grid_cells WHERE doc_id IN ({marks})", list(batch))


def prune_orphans(store: ProjectStore) -> int:
    """Delete cells and reviews of documents that are no longer in the project (removing a
    document deletes them too; this catches a cell written while its document was removed)."""
    with store.transaction():
        n = store.db.execute(
            "DELETE FROM grid_cells WHERE doc_id NOT IN (SELECT id FROM documents)"
        ).rowcount
        store.db.execute("DELETE FROM grid_reviews WHERE doc_id NOT IN (SELECT id FROM documents)")
    return int(n or 0)


# ---------------------------------------------------------------------------------- reviews
def reviews(
    store: ProjectStore, grid_id: int, doc_ids: Iterable[str] | None = None
) -> dict[tuple[str, str], CellReview]:
    """The reviewer's marks on a grid's cells (of these documents; None: all)."""
    base = (
        "SELECT doc_id, question, reviewed, edited, original, flagged, comment, updated_at "
        "FROM grid_reviews WHERE grid_id = ?"
    )
    batches: list[Sequence[str] | None] = (
        [None] if doc_ids is None else list(_batches(list(dict.fromkeys(doc_ids))))
    )
    out: dict[tuple[str, str], CellReview] = {}
    for batch in batches:
        if batch is None:
            rows = store.db.execute(base, [grid_id])
        else:
            marks = ",".join("?" * len(batch))
            rows = store.db.execute(f"{base} AND doc_id IN ({marks})", [grid_id, *batch])
        for doc_id, question, reviewed, edited, original, flagged, comment, updated in rows:
            out[(doc_id, question)] = CellReview(
                bool(reviewed), edited, original, bool(flagged), comment, updated
            )
    return out


def save_review(
    store: ProjectStore, grid_id: int, doc_id: str, question: str, review: CellReview
) -> CellReview:
    """Store the reviewer's marks on one cell (an empty review removes the row)."""
    with store.transaction():
        grid(store, grid_id)  # the grid must exist
        if review.empty:
            store.db.execute(
                "DELETE FROM grid_reviews WHERE grid_id = ? AND doc_id = ? AND question = ?",
                [grid_id, doc_id, question],
            )
            return review
        now = _now()
        store.db.execute(
            "INSERT INTO grid_reviews (grid_id, doc_id, question, reviewed, edited, original, "
            "flagged, comment, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(grid_id, doc_id, question) DO UPDATE SET reviewed = excluded.reviewed, "
            "edited = excluded.edited, original = excluded.original, "
            "flagged = excluded.flagged, comment = excluded.comment, "
            "updated_at = excluded.updated_at",
            [
                grid_id,
                doc_id,
                question,
                int(review.reviewed),
                review.edited,
                review.original,
                int(review.flagged),
                review.comment,
                now,
            ],
        )
    return CellReview(
        review.reviewed, review.edited, review.original, review.flagged, review.comment, now
    )
