"""OCR for pages without a text layer: scanned PDF pages and image files.

    engine = make_engine()                     # Tesseract, from the package registry
    page = read_page(image, engine)            # -> OcrPage: text, word boxes, confidence

Modules, one job each: `engine` (the OcrEngine protocol, Tesseract and RapidOCR),
`images` (PDF page rendering and image-file frames, with bounded memory), `sources` (the
page images of a document), `pool` (pages read in parallel, in order), `orient` (blank,
sideways and skew detection, and the transforms that straighten a page), `layout` (reading
order and the page text with word offsets and boxes), `page` (one page from image to
`OcrPage`), `types` (the value types).

Nothing heavy is imported until a page is read: numpy, Pillow, pypdfium2, tesserocr and
onnxruntime load on first use.
"""

from __future__ import annotations

from ingest.ocr.engine import (
    ENGINES,
    OcrEngine,
    OcrUnavailable,
    RapidOcrEngine,
    TesseractEngine,
    make_engine,
)
from ingest.ocr.page import OcrOptions, read_page
from ingest.ocr.pool import read_pages
from ingest.ocr.types import Box, OcrPage, OcrWord, PageStatus, TextLine, WordGuess

__all__ = [
    "ENGINES",
    "Box",
    "OcrEngine",
    "OcrOptions",
    "OcrPage",
    "OcrUnavailable",
    "OcrWord",
    "PageStatus",
    "RapidOcrEngine",
    "TesseractEngine",
    "TextLine",
    "WordGuess",
    "make_engine",
    "read_page",
    "read_pages",
]
