"""Plain-text and Markdown readers: streamed line by line into bounded SECTION blocks.

Decoding: a byte-order mark (UTF-8, UTF-16 LE/BE, UTF-32) wins; otherwise UTF-8, falling back
to cp1252 and then latin-1 when the first 64 KiB are not valid UTF-8. Later undecodable bytes
become U+FFFD; reading never fails on encoding. Newlines are normalised to '\\n' and NUL
bytes removed, so a file with a few stray NULs in otherwise normal text is still read.

Blocks cover consecutive lines (`line_start`/`line_end`, 1-based inclusive) and their texts
are exactly those lines, newline terminators included: joined, they are the file's text.

* Plain text: a block ends at a blank line once it has at least `SOFT_BLOCK_LINES` lines or
  `SOFT_BLOCK_CHARS` characters.
* Markdown: a block also starts at every ATX heading ('#' to '######') outside fenced code
  and YAML front matter; `heading_path` is the stack of headings above (and including) it.
  Setext headings (underlined with '===') are not recognised.
* Both: a block never exceeds `MAX_BLOCK_CHARS` characters: it is cut at a line boundary,
  and a single longer line is cut into slices of `MAX_BLOCK_CHARS` characters (each with
  line_start == line_end).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from ingest.errors import CorruptFile, EmptyFile
from ingest.readers._buffer import BlockBuffer
from ingest.readers._io import Probe, iter_line_pieces, probe
from ingest.readers._sniff import sniff_text
from ingest.types import Block, BlockKind, DocKind, Document, Source

__all__ = [
    "SOFT_BLOCK_CHARS",
    "SOFT_BLOCK_LINES",
    "check_not_empty",
    "read_markdown",
    "read_markdown_probed",
    "read_text",
    "read_text_probed",
    "text_document",
    "text_encoding",
]

#: A plain-text block may end at a blank line once it has this many lines ...
SOFT_BLOCK_LINES: Final = 40
#: ... or this many characters.
SOFT_BLOCK_CHARS: Final = 16 * 1024

_ATX_HEADING: Final = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*\n?\Z", re.DOTALL)
_ATX_CLOSING: Final = re.compile(r"(?:^|[ \t]+)#+[ \t]*\Z")
_FENCE_OPEN: Final = re.compile(r" {0,3}(`{3,}|~{3,})")
_FRONT_MATTER_END: Final = frozenset({"---", "..."})


def _whole(found: Probe) -> bytes | None:
    """A small file's bytes, which the probe already holds (no second read)."""
    return found.head if found.complete else None


def text_encoding(source: Source, found: Probe) -> str:
    """The codec to read a text source with; raises CorruptFile when it is binary."""
    sniff = sniff_text(found.head, complete=found.complete)
    if sniff.binary or sniff.encoding is None:
        what = f": it looks like {sniff.magic}" if sniff.magic else ""
        raise CorruptFile(source.name, f"looks like a binary file, not text{what}")
    return sniff.encoding


def check_not_empty(source: Source, found: Probe, encoding: str) -> None:
    """Raise EmptyFile for a 0-byte source, or a small one that decodes to no text at all."""
    if found.size == 0:
        raise EmptyFile(source.name, "file is empty (0 bytes)")
    if found.complete:
        decoded = found.head.decode(encoding, errors="replace").replace("\x00", "")
        if not decoded:
            raise EmptyFile(source.name, "contains no text")


def text_document(
    source: Source,
    found: Probe,
    kind: DocKind,
    blocks: Iterator[Block],
    encoding: str,
    *,
    language: str | None = None,
) -> Document:
    """The Document for a line-based source (text, Markdown, code)."""
    return Document(
        id=found.sha256,
        name=source.name,
        kind=kind,
        source_key=source.source_key,
        blocks=blocks,
        size_bytes=found.size,
        language=language,
        path=str(source.path) if source.path is not None else None,
        meta={"encoding": encoding},
    )


