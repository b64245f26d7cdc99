"""Exporting a review grid (issue 13): XLSX reopened with openpyxl, CSV, and the Word and
Markdown report's grid section; and question presets (shipped and the user's own)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import docx
import pytest

from engine.errors import TomesError
from engine.review.grid_export import STATE_COLOURS
from engine.settings import Settings
from engine.types import CellState, GridColumn
from engine.workspace import Workspace
from tests.engine.test_grid import FAKE, SMALL_CHUNKS
from tests.support.contracts import QUESTIONS, write_contracts

LAW, NONCOMPETE, NOTICE = QUESTIONS


@pytest.fixture
def ran(tomes_home: Path, tmp_path: Path) -> Iterator[tuple[Workspace, object, int]]:
    """A project of three contracts with a finished grid, one cell edited, flagged and
    commented, one reviewed."""
    ws = Workspace(Settings.load(overrides={**FAKE, **SMALL_CHUNKS}))
    try:
        project = ws.project("Contracts", create=True)
        list(ws.ingest(project, write_contracts(tmp_path / "inbox"), background_index=False))
        cols = [GridColumn(LAW, "Governing law"), GridColumn(NONCOMPETE, "Non-compete")]
        grid = ws.save_grid(project, "Supply review", cols)
        list(ws.run_grid(project, grid.id))
        alpha, beta = ws.documents(project)[:2]
        ws.review_cell(project, grid.id, alpha.id, LAW, edited="Scots law", flagged=True,
                       comment="check the schedule")  # fmt: skip
        ws.review_cell(project, grid.id, beta.id, LAW, reviewed=True)
        yield ws, project, grid.id
    finally:
        ws.close()


def test_xlsx_has_one_row_per_document_and_the_sources_in_comments(ran, tmp_path) -> None:
    from openpyxl import load_workbook

    ws, project, grid_id = ran
    path = ws.export_grid(project, grid_id, tmp_path / "out" / "review.xlsx", fmt="xlsx")
    book = load_workbook(path)
    sheet = book["Grid"]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0] == ["Document", "Governing law", "Non-compete"]
    assert [r[0] for r in rows[1:]] == ["alpha.pdf", "beta.pdf", "gamma.pdf"]
    assert sheet["B1"].comment.text == LAW  # the whole question behind the label
    # the reviewer's edit is shown, flagged; the model's answer is kept in the comment
    assert rows[1][1] == "⚑ Scots law"
    assert "Model's answer: Scotland" in sheet["B2"].comment.text
    assert "Reviewer: check the schedule" in sheet["B2"].comment.text
    assert sheet["B2"].font.color.rgb.endswith("B00020")
    # a reviewed found cell: its answer with the page, the quote in its comment
    assert rows[2][1] == "✓ State of New York (p. 2)"
    assert "p. 2: “4. Terms This Agreement is governed by the laws of the State of New York.”" in (
        sheet["B3"].comment.text
    )
    assert sheet["B3"].fill.start_color.rgb.endswith(STATE_COLOURS[CellState.FOUND])
    # not found: said so, grey, no comment
    assert rows[3][2] == "not found" and sheet["C4"].comment is None
    assert sheet["C4"].fill.start_color.rgb.endswith(STATE_COLOURS[CellState.NOT_FOUND])
    details = [[c.value for c in row] for row in book["Cells"].iter_rows()]
    head = details[0]
    first = dict(zip(head, details[1], strict=True))
    assert first["document"] == "alpha.pdf" and first["answer"] == "Scots law"
    assert first["model_answer"] == "Scotland [e1]." and first["edited"] == "yes"
    assert first["page"] == 2 and first["verified"] == "yes"
    assert "Legend" in book.sheetnames


def test_csv_has_a_line_per_cell(ran, tmp_path) -> None:
    ws, project, grid_id = ran
    path = ws.export_grid(project, grid_id, tmp_path / "review.csv", fmt="csv")
    with path.open(encoding="utf-8-sig") as f:
        lines = list(csv.DictReader(f))
    assert len(lines) == 6
    by = {(r["document"], r["question"]): r for r in lines}
    assert by[("beta.pdf", LAW)]["state"] == "found"
    assert by[("beta.pdf", LAW)]["quote"].endswith("the State of New York.")
    assert by[("beta.pdf", LAW)]["reviewed"] == "yes"
    assert by[("gamma.pdf", NONCOMPETE)]["state"] == "not_found"
    assert by[("gamma.pdf", NONCOMPETE)]["quote"] == ""


def test_markdown_and_word_reports_gain_a_grid_section(ran, tmp_path) -> None:
    ws, project, grid_id = ran
    md = ws.export_grid(project, grid_id, tmp_path / "review.md", fmt="md").read_text()
    assert "## Review grid: Supply review" in md and "### beta.pdf" in md
    assert "| Governing law | State of New York (reviewed) | [e1] beta.pdf p. 2 —" in md
    assert "| Governing law | Scots law (flagged) — note: check the schedule |" in md
    path = ws.export_grid(project, grid_id, tmp_path / "review.docx", fmt="docx")
    document = docx.Document(str(path))
    heads = [p.text for p in document.paragraphs if p.style.name.startswith("Heading")]
    assert "Review grid: Supply review" in heads and "gamma.pdf" in heads
    cells = [c.text for t in document.tables for r in t.rows for c in r.cells]
    assert "State of New York (reviewed)" in cells and "not found" in cells
    with pytest.raises(TomesError, match="unknown grid export format"):
        ws.export_grid(project, grid_id, tmp_path / "x.pdf", fmt="pdf")  # type: ignore[arg-type]


def test_presets_ship_contract_review_and_keep_the_users_own(tomes_home: Path) -> None:
    ws = Workspace(Settings.load(overrides=FAKE))
    try:
        review = ws.preset("contract review")
        assert review.shipped and len(review.columns) == 41
        assert all(c.label and c.question.endswith("?") for c in review.columns)
        assert len({c.question for c in review.columns}) == 41
        mine = ws.save_preset("NDA checks", [GridColumn("Is there a non-solicit clause?", "NS")])
        assert [p.name for p in ws.presets()] == ["Contract review", "NDA checks"]
        assert ws.preset("nda checks").columns == mine.columns
        assert (tomes_home / "presets" / "nda-checks.json").is_file()
        with pytest.raises(TomesError, match="comes with Tomes"):
            ws.save_preset("Contract review", mine.columns)
        with pytest.raises(TomesError, match="there are: 'Contract review', 'NDA checks'"):
            ws.preset("Lease review")
        ws.delete_preset("NDA checks")
        assert [p.name for p in ws.presets()] == ["Contract review"]
    finally:
        ws.close()


def test_a_report_holds_notes_and_grids(ran, tmp_path) -> None:
    ws, project, grid_id = ran
    path, sections = ws.export_report(
        project, tmp_path / "report.md", fmt="md", note_ids=[], grid_ids=[grid_id]
    )
    assert sections == 1 and "## Review grid: Supply review" in path.read_text()


def test_the_viewer_marks_a_quote_that_runs_over_a_page_break(tmp_path: Path) -> None:
    from engine.review.viewer import open_source
    from engine.store import ProjectStore
    from ingest.types import Locator
    from tests.support.fixtures import make_pdf

    pdf = make_pdf(
        tmp_path / "two.pdf",
        ["The Licensee shall pay the fees\n22", "Section 10.3 Binding Effect; Assignment.\nMore."],
    )
    ws = Workspace(Settings.load(overrides=FAKE))
    try:
        project = ws.project("P", create=True)
        list(ws.ingest(project, [pdf], background_index=False))
        doc = ws.documents(project)[0]
        with ProjectStore(project.db_path) as store:
            spans = Locator(doc.id, page=1, page_end=2)
            start = open_source(store, doc.id, spans, quote="shall pay the fees\n22\nSection 10.3")
            assert start.page == 1 and start.highlights  # the part on page 1 is marked
            assert "continues on p. 2" in " ".join(start.notes)
            quote = "22\nSection 10.3 Binding Effect; Assignment."
            opened = open_source(store, doc.id, spans, quote=quote)
            assert opened.page == 2 and opened.highlights  # only "22" is on page 1
            asked = open_source(store, doc.id, spans, quote=quote, page=1)
            assert asked.page == 1  # a page the user turned to stays
    finally:
        ws.close()
