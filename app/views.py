"""How engine values look in the app: functions that turn them into HTML, Markdown and table
rows for `app.handlers` to hand to the UI.

Pure rendering: no I/O, no `Workspace` or store access, no Gradio. Every function takes plain
values (a `FileEvent`, `Citation`s, an `Answer`, a `SourceView`, …) and returns text or rows,
so it can be tested without a project on disk. Text from documents and file names is always
HTML-escaped.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine import FileEvent, GridJob, GridPage, SourceView
    from engine.types import (
        Answer,
        CellReview,
        Citation,
        DocumentInfo,
        GridCell,
        OcrSummary,
        SummaryNode,
    )

__all__ = [
    "DOC_HEADERS",
    "UNVERIFIED_TIP",
    "VIEWER_EMPTY",
    "answer_markdown",
    "cell_display",
    "cell_markdown",
    "chips_html",
    "documents_rows",
    "event_detail",
    "file_table_html",
    "grid_progress_line",
    "grid_table_html",
    "node_label",
    "node_markdown",
    "ocr_note",
    "png",
    "progress_line",
    "reading_line",
    "sentence",
    "short",
    "source_html",
    "sources_of",
    "summary_line",
    "viewer_head",
]

DOC_HEADERS = ["Document", "Type", "Pages", "Passages", "Tokens", "Added", "Notes"]
UNVERIFIED_TIP = "could not be matched to the source"


# --------------------------------------------------------------------------------------- text
def sentence(text: str) -> str:
    """Capitalized, unless it starts with a setting's name (e.g. "model.n_ctx must be…")."""
    text = text.strip()
    if re.match(r"[a-z_]+\.[a-z_]+\b", text):
        return text
    return text[:1].upper() + text[1:] if text else text


def short(text: str, n: int = 160) -> str:
    """`text` on one line, cut to at most `n` characters (with "…" when cut)."""
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


# ----------------------------------------------------------------------------- adding sources
_STATUS_LABELS = {
    "queued": "Queued",
    "scanning": "Looking for files…",
    "reading": "Reading…",
    "added": "Added",
    "replaced": "Replaced",
    "unchanged": "Unchanged",
    "skipped": "Skipped",
    "failed": "Failed",
}


def event_detail(event: FileEvent) -> str:
    """The detail column of a file's row: pages and passages read, or why it was skipped or
    failed."""
    parts: list[str] = []
    if event.status in ("added", "replaced"):
        if event.n_pages:
            parts.append(f"{event.n_pages} page{'s' if event.n_pages != 1 else ''}")
        parts.append(f"{event.n_chunks} passage{'s' if event.n_chunks != 1 else ''}")
        if event.status == "replaced":
            parts.append("replaced the earlier version")
    if event.reason:
        parts.append(sentence(event.reason))
    return " · ".join(parts)


def file_table_html(rows: Sequence[tuple[str, str, str]]) -> str:
    """The per-file status table: (file name, status key, detail) rows."""
    if not rows:
        return (
            '<div class="tomes-empty">Files you add appear here with their status: '
            "read, unchanged, skipped or failed (with the reason).</div>"
        )
    body = "".join(
        f'<tr><td class="name">{html.escape(name)}</td>'
        f'<td><span class="tomes-badge {html.escape(status)}">'
        f"{_STATUS_LABELS.get(status, status)}</span></td>"
        f'<td class="detail">{html.escape(detail)}</td></tr>'
        for name, status, detail in rows
    )
    return (
        '<table class="tomes-files"><thead><tr><th>File</th><th>Status</th><th>Details</th>'
        f"</tr></thead><tbody>{body}</tbody></table>"
    )


def progress_line(event: FileEvent) -> str:
    """A text progress bar for a batch of files, naming the file being read."""
    total = max(event.total, 1)
    filled = round(20 * event.done / total)
    bar = "▰" * filled + "▱" * (20 - filled)
    if event.status == "reading":
        return f"{bar} {event.done} of {event.total} files · reading {event.name}"
    return f"{bar} {event.done} of {event.total} files"


