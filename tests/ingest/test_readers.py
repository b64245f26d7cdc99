"""Readers on well-formed inputs: block structure, locators, decoding and the text convention
(the concatenation of a document's block texts is the document's text)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import os
import tracemalloc
from collections.abc import Generator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ingest.readers
import ingest.sources
from ingest.errors import IngestError
from ingest.readers import ENGINES, classify, probe, read
from ingest.readers._io import MAX_BLOCK_CHARS
from ingest.sources import iter_sources
from ingest.types import Block, BlockKind, DocKind, Document, Source
from tests.support.fixtures import (
    DocxHeading,
    DocxTable,
    make_docx,
    make_image_only_pdf,
    make_pdf,
    pdf_bytes,
    write_text,
)

# --- helpers --------------------------------------------------------------------------------


def disk_source(path: Path) -> Source:
    """The Source the walker makes for one file."""
    (item,) = list(iter_sources([path]))
    assert isinstance(item, Source), item
    return item


def mem_source(name: str, data: bytes, *, in_codebase: bool = False) -> Source:
    """A Source whose bytes live in memory (the `open` seam)."""
    return Source(
        name=name,
        source_key=f"mem:{name}",
        size=len(data),
        open=lambda: io.BytesIO(data),
        in_codebase=in_codebase,
    )


def normalized(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def read_all(source: Source, **kwargs: object) -> tuple[Document, list[Block]]:
    doc = read(source, **kwargs)  # type: ignore[arg-type]
    blocks = list(doc.blocks)
    assert all(b.locator.doc_id == doc.id for b in blocks)
    return doc, blocks


def joined(blocks: list[Block]) -> str:
    return "".join(b.text for b in blocks)


def lines_of(block: Block) -> tuple[int, int]:
    """(line_start, line_end) of a line-based block."""
    start, end = block.locator.line_start, block.locator.line_end
    assert start is not None and end is not None
    return start, end


# --- public surface -------------------------------------------------------------------------


def test_public_names_are_pinned() -> None:
    assert sorted(ingest.readers.__all__) == sorted(
        [
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
    )
    assert sorted(ingest.sources.__all__) == sorted(
        [
            "DEFAULT_LIMITS",
            "JUNK_FILES",
            "VCS_DIRS",
            "VENDORED_DIRS",
            "KnownCheck",
            "RACY_NS",
            "SourceItem",
            "SourceLimits",
            "file_fingerprint",
            "format_size",
            "iter_sources",
        ]
    )
    assert set(ingest.readers.READERS) == set(DocKind)


def test_unknown_pdf_engine_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="pdfium"):
        read(disk_source(make_pdf(tmp_path / "a.pdf", ["x"])), pdf_engine="nope")  # type: ignore[arg-type]


# --- PDF ------------------------------------------------------------------------------------

PAGES = [
    "Aardvark opening statement",
    "Bumblebee second page\nwith a second line",
    "",
    "Crocodile closing (page 4) \\ done",
]


@pytest.mark.parametrize("engine", ENGINES)
def test_pdf_one_block_per_page_with_right_page_numbers(tmp_path: Path, engine: str) -> None:
    path = make_pdf(tmp_path / "multi page.pdf", PAGES)
    doc, blocks = read_all(disk_source(path), pdf_engine=engine)
    assert doc.kind is DocKind.PDF
    assert doc.meta["pages"] == "4"
    assert doc.id == hashlib.sha256(path.read_bytes()).hexdigest()
    assert doc.size_bytes == path.stat().st_size
    assert doc.name == "multi page.pdf"
    assert doc.path == str(path.resolve())
    assert doc.source_key == str(path.resolve())
    assert [b.locator.page for b in blocks] == [1, 2, 3, 4]
    assert all(b.kind is BlockKind.PAGE for b in blocks)
    assert "Aardvark" in blocks[0].text and "Bumblebee" in blocks[1].text
    assert "Crocodile" in blocks[3].text
    assert blocks[2].text == "" and not blocks[2].needs_ocr  # a blank page is not a scan
    expected = [normalized(p) + "\n" if p else "" for p in PAGES]
    assert [b.text for b in blocks] == expected
    assert joined(blocks) == "".join(expected)
    assert all(b.text == "" or b.text.endswith("\n") for b in blocks)
    assert not any("\r" in b.text for b in blocks)


@pytest.mark.parametrize("engine", ENGINES)
def test_pdf_image_only_page_needs_ocr(tmp_path: Path, engine: str) -> None:
    path = make_pdf(
        tmp_path / "scan.pdf", ["Typed cover page", "", "Typed page three"], image_pages={1}
    )
    _, blocks = read_all(disk_source(path), pdf_engine=engine)
    assert [b.needs_ocr for b in blocks] == [False, True, False]
    assert blocks[1].text == "" and blocks[1].locator.page == 2
    _, scan = read_all(disk_source(make_image_only_pdf(tmp_path / "all.pdf", 2)), pdf_engine=engine)
    assert [(b.text, b.needs_ocr) for b in scan] == [("", True), ("", True)]


def test_pdf_page_with_text_and_image_does_not_need_ocr(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "fig.pdf", ["Figure 1 shows the results"], image_pages={0})
    _, blocks = read_all(disk_source(path))
    assert not blocks[0].needs_ocr and "Figure 1" in blocks[0].text


def test_pdf_blocks_stream_and_close_the_native_handle_early(tmp_path: Path) -> None:
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to count open files")
    path = make_pdf(tmp_path / "long.pdf", [f"Page number {i}" for i in range(1, 301)])
    doc = read(disk_source(path))
    blocks = doc.blocks
    assert isinstance(blocks, Generator)  # streamed, not a list held in memory

    def open_fds() -> int:
        count = 0
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):  # an fd closed while listing
                count += os.readlink(f"/proc/self/fd/{fd}") == str(path.resolve())
        return count

    assert open_fds() == 0  # read() checked the file and closed it again
    first = next(blocks)
    assert first.locator.page == 1 and "Page number 1" in first.text
    assert open_fds() == 1
    blocks.close()  # the consumer stops early
    assert open_fds() == 0


def test_pdf_from_a_non_seekable_stream(tmp_path: Path) -> None:
    data = pdf_bytes(["Inside an archive"])
    (item,) = list(iter_sources([_zip_with(tmp_path, {"doc.pdf": data})]))
    assert isinstance(item, Source) and item.path is None
    _, blocks = read_all(item)
    assert blocks[0].text == "Inside an archive\n"


def _zip_with(tmp_path: Path, members: dict[str, bytes]) -> Path:
    from tests.support.fixtures import make_zip

    return make_zip(tmp_path / "bundle.zip", members)


# --- DOCX -----------------------------------------------------------------------------------

DOCX_ITEMS: list[str | DocxHeading | DocxTable] = [
    DocxHeading("Master Agreement", 0),  # 0 Title
    DocxHeading("Definitions", 1),  # 1
    "Terms have the meanings below.",  # 2
    "",  # 3 empty: counted, not emitted
    DocxTable([["Term", "Meaning"], ["Party", "A signatory"]]),  # 4
    DocxHeading("Scope", 2),  # 5
    "Scope paragraph.",  # 6
    DocxHeading("Payment", 1),  # 7 pops back to level 1
    "Pay within 30 days.",  # 8
]


def test_docx_heading_paths_and_paragraph_indices(tmp_path: Path) -> None:
    path = make_docx(tmp_path / "contract.docx", DOCX_ITEMS)
    doc, blocks = read_all(disk_source(path))
    assert doc.kind is DocKind.DOCX
    got = [(b.locator.paragraph, b.kind, b.locator.heading_path, b.text) for b in blocks]
    title, defs, scope, pay = "Master Agreement", "Definitions", "Scope", "Payment"
    assert got == [
        (0, BlockKind.HEADING, (title,), "Master Agreement\n"),
        (1, BlockKind.HEADING, (title, defs), "Definitions\n"),
        (2, BlockKind.PARAGRAPH, (title, defs), "Terms have the meanings below.\n"),
        (4, BlockKind.TABLE, (title, defs), "Term | Meaning\nParty | A signatory\n"),
        (5, BlockKind.HEADING, (title, defs, scope), "Scope\n"),
        (6, BlockKind.PARAGRAPH, (title, defs, scope), "Scope paragraph.\n"),
        (7, BlockKind.HEADING, (title, pay), "Payment\n"),
        (8, BlockKind.PARAGRAPH, (title, pay), "Pay within 30 days.\n"),
    ]
    assert blocks[3].locator.label() == "¶ 5"


def test_docx_tabs_breaks_and_merged_cells(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    para = document.add_paragraph("left")
    para.add_run().add_tab()
    para.add_run("right")
    para.add_run().add_break()
    para.add_run("next line")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).merge(table.cell(0, 1)).text = "merged"
    table.cell(1, 0).text = "a\nb"
    table.cell(1, 1).text = "c"
    path = tmp_path / "fmt.docx"
    document.save(str(path))
    _, blocks = read_all(disk_source(path))
    assert blocks[0].text == "left\tright\nnext line\n"
    assert blocks[1].text == "merged\na b | c\n"


# --- text and Markdown ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "bom", "expect_codec"),
    [
        ("latin-1", False, "cp1252"),
        ("cp1252", False, "cp1252"),
        ("utf-8", False, "utf-8"),
        ("utf-8", True, "utf-8-sig"),
        ("utf-16-le", True, "utf-16"),
        ("utf-16-be", True, "utf-16"),
        ("utf-32-le", True, "utf-32"),
        ("utf-16-le", False, "utf-16-le"),
    ],
)
def test_text_decodes(tmp_path: Path, encoding: str, bom: bool, expect_codec: str) -> None:
    text = "Café naïve façade – “quoted” £5\r\nsecond line\rthird line\n"
    if encoding == "latin-1":
        text = "Café naïve façade £5 ±\r\nsecond line\rthird line\n"
    path = write_text(tmp_path / "notes.txt", text, encoding=encoding, bom=bom)
    doc, blocks = read_all(disk_source(path))
    assert doc.kind is DocKind.TEXT and doc.meta["encoding"] == expect_codec
    assert joined(blocks) == normalized(text)
    assert blocks[0].locator.line_start == 1 and blocks[-1].locator.line_end == 3


def test_text_nul_bytes_are_stripped(tmp_path: Path) -> None:
    path = write_text(tmp_path / "nul.txt", "abc\x00def\nghi\x00\n")
    _, blocks = read_all(disk_source(path))
    assert joined(blocks) == "abcdef\nghi\n"


def test_text_last_line_without_newline(tmp_path: Path) -> None:
    path = write_text(tmp_path / "x.txt", "one\ntwo")
    _, blocks = read_all(disk_source(path))
    assert joined(blocks) == "one\ntwo"
    assert (blocks[-1].locator.line_start, blocks[-1].locator.line_end) == (1, 2)


def test_text_splits_at_paragraphs_once_blocks_are_big(tmp_path: Path) -> None:
    paragraphs = [f"para {i} line {j}\n" for i in range(10) for j in range(15)]
    lines: list[str] = []
    for i, line in enumerate(paragraphs):
        lines.append(line)
        if i % 15 == 14:
            lines.append("\n")
    text = "".join(lines)
    path = write_text(tmp_path / "long.txt", text)
    _, blocks = read_all(disk_source(path))
    assert joined(blocks) == text
    assert len(blocks) > 1
    for prev, nxt in itertools.pairwise(blocks):
        assert prev.text.endswith("\n\n")  # cut right after a blank line
        assert lines_of(nxt)[0] == lines_of(prev)[1] + 1
        assert lines_of(prev)[1] - lines_of(prev)[0] + 1 >= 40
    for block in blocks:
        first = lines_of(block)[0]
        assert text.splitlines(keepends=True)[first - 1] == block.text.splitlines(True)[0]


def test_text_enormous_line_is_cut_into_bounded_pieces(tmp_path: Path) -> None:
    text = "intro\n" + "x" * (3 * MAX_BLOCK_CHARS + 10) + "\nend\n"
    path = write_text(tmp_path / "one-line.log", text)
    _, blocks = read_all(disk_source(path))
    assert joined(blocks) == text
    assert max(len(b.text) for b in blocks) <= MAX_BLOCK_CHARS
    long_pieces = [b for b in blocks if "xxxx" in b.text]
    assert len(long_pieces) == 4
    # Full-size slices of line 2 are blocks of their own; its tail joins the lines after it.
    assert all(b.locator.line_start == b.locator.line_end == 2 for b in long_pieces[:3])
    assert [len(b.text) for b in long_pieces[:3]] == [MAX_BLOCK_CHARS] * 3
    assert (long_pieces[3].locator.line_start, long_pieces[3].locator.line_end) == (2, 3)


def test_text_undecodable_bytes_after_the_sniff_window_become_replacement(tmp_path: Path) -> None:
    data = ("ascii line\n" * 8000).encode() + b"bad \xff\xfe byte\n"
    path = tmp_path / "late.txt"
    path.write_bytes(data)
    doc, blocks = read_all(disk_source(path))
    assert doc.meta["encoding"] == "utf-8"
    assert joined(blocks).endswith("bad \ufffd\ufffd byte\n")


def test_text_streams_in_bounded_memory(tmp_path: Path) -> None:
    line = "The quick brown fox jumps over the lazy dog, again and again and again.\n"
    path = tmp_path / "big.txt"
    with open(path, "w") as fh:
        for i in range(300_000):  # ~22 MB
            fh.write(line if i % 30 else "\n")
    doc = read(disk_source(path))
    tracemalloc.start()
    try:
        total = 0
        for block in doc.blocks:
            total += len(block.text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == path.stat().st_size
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes while streaming a 22 MB file"


MARKDOWN = """# Title

