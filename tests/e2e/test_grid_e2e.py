"""A review grid end to end with the real embedded model (issue 13): three generated contracts
where some clauses are absent, answered in process through llama.cpp, then the same grid
through llama-cpp-python's own OpenAI-compatible server with two requests at once. A
not-found cell cites nothing; every found cell's quote opens on its page; a citation never
points at another document."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.settings import Settings
from engine.types import CellState, GridColumn
from engine.workspace import Workspace
from tests.e2e.test_model_e2e import llama_server  # noqa: F401  (a fixture)
from tests.support.contracts import CONTRACTS, QUESTIONS, write_contracts

pytestmark = pytest.mark.model

LAW, NONCOMPETE, NOTICE = QUESTIONS
# small passages: the generated contracts are short, and the evidence ranker weighs words by
# how rare they are across passages (as in real contracts of many pages)
SMALL = {"ingest.chunk_tokens": 64, "ingest.overlap_tokens": 0, "retrieval.embeddings": False}


def _check(ws: Workspace, project, grid_id: int) -> dict:  # type: ignore[no-untyped-def]
    """The invariants every grid keeps, whatever the model said; returns the cells."""
    page = ws.grid_page(project, grid_id)
    cells = {}
    for row in page.rows:
        for cell in row.cells:
            assert cell.state is not CellState.FAILED, cell.error
            assert cell.current
            if cell.state is not CellState.FOUND:
                assert cell.citations == (), cell  # a cell that found nothing cites nothing
            for c in cell.citations:
                assert c.doc_id == row.doc_id and c.verified
                view = ws.open_source(project, c.doc_id, c.locator, quote=c.quote)
                assert view.highlights, f"{row.document}: {c.quote!r} not on {c.locator}"
            cells[(row.document, cell.question)] = cell
    return cells


def test_grid_with_the_real_model_in_process_and_through_a_server(
    real_model_env: Path,
    tmp_path: Path,
    llama_server: str,  # noqa: F811
) -> None:
    paths = write_contracts(tmp_path / "inbox")
    ws = Workspace(Settings.load(overrides=SMALL))
    try:
        project = ws.project("Supply", create=True)
        list(ws.ingest(project, paths, background_index=False))
        grid = ws.save_grid(project, "Review", [GridColumn(q) for q in QUESTIONS])
        last = list(ws.run_grid(project, grid.id))[-1]
        assert (last.done, last.failed) == (9, 0)
        local = _check(ws, project, grid.id)
        # the law is in every contract; the value is the document's own words
        for name, contract in CONTRACTS.items():
            cell = local[(name, LAW)]
            assert cell.state is CellState.FOUND, (name, cell)
            assert contract.clauses["law"].split()[-1] in cell.answer
        # gamma has no non-compete and no notice clause
        assert local[("gamma.pdf", NONCOMPETE)].state is CellState.NOT_FOUND
        assert local[("gamma.pdf", NOTICE)].state is not CellState.FOUND
    finally:
        ws.close()
    served = Workspace(
        Settings.load(
            overrides={**SMALL, "model.backend": "openai", "model.base_url": llama_server}
        )
    )
    try:
        project = served.project("Supply")
        grid = served.grid(project, grid.id)
        assert served.grid_page(project, grid.id).counts["pending"] == 9  # another model id
        last = list(served.run_grid(project, grid.id, concurrency=2))[-1]
        assert (last.done, last.computed, last.failed) == (9, 9, 0)
        remote = _check(served, project, grid.id)
        for name in CONTRACTS:  # same model, same grammar, greedy: the same values
            assert remote[(name, LAW)].answer == local[(name, LAW)].answer
        assert remote[("gamma.pdf", NONCOMPETE)].state is CellState.NOT_FOUND
    finally:
        served.close()
