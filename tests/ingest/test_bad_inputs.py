"""Bad inputs: every failure is a typed IngestError that names the file and says why."""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.errors import (
    CorruptFile,
    EmptyFile,
    EncryptedFile,
    IngestError,
    UnreadableFile,
    UnsupportedFile,
)
from ingest.readers import ENGINES, read
from ingest.sources import iter_sources
from ingest.types import Block, Document, Source
from tests.support.fixtures import (
    DocxHeading,
    make_corrupt_pdf,
    make_docx,
    make_encrypted_pdf,
    make_lying_zip,
    make_malformed_docx,
    make_pdf,
    make_truncated_pdf,
    make_zip,
    pdf_bytes,
    write_text,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def disk_source(path: Path) -> Source:
    (item,) = list(iter_sources([path]))
    assert isinstance(item, Source), item
    return item


def mem_source(name: str, data: bytes, *, in_codebase: bool = False) -> Source:
    return Source(
        name=name,
        source_key=f"mem:{name}",
        size=len(data),
        open=lambda: io.BytesIO(data),
        in_codebase=in_codebase,
    )


def read_fully(source: Source, **kwargs: object) -> tuple[Document, list[Block]]:
    doc = read(source, **kwargs)  # type: ignore[arg-type]
    return doc, list(doc.blocks)


def fails_with(
    error: type[IngestError], source: Source, match: str, **kwargs: object
) -> IngestError:
    with pytest.raises(error) as info:
        read_fully(source, **kwargs)
    assert info.value.name == source.name
    assert match in info.value.reason, info.value.reason
    assert str(info.value).startswith(f"{source.name}: ")
    return info.value


# --- empty ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a.pdf", "a.docx", "a.txt", "a.md", "a.py", "README"])
def test_zero_byte_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")
    fails_with(EmptyFile, disk_source(path), "file is empty (0 bytes)")


def test_text_with_only_a_bom_has_no_text() -> None:
    fails_with(EmptyFile, mem_source("bom.txt", b"\xef\xbb\xbf"), "contains no text")


def test_docx_with_only_empty_paragraphs(tmp_path: Path) -> None:
    path = make_docx(tmp_path / "blank.docx", ["", "  ", ""])
    fails_with(EmptyFile, disk_source(path), "contains no text")


# --- PDF ------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_password_protected_pdf(tmp_path: Path, engine: str) -> None:
    path = make_encrypted_pdf(tmp_path / "locked.pdf", ["Top secret"], user_password="pw")
    fails_with(
        EncryptedFile,
        disk_source(path),
        "is password-protected; remove the password and add it again",
        pdf_engine=engine,
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_pdf_encrypted_with_empty_user_password_opens(tmp_path: Path, engine: str) -> None:
    path = make_encrypted_pdf(
        tmp_path / "restricted.pdf", ["Readable page", "Second"], user_password=""
    )
    _, blocks = read_fully(disk_source(path), pdf_engine=engine)
    assert [b.text for b in blocks] == ["Readable page\n", "Second\n"]


@pytest.mark.parametrize("engine", ENGINES)
def test_random_bytes_with_a_pdf_header(tmp_path: Path, engine: str) -> None:
    path = make_corrupt_pdf(tmp_path / "noise.pdf")
    fails_with(CorruptFile, disk_source(path), "is damaged", pdf_engine=engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_truncated_pdf(tmp_path: Path, engine: str) -> None:
    path = make_truncated_pdf(tmp_path / "cut.pdf", [f"page {i} " * 40 for i in range(5)])
    fails_with(CorruptFile, disk_source(path), "truncated", pdf_engine=engine)
    noise = make_corrupt_pdf(tmp_path / "noise.pdf", with_eof_marker=False)
    fails_with(CorruptFile, disk_source(noise), "truncated", pdf_engine=engine)


def test_pdf_that_is_something_else(tmp_path: Path) -> None:
    zipped = make_zip(tmp_path / "x.zip", {"a": "b"})
    fake = tmp_path / "report.pdf"
    fake.write_bytes(zipped.read_bytes())
    fails_with(CorruptFile, disk_source(fake), "is not a PDF: it looks like a ZIP archive")
    text = write_text(tmp_path / "notes.pdf", "just some text\n")
    fails_with(CorruptFile, disk_source(text), "is not a PDF: it has no PDF header")


@pytest.mark.parametrize("engine", ENGINES)
def test_pdf_deleted_after_read_fails_while_iterating(tmp_path: Path, engine: str) -> None:
    path = make_pdf(tmp_path / "gone.pdf", ["a", "b"])
    doc = read(disk_source(path), pdf_engine=engine)  # type: ignore[arg-type]
    path.unlink()
    with pytest.raises(UnreadableFile, match="moved or deleted"):
        list(doc.blocks)


# --- DOCX -----------------------------------------------------------------------------------


def test_malformed_docx(tmp_path: Path) -> None:
    path = make_malformed_docx(tmp_path / "hollow.docx")
    fails_with(CorruptFile, disk_source(path), "no word/document.xml")


def test_pdf_renamed_to_docx(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "really a pdf.docx", ["x"])
    fails_with(CorruptFile, disk_source(path), "is not a Word document: it looks like a PDF")


def test_text_renamed_to_docx(tmp_path: Path) -> None:
    path = write_text(tmp_path / "plain.docx", "hello\n")
    fails_with(CorruptFile, disk_source(path), "is not a Word document")


def test_docx_with_broken_xml(tmp_path: Path) -> None:
    good = make_docx(tmp_path / "good.docx", [DocxHeading("H", 1), "text"])
    broken = tmp_path / "broken.docx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "word/document.xml":
                data = data[: len(data) // 2]
            dst.writestr(info, data)
    fails_with(CorruptFile, disk_source(broken), "is damaged")


def _ole(payload: bytes) -> bytes:
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + payload + bytes(512)


def test_password_protected_docx_is_an_ole_container() -> None:
    data = _ole("EncryptedPackage".encode("utf-16-le"))
    fails_with(EncryptedFile, mem_source("locked.docx", data), "password-protected")
    fails_with(CorruptFile, mem_source("old.docx", _ole(b"WordDocument")), "old Word .doc")


# --- text, code, dispatch -------------------------------------------------------------------


def test_binary_content_with_a_text_extension() -> None:
    data = bytes(range(256)) * 8
    fails_with(CorruptFile, mem_source("data.txt", data), "looks like a binary file, not text")
    png = b"\x89PNG\r\n\x1a\n" + bytes(200)
    fails_with(CorruptFile, mem_source("pic.md", png), "it looks like a PNG image")
    fails_with(CorruptFile, mem_source("lib.py", b"\x7fELF" + bytes(300)), "Linux executable")


def test_a_few_stray_nul_bytes_are_stripped_not_fatal() -> None:
    data = b"line one\x00\nline\x00 two\n" + b"more text\n" * 50
    _, blocks = read_fully(mem_source("log.txt", data))
    assert "".join(b.text for b in blocks) == data.decode().replace("\x00", "")


def test_unsupported_extension_names_what_is_supported() -> None:
    err = fails_with(UnsupportedFile, mem_source("model.xyz", b"hello\n"), "'.xyz'")
    assert err.reason == (
        "unsupported file type '.xyz' (Tomes reads PDF, DOCX, text, Markdown, source code and "
        "scanned images (PNG, JPEG, TIFF))"
    )


def test_binary_without_extension_is_unsupported() -> None:
    fails_with(UnsupportedFile, mem_source("blob", bytes(range(256)) * 4), "binary file")
    fails_with(
        UnsupportedFile,
        mem_source("repo/x.weird", bytes(range(256)) * 4, in_codebase=True),
        "binary file",
    )


# --- the OS refuses -------------------------------------------------------------------------


def _refusing_source(name: str, error: OSError) -> Source:
    def refuse() -> io.BytesIO:
        raise error

    return Source(name=name, source_key=f"/x/{name}", size=10, open=refuse, path=None)


@pytest.mark.parametrize("name", ["a.pdf", "a.docx", "a.txt", "a.py"])
def test_permission_denied_at_the_open_seam(name: str) -> None:
    # Root reads any file whatever its mode bits, so the OS path is simulated at our seam.
    source = _refusing_source(name, PermissionError(13, "Permission denied"))
    fails_with(UnreadableFile, source, "permission denied")


def test_permission_denied_for_real(tmp_path: Path) -> None:
    """A file the walking user may not read; as root, the walk runs as user 'nobody'."""
    base = Path(tempfile.mkdtemp(prefix="tomes-perm-"))
    try:
        base.chmod(0o755)
        (base / "readable.txt").write_text("ok\n")
        (base / "locked.txt").write_text("secret\n")
        (base / "locked.txt").chmod(0)
        script = (
            "import json, sys\n"
            "from pathlib import Path\n"
            "from ingest.sources import iter_sources\n"
            "out = [[type(i).__name__, i.name, getattr(i, 'reason', '')]"
            " for i in iter_sources([Path(sys.argv[1])])]\n"
            "print(json.dumps(out))\n"
        )
        as_root = os.geteuid() == 0
        nobody = 65534 if as_root else None  # as 'nobody', file modes apply again
        try:
            done = subprocess.run(
                [sys.executable, "-c", script, str(base)],
                cwd=REPO_ROOT,
                env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                user=nobody,
                group=nobody,
            )
        except PermissionError as exc:
            pytest.skip(
                f"running as root and user 'nobody' cannot run this Python ({exc}); "
                "the error path is covered at the Source.open seam"
            )
        if as_root and done.returncode != 0 and "Permission denied" in done.stderr:
            pytest.skip(
                "running as root and user 'nobody' cannot import Tomes here; "
                "the error path is covered at the Source.open seam"
            )
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
    finally:
        (base / "locked.txt").chmod(0o644)
        shutil.rmtree(base)
    label = base.name
    assert [label + "/readable.txt"] == [n for kind, n, _ in result if kind == "Source"]
    [(kind, name, reason)] = [r for r in result if r[0] != "Source"]
    assert (kind, name) == ("UnreadableFile", f"{label}/locked.txt")
    assert "permission denied" in reason


def test_file_deleted_between_walk_and_read(tmp_path: Path) -> None:
    path = write_text(tmp_path / "d" / "gone.md", "# x\n")
    (source,) = [i for i in iter_sources([tmp_path / "d"]) if isinstance(i, Source)]
    path.unlink()
    fails_with(UnreadableFile, source, "moved or deleted")


def test_text_deleted_after_read_fails_while_iterating(tmp_path: Path) -> None:
    # Bigger than the probe's head, so its lines are read from the file a second time.
    path = write_text(tmp_path / "gone.txt", "hello\n" * 20_000)
    doc = read(disk_source(path))
    path.unlink()
    with pytest.raises(UnreadableFile):
        list(doc.blocks)


def test_small_text_is_read_from_the_bytes_it_was_hashed_from(tmp_path: Path) -> None:
    # A file the probe held whole is not opened again (issue 14): its blocks are exactly the
    # hashed bytes, even if the file changes or goes in between.
    path = write_text(tmp_path / "small.txt", "hello\n")
    doc = read(disk_source(path))
    path.write_text("changed\n")
    assert "".join(b.text for b in doc.blocks) == "hello\n"


# --- archives at read time ------------------------------------------------------------------


def test_lying_zip_header_is_refused(tmp_path: Path) -> None:
    archive = make_lying_zip(tmp_path / "lie.zip", real_size=256 * 1024, declared_size=1000)
    (item,) = list(iter_sources([archive]))
    assert isinstance(item, CorruptFile) and item.name == "lie/liar.txt"


def test_zip_changed_between_walk_and_read(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "z.zip", {"a.txt": "a\n", "b.txt": "b\n"})
    found = [i for i in iter_sources([archive]) if isinstance(i, Source)]
    make_zip(archive, {"a.txt": "a\n"})  # rewritten without b.txt
    fails_with(UnreadableFile, found[1], "no longer in its archive")
    archive.unlink()
    fails_with(UnreadableFile, found[0], "moved or deleted")


# --- nothing but IngestError escapes --------------------------------------------------------


def _damaged_variants(data: bytes, seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    for cut in (0.1, 0.5, 0.9, 0.99):
        yield data[: int(len(data) * cut)]
    for _ in range(6):
        mutated = bytearray(data)
        for _ in range(20):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        yield bytes(mutated)


@pytest.mark.parametrize("kind", ["pdf", "docx"])
def test_damaged_files_only_raise_ingest_errors(tmp_path: Path, kind: str) -> None:
    if kind == "pdf":
        original = pdf_bytes(["First page text", "Second page text"])
    else:
        original = make_docx(tmp_path / "o.docx", [DocxHeading("H", 1), "para"]).read_bytes()
    for i, data in enumerate(_damaged_variants(original, seed=7)):
        for engine in ENGINES:
            source = mem_source(f"v{i}.{kind}", data)
            try:
                _, blocks = read_fully(source, pdf_engine=engine)
            except IngestError as exc:
                assert exc.name == source.name
            else:
                assert all(isinstance(b, Block) for b in blocks)