Intro text.

## Part A
Text A.
```python
# not a heading inside a fence
```

### Deep ###
Deep text.
## Part B
#hashtag is not a heading
Text B.
"""


def test_markdown_heading_paths_and_line_numbers(tmp_path: Path) -> None:
    path = write_text(tmp_path / "notes.md", MARKDOWN)
    doc, blocks = read_all(disk_source(path))
    assert doc.kind is DocKind.MARKDOWN
    got = [
        (b.locator.line_start, b.locator.line_end, b.locator.heading_path, b.kind) for b in blocks
    ]
    assert got == [
        (1, 4, ("Title",), BlockKind.SECTION),
        (5, 10, ("Title", "Part A"), BlockKind.SECTION),
        (11, 12, ("Title", "Part A", "Deep"), BlockKind.SECTION),
        (13, 15, ("Title", "Part B"), BlockKind.SECTION),
    ]
    assert joined(blocks) == MARKDOWN
    assert blocks[1].text.startswith("## Part A\n")


def test_markdown_front_matter_is_not_headings(tmp_path: Path) -> None:
    text = "---\ntitle: x\n# yaml comment\n---\n# Real\nbody\n"
    _, blocks = read_all(disk_source(write_text(tmp_path / "fm.mdx", text)))
    assert [b.locator.heading_path for b in blocks] == [(), ("Real",)]
    assert joined(blocks) == text


# --- code -----------------------------------------------------------------------------------

PYTHON = '''"""Module docstring."""

import os

CONSTANT = 1


def first(a):
    return a


# About second.
@decorator(
    option=True,
)
def second(b):

    return b


class Third:
    def method(self):
        return 3
'''


def test_code_splits_at_definitions_with_line_numbers(tmp_path: Path) -> None:
    path = write_text(tmp_path / "pkg" / "mod.py", PYTHON)
    doc, blocks = read_all(disk_source(path))
    assert doc.kind is DocKind.CODE and doc.language == "python"
    spans = [(b.locator.line_start, b.locator.line_end, b.text.splitlines()[0]) for b in blocks]
    assert spans == [
        (1, 2, '"""Module docstring."""'),
        (3, 4, "import os"),
        (5, 7, "CONSTANT = 1"),
        (8, 11, "def first(a):"),
        (12, 20, "# About second."),  # comment and decorator belong to the function
        (21, 23, "class Third:"),
    ]
    assert all(b.kind is BlockKind.CODE for b in blocks)
    assert joined(blocks) == PYTHON


def test_code_javascript_and_rust(tmp_path: Path) -> None:
    js = "// util\nexport function one() {\n  return 1;\n}\nexport const two = () => 2;\n"
    doc, blocks = read_all(disk_source(write_text(tmp_path / "a.ts", js)))
    assert doc.language == "typescript"
    assert [b.locator.line_start for b in blocks] == [1, 5]
    rust = (
        "use std::io;\n\n/// Docs.\n#[derive(Debug)]\npub struct S;\n\nimpl S {\n    fn f() {}\n}\n"
    )
    doc, blocks = read_all(disk_source(write_text(tmp_path / "lib.rs", rust)))
    assert doc.language == "rust"
    assert [b.locator.line_start for b in blocks] == [1, 3, 7]
    assert joined(blocks) == rust


@pytest.mark.parametrize(
    ("name", "language"),
    [
        ("main.go", "go"),
        ("App.java", "java"),
        ("x.cpp", "cpp"),
        ("x.h", "c"),
        ("s.sh", "shell"),
        ("Dockerfile", "dockerfile"),
        ("Makefile", "make"),
        ("q.sql", "sql"),
        ("c.yaml", "yaml"),
        ("k.kt", "kotlin"),
        ("r.rb", "ruby"),
        ("CMakeLists.txt", "cmake"),
    ],
)
def test_code_language_from_name(tmp_path: Path, name: str, language: str) -> None:
    doc, blocks = read_all(disk_source(write_text(tmp_path / name, "x = 1\n")))
    assert doc.kind is DocKind.CODE and doc.language == language
    assert joined(blocks) == "x = 1\n"


def test_code_blocks_stay_bounded(tmp_path: Path) -> None:
    body = "".join(f"    line_{i} = {i}  # padding padding padding\n" for i in range(5000))
    text = "def huge():\n" + body
    _, blocks = read_all(disk_source(write_text(tmp_path / "huge.py", text)))
    assert joined(blocks) == text
    assert max(len(b.text) for b in blocks) <= MAX_BLOCK_CHARS
    assert len(blocks) > 1


def test_data_languages_do_not_split_at_keywords(tmp_path: Path) -> None:
    text = "a: 1\nclass: x\ndef: y\n"
    _, blocks = read_all(disk_source(write_text(tmp_path / "c.yml", text)))
    assert len(blocks) == 1


# --- dispatch -------------------------------------------------------------------------------


def test_no_extension_text_and_codebase_unknown_extension(tmp_path: Path) -> None:
    doc, _ = read_all(disk_source(write_text(tmp_path / "README", "hello\n")))
    assert doc.kind is DocKind.TEXT
    doc, blocks = read_all(mem_source("repo/Cargo.lock", b"[[package]]\n", in_codebase=True))
    assert doc.kind is DocKind.TEXT and joined(blocks) == "[[package]]\n"


def test_no_extension_pdf_is_read_as_pdf(tmp_path: Path) -> None:
    path = tmp_path / "download"
    path.write_bytes(pdf_bytes(["Sniffed PDF"]))
    doc, blocks = read_all(disk_source(path))
    assert doc.kind is DocKind.PDF and blocks[0].text == "Sniffed PDF\n"


def test_classify_uses_name_before_content() -> None:
    src = mem_source("a.MD", b"# hi\n")
    assert classify(src, probe(src)) is DocKind.MARKDOWN


# --- property: the text convention ----------------------------------------------------------

_LINES = st.lists(
    st.one_of(
        st.sampled_from(["", "# Heading", "## Sub", "```", "def f():", "    pass", "@dec"]),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None, database=None)
@given(
    lines=_LINES,
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    name=st.sampled_from(["a.txt", "a.md", "a.py", "a.js"]),
)
def test_blocks_join_to_the_normalized_text(lines: list[str], newline: str, name: str) -> None:
    text = newline.join(lines)
    data = text.encode("utf-8")
    try:
        doc = read(mem_source(name, data))
    except IngestError:
        # Empty, or random text that sniffs as binary: nothing to check.
        return
    blocks = list(doc.blocks)
    expected = normalized(data.decode(doc.meta["encoding"], errors="replace"))
    assert joined(blocks) == expected
    line = 1
    for block in blocks:
        assert block.locator.line_start in (line, line - 1)  # a cut line shares its number
        line = lines_of(block)[1] + (1 if block.text.endswith("\n") else 0)
