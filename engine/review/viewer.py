"""Open a citation at its source: the page (PDF), paragraphs (DOCX) or lines (text, code) it
points at, with the quoted span marked, and for PDFs the rendered page with the span
highlighted when the original file is still where it was added."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import StoreError
from engine.qa.citations import find_quote
from engine.store import documents
from engine.store.db import ProjectStore
from engine.types import DocumentInfo
from ingest.types import DocKind, Locator

__all__ = ["SourceView", "open_source", "render_pdf_page"]

_CONTEXT_LINES = 12


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


def _highlight(text: str, quote: str) -> tuple[tuple[int, int], ...]:
    if not quote:
        return ()
    span = find_quote(quote, text)
    return (span,) if span else ()


_MIN_PART = 12  # characters: a shorter piece of a quote could match anywhere


def _part_highlight(text: str, quote: str, *, start: bool) -> tuple[tuple[int, int], ...]:
    """For a quote that runs over a page break: the longest run of its lines that stands on
    this page, its opening lines on the first page (`start`) or its closing lines on the
    last."""
    lines = [ln for ln in quote.splitlines() if ln.strip()]
    for k in range(len(lines) - 1, 0, -1):
        part = "\n".join(lines[:k] if start else lines[-k:])
        if len(part.strip()) < _MIN_PART:
            break
        span = find_quote(part, text)
        if span:
            return (span,)
    return ()


def open_source(
    store: ProjectStore,
    doc_id: str,
    locator: Locator,
    *,
    quote: str = "",
    render: bool = True,
    page: int | None = None,
) -> SourceView:
    """The view for `locator` in `doc_id` (or another `page` of the same PDF)."""
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
        spans_pages = bool(locator.page and locator.page_end and locator.page_end != locator.page)
        if quote and not highlights and spans_pages:
            # the quote runs over the page break: mark the part on this page
            if number == locator.page:
                highlights = _part_highlight(text, quote, start=True)
                if not highlights and page is None and locator.page_end:
                    # only a page number or a stray word of it is here: open where it is
                    later = "".join(b.text for b, _ in store.blocks(doc_id, page=locator.page_end))
                    if _part_highlight(later, quote, start=False):
                        number, text = locator.page_end, later
                if number == locator.page:
                    notes.append(f"The quote continues on p. {locator.page_end}.")
            if number == locator.page_end and not highlights:
                highlights = _part_highlight(text, quote, start=False)
                notes.append(f"The quote begins on p. {locator.page}.")
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