def summary_line(counts: dict[str, int]) -> str:
    """The line shown when a batch is done, from the count of files per final status."""
    added = counts.get("added", 0) + counts.get("replaced", 0)
    parts = [f"{added} added"]
    for key in ("unchanged", "skipped", "failed"):
        if counts.get(key):
            parts.append(f"{counts[key]} {key}")
    # a batch where nothing was added and something failed did not go well: no check mark
    mark = "⚠" if counts.get("failed") and not added else "✓"
    line = f"{mark} Done: " + ", ".join(parts) + "."
    if added:
        line += " You can ask questions now; summaries build in the background."
    if counts.get("failed"):
        line += " See the table for why a file failed."
    return line


# ---------------------------------------------------------------------- answers and citations
def sources_of(answer: Answer) -> tuple[Citation, ...]:
    """What an answer's source chips show, in chip order: its citations, or for an honest miss
    the closest passages it read (marked as such, never as verified)."""
    if answer.citations or answer.state == "found":
        return answer.citations
    from engine.types import Citation

    return tuple(
        Citation(
            key=item.key,
            chunk_id=item.chunk_id,
            document=item.document,
            locator=item.locator,
            quote=item.text,
            verified=False,
            doc_id=item.doc_id,
            origin="closest",
        )
        for item in answer.context[:3]
    )


def chips_html(
    citations: Sequence[Citation],
    *,
    empty: str = "",
    doubtful: frozenset[tuple[str, int]] = frozenset(),
) -> str:
    """Citation chips; `data-cite` is the citation's index in the answer (the click handler
    gets it back). Verified and unverified citations look different; an unverified one says
    why in its tooltip. A citation on a page in `doubtful` ((doc_id, page) read by OCR with
    low confidence) is marked with ⚠ and says so."""
    if not citations:
        text = empty or "The sources of the selected answer appear here."
        return f'<div class="tomes-chips tomes-chips-empty">{html.escape(text)}</div>'
    seen: set[tuple[str, str]] = set()
    chips = []
    for index, cite in enumerate(citations):
        ident = (cite.key, cite.label())
        if ident in seen:
            continue
        seen.add(ident)
        label = html.escape(cite.label() or cite.document)
        if cite.origin == "closest":
            tip = "The closest passage found (not an answer): " + short(cite.quote)
            cls = "tomes-chip closest"
        elif cite.verified:
            tip = f"Open {cite.label()}" + (f": “{short(cite.quote)}”" if cite.quote else "")
            cls = "tomes-chip verified"
        else:
            tip = UNVERIFIED_TIP
            cls = "tomes-chip unverified"
        if (cite.doc_id, cite.locator.page) in doubtful:
            label = "⚠ " + label
            tip += " (this scanned page was read by OCR with low confidence: check the image)"
            cls += " ocr-doubtful"
        chips.append(
            f'<button type="button" class="{cls}" data-cite="{index}" '
            f'title="{html.escape(tip, quote=True)}">'
            f'<span class="tomes-chip-key">{html.escape(cite.key)}</span>{label}</button>'
        )
    return (
        '<div class="tomes-chips"><span class="tomes-chips-label">Sources</span>'
        + "".join(chips)
        + "</div>"
    )


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def answer_markdown(answer: Answer) -> str:
    """How an answer reads in the chat: its checked text (a table, one row per document, for a
    question about each document), then what was removed and any notices in italics."""
    if answer.documents:
        rows = ["| Document | Answer |", "|---|---|"]
        for part in answer.documents:
            shown = part.text if part.state == "found" else f"_{part.text}_"
            rows.append(f"| {_cell(short(part.document, 60))} | {_cell(shown)} |")
        text = "\n".join(rows)
    else:
        text = answer.text.strip() or "_(no answer)_"
    if answer.state != "found" and answer.context and not answer.documents:
        text += "\n\n_The closest passages are listed below as sources._"
    for removed in answer.removed:
        text += f"\n\n_✂ Taken out of the answer: {_cell(removed)}_"
    for notice in answer.notices:
        text += f"\n\n_ⓘ {notice}_"
    return text


