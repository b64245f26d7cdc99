"""The page images of a document that OCR reads: PDF pages rendered by PDFium, or the frames
of an image file, one at a time (see `ingest.ocr.images` for the memory bounds)."""

from __future__ import annotations

from collections.abc import Collection, Generator, Iterator
from typing import TYPE_CHECKING

from ingest.errors import CorruptFile, UnsupportedFile
from ingest.ocr.images import PAGE_PIXELS, image_frames, open_image, render_pdf_page
from ingest.readers._io import guarded
from ingest.readers.pdf import PDFIUM_LOCK, open_pdf
from ingest.types import DocKind, Source

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["page_images"]


def page_images(
    source: Source,
    kind: DocKind,
    pages: Collection[int],
    *,
    dpi: int,
    max_pixels: int = PAGE_PIXELS,
) -> Generator[tuple[int, Image.Image], None, None]:
    """(page number, grey image) for each 1-based page in `pages`, in page order.

    PDF pages are rendered at `dpi` (see `images.render_pdf_page`); image frames are used at
    their own resolution, scaled to at most `max_pixels`. The file is opened once and closed
    when the iterator ends or is closed. Raises IngestErrors naming the file.
    """
    wanted = sorted(set(pages))
    if kind is DocKind.PDF:
        yield from _pdf_pages(source, wanted, dpi=dpi, max_pixels=max_pixels)
    elif kind is DocKind.IMAGE:
        yield from _image_pages(source, wanted, max_pixels=max_pixels)
    else:
        raise UnsupportedFile(source.name, f"a {kind.value} document has no page images")


def _pdf_pages(
    source: Source, wanted: list[int], *, dpi: int, max_pixels: int
) -> Iterator[tuple[int, Image.Image]]:
    import pypdfium2

    pdf = open_pdf(source)
    try:
        with PDFIUM_LOCK:
            count = len(pdf)
        for number in wanted:
            if not 1 <= number <= count:
                raise CorruptFile(source.name, f"has no page {number} (it has {count})")
            try:
                with PDFIUM_LOCK:
                    image = render_pdf_page(pdf, number - 1, dpi=dpi, max_pixels=max_pixels)
            except pypdfium2.PdfiumError as exc:
                raise CorruptFile(
                    source.name, f"page {number} is damaged and cannot be rendered ({exc})"
                ) from exc
            yield number, image
    finally:
        with PDFIUM_LOCK:
            pdf.close()


def _image_pages(
    source: Source, wanted: list[int], *, max_pixels: int
) -> Iterator[tuple[int, Image.Image]]:
    if not wanted:
        return
    with guarded(source.name), source.open() as stream:
        image = open_image(source.name, stream)
        try:
            yield from image_frames(source.name, image, max_pixels=max_pixels, only=set(wanted))
        finally:
            image.close()
