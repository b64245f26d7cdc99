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

The XML is read as a stream (lxml `iterparse`): each body element becomes a block as soon as
it ends and is then dropped, so memory follows the text, never the XML tree (python-docx holds
the whole tree: 1.6 GB for a 100 MB document part). The archive's declared sizes are checked
first, so a zip bomb is refused as "too large" before anything is expanded. The main document
and styles parts are found through the package relationships, as Word finds them.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Final

from ingest.errors import CorruptFile, EmptyFile, EncryptedFile, IngestError, TooLarge
from ingest.readers._io import Probe, guarded, probe, read_all
from ingest.readers._sniff import describe_magic
from ingest.types import Block, BlockKind, DocKind, Document, Locator, Source

if TYPE_CHECKING:
    from lxml import etree

__all__ = ["MAX_DOCX_EXPANDED_BYTES", "read_docx", "read_docx_probed"]

#: A .docx whose parts would expand past this is refused as too large.
MAX_DOCX_EXPANDED_BYTES: Final = 1024 * 1024 * 1024
#: Relationship parts are tiny; a bigger one is ignored (the usual part names are used).
_MAX_RELS_BYTES: Final = 4 * 1024 * 1024
_MAX_PART_RATIO: Final = 200
_RATIO_GRACE_BYTES: Final = 1024 * 1024

_W: Final = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_NS: Final = {
    "w": _W,
    "mc": "http://schemas.openxmlformats.org/markup-compatibility/2006",
}
_P, _TBL, _SDT, _SDT_CONTENT, _CUSTOM_XML, _BODY = (
    f"{{{_W}}}p",
    f"{{{_W}}}tbl",
    f"{{{_W}}}sdt",
    f"{{{_W}}}sdtContent",
    f"{{{_W}}}customXml",
    f"{{{_W}}}body",
)
_STYLE, _STYLE_NAME, _BASED_ON, _STYLE_ID, _VAL = (
    f"{{{_W}}}style",
    f"{{{_W}}}name",
    f"{{{_W}}}basedOn",
    f"{{{_W}}}styleId",
    f"{{{_W}}}val",
)
_REL: Final = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_OFFICE_DOCUMENT: Final = "/officeDocument"
_STYLES: Final = "/styles"
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


class _Headings:
    """Heading level of a paragraph from its style (following `basedOn`) or outline level."""

    def __init__(self, styles: dict[str, tuple[str, str | None]]) -> None:
        self._styles = styles  # style id -> (name, id of the style it is based on)

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


def _check_archive(source: Source, archive: zipfile.ZipFile) -> None:
    """Refuse a zip that would expand too far, from its declared sizes (zipfile never
    expands a member past its declared size), before anything is expanded."""
    infos = archive.infolist()
    total = sum(info.file_size for info in infos)
    if total > MAX_DOCX_EXPANDED_BYTES:
        raise TooLarge(
            source.name,
            f"is too large: it would expand to {total / 2**30:.1f} GB when opened (the limit "
            f"is {MAX_DOCX_EXPANDED_BYTES // 2**30} GB; possible zip bomb)",
        )
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _RATIO_GRACE_BYTES and ratio > _MAX_PART_RATIO:
            raise TooLarge(
                source.name,
                f"is too large: part {info.filename} expands {ratio:.0f}x when opened "
                "(possible zip bomb)",
            )


def _xml_error(source: Source, exc: BaseException, part: str) -> IngestError:
    """A parse failure as an IngestError: "too large" when a size limit stopped it (lxml's
    own, e.g. a text node over 10 MB, or memory), else "damaged"."""
    message = str(exc)
    if isinstance(exc, MemoryError) or "huge" in message.lower():
        return TooLarge(source.name, f"is too large: {part} exceeds the XML parser's limits")
    return CorruptFile(source.name, f"is damaged: its XML cannot be parsed ({message})")


def _iterparse(stream: Any, **kwargs: Any) -> Any:
    from lxml import etree

    # No entity expansion and no network: the XML is the document's, not ours to trust.
    return etree.iterparse(
        stream, resolve_entities=False, no_network=True, remove_blank_text=True, **kwargs
    )


def _join_part(base: str, target: str) -> str:
    """A relationship target resolved against the folder of its source part."""
    parts = [] if target.startswith("/") else [p for p in base.split("/") if p]
    for piece in target.lstrip("/").split("/"):
        if piece == "..":
            if parts:
                parts.pop()
        elif piece and piece != ".":
            parts.append(piece)
    return "/".join(parts)


def _relationship(archive: zipfile.ZipFile, rels_name: str, kind: str) -> str | None:
    """The part named by the first internal relationship of `kind` in `rels_name`."""
    try:
        info = archive.getinfo(rels_name)
    except KeyError:
        return None
    if info.file_size > _MAX_RELS_BYTES:
        return None
    base = rels_name.rsplit("_rels/", 1)[0]
    try:
        with archive.open(info) as stream:
            for _, element in _iterparse(stream, events=("end",), tag=_REL):
                if (element.get("Type") or "").endswith(kind) and (
                    element.get("TargetMode") != "External"
                ):
                    return _join_part(base, element.get("Target") or "")
    except Exception:  # a broken relationships part: fall back to the usual names
        return None
    return None