def reading_line(sources: Sequence[tuple[str, str]], elapsed: float, *, writing: bool) -> str:
    """The line shown while an answer is prepared: which sources are being read, and for how
    long. `sources` are (document, where) pairs."""
    if not sources:
        return f"⏳ Looking for the passages that answer this… {elapsed:.0f} s"
    docs = list(dict.fromkeys(d for d, _ in sources))
    where = "; ".join(
        short(d, 48) + " " + ", ".join(w for doc, w in sources if doc == d and w) for d in docs[:3]
    )
    more = f" and {len(docs) - 3} more documents" if len(docs) > 3 else ""
    verb = "Writing from" if writing else "Reading"
    count = f"{len(sources)} passage{'s' if len(sources) != 1 else ''}"
    return f"⏳ {verb} {count}: {where}{more} · {elapsed:.0f} s"


# ------------------------------------------------------------------------------ source viewer
def _marked_lines(text: str, highlights: Sequence[tuple[int, int]]) -> list[tuple[str, bool]]:
    """`text` split into lines as HTML, the highlighted spans wrapped in <mark>; the flag says
    whether the line holds any highlight."""
    out: list[tuple[str, bool]] = []
    offset = 0
    for line in text.splitlines(keepends=True) or [""]:
        start, end = offset, offset + len(line.rstrip("\r\n"))
        offset += len(line)
        pieces: list[str] = []
        cursor = start
        hit = False
        for lo, hi in sorted(highlights):
            lo, hi = max(lo, start), min(hi, end)
            if lo >= hi:
                continue
            hit = True
            pieces.append(html.escape(text[cursor:lo]))
            pieces.append(f"<mark>{html.escape(text[lo:hi])}</mark>")
            cursor = hi
        pieces.append(html.escape(text[cursor:end]))
        out.append(("".join(pieces), hit))
    return out


def source_html(view: SourceView) -> str:
    """The viewer's text: the page / paragraphs / lines with the quoted span in <mark>; code
    and text files get line numbers."""
    numbered = view.first_line is not None
    rows = []
    for i, (line, hit) in enumerate(_marked_lines(view.text, view.highlights)):
        number = f'<span class="ln">{(view.first_line or 1) + i}</span>' if numbered else ""
        cls = ' class="hit"' if hit else ""
        rows.append(f'<div{cls}>{number}<span class="tx">{line or "&#8203;"}</span></div>')
    kind = "code" if numbered else "prose"
    if not view.text.strip():
        rows = ['<div class="tomes-empty">This page has no text.</div>']
    return f'<div class="tomes-source {kind}">{"".join(rows)}</div>'


VIEWER_EMPTY = (
    '<div class="tomes-empty">Click a source under an answer to open it here, with the quoted '
    "words highlighted.</div>"
)


def viewer_head(view: SourceView, quote: str, verified: bool) -> str:
    """The viewer's header: document, where in it, the quote, and whether it was found."""
    where = view.title.split(" · ", 1)[-1]
    if view.kind == "pdf" and view.page:
        where = f"Page {view.page} of {view.n_pages or '?'}"
    elif lines := re.fullmatch(r"L(\d+)(?:-(\d+))?", where):
        where = f"Lines {lines[1]}–{lines[2]}" if lines[2] else f"Line {lines[1]}"
    parts = [
        '<div class="tomes-viewer-head">',
        f'<div class="doc">{html.escape(view.document)}</div>',
        f'<div class="where" data-testid="viewer-where">{html.escape(where)}</div>',
    ]
    if quote:
        parts.append(f'<blockquote class="quote">“{html.escape(short(quote, 400))}”</blockquote>')
    if quote and not verified:
        parts.append(f'<div class="check warn">This citation {UNVERIFIED_TIP}.</div>')
    elif quote and view.highlights:
        parts.append('<div class="check ok">Quote found; highlighted below.</div>')
    for note in view.notes:
        parts.append(f'<div class="check note">{html.escape(note)}</div>')
    parts.append("</div>")
    return "".join(parts)


