"""Open a citation at its source: the page (PDF, image), paragraphs (DOCX) or lines (text,
code) it points at, with the quoted span marked, and for PDFs and images the rendered page
with the span highlighted when the original file is still where it was added.

On a scanned page the text is what OCR read, and the highlight is drawn from the boxes of the
OCR words the quote covers (stored with the page, in page fractions), on the page image: the
rendered PDF page, or the image file's frame. The page's OCR confidence comes with the view,
and a page read with low confidence says so."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import StoreError
from engine.qa.citations import find_quote
from engine.store import documents
from engine.store import ocr as ocr_store
from engine.store.db import ProjectStore
from engine.types import DocumentInfo
from ingest.ocr.types import Box
from ingest.types import DocKind, Locator

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["MAX_VIEW_CHARS", "SourceView", "open_source", "render_pdf_page"]

_CONTEXT_LINES = 12
#: The most text one view shows: a window around the cited span. A file that is one 50 MB
#: line must not become 50 MB of HTML in the browser.
MAX_VIEW_CHARS = 120_000


@dataclass(frozen=True, slots=True)
class SourceView:
    """What the viewer shows. `text` is the page / paragraphs / lines; `highlights` are
    (start, end) offsets into `text`; `first_line` numbers the first line of `text` for code
    and text files; `image` is a PNG of the page (PDF, image) with the highlight, when
    available. On a page read by OCR, `ocr_confidence` is its mean confidence, `ocr_status`
    its status, and `boxes` the highlighted words' boxes (page fractions)."""

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
    ocr_confidence: float | None = None
    ocr_status: str = ""
    boxes: tuple[Box, ...] = ()


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
    if doc.kind in (DocKind.PDF, DocKind.IMAGE):
        return _page_view(store, doc, locator, quote=quote, render=render, page=page)
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


_OCR_NOTES = {
    "low_confidence": "Read by OCR with low confidence ({:.0%}): check the words on the image.",
    "unreadable": "OCR could not read this page reliably ({:.0%}), so it is not searchable.",
    "blank": "OCR found no text on this page.",
    "failed": "This scanned page could not be read: {}",
}


def _page_view(
    store: ProjectStore,
    doc: DocumentInfo,
    locator: Locator,
    *,
    quote: str,
    render: bool,
    page: int | None,
) -> SourceView:
    number = page or locator.page or 1
    number = max(1, min(number, doc.n_pages or number))
    blocks = store.blocks(doc.id, page=number)
    text = "".join(b.text for b, _ in blocks)
    notes: list[str] = []
    highlights = _highlight(text, quote) if number == (locator.page or number) or quote else ()
    spans_pages = bool(locator.page and locator.page_end and locator.page_end != locator.page)
    if quote and not highlights and spans_pages:
        # the quote runs over the page break: mark the part on this page
        if number == locator.page:
            highlights = _part_highlight(text, quote, start=True)
            if not highlights and page is None and locator.page_end:
                # only a page number or a stray word of it is here: open where it is
                later_blocks = store.blocks(doc.id, page=locator.page_end)
                later = "".join(b.text for b, _ in later_blocks)
                if _part_highlight(later, quote, start=False):
                    number, text, blocks = locator.page_end, later, later_blocks
            if number == locator.page:
                notes.append(f"The quote continues on p. {locator.page_end}.")
        if number == locator.page_end and not highlights:
            highlights = _part_highlight(text, quote, start=False)
            notes.append(f"The quote begins on p. {locator.page}.")
    elif quote and not highlights and locator.page_end and number != locator.page_end:
        notes.append(f"The quote continues on p. {locator.page_end}.")
    scanned = bool(blocks and blocks[0][0].needs_ocr)
    read = ocr_store.page_row(store, doc.id, number) if scanned else None
    boxes: tuple[Box, ...] = ()
    if scanned and read is None:
        notes.append("This scanned page has not been read by OCR yet; it will be shortly.")
    elif read is not None:
        template = _OCR_NOTES.get(read.status)
        if template:
            notes.append(
                template.format(read.error if read.status == "failed" else read.confidence)
            )
        boxes = tuple(w.box for w in read.words for a, b in highlights if w.start < b and a < w.end)
    image = None
    if render:
        if scanned:
            picture = _page_image(doc, number)
            image = _png(_draw_boxes(picture, boxes)) if picture is not None else None
        else:
            image = render_pdf_page(doc, number, quote)
        if image is None:
            notes.append("The original file is not where it was added, so only its text is shown.")
    return SourceView(
        doc.name, doc.kind, f"{doc.name} · p. {number}", text, highlights,
        page=number, n_pages=doc.n_pages, image=image, notes=tuple(notes),
        ocr_confidence=read.confidence if read else None,
        ocr_status=read.status if read else "", boxes=boxes,
    )  # fmt: skip


def _page_image(doc: DocumentInfo, page: int, *, dpi: int = 108) -> Image.Image | None:
    """The page as an RGB image (a PDF page rendered, an image file's frame), or None when
    the original file is gone or changed."""
    if not doc.path:
        return None
    path = Path(doc.path)
    try:
        if not path.is_file() or path.stat().st_size != doc.size_bytes:
            return None
        from ingest.ocr.sources import page_images
        from ingest.sources import iter_sources
        from ingest.types import Source

        (source,) = list(iter_sources([path]))
        if not isinstance(source, Source):
            return None
        found = dict(page_images(source, DocKind(doc.kind), [page], dpi=dpi, max_pixels=4_000_000))
    except Exception:  # a page that will not render still shows as text
        return None
    picture = found.get(page)
    return picture.convert("RGB") if picture is not None else None


def _draw_boxes(image: Image.Image, boxes: Sequence[Box]) -> Image.Image:
    """`image` with each box (page fractions) filled in translucent yellow."""
    if not boxes:
        return image
    from PIL import Image, ImageDraw

    overlay = image.copy()
    draw = ImageDraw.Draw(overlay)
    w, h = image.size
    for x0, y0, x1, y1 in boxes:
        draw.rectangle([x0 * w, y0 * h, x1 * w, y1 * h], fill=(255, 214, 10))
    return Image.blend(image, overlay, 0.45)


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


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
