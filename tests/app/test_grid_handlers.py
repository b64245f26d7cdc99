"""The Grid tab's handlers (issue 13) through the real wiring: define a grid, run it in the
background and watch cells fill, page the table, click a cell (details and its page in the
viewer, the quote marked), review it, export it. Real projects, the fake backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import pytest

import app.handlers.grid as grid_handlers
from app.handlers import Handlers
from engine.settings import Settings
from engine.workspace import Workspace
from tests.engine.test_grid import FAKE, SMALL_CHUNKS
from tests.support.app import Wired
from tests.support.contracts import QUESTIONS, write_contracts

LAW, NONCOMPETE, _ = QUESTIONS
SKIP = {"__type__": "update"}


@pytest.fixture
def h(tomes_home: Path, tmp_path: Path) -> Iterator[Handlers]:
    ws = Workspace(Settings.load(overrides={**FAKE, **SMALL_CHUNKS}))
    try:
        wired: Any = Wired(Handlers(ws))
        wired.create_project("Supply")
        list(wired.add_sources("Supply", [str(p) for p in write_contracts(tmp_path / "in")], ""))
        yield wired
    finally:
        ws.close()


def _cell(i: int, j: int) -> gr.EventData:
    return gr.EventData(None, {"cell": f"{i},{j}"})


def _saved(h: Any) -> tuple[Any, ...]:
    questions = f"Governing law | {LAW}\n{NONCOMPETE}\n{LAW}"
    return h.save_grid("Supply", None, "Supply review", [], True, questions)


def test_a_grid_is_defined_run_in_the_background_and_fills_in(h: Any) -> None:
    first = h.load_grids("Supply")
    assert first[0]["choices"] == [] and "No grid yet" in first[6]
    presets = first[5]["choices"]
    assert presets == ["Contract review"]
    out = _saved(h)
    dropdown, name, docs, every, questions, _preset, table, label, progress, state = out
    assert name == "Supply review" and every is True and dropdown["value"] == state["grid_id"]
    assert questions == f"Governing law | {LAW}\n{NONCOMPETE}"  # the repeat is dropped
    assert [c[0] for c in docs["choices"]] == ["alpha.pdf", "beta.pdf", "gamma.pdf"]
    assert table.count("data-cell=") == 6 and "not run yet" in table
    assert "0 of 6 cells" in progress and label == "Documents 1–3 of 3"
    table, label, progress, state = h.run_grid("Supply", state, 4)
    job = h.ws.grid_jobs.wait(h.ws.project("Supply"), state["grid_id"], timeout=60)
    assert not job.running and job.done == 6 and job.error == ""
    table, label, progress, state = h.poll_grid("Supply", state)
    assert "Scotland" in table and "(p. 2)" not in table and "p. 2" in table
    assert "6 of 6 cells" in progress and "Done: 6 of 6 cells" in progress
    assert h.poll_grid("Supply", state) == (SKIP,) * 4  # nothing new: the poll rests


def test_clicking_a_cell_opens_its_page_and_the_review_is_saved(h: Any, tmp_path: Path) -> None:
    state = _saved(h)[-1]
    h.run_grid("Supply", state, 1)
    h.ws.grid_jobs.wait(h.ws.project("Supply"), state["grid_id"], timeout=60)
    ref, details, reviewed, flagged, edited, comment, _vstate, head, _image, text, *_ = h.open_cell(
        "Supply", state, _cell(1, 0)
    )
    assert ref["question"] == LAW and "beta.pdf" in details and "State of New York" in details
    assert (reviewed, flagged, edited, comment) == (False, False, "", "")
    assert "Page 2 of 3" in head and "<mark>" in text and "New York" in text
    # a not-found cell cites nothing, and says so
    out = h.open_cell("Supply", state, _cell(2, 1))
    assert "not found" in out[1] and "cites nothing" in out[9]
    details, table, *_ = h.save_review(
        "Supply", state, ref, True, True, "New York law", "see clause 4"
    )
    assert "Reviewer's answer: **New York law**" in details and "Model's answer:" in details
    assert "New York law" in table and "✓" in table and "⚑" in table and "✎" in table
    again = h.open_cell("Supply", state, _cell(1, 0))
    assert again[2:6] == (True, True, "New York law", "see clause 4")
    file, message = h.export_grid("Supply", state, "xlsx")
    assert file["visible"] is True and Path(file["value"]).suffix == ".xlsx"
    assert "Exported" in message


def test_the_table_is_paged(h: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grid_handlers, "PAGE_ROWS", 2)
    state = _saved(h)[-1]
    table, label, _, state = h.poll_grid("Supply", {**state, "seen": -1.0})
    assert label == "Documents 1–2 of 3" and "gamma.pdf" not in table
    table, label, _, state = h.next_rows("Supply", state)
    assert label == "Documents 3–3 of 3" and "gamma.pdf" in table and "alpha.pdf" not in table
    assert h.next_rows("Supply", state) == (SKIP,) * 4  # no page after the last
    assert h.previous_rows("Supply", state)[1] == "Documents 1–2 of 3"


def test_mistakes_are_toasts(h: Any) -> None:
    with pytest.warns(UserWarning, match="Save the grid first"):
        assert h.run_grid("Supply", {"grid_id": None, "offset": 0, "seen": None}, 1) == (SKIP,) * 4
    with pytest.warns(UserWarning, match="at least one question"):
        h.save_grid("Supply", None, "Empty", [], True, "  \n")
    with pytest.warns(UserWarning, match="Choose the documents"):
        h.save_grid("Supply", None, "None", [], False, LAW)


def test_a_grid_of_10000_cells_shows_one_page(tomes_home: Path, tmp_path: Path) -> None:
    ws = Workspace(Settings.load(overrides=FAKE))
    try:
        wired: Any = Wired(Handlers(ws))
        wired.create_project("Big")
        inbox = tmp_path / "many"
        inbox.mkdir()
        for i in range(100):
            (inbox / f"memo-{i:03d}.txt").write_text(f"Memo {i}. The budget is {i} euros.\n")
        list(wired.add_sources("Big", [], str(inbox)))
        questions = "\n".join(
            f"Question {j}: what does memo say about item {j}?" for j in range(100)
        )
        *_, table, label, progress, _state = wired.save_grid(
            "Big", None, "Big", [], True, questions
        )
        assert "0 of 10000 cells" in progress and label == "Documents 1–25 of 100"
        assert table.count("data-cell=") == 25 * 100  # one page, not the whole grid
    finally:
        ws.close()