def png(data: bytes | None) -> Any:
    """A rendered page (PNG bytes) as a PIL image for the viewer, or None without one."""
    if not data:
        return None
    from PIL import Image

    return Image.open(io.BytesIO(data))


# ----------------------------------------------------------------- documents and summary tree
def _pages(pages: Sequence[int]) -> str:
    return ", ".join(map(str, pages[:6])) + ("…" if len(pages) > 6 else "")


def ocr_note(summary: OcrSummary | None, scanned: Sequence[int]) -> str:
    """What the documents list says about a document's scanned pages."""
    if not scanned:
        return ""
    if summary is None or summary.pending == len(scanned):
        return f"{len(scanned)} scanned page(s): waiting to be read by OCR"
    parts = [f"{summary.read} of {len(scanned)} scanned page(s) read by OCR"]
    if summary.pending:
        parts[0] += f" ({summary.pending} still reading)"
    if summary.low_confidence:
        parts.append(f"⚠ low OCR confidence on p. {_pages(summary.low_confidence)}")
    if summary.unreadable:
        parts.append(f"⚠ unreadable, not searchable: p. {_pages(summary.unreadable)}")
    if summary.failed:
        parts.append(f"⚠ could not be read: p. {_pages(summary.failed)}")
    return "; ".join(parts)


def documents_rows(
    docs: Sequence[DocumentInfo], ocr: Mapping[str, OcrSummary] | None = None
) -> list[list[Any]]:
    """The documents table's rows, in `DOC_HEADERS` order; `ocr` marks scanned pages read
    with low confidence (or not at all)."""
    rows = []
    for d in docs:
        notes = ocr_note((ocr or {}).get(d.id), d.ocr_pages)
        added = d.added_at.replace("T", " ")[:16]
        rows.append([d.name, d.kind.upper(), d.n_pages or "", d.n_chunks, d.n_tokens, added, notes])
    return rows


def node_label(node: SummaryNode, index: int) -> str:
    """A summary-tree child as a choice: its number, where it is, and its first words."""
    where = node.locator.label()
    head = f"Part {index}" + (f" ({where})" if where else "")
    return f"{head}: {short(node.text, 110)}"


def node_markdown(node: SummaryNode, document: str) -> str:
    """A summary-tree node as Markdown: document, level and place, then its text."""
    where = node.locator.label()
    level = "first-level summary of passages" if node.level == 1 else f"level {node.level} summary"
    meta = " · ".join(p for p in (f"**{document}**", level, where) if p)
    return f"{meta}\n\n{node.text.strip()}"


# ------------------------------------------------------------------------------ review grid
_KEYS = re.compile(r"\s*\[(?:[ce]\d+)(?:,\s*[ce]\d+)*\]")
_STATE_WORDS = {
    "found": "found",
    "not_found": "not found",
    "unclear": "unclear",
    "failed": "failed",
    "pending": "not run yet",
}


def cell_display(cell: GridCell, review: CellReview) -> str:
    """A cell's text in the table: the reviewer's edit, else the model's answer without its
    keys; a miss says so."""
    if review.edited is not None:
        return review.edited
    if cell.state.value == "found":
        text = _KEYS.sub("", cell.answer).strip()
        return text[:-1] if text.endswith(".") and not re.search(r"[.!?]\s", text) else text
    return _STATE_WORDS.get(cell.state.value, cell.state.value)


