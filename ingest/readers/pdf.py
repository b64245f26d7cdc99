"""PDF reader: one PAGE block per page, streamed, with pypdfium2 (default) or pypdf.

Each page becomes exactly one block, in order, with `locator.page` 1-based. The block text is
the page's extracted text with '\\r\\n'/'\\r' normalised to '\\n', NUL and other C0 control
characters except tab removed, PDFium's end-of-line hyphen marker (U+FFFE) turned back into
'-\\n', and a trailing '\\n' appended when missing; an empty page gives ''. A page with no
text layer (fewer than `MIN_PAGE_CHARS` non-blank characters while it has image content) gives
`Block(text='', needs_ocr=True)`.

Blocks are a generator: pages are extracted one at a time and nothing but the current page
is held, so a 2,000-page PDF streams in constant memory. The native document handle is opened
when iteration starts and closed in a `finally` (also when the consumer stops early). `read`
itself opens the document once to check it (encryption, damage, page count) and closes it.

Thread safety: PDFium is not thread-safe, not even across different documents, and
pypdfium2 objects must not be shared between threads. Every PDFium call here is made while
holding `PDFIUM_LOCK`, taken per page (never across a `yield`), so readers in several threads
interleave safely; for parallel speed, use processes.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final, Literal

from ingest.errors import CorruptFile, EmptyFile, EncryptedFile, IngestError, TooLarge
from ingest.readers._io import Probe, guarded, probe, read_all
from ingest.readers._sniff import describe_magic
from ingest.types import Block, BlockKind, DocKind, Document, Locator, Source

if TYPE_CHECKING:
    import pypdf
    import pypdfium2

__all__ = [
    "DEFAULT_MAX_PAGES",
    "ENGINES",
    "MIN_PAGE_CHARS",
    "PDFIUM_LOCK",
    "PdfEngine",
    "open_pdf",
    "read_pdf",
    "read_pdf_probed",
]

PdfEngine = Literal["pdfium", "pypdf"]
#: The text engines `read_pdf` accepts; "pdfium" (pypdfium2) is the default and ~10x faster.
ENGINES: Final[tuple[PdfEngine, ...]] = ("pdfium", "pypdf")
#: PDFs with more pages than this are refused (a few kilobytes can declare a million pages);
#: generous: the longest real manuals run to a few thousand.
DEFAULT_MAX_PAGES: Final = 20_000
#: A page with fewer non-blank characters than this and some image content needs OCR.
MIN_PAGE_CHARS: Final = 3
#: Serialises every PDFium call in this process (PDFium is not thread-safe).
PDFIUM_LOCK: Final = threading.RLock()

_ENCRYPTED_REASON: Final = "is password-protected; remove the password and add it again"
# Pages with this many vector paths and no text are probably text drawn as outlines.
_OUTLINED_TEXT_PATHS: Final = 50
# Keep tab and newline; drop the other C0 controls (unmapped glyphs in math fonts come out as
# \x14, \x15 ...) that would break XML export and tokenizers.
_DROP_CONTROLS: Final = {c: None for c in range(32) if c not in (9, 10)}


def normalize_page_text(text: str) -> str:
    """A page's extracted text as a block text: '\\n' newlines, no controls, ending in '\\n'."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufffe", "-\n")
    text = text.translate(_DROP_CONTROLS)
    if text and not text.endswith("\n"):
        text += "\n"
    return text


def _page_block(doc_id: str, number: int, text: str, *, has_images: Callable[[], bool]) -> Block:
    locator = Locator(doc_id=doc_id, page=number)
    if len("".join(text.split())) < MIN_PAGE_CHARS and has_images():
        return Block(text="", locator=locator, kind=BlockKind.PAGE, needs_ocr=True)
    return Block(text=normalize_page_text(text), locator=locator, kind=BlockKind.PAGE)


