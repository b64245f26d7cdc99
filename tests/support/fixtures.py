"""Fixture generators for tests: small, real files built on the fly, never read from disk.

Every `make_*` function writes one file (or folder) at the path it is given, creates parent
folders, and returns that path. They are deterministic (same arguments, same bytes) and fast.

    make_pdf(path, ["page one text", "page two text"])       real text layer, one page each
    make_image_only_pdf(path, n_pages=2)                     image XObject, no text (needs OCR)
    make_encrypted_pdf(path, pages, user_password="secret")  RC4-128 via pypdf
    make_truncated_pdf(path, pages) / make_corrupt_pdf(path) damaged PDFs
    make_docx(path, [DocxHeading("Intro", 1), "para", DocxTable([["a", "b"]])])
    make_malformed_docx(path)                                zip without word/document.xml
    write_text(path, "text", encoding="utf-16", bom=True)    any encoding, optional BOM
    make_zip(path, {"a.txt": "x", "../evil": "y"})           raw member names kept as given
    make_zip_bomb(path, size=300 * MiB)                      zeros, streamed, ~300 KB on disk
    make_lying_zip(path)                                     header declares less than it holds
    make_repo(path)                                          a small codebase (see its docstring)

PDFs come from the repository's one minimal PDF writer (`tests.support.pdf`, wrapped by
`pdf_bytes` here): Helvetica text in WinAnsi encoding, so page text must be Latin-1 (other
characters become '?'); a '\\n' in a page string starts a new line.
"""

from __future__ import annotations

import io
import random
import struct
import zipfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tests.support.pdf import pdf_document, pdf_string

__all__ = [
    "REPO_FILES",
    "DocxHeading",
    "DocxTable",
    "MiB",
    "make_corrupt_pdf",
    "make_docx",
    "make_encrypted_pdf",
    "make_image_only_pdf",
    "make_lying_zip",
    "make_malformed_docx",
    "make_pdf",
    "make_repo",
    "make_truncated_pdf",
    "make_zip",
    "make_zip_bomb",
    "pdf_bytes",
    "write_text",
]

MiB: Final = 1024 * 1024