def grid_table_html(page: GridPage | None, *, empty: str = "") -> str:
    """A page of a review grid: documents down, questions across. Each cell is coloured by
    state, shows its short answer and page, and carries `data-cell="row,col"` (its place on
    this page) for the click handler; reviewed, edited and flagged cells are marked."""
    if page is None or not page.grid.columns:
        text = empty or "Choose or create a grid: documents down, questions across."
        return f'<div class="tomes-empty">{html.escape(text)}</div>'
    head = "".join(
        f'<th title="{html.escape(c.question, quote=True)}">{html.escape(short(c.title, 60))}</th>'
        for c in page.grid.columns
    )
    body = []
    for i, row in enumerate(page.rows):
        cells = []
        for j, (cell, review) in enumerate(zip(row.cells, row.reviews, strict=True)):
            text = short(cell_display(cell, review), 90)
            where = ", ".join(
                dict.fromkeys(c.locator.label() for c in cell.citations if c.locator.label())
            )
            marks = ""
            if review.reviewed:
                marks += '<span class="mk ok" title="reviewed">✓</span>'
            if review.edited is not None:
                marks += '<span class="mk ed" title="edited by the reviewer">✎</span>'
            if review.flagged:
                marks += '<span class="mk fl" title="flagged">⚑</span>'
            if review.comment:
                note = html.escape(review.comment, quote=True)
                marks += f'<span class="mk cm" title="{note}">💬</span>'
            tip = cell.error if cell.error else (cell.citations[0].quote if cell.citations else "")
            cls = f"gc {cell.state.value}" + ("" if cell.current else " stale")
            if not cell.current:
                tip = "out of date: made with other settings or model; run the grid to update"
            loc = f'<span class="where">{html.escape(where)}</span>' if where else ""
            tip = html.escape(short(tip, 300), quote=True)
            cells.append(
                f'<td class="{cls}" data-cell="{i},{j}" title="{tip}">'
                f'{marks}<span class="ans">{html.escape(text)}</span>{loc}</td>'
            )
        body.append(
            f'<tr><th class="doc" title="{html.escape(row.document, quote=True)}">'
            f"{html.escape(short(row.document, 48))}</th>{''.join(cells)}</tr>"
        )
    if not body:
        body = [
            f'<tr><td colspan="{len(page.grid.columns) + 1}" class="tomes-empty">'
            "This grid has no documents: add documents to the project.</td></tr>"
        ]
    return (
        '<div class="tomes-grid-wrap"><table class="tomes-grid">'
        f'<thead><tr><th class="doc">Document</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def grid_progress_line(page: GridPage | None, job: GridJob | None) -> str:
    """Counts by state over the whole grid, and the run's progress while it runs."""
    if page is None:
        return ""
    c = page.counts
    parts = [f"**{page.done} of {page.total_cells} cells**"]
    for key in ("found", "not_found", "unclear", "failed"):
        if c.get(key):
            parts.append(f"{c[key]} {_STATE_WORDS[key]}")
    if c.get("pending"):
        parts.append(f"{c['pending']} to run")
    line = " · ".join(parts)
    if job is not None and job.describe():
        line += f"  \n{job.describe()}"
    return line


def cell_markdown(cell: GridCell, review: CellReview, label: str) -> str:
    """The selected cell: document, question, state, the answer (and the model's own when
    the reviewer edited it), its sources, or why it failed."""
    lines = [f"**{cell.document}** · {label}", "", f"_{cell.question}_", ""]
    state = _STATE_WORDS.get(cell.state.value, cell.state.value)
    if not cell.current:
        state += " (out of date: run the grid to update it)"
    lines.append(f"State: **{state}**")
    if review.edited is not None:
        lines += ["", f"Reviewer's answer: **{review.edited}**",
                  f"Model's answer: {review.original or cell.answer or '—'}"]  # fmt: skip
    elif cell.answer and cell.state.value == "found":
        lines += ["", f"Answer: **{_KEYS.sub('', cell.answer).strip()}**"]
    if cell.error:
        lines += ["", f"Why it failed: {cell.error}"]
    for c in cell.citations:
        mark = "" if c.verified else " (unverified)"
        lines += ["", f"> {c.locator.label() or c.document}{mark}: “{short(c.quote, 300)}”"]
    return "\n".join(lines)