def _check_bytes(source: Source, found: Probe) -> None:
    """Refuse what is not a PDF, or a PDF cut short, before handing it to a parser."""
    magic = describe_magic(found.head)
    if magic != "a PDF":
        what = f"it looks like {magic}" if magic else "it has no PDF header"
        raise CorruptFile(source.name, f"is not a PDF: {what}")
    # Acrobat requires %%EOF within the last 1024 bytes; without it the file was cut short.
    if b"%%EOF" not in found.tail:
        raise CorruptFile(
            source.name, "is truncated or damaged (no end-of-file marker); download it again"
        )


def _pdfium_input(source: Source) -> Path | bytes | BinaryIO:
    """What to hand PDFium: the path for files on disk, else a seekable stream or the bytes."""
    if source.path is not None:
        return source.path
    with guarded(source.name):
        stream = source.open()
        if stream.seekable():
            return stream
        try:
            return read_all(source, stream)
        finally:
            stream.close()


def _pdfium_open(source: Source) -> pypdfium2.PdfDocument:
    import pypdfium2
    import pypdfium2.raw as pdfium_c

    data = _pdfium_input(source)
    try:
        with PDFIUM_LOCK, guarded(source.name):
            # password=None: PDFium tries the empty user password, so PDFs that are encrypted
            # only to restrict printing or copying open normally.
            return pypdfium2.PdfDocument(data, autoclose=True)
    except pypdfium2.PdfiumError as exc:
        if isinstance(data, io.IOBase):
            data.close()
        code = getattr(exc, "err_code", None)
        if code == pdfium_c.FPDF_ERR_PASSWORD:
            raise EncryptedFile(source.name, _ENCRYPTED_REASON) from exc
        if code == pdfium_c.FPDF_ERR_SECURITY:
            raise EncryptedFile(
                source.name, "uses an encryption scheme Tomes cannot open; save an unencrypted copy"
            ) from exc
        if code == pdfium_c.FPDF_ERR_SUCCESS:
            raise EmptyFile(source.name, "has no pages") from exc
        raise CorruptFile(source.name, f"is damaged and cannot be opened ({exc})") from exc


def open_pdf(source: Source) -> pypdfium2.PdfDocument:
    """The source opened with PDFium (close it holding `PDFIUM_LOCK`); IngestErrors as `read`."""
    return _pdfium_open(source)


def _pdfium_has_images(page: pypdfium2.PdfPage) -> bool:
    import pypdfium2.raw as pdfium_c

    paths = 0
    for obj in page.get_objects(max_depth=4):
        if obj.type == pdfium_c.FPDF_PAGEOBJ_IMAGE:
            return True
        if obj.type == pdfium_c.FPDF_PAGEOBJ_PATH:
            paths += 1
            if paths >= _OUTLINED_TEXT_PATHS:
                return True
    return False


def _pdfium_count(source: Source) -> int:
    pdf = _pdfium_open(source)
    try:
        with PDFIUM_LOCK:
            return len(pdf)
    finally:
        with PDFIUM_LOCK:
            pdf.close()


def _pdfium_pages(source: Source, doc_id: str, n_pages: int) -> Iterator[Block]:
    import pypdfium2

    pdf = _pdfium_open(source)
    try:
        for index in range(n_pages):
            with PDFIUM_LOCK:
                try:
                    page = pdf[index]
                    try:
                        textpage = page.get_textpage()
                        try:
                            text = textpage.get_text_range()
                        finally:
                            textpage.close()
                        block = _page_block(
                            doc_id, index + 1, text, has_images=partial(_pdfium_has_images, page)
                        )
                    finally:
                        page.close()
                except pypdfium2.PdfiumError as exc:
                    raise CorruptFile(
                        source.name, f"page {index + 1} is damaged and cannot be read ({exc})"
                    ) from exc
            yield block
    finally:
        with PDFIUM_LOCK:
            pdf.close()


