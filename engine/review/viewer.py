"""Open a citation at its source: the page (PDF), paragraphs (DOCX) or lines (text, code) it
points at, with the quoted span marked, and for PDFs the rendered page with the span
highlighted when the original file is still where it was added."""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import StoreError
from engine.qa.citations import find_quote
from engine.store import documents
from engine.store.db import ProjectStore
from engine.types import DocumentInfo
from ingest.types import DocKind, Locator

__all__ = ["MAX_VIEW_CHARS", "SourceView", "open_source", "render_pdf_page"]

_CONTEXT_LINES = 12
#: The most text one view shows: a window around the cited span. A file that is one 50 MB
#: line must not become 50 MB of HTML in the browser.
MAX_VIEW_CHARS = 120_000


@dataclass(frozen=True, slots=True)
class SourceView:
    """What the viewer shows. `text` is the page / paragraphs / lines; `highlights` are
    (start, end) offsets into `text`; `first_line` numbers the first line of `text` for code
    and text files; `image` is a PNG of the PDF page with the highlight, when available."""

    document: str
    kind: DocKind
    title: str  # e.g. "contract.pdf · p. 12" or "src/db.py · L40-88"
    text: str
    highlights: tuple[tuple[int, int], ...] = ()
    first_line: int | None = None
    page: int | None = None
    n_pages: int | None = None
    image: bytes | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def _bounded(view: SourceView, *, limit: int = MAX_VIEW_CHARS) -> SourceView:
    """`view` cut to at most `limit` characters around its first highlight (or its start),
    at line breaks where one is near, with the highlights and first line moved to match
    and a note saying how much is not shown."""
    text = view.text
    if len(text) <= limit:
        return view
    focus_from, focus_to = view.highlights[0] if view.highlights else (0, 0)
    focus_to = min(focus_to, focus_from + limit // 2)  # a huge span shows its start
    start = max(0, min(focus_from - (limit - (focus_to - focus_from)) // 2, len(text) - limit))
    end = min(len(text), start + limit)
    slack = limit // 20
    if start:  # begin at a line start when one is close
        cut = text.find("\n", start, start + slack)
        if cut != -1 and cut + 1 <= focus_from:
            start = cut + 1
    if end < len(text):
        cut = text.rfind("\n", end - slack, end)
        if cut != -1 and cut >= focus_to:
            end = cut + 1
    highlights = tuple(
        (max(a, start) - start, min(b, end) - start)
        for a, b in view.highlights
        if b > start and a < end
    )
    first_line = view.first_line
    if first_line is not None:
        first_line += text.count("\n", 0, start)
    note = (
        f"Showing {end - start:,} of {len(text):,} characters around the cited passage "
        "(the rest is too long to show here)."
    )
    return dataclasses.replace(
        view,
        text=text[start:end],
        highlights=highlights,
        first_line=first_line,
        notes=(*view.notes, note),
    )


def _highlight(text: str, quote: str) -> tuple[tuple[int, int], ...]:
    if not quote:
        return ()
    span = find_quote(quote, text)
    return (span,) if span else ()


def open_source(
    store: ProjectStore,
    doc_id: str,
    locator: Locator,
    *,
    quote: str = "",
    render: bool = True,
    page: int | None = None,
) -> SourceView:
    """The view for `locator` in `doc_id` (or another `page` of the same PDF), at most
    `MAX_VIEW_CHARS` of text around the cited span."""
    return _bounded(_open(store, doc_id, locator, quote=quote, render=render, page=page))


def _open(
    store: ProjectStore,
    doc_id: str,
    locator: Locator,
    *,
    quote: str = "",
    render: bool = True,
    page: int | None = None,
) -> SourceView:
    doc = store.document(doc_id)
    notes: list[str] = []
    if doc.kind == "pdf":
        number = page or locator.page or 1
        number = max(1, min(number, doc.n_pages or number))
        blocks = store.blocks(doc_id, page=number)
        text = "".join(b.text for b, _ in blocks)
        if blocks and blocks[0][0].needs_ocr:
            notes.append("This page has no text layer (a scan?); OCR it to search and cite it.")
        highlights = _highlight(text, quote) if number == (locator.page or number) or quote else ()
        if quote and not highlights and locator.page_end and number != locator.page_end:
            notes.append(f"The quote continues on p. {locator.page_end}.")
        image = render_pdf_page(doc, number, quote) if render else None
        if render and image is None:
            notes.append("The original file is not where it was added, so only its text is shown.")
        return SourceView(
            doc.name, doc.kind, f"{doc.name} · p. {number}", text, highlights,
            page=number, n_pages=doc.n_pages, image=image, notes=tuple(notes),
        )  # fmt: skip
    if doc.kind == "docx":
        blocks = store.blocks(doc_id)
        lo = locator.paragraph if locator.paragraph is not None else 0
        hi = locator.paragraph_end if locator.paragraph_end is not None else lo
        near = [
            b
            for b, _ in blocks
            if b.locator.paragraph is not None and lo - 3 <= b.locator.paragraph <= hi + 3
        ]
        text = "".join(b.text for b in near)
        cited = "".join(
            b.text
            for b in near
            if b.locator.paragraph is not None and lo <= b.locator.paragraph <= hi
        )
        highlights = _highlight(text, quote) or _highlight(text, cited)
        return SourceView(doc.name, doc.kind, f"{doc.name} · {locator.label()}", text, highlights)
    # text, markdown, code: the cited lines with some context around them
    start = locator.line_start or 1
    end = locator.line_end or start
    lines = documents.lines(store, doc_id, max(1, start - _CONTEXT_LINES), end + _CONTEXT_LINES)
    if not lines:
        raise StoreError(f"{doc.name} has no lines {start}-{end}")
    first = lines[0][0]
    text = "".join(t for _, t in lines)
    offsets = _line_offsets([t for _, t in lines])
    cited_from = offsets[start - first] if start - first < len(offsets) else 0
    cited_to = offsets[min(end - first + 1, len(offsets) - 1)] if end >= first else len(text)
    highlights = _highlight(text, quote) or ((cited_from, cited_to),)
    title = f"{doc.name} · {Locator(line_start=start, line_end=end).label()}"
    return SourceView(doc.name, doc.kind, title, text, highlights, first_line=first)


def _line_offsets(lines: list[str]) -> list[int]:
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    return offsets


def render_pdf_page(
    doc: DocumentInfo, page: int, quote: str = "", *, scale: float = 1.5
) -> bytes | None:
    """PNG of one page with the quote highlighted; None if the original file is gone or has
    changed since it was added (its text would no longer match)."""
    if not doc.path:
        return None
    path = Path(doc.path)
    try:
        if not path.is_file() or path.stat().st_size != doc.size_bytes:
            return None
        import pypdfium2 as pdfium
        from PIL import Image, ImageDraw
    except (OSError, ImportError):
        return None
    pdf = None
    try:
        pdf = pdfium.PdfDocument(str(path))
        pg = pdf[page - 1]
        bitmap = pg.render(scale=scale)
        image = bitmap.to_pil().convert("RGB")
        if quote:
            textpage = pg.get_textpage()
            text = textpage.get_text_range()
            span = find_quote(quote, text)
            if span is not None:
                overlay = image.copy()
                draw = ImageDraw.Draw(overlay)
                height = pg.get_height()
                for i in range(span[0], span[1]):
                    left, bottom, right, top = textpage.get_charbox(i)
                    if right > left:
                        draw.rectangle(
                            [
                                left * scale,
                                (height - top) * scale,
                                right * scale,
                                (height - bottom) * scale,
                            ],
                            fill=(255, 214, 10),
                        )
                image = Image.blend(image, overlay, 0.45)
            textpage.close()
        pg.close()
        buf = io.BytesIO()
        image.save(buf, format="PNG", optimize=True)
        return buf.getvalue()
    except Exception:  # a page that will not render still shows as text
        return None
    finally:
        if pdf is not None:
            pdf.close()