def _prepare(path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


# --- PDF ------------------------------------------------------------------------------------


def _text_ops(text: str, font_size: int) -> bytes:
    if not text:
        return b""
    lines = text.split("\n")
    ops = [b"BT", b"/F1 %d Tf" % font_size, b"%d TL" % (font_size + 2), b"72 720 Td"]
    for i, line in enumerate(lines):
        if i:
            ops.append(b"T*")
        ops.append(pdf_string(line) + b" Tj")
    ops.append(b"ET")
    return b"\n".join(ops) + b"\n"


def pdf_bytes(
    pages: Sequence[str], *, image_pages: Collection[int] = (), font_size: int = 12
) -> bytes:
    """A valid PDF with one page per string in `pages` (an empty string: a blank page).

    Pages whose 0-based index is in `image_pages` also draw an 8x8 grey image XObject, so
    `pdf_bytes([""], image_pages={0})` is a scanned-looking page with no text layer.
    """
    contents = [_text_ops(text, font_size) for text in pages]
    for index in image_pages:
        contents[index] += b"q 300 0 0 300 72 300 cm /Im1 Do Q\n"
    return pdf_document(
        contents, fonts={"F1": "Helvetica"}, image=True, image_pages=set(image_pages)
    )


def make_pdf(
    path: Path, pages: Sequence[str], *, image_pages: Collection[int] = (), font_size: int = 12
) -> Path:
    """Write a PDF with one page per string (see `pdf_bytes`)."""
    path = _prepare(path)
    path.write_bytes(pdf_bytes(pages, image_pages=image_pages, font_size=font_size))
    return path


def make_image_only_pdf(path: Path, n_pages: int = 1) -> Path:
    """Write a PDF whose pages each hold an image and no text at all (a scan without OCR)."""
    return make_pdf(path, [""] * n_pages, image_pages=range(n_pages))


def make_encrypted_pdf(
    path: Path,
    pages: Sequence[str],
    *,
    user_password: str = "secret",
    owner_password: str = "owner",
) -> Path:
    """Write an RC4-128 encrypted PDF. `user_password=""` gives one that opens without asking."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes(pages))))
    writer.encrypt(user_password, owner_password, algorithm="RC4-128")
    path = _prepare(path)
    with open(path, "wb") as fh:
        writer.write(fh)
    return path


def make_truncated_pdf(path: Path, pages: Sequence[str], *, keep: float = 0.6) -> Path:
    """Write the first `keep` fraction of a valid PDF's bytes (a download cut short)."""
    data = pdf_bytes(pages)
    path = _prepare(path)
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def make_corrupt_pdf(
    path: Path, *, size: int = 4096, seed: int = 0, with_eof_marker: bool = True
) -> Path:
    """Write a '%PDF-1.4' header followed by random bytes (and, by default, a '%%EOF')."""
    rng = random.Random(seed)
    body = bytes(rng.randrange(256) for _ in range(size))
    path = _prepare(path)
    path.write_bytes(b"%PDF-1.4\n" + body + (b"\n%%EOF\n" if with_eof_marker else b""))
    return path


# --- DOCX -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DocxHeading:
    """A heading for `make_docx`: level 0 is the "Title" style, 1-9 "Heading N"."""

    text: str
    level: int = 1


@dataclass(frozen=True, slots=True)
class DocxTable:
    """A table for `make_docx`: rows of cell texts."""

    rows: Sequence[Sequence[str]]


def make_docx(path: Path, items: Sequence[str | DocxHeading | DocxTable]) -> Path:
    """Write a .docx with python-docx; a str is a body paragraph ('' an empty one).

    The body then holds exactly one element per item, in order, so item i has
    `locator.paragraph == i`.
    """
    import docx

    document = docx.Document()
    for item in items:
        if isinstance(item, DocxHeading):
            document.add_heading(item.text, level=item.level)
        elif isinstance(item, DocxTable):
            n_cols = max((len(row) for row in item.rows), default=1)
            table = document.add_table(rows=len(item.rows), cols=n_cols)
            for r, row in enumerate(item.rows):
                for c, text in enumerate(row):
                    table.cell(r, c).text = text
        else:
            document.add_paragraph(item)
    path = _prepare(path)
    document.save(str(path))
    return path


def make_malformed_docx(path: Path) -> Path:
    """Write a valid zip named like a .docx that lacks word/document.xml."""
    path = _prepare(path)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
            'package/2006/content-types"/>',
        )
        archive.writestr("docProps/app.xml", "<Properties/>")
    return path


# --- text -----------------------------------------------------------------------------------


def write_text(path: Path, text: str, *, encoding: str = "utf-8", bom: bool = False) -> Path:
    """Write `text` exactly (no newline translation) in `encoding`, with a BOM if asked.

    `bom=True` works for 'utf-8', 'utf-16-le', 'utf-16-be', 'utf-32-le' and 'utf-32-be'.
    """
    boms = {
        "utf-8": b"\xef\xbb\xbf",
        "utf-16-le": b"\xff\xfe",
        "utf-16-be": b"\xfe\xff",
        "utf-32-le": b"\xff\xfe\x00\x00",
        "utf-32-be": b"\x00\x00\xfe\xff",
    }
    path = _prepare(path)
    path.write_bytes((boms[encoding] if bom else b"") + text.encode(encoding))
    return path


# --- zip ------------------------------------------------------------------------------------


def make_zip(
    path: Path,
    members: Mapping[str, bytes | str],
    *,
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    """Write a zip with the given members; names are stored as given ('../x', '/abs' too)."""
    path = _prepare(path)
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return path


def make_zip_bomb(
    path: Path, *, member: str = "bomb.txt", size: int = 300 * MiB, chunk: int = MiB
) -> Path:
    """Write a zip holding one member of `size` zero bytes, streamed (never held in memory).

    Deflate squeezes zeros about 1000x, so 300 MiB takes ~300 KB on disk and ~1 s to build.
    """
    path = _prepare(path)
    zero = bytes(chunk)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        info = zipfile.ZipInfo(member)
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=size >= 2**31) as out:
            left = size
            while left > 0:
                out.write(zero[: min(chunk, left)])
                left -= chunk
    return path