def _pypdf_open(source: Source, stream: BinaryIO) -> pypdf.PdfReader:
    import pypdf
    from pypdf.errors import DependencyError, PdfReadError

    try:
        with guarded(source.name):
            reader = pypdf.PdfReader(stream, strict=False)
            if reader.is_encrypted and not reader.decrypt(""):
                raise EncryptedFile(source.name, _ENCRYPTED_REASON)
            return reader
    except DependencyError as exc:
        raise EncryptedFile(
            source.name, f"uses encryption pypdf cannot open without extra packages ({exc})"
        ) from exc
    except IngestError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CorruptFile(source.name, f"is damaged and cannot be opened ({exc})") from exc


def _pypdf_has_images(page: Any) -> bool:
    try:
        return len(page.images) > 0
    except Exception:  # a broken image dictionary still means "there is an image"
        return True


def _pypdf_count(source: Source) -> int:
    with guarded(source.name), source.open() as stream:
        reader = _pypdf_open(source, stream)
        try:
            n_pages = len(reader.pages)
        except Exception as exc:
            raise CorruptFile(
                source.name, f"is damaged: its page tree is unreadable ({exc})"
            ) from exc
    if n_pages == 0:
        raise EmptyFile(source.name, "has no pages")
    return n_pages


def _pypdf_pages(source: Source, doc_id: str, n_pages: int) -> Iterator[Block]:
    with guarded(source.name), source.open() as stream:
        reader = _pypdf_open(source, stream)
        for index in range(n_pages):
            try:
                page = reader.pages[index]
                text = page.extract_text() or ""
                block = _page_block(
                    doc_id, index + 1, text, has_images=partial(_pypdf_has_images, page)
                )
            except IngestError:
                raise
            except Exception as exc:
                # pypdf raises a zoo of types (PdfReadError, KeyError, struct.error, ...)
                # for damaged content streams.
                raise CorruptFile(
                    source.name, f"page {index + 1} is damaged and cannot be read ({exc})"
                ) from exc
            yield block


def _check_pages(source: Source, n_pages: int, max_pages: int) -> None:
    if n_pages > max_pages:
        raise TooLarge(
            source.name,
            f"is too large: it has {n_pages:,} pages, more than the limit of {max_pages:,} "
            "(raise the ingest.max_pages setting to read it)",
        )


def read_pdf_probed(
    source: Source,
    found: Probe,
    *,
    engine: PdfEngine = "pdfium",
    max_pages: int = DEFAULT_MAX_PAGES,
) -> Document:
    """Read a PDF whose bytes were already probed (see `read_pdf`)."""
    if engine not in ENGINES:
        raise ValueError(f"unknown PDF engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if found.size == 0:
        raise EmptyFile(source.name, "file is empty (0 bytes)")
    _check_bytes(source, found)
    if engine == "pdfium":
        n_pages = _pdfium_count(source)
        _check_pages(source, n_pages, max_pages)
        blocks = _pdfium_pages(source, found.sha256, n_pages)
    else:
        n_pages = _pypdf_count(source)
        _check_pages(source, n_pages, max_pages)
        blocks = _pypdf_pages(source, found.sha256, n_pages)
    return Document(
        id=found.sha256,
        name=source.name,
        kind=DocKind.PDF,
        source_key=source.source_key,
        blocks=blocks,
        size_bytes=found.size,
        path=str(source.path) if source.path is not None else None,
        meta={"pages": str(n_pages), "engine": engine},
    )


def read_pdf(
    source: Source, *, engine: PdfEngine = "pdfium", max_pages: int = DEFAULT_MAX_PAGES
) -> Document:
    """Read a PDF into one PAGE block per page (see the module docstring).

    Raises EncryptedFile when a password is needed, CorruptFile when damaged or truncated,
    EmptyFile when it has no bytes or no pages, TooLarge when it has more than `max_pages`
    pages (checked from the page count, before any page is read). Errors found while
    iterating the blocks (a damaged page) are CorruptFile too.
    """
    return read_pdf_probed(source, probe(source), engine=engine, max_pages=max_pages)
