"""DOCX reader (python-docx): body paragraphs and tables in document order.

The body is walked element by element (`w:p` and `w:tbl`; the children of block-level content
controls `w:sdt` and `w:customXml` are walked as if they were body children). Every element
counts for `locator.paragraph` (0-based; a table counts as one, empty paragraphs count too)
so that index N always means the same element; empty paragraphs and empty tables yield no
block. Headings ("Title", "Heading 1".."Heading 9", styles based on them, or an explicit
outline level) are HEADING blocks; `heading_path` is the stack of headings above an element,
a heading's own path including itself. Tables are TABLE blocks: rows joined by '\\n', cells by
' | ' (newlines inside a cell become spaces). Every block text ends with '\\n'.

Paragraph text covers runs, hyperlinks, tracked insertions, fields and text boxes (tabs as
'\\t', line breaks as '\\n'); deleted text and field codes are left out.

The whole document XML is parsed up front (python-docx holds it in memory), so the blocks
are a tuple; the archive's declared sizes are checked first so a zip bomb is refused.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ingest.errors import CorruptFile, EmptyFile, EncryptedFile, IngestError, TooLarge
from ingest.readers._io import Probe, guarded, probe, read_all
from ingest.readers._sniff import describe_magic
from ingest.types import Block, BlockKind, DocKind, Document, Locator, Source

if TYPE_CHECKING:
    from lxml import etree

__all__ = ["MAX_DOCX_EXPANDED_BYTES", "read_docx", "read_docx_probed"]

#: A .docx whose parts would expand past this is refused (python-docx loads every part).
MAX_DOCX_EXPANDED_BYTES: Final = 1024 * 1024 * 1024
_MAX_PART_RATIO: Final = 200
_RATIO_GRACE_BYTES: Final = 1024 * 1024

_W: Final = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_NS: Final = {
    "w": _W,
    "mc": "http://schemas.openxmlformats.org/markup-compatibility/2006",
}
_P, _TBL, _SDT, _SDT_CONTENT, _CUSTOM_XML = (
    f"{{{_W}}}p",
    f"{{{_W}}}tbl",
    f"{{{_W}}}sdt",
    f"{{{_W}}}sdtContent",
    f"{{{_W}}}customXml",
)
_T, _TAB, _BR, _CR, _NB_HYPHEN = (
    f"{{{_W}}}t",
    f"{{{_W}}}tab",
    f"{{{_W}}}br",
    f"{{{_W}}}cr",
    f"{{{_W}}}noBreakHyphen",
)
_HEADING_NAME: Final = re.compile(r"heading\s*([1-9])\Z", re.IGNORECASE)
# "EncryptedPackage" as it appears in an OLE2 directory (UTF-16LE): Word's password-protected
# .docx files are OLE2 containers holding this stream.
_ENCRYPTED_OLE_MARK: Final = "EncryptedPackage".encode("utf-16-le")


@dataclass(frozen=True, slots=True)
class _XPaths:
    """Compiled XPath queries (lxml is imported lazily, so these are built per read)."""

    run_text: etree.XPath
    rows: etree.XPath
    cells: etree.XPath
    cell_paragraphs: etree.XPath
    outline_level: etree.XPath
    style_id: etree.XPath

    @classmethod
    def build(cls) -> _XPaths:
        from lxml import etree

        def xp(expr: str) -> etree.XPath:
            return etree.XPath(expr, namespaces=_NS)

        # Run content anywhere in the paragraph (hyperlinks, insertions, fields, text boxes),
        # but not the Fallback copy of an mc:AlternateContent, which repeats the Choice.
        run_text = xp(
            "(.//w:r/w:t | .//w:r/w:tab | .//w:r/w:br | .//w:r/w:cr | .//w:r/w:noBreakHyphen)"
            "[not(ancestor::mc:Fallback)]"
        )
        return cls(
            run_text=run_text,
            rows=xp("./w:tr | ./w:sdt/w:sdtContent/w:tr"),
            cells=xp("./w:tc | ./w:sdt/w:sdtContent/w:tc"),
            cell_paragraphs=xp(".//w:p[not(ancestor::mc:Fallback)]"),
            outline_level=xp("string(./w:pPr/w:outlineLvl/@w:val)"),
            style_id=xp("string(./w:pPr/w:pStyle/@w:val)"),
        )


def _paragraph_text(p: Any, xpaths: _XPaths) -> str:
    parts: list[str] = []
    for el in xpaths.run_text(p):
        tag = el.tag
        if tag == _T:
            parts.append(el.text or "")
        elif tag == _TAB:
            parts.append("\t")
        elif tag in (_BR, _CR):
            parts.append("\n")
        elif tag == _NB_HYPHEN:
            parts.append("-")
    return "".join(parts)


def _table_text(tbl: Any, xpaths: _XPaths) -> str:
    rows: list[str] = []
    for tr in xpaths.rows(tbl):
        cells = []
        for tc in xpaths.cells(tr):
            texts = (_paragraph_text(p, xpaths).strip() for p in xpaths.cell_paragraphs(tc))
            cells.append(" ".join(" ".join(t.split("\n")) for t in texts if t))
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _iter_body(element: Any) -> Iterator[Any]:
    """Body-level w:p and w:tbl elements in order, looking through content controls."""
    for child in element.iterchildren():
        tag = child.tag
        if tag in (_P, _TBL):
            yield child
        elif tag == _SDT:
            for content in child.iterchildren(_SDT_CONTENT):
                yield from _iter_body(content)
        elif tag == _CUSTOM_XML:
            yield from _iter_body(child)


class _Headings:
    """Heading level of a paragraph from its style (following `basedOn`) or outline level."""

    def __init__(self, styles_element: Any) -> None:
        self._styles: dict[str, tuple[str, str | None]] = {}
        if styles_element is not None:
            for style in styles_element.style_lst:
                if style.styleId:
                    self._styles[style.styleId] = (style.name_val or "", style.basedOn_val)

    def level_of_style(self, style_id: str) -> int | None:
        seen: set[str] = set()
        current: str | None = style_id
        while current and current not in seen:
            seen.add(current)
            name, based_on = self._styles.get(current, (current, None))
            lowered = name.strip().lower()
            if lowered == "title":
                return 0
            match = _HEADING_NAME.match(lowered) or _HEADING_NAME.match(current)
            if match:
                return int(match.group(1))
            current = based_on
        return None

    def level(self, p: Any, xpaths: _XPaths) -> int | None:
        outline = xpaths.outline_level(p)
        if outline.isdigit() and int(outline) < 9:
            return int(outline) + 1
        style_id = xpaths.style_id(p)
        return self.level_of_style(style_id) if style_id else None


def _check_magic(source: Source, found: Probe) -> None:
    """Refuse what is not a ZIP container, saying what it looks like instead."""
    head = found.head
    if not head.startswith(b"PK\x03\x04"):
        magic = describe_magic(head)
        if head.startswith(b"\xd0\xcf\x11\xe0") and _ENCRYPTED_OLE_MARK in head:
            raise EncryptedFile(
                source.name, "is password-protected; remove the password and add it again"
            )
        if head.startswith(b"\xd0\xcf\x11\xe0"):
            raise CorruptFile(
                source.name,
                "is not a .docx: it looks like an old Word .doc file; save it as .docx",
            )
        what = f"it looks like {magic}" if magic else "it is not a ZIP-based Word file"
        raise CorruptFile(source.name, f"is not a Word document: {what}")


def _check_archive(source: Source, data: io.BytesIO) -> None:
    """Refuse a zip without a Word body, or one that would expand too far."""
    try:
        with zipfile.ZipFile(data) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise CorruptFile(source.name, f"is damaged: not a readable .docx archive ({exc})") from exc
    names = {info.filename for info in infos}
    if "word/document.xml" not in names and not any(
        n.startswith("word/") and n.endswith(".xml") for n in names
    ):
        raise CorruptFile(source.name, "is damaged: it has no word/document.xml part")
    total = sum(info.file_size for info in infos)
    if total > MAX_DOCX_EXPANDED_BYTES:
        raise TooLarge(source.name, "would expand to over 1 GB when opened (possible zip bomb)")
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _RATIO_GRACE_BYTES and ratio > _MAX_PART_RATIO:
            raise TooLarge(
                source.name,
                f"part {info.filename} expands {ratio:.0f}x when opened (possible zip bomb)",
            )


def _load(source: Source, found: Probe) -> Any:
    """python-docx Document for `source`, with every failure mapped to an IngestError."""
    import docx
    from docx.opc.exceptions import OpcError

    _check_magic(source, found)
    with guarded(source.name), source.open() as stream:
        data = io.BytesIO(read_all(source, stream))
    _check_archive(source, data)
    data.seek(0)
    try:
        with guarded(source.name):
            return docx.Document(data)
    except IngestError:
        raise
    except (OpcError, KeyError, ValueError, zipfile.BadZipFile, AttributeError) as exc:
        raise CorruptFile(source.name, f"is damaged: not a readable Word document ({exc})") from exc
    except Exception as exc:  # lxml.etree.XMLSyntaxError and friends
        raise CorruptFile(source.name, f"is damaged: its XML cannot be parsed ({exc})") from exc


def _blocks(document: Any, doc_id: str) -> list[Block]:
    xpaths = _XPaths.build()
    try:
        styles_element = document.styles.element
    except Exception:  # no or broken styles part: headings fall back to style ids
        styles_element = None
    headings = _Headings(styles_element)
    stack: list[tuple[int, str]] = []
    blocks: list[Block] = []
    for index, element in enumerate(_iter_body(document.element.body)):
        if element.tag == _TBL:
            text = _table_text(element, xpaths)
            if text.strip():
                blocks.append(_block(doc_id, index, text, BlockKind.TABLE, stack))
            continue
        text = _paragraph_text(element, xpaths)
        if not text.strip():
            continue
        level = headings.level(element, xpaths)
        if level is None:
            blocks.append(_block(doc_id, index, text, BlockKind.PARAGRAPH, stack))
            continue
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, " ".join(text.split())))
        blocks.append(_block(doc_id, index, text, BlockKind.HEADING, stack))
    return blocks


def _block(
    doc_id: str, index: int, text: str, kind: BlockKind, stack: list[tuple[int, str]]
) -> Block:
    return Block(
        text=text if text.endswith("\n") else text + "\n",
        locator=Locator(
            doc_id=doc_id, paragraph=index, heading_path=tuple(title for _, title in stack)
        ),
        kind=kind,
    )


def read_docx_probed(source: Source, found: Probe) -> Document:
    """Read a .docx whose bytes were already probed (see `read_docx`)."""
    if found.size == 0:
        raise EmptyFile(source.name, "file is empty (0 bytes)")
    document = _load(source, found)
    try:
        blocks = _blocks(document, found.sha256)
    except IngestError:
        raise
    except Exception as exc:
        raise CorruptFile(source.name, f"is damaged: its body cannot be read ({exc})") from exc
    if not blocks:
        raise EmptyFile(source.name, "contains no text")
    return Document(
        id=found.sha256,
        name=source.name,
        kind=DocKind.DOCX,
        source_key=source.source_key,
        blocks=tuple(blocks),
        size_bytes=found.size,
        path=str(source.path) if source.path is not None else None,
    )


def read_docx(source: Source) -> Document:
    """Read a .docx into HEADING/PARAGRAPH/TABLE blocks (see the module docstring)."""
    return read_docx_probed(source, probe(source))
