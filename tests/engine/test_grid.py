"""The review grid (issue 13): the cell store, runs that compute only what changed
(`made_by`), resume after a stop, faults that stay in their cell, and reviewer edits. Real
SQLite, real PDFs read by the real readers, the fake backend (the model's answers are not
what is tested here; tests/e2e/test_grid_e2e.py runs the real model)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.errors import Cancelled, StoreError, TomesError
from engine.review import grid as grid_mod
from engine.review.grid import KERNEL_MODULES, kernel_fingerprint, parse_questions
from engine.settings import Settings
from engine.store import grids as grid_store
from engine.types import CellReview, CellState, Citation, GridCell, GridColumn, GridRow
from engine.workspace import Workspace
from ingest.types import Locator
from tests.support.contracts import CONTRACTS, QUESTIONS, write_contracts

FAKE = {"model.backend": "fake", "retrieval.embeddings": False}
#: small passages, so that a clause is one passage among many (as in real contracts)
SMALL_CHUNKS = {"ingest.chunk_tokens": 64, "ingest.overlap_tokens": 0}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ws(tomes_home: Path) -> Iterator[Workspace]:
    workspace = Workspace(Settings.load(overrides={**FAKE, **SMALL_CHUNKS}))
    try:
        yield workspace
    finally:
        workspace.close()


@pytest.fixture
def project(ws: Workspace, tmp_path: Path):  # type: ignore[no-untyped-def]
    proj = ws.project("Contracts", create=True)
    events = list(ws.ingest(proj, write_contracts(tmp_path / "inbox"), background_index=False))
    assert [e.status for e in events if e.status != "reading"] == ["added"] * 3
    return proj


def _columns(questions: list[str] = QUESTIONS) -> list[GridColumn]:
    return [GridColumn(q) for q in questions]


def _run(ws: Workspace, project, grid_id: int, **kwargs):  # type: ignore[no-untyped-def]
    steps = list(ws.run_grid(project, grid_id, **kwargs))
    return steps[-1]


# ------------------------------------------------------------------------------ cell store
def test_grid_definitions_are_saved_with_their_questions_and_documents(ws, project) -> None:
    docs = ws.documents(project)
    grid = ws.save_grid(project, "Supply review", _columns(), [docs[1].id])
    assert grid.questions == tuple(QUESTIONS)
    assert grid.documents == (GridRow(docs[1].id, docs[1].name),)
    with pytest.raises(StoreError, match="already exists"):
        ws.save_grid(project, "Supply review", _columns())
    with pytest.raises(TomesError, match="at least one question"):
        ws.save_grid(project, "Empty", [GridColumn("  ")])
    changed = ws.save_grid(project, "Renamed", _columns(QUESTIONS[:1]), grid_id=grid.id)
    assert changed.id == grid.id and changed.questions == (QUESTIONS[0],)
    assert changed.documents == ()  # every document
    assert [g.name for g in ws.grids(project)] == ["Renamed"]
    ws.delete_grid(project, grid.id)
    assert ws.grids(project) == []


def test_cells_round_trip_and_go_with_their_document(ws, project) -> None:
    doc = ws.documents(project)[0]
    cite = Citation("e1", f"{doc.id[:16]}:1", doc.name, Locator(doc.id, page=2), "quote", True)
    cell = GridCell(
        doc.id, doc.name, QUESTIONS[0], CellState.FOUND, "Scotland [e1].",
        (cite,), "m1",
        prompt_tokens=10, completion_tokens=2, seconds=0.5,
    )  # fmt: skip
    with project.open() as store:
        grid_store.write_cell(store, cell)
        got = grid_store.cells(store, [doc.id], [QUESTIONS[0]])[(doc.id, QUESTIONS[0])]
        assert got.answer == "Scotland [e1]." and got.state is CellState.FOUND
        assert got.citations[0].locator.page == 2 and got.citations[0].quote == "quote"
        assert got.document == doc.name and got.made_by == "m1"
        with pytest.raises(ValueError):
            grid_store.write_cell(store, GridCell(doc.id, doc.name, "q", CellState.PENDING))
    ws.remove_document(project, doc.id)
    with project.open() as store:
        assert grid_store.cells(store, [doc.id], [QUESTIONS[0]]) == {}


# ------------------------------------------------------------------------------ runs
def test_a_run_fills_every_cell_and_a_rerun_computes_none(ws, project) -> None:
    grid = ws.save_grid(project, "All", _columns())
    first = _run(ws, project, grid.id)
    assert (first.done, first.total, first.computed, first.failed) == (9, 9, 9, 0)
    page = ws.grid_page(project, grid.id)
    assert [r.document for r in page.rows] == list(CONTRACTS)
    states = {(r.document, c.question): c.state for r in page.rows for c in r.cells}
    law, noncompete, _ = QUESTIONS
    assert states[("alpha.pdf", law)] is CellState.FOUND
    assert states[("gamma.pdf", noncompete)] is CellState.NOT_FOUND
    for row in page.rows:
        for cell in row.cells:
            assert cell.current and cell.state is not CellState.PENDING
            if cell.state is not CellState.FOUND:
                assert cell.citations == ()  # a cell that found nothing cites nothing
            for c in cell.citations:  # never another document's page
                assert c.doc_id == row.doc_id and c.locator.page == 2
    assert page.counts["pending"] == 0 and page.done == 9
    again = _run(ws, project, grid.id)
    assert (again.done, again.computed) == (9, 0)


def test_made_by_recomputes_only_what_changed(ws, project) -> None:
    grid = ws.save_grid(project, "All", _columns(QUESTIONS[:2]))
    _run(ws, project, grid.id)
    # a new question: only its column is computed
    grid = ws.save_grid(project, "All", _columns(), grid_id=grid.id)
    assert _run(ws, project, grid.id).computed == 3
    # a setting that shapes answers: every cell is out of date, then recomputed
    other = {"retrieval.evidence_tokens": 300}
    page = ws.grid_page(project, grid.id, overrides=other)
    assert page.counts["pending"] == 9 and not page.rows[0].cells[0].current
    assert _run(ws, project, grid.id, overrides=other).computed == 9
    # a setting that does not (threads) changes nothing
    assert _run(ws, project, grid.id, overrides={**other, "model.threads": 3}).computed == 0
    # a document replaced by a new version: only its row
    doc = ws.documents(project)[0]
    with project.open() as store:
        made = grid_store.cell_stamps(store, [doc.id], grid.questions)
    assert all(f"doc:{doc.id[:16]}" in m for m, _ in made.values())


def test_kernel_fingerprint_is_in_made_by_and_stable_across_processes() -> None:
    code = "from engine.review.grid import kernel_fingerprint; print(kernel_fingerprint())"
    seen = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        seen.add(out.stdout.strip())
    assert seen == {kernel_fingerprint()}
    recipe = grid_mod.Recipe.of(Settings.load(overrides=FAKE), dense=None)
    assert recipe.made_by("d" * 64, "Q?").startswith(f"grid:{kernel_fingerprint()}|fake:")


def test_every_answering_module_is_fingerprinted() -> None:
    qa = {f"engine.qa.{p.stem}" for p in (ROOT / "engine" / "qa").glob("*.py")}
    qa -= {"engine.qa.__init__", "engine.qa.answer"}  # answer: the chat path, not a cell's
    assert qa <= set(KERNEL_MODULES)


def test_a_stopped_run_keeps_its_cells_and_the_next_run_resumes(ws, project) -> None:
    grid = ws.save_grid(project, "All", _columns())
    cancel = threading.Event()
    done = []
    with pytest.raises(Cancelled, match="run the grid again"):
        for step in ws.run_grid(project, grid.id, cancel=cancel):
            done.append(step)
            if step.computed == 4:
                cancel.set()
    assert done[-1].computed == 4
    assert ws.grid_page(project, grid.id).done == 4
    rest = _run(ws, project, grid.id)
    assert (rest.computed, rest.done) == (5, 9)


def test_a_failing_document_fails_its_cells_and_the_rest_complete(ws, project) -> None:
    grid = ws.save_grid(project, "All", _columns())
    bad = ws.documents(project)[1]
    real = ws._cell_kit

    def breaking_kit(*args, **kwargs):  # type: ignore[no-untyped-def]
        kit = real(*args, **kwargs)

        def retriever_for(store, doc_id):  # type: ignore[no-untyped-def]
            if doc_id == bad.id:
                raise StoreError(f"{bad.name}: its passages cannot be read")
            return kit.retriever_for(store, doc_id)

        return grid_mod.CellKit(**{**kit.__dict__, "retriever_for": retriever_for})

    ws._cell_kit = breaking_kit  # type: ignore[method-assign]
    last = _run(ws, project, grid.id)
    assert (last.done, last.failed) == (9, 3)
    page = ws.grid_page(project, grid.id)
    for row in page.rows:
        for cell in row.cells:
            if row.doc_id == bad.id:
                assert cell.state is CellState.FAILED
                assert "cannot be read" in cell.error
            else:
                assert cell.state is not CellState.FAILED
    ws._cell_kit = real  # type: ignore[method-assign]
    assert _run(ws, project, grid.id).computed == 3  # failed cells are retried


def test_a_question_longer_than_the_context_fails_fast(ws, project) -> None:
    huge = "Does the agreement say " + "anything about penalties " * 4000 + "?"
    grid = ws.save_grid(project, "Huge", [GridColumn(huge), GridColumn(QUESTIONS[0])])
    last = _run(ws, project, grid.id)
    assert (last.done, last.failed) == (6, 3)
    cell = ws.grid_page(project, grid.id).rows[0].cells[0]
    assert cell.state is CellState.FAILED and "shorten it" in cell.error


def test_typed_questions_take_labels_and_drop_repeats() -> None:
    cols = parse_questions("Law | Which law governs?\n\nwhich law governs?\nIs there a cap?\n")
    assert cols == [GridColumn("Which law governs?", "Law"), GridColumn("Is there a cap?")]


# ------------------------------------------------------------------------------ reviews
def test_reviews_keep_the_original_and_survive_a_recompute(ws, project) -> None:
    grid = ws.save_grid(project, "All", _columns())
    _run(ws, project, grid.id)
    doc = ws.documents(project)[0]
    q = QUESTIONS[0]
    model = ws.grid_page(project, grid.id).rows[0].cells[0].answer
    review = ws.review_cell(project, grid.id, doc.id, q, edited="Scots law", reviewed=True)
    assert (review.edited, review.original, review.reviewed) == ("Scots law", model, True)
    review = ws.review_cell(project, grid.id, doc.id, q, flagged=True, comment="check s. 2")
    assert review.edited == "Scots law" and review.flagged and review.comment == "check s. 2"
    _run(ws, project, grid.id, overrides={"retrieval.evidence_tokens": 300})  # recompute
    row = ws.grid_page(project, grid.id).rows[0]
    assert row.reviews[0] == CellReview(
        True, "Scots law", model, True, "check s. 2", row.reviews[0].updated_at
    )
    # editing back to the model's answer is no edit
    review = ws.review_cell(project, grid.id, doc.id, q, edited=model)
    assert review.edited is None and review.original == ""
    with pytest.raises(TomesError, match="no question"):
        ws.review_cell(project, grid.id, doc.id, "Not a column?", reviewed=True)


def test_large_grids_are_read_a_page_at_a_time(ws, project) -> None:
    grid = ws.save_grid(project, "All", _columns())
    page = ws.grid_page(project, grid.id, offset=1, limit=1)
    assert page.total_rows == 3 and len(page.rows) == 1 and page.rows[0].document == "beta.pdf"
    assert page.counts["pending"] == 9
    assert all(c.state is CellState.PENDING for c in page.rows[0].cells)


def test_in_process_cells_go_question_by_question_sharing_the_instructions(
    ws, project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """llama.cpp reuses the longest token prefix it has in its KV cache: consecutive cells of
    one question share the fixed instructions (the system turn comes first), so each cell
    reads only its own evidence and question."""
    from engine.llm import backends
    from engine.llm.backends.fake import FakeBackend

    calls: list[tuple[str, str]] = []

    class Recording(FakeBackend):
        def stream(self, messages, params):  # type: ignore[no-untyped-def]
            calls.append((messages[0].content, messages[-1].content.rsplit("Question:", 1)[-1]))
            return super().stream(messages, params)

    monkeypatch.setitem(backends.BACKENDS, "fake", lambda settings: Recording())
    ws.models.close()
    # questions the model answers in its words (governing law and a Yes/No are decided
    # without it)
    free = [
        "When does risk in the products pass to the Customer?",
        "When are the invoices payable?",
    ]
    grid = ws.save_grid(project, "All", _columns(free))
    _run(ws, project, grid.id)
    assert len(calls) >= 3
    asked = [q.split("\n")[0].strip() for _, q in calls]
    assert asked == sorted(asked, key=free.index)  # all of one question, then the next
    for (system, q), (next_system, next_q) in itertools.pairwise(calls):
        if q == next_q:
            assert system == next_system  # the shared prefix
