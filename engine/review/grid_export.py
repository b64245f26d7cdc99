"""Export a review grid: XLSX (one row per document, one column per question, each cell's
page and quote in a cell comment, states colour-coded, and a sheet with every cell's details)
and CSV (one line per cell). The Word and Markdown report's grid section is in
`engine.review.export`.

    write_xlsx(page, path)      page: a GridPage with every row (engine.review.grid.grid_page)
    write_csv(page, path)
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.review.grid import GridPage
from engine.types import CellReview, CellState, Citation, GridCell

__all__ = [
    "CSV_FIELDS",
    "STATE_COLOURS",
    "STATE_LABELS",
    "cell_text",
    "flat_rows",
    "source_label",
    "write_csv",
    "write_xlsx",
]

_KEYS = re.compile(r"\s*\[(?:[ce]\d+)(?:,\s*[ce]\d+)*\]")

STATE_LABELS = {
    CellState.FOUND: "found",
    CellState.NOT_FOUND: "not found",
    CellState.UNCLEAR: "unclear",
    CellState.FAILED: "failed",
    CellState.PENDING: "not run",
}
#: Cell fills (RGB hex) by state, in the XLSX and the app.
STATE_COLOURS = {
    CellState.FOUND: "E3F1DF",
    CellState.NOT_FOUND: "EEEEEE",
    CellState.UNCLEAR: "FFF0C2",
    CellState.FAILED: "F6D5D8",
    CellState.PENDING: "FFFFFF",
}

CSV_FIELDS = [
    "document",
    "question",
    "label",
    "state",
    "answer",
    "model_answer",
    "edited",
    "reviewed",
    "flagged",
    "comment",
    "page",
    "page_end",
    "line_start",
    "line_end",
    "quote",
    "verified",
    "error",
]


def cell_text(cell: GridCell, review: CellReview) -> str:
    """What the cell says: the reviewer's answer if edited, else the model's without its
    citation keys; a miss says "not found"."""
    if review.edited is not None:
        return review.edited
    if cell.state is CellState.FOUND:
        text = _KEYS.sub("", cell.answer).strip()
        # a value ("State of New York.") reads better bare; sentences keep their stops
        return text[:-1] if text.endswith(".") and not re.search(r"[.!?]\s", text) else text
    if cell.state is CellState.FAILED:
        return f"failed: {cell.error}"
    if cell.state is CellState.PENDING:
        return ""
    return STATE_LABELS[cell.state]


def source_label(c: Citation) -> str:
    """Where a citation points, short: "p. 12", "pp. 3-4", "L40-88"."""
    return c.locator.label() or c.document


def _quote(text: str) -> str:
    return " ".join(text.split())


def flat_rows(page: GridPage) -> Iterator[dict[str, Any]]:
    """One dict per cell (and per extra citation of a cell), the CSV's and the XLSX "Cells"
    sheet's lines."""
    labels = {c.question: c.label for c in page.grid.columns}
    for row in page.rows:
        for cell, review in zip(row.cells, row.reviews, strict=True):
            base = {
                "document": row.document,
                "question": cell.question,
                "label": labels.get(cell.question, ""),
                "state": cell.state.value,
                "answer": cell_text(cell, review),
                "model_answer": cell.answer,
                "edited": "yes" if review.edited is not None else "",
                "reviewed": "yes" if review.reviewed else "",
                "flagged": "yes" if review.flagged else "",
                "comment": review.comment,
                "error": cell.error,
            }
            if review.edited is not None and review.original:
                base["model_answer"] = review.original
            cites = cell.citations or (None,)
            for c in cites:
                loc = c.locator if c is not None else None
                yield {
                    **base,
                    "page": loc.page if loc else None,
                    "page_end": loc.page_end if loc else None,
                    "line_start": loc.line_start if loc else None,
                    "line_end": loc.line_end if loc else None,
                    "quote": _quote(c.quote) if c is not None else "",
                    "verified": ("yes" if c.verified else "no") if c is not None else "",
                }


