"""Readers: turn a `Source` into a `Document` of blocks, choosing the reader by name and content.

    read(source) -> Document

Dispatch: .pdf -> PDF; .docx -> DOCX; .png/.jpg/.jpeg/.tif/.tiff/.bmp/.webp -> image (pages
for OCR); .md/.markdown/.mdx -> Markdown; .txt/.text/.rst/.log/.csv/.tsv/.org/.adoc -> plain
text; known source-code extensions and file names (about 60 languages, see
`_formats.CODE_LANGUAGES`) -> code. A file with no extension is read as text when it looks like
text (as a PDF or an image when its first bytes say so). A file with any other extension is
read as text only when it was found in a folder or archive (`in_codebase`) and looks like
text; otherwise it is an UnsupportedFile that says what Tomes does read.

Every failure is an `IngestError` subclass naming the file (see `ingest.errors`). Errors met
while iterating `Document.blocks` (a file that vanished, a damaged page) are IngestErrors too.
`Document.id` is the sha256 of the bytes, computed in a first streaming pass; the blocks are
read in a second pass, so nothing needs the whole file in memory (except .docx, which
python-docx parses whole).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from types import MappingProxyType
from typing import Final, Protocol

from ingest.errors import EmptyFile, UnsupportedFile
from ingest.readers._formats import SUPPORTED_SUMMARY, kind_for
from ingest.readers._io import Probe, probe
from ingest.readers._sniff import describe_magic, sniff_text
from ingest.readers.code import read_code, read_code_probed
from ingest.readers.docx import read_docx, read_docx_probed
from ingest.readers.image import read_image, read_image_probed
from ingest.readers.pdf import DEFAULT_MAX_PAGES, ENGINES, PdfEngine, read_pdf, read_pdf_probed
from ingest.readers.text import (
    read_markdown,
    read_markdown_probed,
    read_text,
    read_text_probed,
)
from ingest.types import DocKind, Document, Source

__all__ = [
    "DEFAULT_MAX_PAGES",
    "ENGINES",
    "READERS",
    "SUPPORTED_SUMMARY",
    "PdfEngine",
    "Probe",
    "Reader",
    "classify",
    "probe",
    "read",
    "read_code",
    "read_docx",
    "read_image",
    "read_markdown",
    "read_pdf",
    "read_text",
]


# What `describe_magic` calls the image formats the image reader takes.
_IMAGE_MAGIC: Final = frozenset({"a PNG image", "a JPEG image", "a TIFF image"})


class Reader(Protocol):
    """A reader: a probed source (hash, size, first bytes known) to a Document."""

    def __call__(self, source: Source, found: Probe, /) -> Document: ...


#: The reader for each document kind.
READERS: Final[Mapping[DocKind, Reader]] = MappingProxyType(
    {
        DocKind.PDF: read_pdf_probed,
        DocKind.DOCX: read_docx_probed,
        DocKind.TEXT: read_text_probed,
        DocKind.MARKDOWN: read_markdown_probed,
        DocKind.CODE: read_code_probed,
        DocKind.IMAGE: read_image_probed,
    }
)


def classify(source: Source, found: Probe) -> DocKind:
    """Which reader a probed source needs; raises UnsupportedFile when none fits.

    Only the name and the first bytes are looked at; a file whose content contradicts its
    extension (a PDF named .docx, binary named .txt) is refused later by its reader with a
    CorruptFile that says what it really looks like.
    """
    suffix = source.suffix
    kind = kind_for(source.name, suffix)
    if kind is not None:
        return kind
    if suffix and not source.in_codebase:
        raise UnsupportedFile(
            source.name, f"unsupported file type '{suffix}' ({SUPPORTED_SUMMARY})"
        )
    sniff = sniff_text(found.head, complete=found.complete)
    if not sniff.binary:
        return DocKind.TEXT
    magic = describe_magic(found.head)
    if not suffix and magic == "a PDF":
        return DocKind.PDF
    if not suffix and magic in _IMAGE_MAGIC:
        return DocKind.IMAGE
    what = f": it looks like {sniff.magic}" if sniff.magic else ""
    raise UnsupportedFile(
        source.name, f"looks like a binary file, not text{what} ({SUPPORTED_SUMMARY})"
    )


def read(
    source: Source, *, pdf_engine: PdfEngine = "pdfium", max_pages: int = DEFAULT_MAX_PAGES
) -> Document:
    """Read one source into a Document (see the module docstring for the dispatch rules).

    `pdf_engine` picks the PDF text engine: "pdfium" (pypdfium2, default) or "pypdf";
    a PDF with more than `max_pages` pages is refused (TooLarge).
    Raises an IngestError subclass on any failure.
    """
    if pdf_engine not in ENGINES:
        raise ValueError(f"unknown PDF engine {pdf_engine!r}; choose one of {', '.join(ENGINES)}")
    found = probe(source)
    if found.size == 0:
        raise EmptyFile(source.name, "file is empty (0 bytes)")
    kind = classify(source, found)
    reader = READERS[kind]
    if kind is DocKind.PDF:
        reader = partial(read_pdf_probed, engine=pdf_engine, max_pages=max_pages)
    return reader(source, found)
