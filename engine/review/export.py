"""Export a report of chosen answers, notes and review grids, with their citations, to DOCX or
Markdown. A grid becomes one section per document: a table of its questions and answers, each
with its source (page or lines, and the quote)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from engine.errors import TomesError
from engine.store.chats import ChatLog, answer_from_json
from engine.types import Citation

if TYPE_CHECKING:
    from engine.review.grid import GridPage

__all__ = [
    "GridSection",
    "ReportFormat",
    "ReportItem",
    "ReportKind",
    "collect",
    "to_docx",
    "to_markdown",
    "write_report",
]

ReportKind = Literal["answer", "note"]
ReportFormat = Literal["docx", "md"]


@dataclass(frozen=True, slots=True)
class ReportItem:
    """One section of a report: a question and its answer, or a note."""

    title: str
    text: str
    citations: tuple[Citation, ...]
    kind: ReportKind


@dataclass(frozen=True, slots=True)
class GridSection:
    """A review grid in a report: its name and every row (a `GridPage` with all rows)."""

    title: str
    page: GridPage


def _grid_lines(section: GridSection) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """Per document: (document, [(question, answer, source)]), in grid order."""
    from engine.review.grid_export import cell_text

    titles = {c.question: c.title for c in section.page.grid.columns}
    out = []
    for row in section.page.rows:
        lines = []
        for cell, review in zip(row.cells, row.reviews, strict=True):
            answer = cell_text(cell, review)
            if review.reviewed:
                answer += " (reviewed)"
            if review.flagged:
                answer += " (flagged)"
            if review.comment:
                answer += f" — note: {review.comment}"
            sources = "; ".join(_cite_line(c) for c in _unique(cell.citations))
            lines.append((titles.get(cell.question, cell.question), answer, sources))
        out.append((row.document, lines))
    return out


def _md_cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def grid_markdown(section: GridSection) -> list[str]:
    """The grid section of a Markdown report."""
    lines = [f"## Review grid: {section.title}", ""]
    for document, cells in _grid_lines(section):
        lines += [f"### {document}", "", "| Question | Answer | Source |", "|---|---|---|"]
        lines += [f"| {_md_cell(q)} | {_md_cell(a)} | {_md_cell(s)} |" for q, a, s in cells]
        lines.append("")
    return lines


def _grid_docx(document: object, section: GridSection) -> None:
    from docx.shared import Pt

    document.add_heading(f"Review grid: {section.title}", level=1)  # type: ignore[attr-defined]
    for name, cells in _grid_lines(section):
        document.add_heading(name, level=2)  # type: ignore[attr-defined]
        table = document.add_table(rows=1, cols=3)  # type: ignore[attr-defined]
        table.style = "Table Grid"
        for cell, title in zip(table.rows[0].cells, ("Question", "Answer", "Source"), strict=True):
            cell.text = title
            cell.paragraphs[0].runs[0].bold = True
        for question, answer, source in cells:
            row = table.add_row().cells
            row[0].text, row[1].text, row[2].text = question, answer, source
            for run in row[2].paragraphs[0].runs:
                run.font.size = Pt(8)


def collect(
    log: ChatLog,
    *,
    message_ids: list[int] | None = None,
    note_ids: list[int] | None = None,
) -> list[ReportItem]:
    """The chosen answers (by assistant message id) and notes; None means all notes and no
    answers (the usual report is "my notes")."""
    items: list[ReportItem] = []
    for mid in message_ids or []:
        msg = log.message(mid)
        if msg.role != "assistant" or not msg.answer_json:
            raise TomesError(f"message {mid} is not an answer; choose answers or notes to export")
        answer = answer_from_json(msg.answer_json)
        items.append(ReportItem(answer.question, answer.text, answer.citations, "answer"))
    notes = log.notes()
    wanted = set(note_ids) if note_ids is not None else {n.id for n in notes}
    for note in notes:
        if note.id in wanted:
            cites = ChatLog.note_citations(note)
            items.append(ReportItem(note.title, note.text, cites, "note"))
    return items


def _cite_line(c: Citation) -> str:
    where = c.label()
    mark = "" if c.verified else " (unverified)"
    quote = f' — "{" ".join(c.quote.split())}"' if c.quote else ""
    return f"[{c.key}] {where}{mark}{quote}"


def _unique(citations: tuple[Citation, ...]) -> list[Citation]:
    seen: set[tuple[str, str]] = set()
    out = []
    for c in citations:
        ident = (c.key, c.label())
        if ident not in seen:
            seen.add(ident)
            out.append(c)
    return out


def to_markdown(project: str, items: list[ReportItem], grids: Sequence[GridSection] = ()) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# {project}: report", "", f"_Exported from Tomes on {stamp}._", ""]
    for item in items:
        lines += [f"## {item.title}", "", item.text.strip(), ""]
        cites = _unique(item.citations)
        if cites:
            lines.append("**Sources**")
            lines.append("")
            lines += [f"- {_cite_line(c)}" for c in cites]
            lines.append("")
    for section in grids:
        lines += grid_markdown(section)
    return "\n".join(lines).rstrip() + "\n"


def to_docx(
    project: str, items: list[ReportItem], target: Path, grids: Sequence[GridSection] = ()
) -> None:
    import docx
    from docx.shared import Pt, RGBColor

    document = docx.Document()
    document.add_heading(f"{project}: report", level=0)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    document.add_paragraph().add_run(f"Exported from Tomes on {stamp}.").italic = True
    for item in items:
        document.add_heading(item.title, level=1)
        for para in re.split(r"\n\s*\n", item.text.strip()):
            document.add_paragraph(para.strip())
        cites = _unique(item.citations)
        if cites:
            document.add_heading("Sources", level=2)
            for c in cites:
                p = document.add_paragraph(style="List Bullet")
                run = p.add_run(f"[{c.key}] {c.label()}")
                run.bold = True
                if not c.verified:
                    flag = p.add_run(" (unverified)")
                    flag.font.color.rgb = RGBColor(0xB0, 0x30, 0x30)
                if c.quote:
                    q = p.add_run(f' — "{" ".join(c.quote.split())}"')
                    q.italic = True
                    q.font.size = Pt(9)
    for section in grids:
        _grid_docx(document, section)
    document.save(str(target))


def write_report(
    project: str,
    items: list[ReportItem],
    target: Path,
    fmt: ReportFormat,
    *,
    grids: Sequence[GridSection] = (),
) -> Path:
    """Write the report (answers and notes, then grids); `fmt` is 'docx' or 'md'. Returns the
    written path."""
    if not items and not grids:
        raise TomesError(
            "nothing to export: pin answers as notes, or choose answers or grids to export"
        )
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "md":
        target.write_text(to_markdown(project, items, grids), encoding="utf-8")
    elif fmt == "docx":
        to_docx(project, items, target, grids)
    else:
        raise TomesError(f"unknown export format {fmt!r}; use docx or md")
    return target