def make_lying_zip(
    path: Path, *, member: str = "liar.txt", real_size: int = 256 * 1024, declared_size: int = 1000
) -> Path:
    """Write a zip whose headers declare `declared_size` bytes for a member holding more.

    Both the local header and the central directory are patched, as a hostile archive would.
    """
    path = make_zip(path, {member: b"a" * real_size})
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        header = archive.getinfo(member).header_offset
    struct.pack_into("<I", data, header + 22, declared_size)  # local: uncompressed size
    central = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, declared_size)  # central: uncompressed size
    path.write_bytes(bytes(data))
    return path


# --- a small codebase -----------------------------------------------------------------------

_APP_PY: Final = '''"""Demo app."""

import os


def alpha(x):
    return x + 1


# Comment about beta.
@staticmethod
def beta(y):
    return y * 2


class Gamma:
    def method(self):
        return "gamma"
'''

_UTIL_JS: Final = """// Utilities.
export function one() {
  return 1;
}

export function two() {
  return 2;
}
"""

#: Files `make_repo` writes (relative path -> content), before `extra`. What `iter_sources`
#: makes of them is in `make_repo`'s docstring.
REPO_FILES: Final[Mapping[str, bytes | str]] = {
    ".gitignore": "*.log\ntmp/\nsecret.txt\n",
    ".git/HEAD": "ref: refs/heads/main\n",
    ".git/config": "[core]\n\tbare = false\n",
    "README.md": "# Demo\n\nA demo repository.\n",
    "src/app.py": _APP_PY,
    "src/util.js": _UTIL_JS,
    "src/.gitignore": "generated_*.py\n!generated_keep.py\n!keep.log\n",
    "src/generated_a.py": "A = 1\n",
    "src/generated_keep.py": "KEEP = 1\n",
    "src/keep.log": "kept by a negation in src/.gitignore\n",
    "debug.log": "ignored\n",
    "secret.txt": "ignored\n",
    "tmp/cache.txt": "ignored folder\n",
    "node_modules/lib/index.js": "module.exports = 1;\n",
    "build/out.txt": "build output\n",
    "assets/logo.png": b"\x89PNG\r\n\x1a\n" + bytes(64),
    "assets/blob.xyz": bytes(range(256)) * 4,
    "data/big.json": "[" + "0," * (1_600_000) + "0]\n",  # ~3.1 MB: over the 2 MB code limit
    "docs/guide.md": "# Guide\n\n## Install\n\nRun it.\n",
    "empty.py": "",
}


def make_repo(path: Path, *, extra: Mapping[str, bytes | str] | None = None) -> Path:
    """Write a small codebase at `path` (a folder) and return it.

    With default limits `iter_sources([path])` gives, for a folder named `repo`:

    * Sources: repo/.gitignore, repo/README.md, repo/docs/guide.md, repo/src/.gitignore,
      repo/src/app.py, repo/src/generated_keep.py (re-included by a negation),
      repo/src/keep.log (root ignores *.log; src/.gitignore re-includes it), repo/src/util.js;
    * Skipped: repo/.git (version control), repo/assets/blob.xyz (binary content),
      repo/assets/logo.png (binary), repo/build and repo/node_modules (vendored/build),
      repo/data/big.json ("3.1 MB is over the 2 MB limit for source files"), repo/empty.py
      (empty), repo/tmp (ignored by .gitignore);
    * silently left out: repo/debug.log, repo/secret.txt, repo/src/generated_a.py.

    `extra` adds or replaces files (relative path -> text or bytes).
    """
    root = Path(path)
    files = dict(REPO_FILES)
    files.update(extra or {})
    for rel, content in files.items():
        target = _prepare(root / rel)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_bytes(content.encode("utf-8"))
    return root
