"""Source-code reader: streamed line by line into CODE blocks split at top-level definitions.

Decoding and line rules are the text reader's (see `ingest.readers.text`): BOM, then UTF-8,
then cp1252/latin-1; newlines normalised; NUL bytes removed; block texts joined are the file's
text; no block over `MAX_BLOCK_CHARS` characters.

A new block starts before

* a line at indent 0 that opens a definition (`def`, `class`, `function`, `fn`, `func`,
  `impl`, `struct`, `interface`, `enum`, `trait`, `type`, `const`, ..., optionally after
  modifiers such as `export`, `pub`, `public`, `static`, `async`), and
* any other non-blank line at indent 0 that follows a blank line (a closing bracket or `end`,
  `else`, `except`, ... excepted: those finish the previous construct).

Comments and decorators/attributes directly above a definition (no blank line between)
belong to the definition's block. Data and markup languages (JSON, YAML, TOML, XML, HTML,
CSS, ...) only split at blank-line boundaries, never at keywords.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from ingest.readers._buffer import BlockBuffer
from ingest.readers._formats import DATA_LANGUAGES, language_for
from ingest.readers._io import Probe, iter_line_pieces, probe
from ingest.readers.text import check_not_empty, text_document, text_encoding
from ingest.types import Block, BlockKind, DocKind, Document, Source

__all__ = ["read_code", "read_code_probed"]

_MODIFIERS: Final = (
    r"export|default|public|private|protected|internal|fileprivate|static|abstract|final"
    r"|sealed|open|override|async|unsafe|extern|inline|virtual|partial|declare|suspend"
    r"|local|data|case|pub(?:\([^)]*\))?"
)
_KEYWORDS: Final = (
    r"def|class|function\*?|fn|func|impl|struct|interface|enum|trait|type|module|namespace"
    r"|object|record|mod|sub|proc|procedure|fun|template|typedef|union|protocol|extension"
    r"|actor|defn|defun|defmacro|defmodule|defp|const|let|var|val"
)
_DEFINITION: Final = re.compile(
    rf"(?:(?:{_MODIFIERS})\s+)*(?:(?:{_KEYWORDS})(?![\w$])|macro_rules!)"
)
# Lines that attach to the definition below them: comments, decorators, attributes.
_ATTACHED: Final = ("#", "//", "/*", "--", ";", "@", "%")
# Indent-0 lines that end the construct above rather than start a new one.
_CLOSERS: Final = re.compile(
    r"[}\])]|(?:end|else|elif|elsif|except|finally|catch|fi|done|esac|until|rescue|ensure)\b"
)
_DROP_CLOSERS: Final = str.maketrans("", "", ")]}")
_DROP_OPENERS: Final = str.maketrans("", "", "([{")


def _depth(line: str) -> int:
    """Net bracket depth a line opens: decorators and attributes may span lines."""
    return len(line.translate(_DROP_CLOSERS)) - len(line.translate(_DROP_OPENERS))


def _code_blocks(
    source: Source, doc_id: str, encoding: str, language: str | None, whole: bytes | None
) -> Iterator[Block]:
    definition = None if language in DATA_LANGUAGES else _DEFINITION
    buf = BlockBuffer()
    tail_at: int | None = None  # buffer index where the run of attached comment lines starts
    tail_depth = 0
    prev_blank = False
    at_line_start = True
    for line_no, piece in iter_line_pieces(source, encoding, whole=whole):
        starts_line, at_line_start = at_line_start, piece.endswith("\n")
        if buf.would_overflow(piece):
            block = buf.take(doc_id, BlockKind.CODE)
            if block is not None:
                yield block
            tail_at = None
        if not starts_line:
            buf.add(line_no, piece)
            continue
        stripped = piece.strip()
        if not stripped:
            tail_at, tail_depth, prev_blank = None, 0, True
            buf.add(line_no, piece)
            continue
        indent0 = not piece[0].isspace()
        continues_tail = tail_at is not None and (
            tail_depth > 0 or (not indent0 and stripped.startswith("*"))
        )
        if continues_tail:
            tail_depth = max(0, tail_depth + _depth(stripped))
        elif indent0 and stripped.startswith(_ATTACHED):
            if prev_blank:
                block = buf.take(doc_id, BlockKind.CODE)
                if block is not None:
                    yield block
            if tail_at is None:
                tail_at = len(buf)
                tail_depth = 0
            tail_depth = max(0, tail_depth + _depth(stripped))
        else:
            if indent0 and not _CLOSERS.match(piece):
                if definition is not None and definition.match(piece):
                    block = buf.take(doc_id, BlockKind.CODE, upto=tail_at)
                    if block is not None:
                        yield block
                elif prev_blank:
                    block = buf.take(doc_id, BlockKind.CODE)
                    if block is not None:
                        yield block
            tail_at, tail_depth = None, 0
        prev_blank = False
        buf.add(line_no, piece)
    block = buf.take(doc_id, BlockKind.CODE)
    if block is not None:
        yield block


def read_code_probed(source: Source, found: Probe, *, language: str | None = None) -> Document:
    """Read a source-code file whose bytes were already probed (see `read_code`)."""
    encoding = text_encoding(source, found)
    check_not_empty(source, found, encoding)
    lang = language or language_for(source.name, source.suffix)
    whole = found.head if found.complete else None  # a small file: no second read
    blocks = _code_blocks(source, found.sha256, encoding, lang, whole)
    return text_document(source, found, DocKind.CODE, blocks, encoding, language=lang)


def read_code(source: Source, *, language: str | None = None) -> Document:
    """Read a source-code file into CODE blocks (see the module docstring).

    `language` overrides detection from the file name and extension.
    """
    return read_code_probed(source, probe(source), language=language)
