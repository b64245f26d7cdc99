"""Core ingest types: where text came from (Locator), what a reader yields (Block, Document)
and what the chunker emits (Chunk).

All types are frozen dataclasses: values, not objects with behaviour. A `Document`'s blocks may
be a one-shot iterator so that a 2,000-page PDF or a 200 MB text file is streamed, never held
whole in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "Block",
    "BlockKind",
    "Chunk",
    "DocKind",
    "Document",
    "Locator",
    "Skipped",
    "Source",
]


class DocKind(StrEnum):
    """What kind of source a document was read from."""

    PDF = "pdf"
    DOCX = "docx"
    TEXT = "text"
    MARKDOWN = "markdown"
    CODE = "code"
    IMAGE = "image"  # a PNG/JPEG/TIFF file: one page per frame, read by OCR


class BlockKind(StrEnum):
    """The structural unit a block represents; the chunker breaks at these first."""

    PAGE = "page"
    HEADING = "heading"
    PARAGRAPH = "paragraph"
    TABLE = "table"
    SECTION = "section"  # text/markdown: the lines under one heading
    CODE = "code"  # a whole source file (split further by the chunker)


def _min_opt(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _max_opt(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


@dataclass(frozen=True, slots=True)
class Locator:
    """Where a piece of text lives in its source, precise enough to reopen it.

    PDFs and images use `page`/`page_end` (1-based, inclusive); text, Markdown and code use
    `line_start`/`line_end` (1-based, inclusive); DOCX uses `paragraph`/`paragraph_end`
    (0-based body index, counting tables) plus the heading path above it.
    """

    doc_id: str = ""
    page: int | None = None
    page_end: int | None = None
    line_start: int | None = None
    line_end: int | None = None
    paragraph: int | None = None
    paragraph_end: int | None = None
    heading_path: tuple[str, ...] = ()

    def merge(self, other: Locator) -> Locator:
        """The smallest span covering both locators (same document)."""
        if self.doc_id and other.doc_id and self.doc_id != other.doc_id:
            raise ValueError("cannot merge locators of different documents")
        page = _min_opt(self.page, other.page)
        page_end = _max_opt(self.page_end or self.page, other.page_end or other.page)
        para = _min_opt(self.paragraph, other.paragraph)
        para_end = _max_opt(
            self.paragraph_end if self.paragraph_end is not None else self.paragraph,
            other.paragraph_end if other.paragraph_end is not None else other.paragraph,
        )
        return Locator(
            doc_id=self.doc_id or other.doc_id,
            page=page,
            page_end=page_end if page_end != page else None,
            line_start=_min_opt(self.line_start, other.line_start),
            line_end=_max_opt(self.line_end, other.line_end),
            paragraph=para,
            paragraph_end=para_end if para_end != para else None,
            heading_path=self.heading_path or other.heading_path,
        )

    def with_doc(self, doc_id: str) -> Locator:
        return replace(self, doc_id=doc_id)

    def label(self) -> str:
        """A short human label: 'p. 12', 'pp. 3-4', 'L40-88', '¶ 7'."""
        if self.page is not None:
            if self.page_end is not None and self.page_end != self.page:
                return f"pp. {self.page}-{self.page_end}"
            return f"p. {self.page}"
        if self.line_start is not None:
            if self.line_end is not None and self.line_end != self.line_start:
                return f"L{self.line_start}-{self.line_end}"
            return f"L{self.line_start}"
        if self.paragraph is not None:
            # Users count paragraphs from 1.
            if self.paragraph_end is not None and self.paragraph_end != self.paragraph:
                return f"¶ {self.paragraph + 1}-{self.paragraph_end + 1}"
            return f"¶ {self.paragraph + 1}"
        return ""


@dataclass(frozen=True, slots=True)
class Source:
    """One file to ingest, before it is read: on disk, or a member of a .zip.

    `name` is what the user sees (the file name as added; for files found in a folder or zip,
    `folder/relative/path`). `source_key` identifies the origin (absolute path, or
    `/abs/archive.zip!member`), so that re-adding a changed file replaces the old version.
    `in_codebase` is true for files found by walking a folder or a zip: unknown text files are
    then read as code, and binary files are skipped rather than failed.
    `fingerprint` identifies the bytes without reading them (see `ingest.sources`): size and
    modification time for a file, size and CRC-32 for a zip member; '' when unknown or not to
    be trusted. The same fingerprint for the same `source_key` means the same bytes, so
    adding the source again can skip reading and hashing it.
    """

    name: str
    source_key: str
    size: int
    open: Callable[[], BinaryIO]
    path: Path | None = None
    in_codebase: bool = False
    fingerprint: str = ""

    @property
    def suffix(self) -> str:
        """Lower-case extension with the dot ('.pdf'), or '' for none."""
        base = self.name.rsplit("/", 1)[-1]
        return "." + base.rsplit(".", 1)[-1].lower() if "." in base.lstrip(".") else ""


@dataclass(frozen=True, slots=True)
class Block:
    """One structural unit of a document's text, in reading order.

    The concatenation of a document's block texts is the document's text: readers keep the
    separators (a page's trailing newline, a paragraph's newline) inside the block text so
    that chunking can reproduce the text exactly.
    """

    text: str
    locator: Locator
    kind: BlockKind = BlockKind.PARAGRAPH
    needs_ocr: bool = False  # a page with no text layer (a scanned PDF page, an image frame)


@dataclass(frozen=True, slots=True)
class Document:
    """A source file turned into blocks.

    `id` is the sha256 of the file's bytes (re-adding the same bytes is a no-op). `name` is
    the file name as the user added it (for a codebase, `folder/relative/path.py`).
    `source_key` identifies the file's origin so that a changed file replaces its old
    version. `blocks` may be a one-shot iterator: iterate it once.
    """

    id: str
    name: str
    kind: DocKind
    source_key: str
    blocks: Iterable[Block]
    size_bytes: int = 0
    language: str | None = None  # code only: detected from the extension
    path: str | None = None  # absolute path of the original, when it is a file on disk
    meta: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A token-bounded run of a document's text with its merged locator span.

    `overlap` is how many leading characters of `text` repeat the end of the previous chunk;
    the concatenation of `text[overlap:]` over a document's chunks is the document's text.
    """

    doc_id: str
    ordinal: int
    text: str
    n_tokens: int
    locator: Locator
    overlap: int = 0
    char_start: int = 0  # offset of text[overlap:] in the document's text

    @property
    def id(self) -> str:
        """Stable id: the document hash prefix and the chunk's position."""
        return f"{self.doc_id[:16]}:{self.ordinal}"

    @staticmethod
    def split_id(chunk_id: str) -> tuple[str, int]:
        """(document hash prefix, ordinal) of a chunk id made by `Chunk.id`."""
        prefix, _, ordinal = chunk_id.rpartition(":")
        return prefix, int(ordinal)


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file deliberately not ingested (binary, ignored, too large), with the reason."""

    name: str
    reason: str