def write_csv(page: GridPage, target: Path) -> Path:
    """One line per cell (a cell with several citations: one line per citation)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8-sig", newline="") as f:  # BOM: Excel reads UTF-8
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for line in flat_rows(page):
            writer.writerow({k: "" if v is None else v for k, v in line.items()})
    return target


def _comment_text(cell: GridCell, review: CellReview) -> str:
    lines = []
    for c in cell.citations:
        mark = "" if c.verified else " (unverified)"
        lines.append(f"{source_label(c)}{mark}: “{_quote(c.quote)[:600]}”")
    if review.edited is not None:
        lines.append(f"Model's answer: {review.original or cell.answer}")
    if review.comment:
        lines.append(f"Reviewer: {review.comment}")
    if cell.error:
        lines.append(f"Failed: {cell.error}")
    return "\n".join(lines)


def write_xlsx(page: GridPage, target: Path) -> Path:
    """The grid as a workbook: sheet "Grid" (documents x questions; the answer and its page
    in the cell, the quotes in the cell's comment, fill by state, flagged cells in red, a
    reviewed cell marked ✓) and sheet "Cells" (every cell's details, as in the CSV)."""
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Grid"
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    sheet.cell(1, 1, "Document").font = bold
    for j, column in enumerate(page.grid.columns, start=2):
        head = sheet.cell(1, j, column.title)
        head.font = bold
        head.alignment = wrap
        if column.label:
            head.comment = Comment(column.question, "Tomes")
        sheet.column_dimensions[get_column_letter(j)].width = 28
    sheet.column_dimensions["A"].width = 40
    fills = {s: PatternFill("solid", start_color=c, end_color=c) for s, c in STATE_COLOURS.items()}
    flagged_font = Font(color="B00020", bold=True)
    for i, row in enumerate(page.rows, start=2):
        sheet.cell(i, 1, row.document).alignment = wrap
        for j, (cell, review) in enumerate(zip(row.cells, row.reviews, strict=True), start=2):
            text = cell_text(cell, review)
            where = ", ".join(dict.fromkeys(source_label(c) for c in cell.citations))
            if where and cell.state is CellState.FOUND and review.edited is None:
                text = f"{text} ({where})"
            if review.reviewed:
                text = f"✓ {text}"
            if review.flagged:
                text = f"⚑ {text}"
            target_cell = sheet.cell(i, j, text)
            target_cell.alignment = wrap
            target_cell.fill = fills[cell.state]
            if review.flagged:
                target_cell.font = flagged_font
            note = _comment_text(cell, review)
            if note:
                comment = Comment(note, "Tomes")
                comment.width, comment.height = 420, 160
                target_cell.comment = comment
    sheet.freeze_panes = "B2"
    details = book.create_sheet("Cells")
    details.append(CSV_FIELDS)
    for cell_ in details[1]:
        cell_.font = bold
    for line in flat_rows(page):
        details.append([line[k] for k in CSV_FIELDS])
    details.freeze_panes = "A2"
    legend = book.create_sheet("Legend")
    legend.append(["State", "Meaning"])
    meanings = {
        CellState.FOUND: "answered, and the answer holds against the quoted source",
        CellState.NOT_FOUND: "the document does not state this",
        CellState.UNCLEAR: "the model answered, but its answer could not be verified",
        CellState.FAILED: "could not be computed (the reason is in the comment)",
        CellState.PENDING: "not computed yet",
    }
    for state, meaning in meanings.items():
        legend.append([STATE_LABELS[state], meaning])
        legend.cell(legend.max_row, 1).fill = fills[state]
    legend.append(["✓", "marked reviewed"])
    legend.append(["⚑", "flagged by the reviewer"])
    legend.column_dimensions["B"].width = 70
    book.save(str(target))
    return target