def _part_names(source: Source, archive: zipfile.ZipFile) -> tuple[str, str | None]:
    """(main document part, styles part or None), found as Word finds them."""
    names = set(archive.namelist())
    main = _relationship(archive, "_rels/.rels", _OFFICE_DOCUMENT)
    if main not in names:
        main = "word/document.xml"
    if main not in names:
        raise CorruptFile(source.name, "is damaged: it has no word/document.xml part")
    folder, _, file = main.rpartition("/")
    rels = f"{folder}/_rels/{file}.rels" if folder else f"_rels/{file}.rels"
    styles = _relationship(archive, rels, _STYLES)
    if styles not in names:
        styles = "word/styles.xml" if "word/styles.xml" in names else None
    return main, styles


def _read_styles(archive: zipfile.ZipFile, part: str | None) -> dict[str, tuple[str, str | None]]:
    """style id -> (name, based-on id); a broken styles part only loses heading names."""
    styles: dict[str, tuple[str, str | None]] = {}
    if part is None:
        return styles
    try:
        with archive.open(part) as stream:
            for _, style in _iterparse(stream, events=("end",), tag=_STYLE):
                style_id = style.get(_STYLE_ID)
                if style_id:
                    name = style.find(_STYLE_NAME)
                    based = style.find(_BASED_ON)
                    styles[style_id] = (
                        (name.get(_VAL) or "") if name is not None else "",
                        based.get(_VAL) if based is not None else None,
                    )
                style.clear()
    except Exception:  # lxml.etree.XMLSyntaxError and friends: headings fall back to ids
        return styles
    return styles


# Where an element sits, for the streaming walk of the body.
_ROOT, _CONTAINER, _SDT_KIND, _ITEM, _CHILD, _INNER = range(6)
_IN_CONTAINER: Final = {_P: _ITEM, _TBL: _ITEM, _SDT: _SDT_KIND, _CUSTOM_XML: _CONTAINER}


def _body_elements(stream: Any) -> Iterator[Any]:
    """Body-level w:p and w:tbl elements in document order, looking through block-level
    content controls (w:sdt/w:sdtContent) and w:customXml as if they were body children.
    Each element is complete when yielded, and is dropped from the tree right after (with
    everything before it), so the tree never grows past one body element."""
    kinds: list[int] = []
    seen_body = False
    for event, element in _iterparse(stream, events=("start", "end")):
        if event == "start":
            parent = kinds[-1] if kinds else None
            if parent is None:
                kind = _ROOT
            elif parent == _ROOT and element.tag == _BODY and not seen_body:
                seen_body = True
                kind = _CONTAINER
            elif parent == _CONTAINER:
                kind = _IN_CONTAINER.get(element.tag, _CHILD)
            elif parent == _SDT_KIND and element.tag == _SDT_CONTENT:
                kind = _CONTAINER
            elif parent in (_ROOT, _SDT_KIND):
                kind = _CHILD
            else:
                kind = _INNER
            kinds.append(kind)
            continue
        kind = kinds.pop()
        if kind == _ITEM:
            yield element
        if kind != _INNER and kinds:
            element.clear()
            parent_element = element.getparent()
            while parent_element is not None and element.getprevious() is not None:
                del parent_element[0]


def _blocks(source: Source, archive: zipfile.ZipFile, doc_id: str) -> list[Block]:
    main, styles_part = _part_names(source, archive)
    headings = _Headings(_read_styles(archive, styles_part))
    xpaths = _XPaths.build()
    stack: list[tuple[int, str]] = []
    blocks: list[Block] = []
    try:
        with archive.open(main) as stream:
            for index, element in enumerate(_body_elements(stream)):
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
    except IngestError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise CorruptFile(source.name, f"is damaged inside its archive ({exc})") from exc
    except OSError:
        raise  # `guarded` words it
    except Exception as exc:  # lxml.etree.XMLSyntaxError, MemoryError and friends
        raise _xml_error(source, exc, main) from exc
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


def _open_archive(source: Source) -> tuple[zipfile.ZipFile, BinaryIO]:
    """The .docx as an open ZipFile (the file itself when on disk; a copy in memory for a
    member of a .zip, whose stream cannot seek cheaply), and the handle to close after it."""
    handle: BinaryIO
    if source.path is not None:
        handle = open(source.path, "rb")  # noqa: SIM115 - closed by the caller
    else:
        with source.open() as stream:
            handle = io.BytesIO(read_all(source, stream))
    try:
        return zipfile.ZipFile(handle), handle
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        handle.close()
        raise CorruptFile(source.name, f"is damaged: not a readable .docx archive ({exc})") from exc


def read_docx_probed(source: Source, found: Probe) -> Document:
    """Read a .docx whose bytes were already probed (see `read_docx`)."""
    if found.size == 0:
        raise EmptyFile(source.name, "file is empty (0 bytes)")
    _check_magic(source, found)
    with guarded(source.name):
        archive, handle = _open_archive(source)
        try:
            _check_archive(source, archive)
            blocks = _blocks(source, archive, found.sha256)
        finally:
            archive.close()
            handle.close()
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