def _text_blocks(
    source: Source, doc_id: str, encoding: str, whole: bytes | None
) -> Iterator[Block]:
    buf = BlockBuffer()
    for line_no, piece in iter_line_pieces(source, encoding, whole=whole):
        if buf.would_overflow(piece):
            block = buf.take(doc_id, BlockKind.SECTION)
            if block is not None:
                yield block
        buf.add(line_no, piece)
        blank = piece.endswith("\n") and not piece.strip()
        if blank and (buf.lines >= SOFT_BLOCK_LINES or buf.chars >= SOFT_BLOCK_CHARS):
            block = buf.take(doc_id, BlockKind.SECTION)
            if block is not None:
                yield block
    block = buf.take(doc_id, BlockKind.SECTION)
    if block is not None:
        yield block


def _heading(line: str) -> tuple[int, str] | None:
    """(level, text) when `line` is an ATX heading."""
    match = _ATX_HEADING.match(line)
    if match is None:
        return None
    text = _ATX_CLOSING.sub("", match.group(2) or "").strip()
    return len(match.group(1)), text


def _markdown_blocks(
    source: Source, doc_id: str, encoding: str, whole: bytes | None
) -> Iterator[Block]:
    buf = BlockBuffer()
    stack: list[tuple[int, str]] = []
    fence: str | None = None  # the opening fence while inside fenced code
    in_front_matter = False
    at_line_start = True
    for line_no, piece in iter_line_pieces(source, encoding, whole=whole):
        starts_line, at_line_start = at_line_start, piece.endswith("\n")
        heading = None
        if starts_line:
            stripped = piece.rstrip("\n")
            if line_no == 1 and stripped.rstrip() == "---":
                in_front_matter = True
            elif in_front_matter:
                in_front_matter = stripped.rstrip() not in _FRONT_MATTER_END
            elif fence is not None:
                closing = stripped.strip()
                if closing.startswith(fence) and not closing.lstrip(fence[0]):
                    fence = None
            elif (opened := _FENCE_OPEN.match(stripped)) is not None:
                fence = opened.group(1)
            else:
                heading = _heading(piece)
        if heading is not None or buf.would_overflow(piece):
            block = buf.take(doc_id, BlockKind.SECTION)
            if block is not None:
                yield block
        if heading is not None:
            level, title = heading
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, title))
            buf.heading_path = tuple(t for _, t in stack)
        buf.add(line_no, piece)
        blank = piece.endswith("\n") and not piece.strip()
        if (
            blank
            and fence is None
            and (buf.lines >= SOFT_BLOCK_LINES or buf.chars >= SOFT_BLOCK_CHARS)
        ):
            block = buf.take(doc_id, BlockKind.SECTION)
            if block is not None:
                yield block
    block = buf.take(doc_id, BlockKind.SECTION)
    if block is not None:
        yield block


def read_text_probed(source: Source, found: Probe) -> Document:
    """Read a plain-text source whose bytes were already probed (see `read_text`)."""
    encoding = text_encoding(source, found)
    check_not_empty(source, found, encoding)
    blocks = _text_blocks(source, found.sha256, encoding, _whole(found))
    return text_document(source, found, DocKind.TEXT, blocks, encoding)


def read_markdown_probed(source: Source, found: Probe) -> Document:
    """Read a Markdown source whose bytes were already probed (see `read_markdown`)."""
    encoding = text_encoding(source, found)
    check_not_empty(source, found, encoding)
    blocks = _markdown_blocks(source, found.sha256, encoding, _whole(found))
    return text_document(source, found, DocKind.MARKDOWN, blocks, encoding)


def read_text(source: Source) -> Document:
    """Read a plain-text source into streamed SECTION blocks (see the module docstring)."""
    return read_text_probed(source, probe(source))


def read_markdown(source: Source) -> Document:
    """Read a Markdown source into SECTION blocks with heading paths (see the module docstring)."""
    return read_markdown_probed(source, probe(source))
