"""Byte sniffing: binary-or-text, text encoding, and what a file really is by its magic bytes.

Pure functions over the first bytes of a file; no I/O.

Binary rule (first 8 KiB, `SNIFF_BYTES`): a file is binary when it starts with a known binary
magic number, or when more than 30% of its bytes are non-text control bytes, or when it holds
NUL bytes, *unless* a UTF-16/32 byte-order mark is present or the NULs look like BOM-less
UTF-16. A few stray NULs in otherwise valid UTF-8 text (at most `MAX_STRAY_NULS` in the
sample) do not make a file binary: readers strip NUL bytes and read it.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Final

__all__ = [
    "HEAD_BYTES",
    "MAX_STRAY_NULS",
    "SNIFF_BYTES",
    "TextSniff",
    "describe_magic",
    "detect_bom",
    "sniff_text",
]

#: How many leading bytes decide binary-or-text.
SNIFF_BYTES: Final = 8 * 1024
#: How many leading bytes decide the text encoding.
HEAD_BYTES: Final = 64 * 1024
#: Stray NUL bytes tolerated in the sniffed sample of an otherwise textual file.
MAX_STRAY_NULS: Final = 8
_MAX_CONTROL_SHARE: Final = 0.30

# Byte-order marks, longest first: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS: Final = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# Control bytes that do occur in text: tab, LF, VT, FF, CR, backspace, ESC (ANSI colour in
# logs), SUB (old DOS end-of-file marker).
_TEXT_CONTROLS: Final = frozenset(b"\t\n\x0b\x0c\r\x08\x1b\x1a")
_CONTROL_BYTES: Final = bytes(b for b in [*range(0x20), 0x7F] if b not in _TEXT_CONTROLS)

# (prefix, description). Checked in order; descriptions complete "it looks like ...".
_MAGIC: Final = (
    (b"%PDF-", "a PDF"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old-style Office file (.doc/.xls/.ppt)"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x28\xb5\x2f\xfd", "a zstd archive"),
    (b"\x7fELF", "a Linux executable"),
    (b"MZ", "a Windows executable"),
    (b"\xcf\xfa\xed\xfe", "a macOS executable"),
    (b"\xca\xfe\xba\xbe", "a Java class or macOS executable"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"{\\rtf", "an RTF document"),
    (b"OggS", "an Ogg audio file"),
    (b"fLaC", "a FLAC audio file"),
    (b"ID3", "an MP3 audio file"),
    (b"\x00asm", "a WebAssembly module"),
    (b"wOFF", "a web font"),
    (b"wOF2", "a web font"),
)


# Short magic numbers that plain text can start with by chance ("MZ", "ID3", "BZh"): they
# only count together with binary-looking content.
_WEAK_MAGIC: Final = (b"MZ", b"BZh", b"ID3", b"RIFF", b"{\\rtf", b"OggS", b"fLaC", b"wOF")


def detect_bom(head: bytes) -> str | None:
    """The codec named by a leading byte-order mark ('utf-8-sig', 'utf-16', 'utf-32'), if any."""
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec
    return None


def describe_magic(head: bytes) -> str | None:
    """What the leading bytes say the file is ('a PDF', 'a PNG image', ...), if recognised.

    A `%PDF-` header may follow a little junk (viewers search the first 1 KiB), so that one is
    looked for anywhere in the first 1024 bytes.
    """
    if b"%PDF-" in head[:1024]:
        return "a PDF"
    for prefix, description in _MAGIC:
        if head.startswith(prefix):
            return description
    if head[4:8] == b"ftyp":
        return "a video or image file (MP4/HEIC family)"
    if head[:4] == b"RIFF":
        return "a RIFF media file (WAV/AVI/WebP)"
    return None


def _bomless_utf16(sample: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' when NULs sit in every other byte, as in BOM-less UTF-16."""
    if len(sample) < 16:
        return None
    even, odd = sample[0::2], sample[1::2]
    even_nul = even.count(0) / len(even)
    odd_nul = odd.count(0) / len(odd)
    if odd_nul > 0.7 and even_nul < 0.05:
        return "utf-16-le"
    if even_nul > 0.7 and odd_nul < 0.05:
        return "utf-16-be"
    return None


def _utf8_prefix_ok(data: bytes, *, final: bool) -> bool:
    """Whether `data` is valid UTF-8, allowing a multi-byte sequence cut at the end."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=final)
    except UnicodeDecodeError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class TextSniff:
    """The verdict on a file's leading bytes.

    `encoding` is the codec to read the file with (None when binary); `magic` says what a
    binary file looks like, when recognised; `nuls` is true when stray NUL bytes were seen.
    """

    binary: bool
    encoding: str | None = None
    magic: str | None = None
    nuls: bool = False


def sniff_text(head: bytes, *, complete: bool = False) -> TextSniff:
    """Decide whether `head` (the first bytes of a file) is text, and in which encoding.

    `complete` says `head` is the whole file (so a multi-byte character cut at its end is an
    error rather than a read-boundary artefact). UTF-8 is tried first, then cp1252, then
    latin-1 (which accepts any byte); later undecodable bytes become U+FFFD when reading.
    """
    bom = detect_bom(head)
    if bom is not None:
        return TextSniff(binary=False, encoding=bom)
    sample = head[:SNIFF_BYTES]
    if not sample:
        return TextSniff(binary=False, encoding="utf-8")
    magic = describe_magic(sample)
    if magic is not None and not sample.startswith(_WEAK_MAGIC):
        return TextSniff(binary=True, magic=magic)
    utf16 = _bomless_utf16(sample)
    if utf16 is not None:
        return TextSniff(binary=False, encoding=utf16)
    # One C-level pass (translate deletes the control bytes) instead of one count per byte.
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    nuls = sample.count(0)
    if controls / len(sample) > _MAX_CONTROL_SHARE:
        return TextSniff(binary=True, magic=magic)
    utf8 = _utf8_prefix_ok(head, final=complete)
    if nuls and not (nuls <= MAX_STRAY_NULS and utf8):
        # Random binary data has about one NUL per 256 bytes and is almost never valid
        # UTF-8; a few NULs are tolerated only in text that is otherwise valid UTF-8.
        return TextSniff(binary=True, magic=magic)
    if utf8:
        return TextSniff(binary=False, encoding="utf-8", nuls=nuls > 0)
    try:
        head.decode("cp1252")
    except UnicodeDecodeError:
        return TextSniff(binary=False, encoding="latin-1", nuls=nuls > 0)
    return TextSniff(binary=False, encoding="cp1252", nuls=nuls > 0)
