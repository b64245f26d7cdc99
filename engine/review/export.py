"""Export a report of chosen answers and notes, with their citations, to DOCX or Markdown."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from engine.errors import TomesError
from engine.store.chats import ChatLog, answer_from_json
from engine.types import Citation

__all__ = [
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


def to_markdown(project: str, items: list[ReportItem]) -> str:
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
    return "\n".join(lines).rstrip() + "\n"


def to_docx(project: str, items: list[ReportItem], target: Path) -> None:
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
    document.save(str(target))


def write_report(project: str, items: list[ReportItem], target: Path, fmt: ReportFormat) -> Path:
    """Write the report; `fmt` is 'docx' or 'md'. Returns the written path."""
    if not items:
        raise TomesError("nothing to export: pin answers as notes, or choose answers to export")
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "md":
        target.write_text(to_markdown(project, items), encoding="utf-8")
    elif fmt == "docx":
        to_docx(project, items, target)
    else:
        raise TomesError(f"unknown export format {fmt!r}; use docx or md")
    return target
