"""Hostile files: each is read (or refused) in a fresh interpreter whose own peak RSS (VmHWM)
is measured, and the message says what happened ("too large", not "damaged", when size is
the reason).

The peak is read from /proc/self/status in the child at exit: kernel rusage would inherit
the forking pytest process's peak (see tests/reliability/test_bad_input_corpus.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.fixtures import make_docx

ROOT = Path(__file__).resolve().parents[2]

# Reads one file with the real reader; prints {"ok", "kind", "reason", "blocks", "chars",
# "peak_mb"}.
_READ_ONE = """
import json, sys
from pathlib import Path
from ingest.errors import IngestError
from ingest.readers import read
from ingest.types import Source

path = Path(sys.argv[1])
max_pages = int(sys.argv[2])
source = Source(name=path.name, source_key=str(path), size=path.stat().st_size,
                open=lambda: path.open("rb"), path=path)
out = {"ok": True, "kind": "", "reason": "", "blocks": 0, "chars": 0}
try:
    document = read(source, max_pages=max_pages)
    for block in document.blocks:
        out["blocks"] += 1
        out["chars"] += len(block.text)
except IngestError as exc:
    out.update(ok=False, kind=type(exc).__name__, reason=exc.reason)
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        out["peak_mb"] = int(line.split()[1]) / 1024
print(json.dumps(out))
"""


def read_measured(path: Path, *, max_pages: int = 20_000) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _READ_ONE, str(path), str(max_pages)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    print(path.name, result)
    return result


def _docx_with_body(tmp_path: Path, name: str, body_xml: bytes | str) -> Path:
    """A real .docx (made by python-docx) whose document part's body is replaced."""
    base = make_docx(tmp_path / "base.docx", ["placeholder"])
    target = tmp_path / name
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "word/document.xml":
                head, rest = data.split(b"<w:body>", 1)
                tail = rest[rest.index(b"<w:sectPr") :]
                with dst.open(info.filename, "w", force_zip64=True) as part:
                    part.write(head + b"<w:body>")
                    if isinstance(body_xml, str):
                        part.write(body_xml.encode())
                    else:
                        part.write(body_xml)
                    part.write(tail)
                continue
            dst.writestr(info, data)
    return target


def _big_docx(tmp_path: Path, xml_mb: int) -> Path:
    """A .docx whose document part is `xml_mb` MB of XML in many paragraphs, not very
    compressible (hex digits), so the expansion-ratio guard does not refuse it."""
    base = make_docx(tmp_path / "base.docx", ["placeholder"])
    target = tmp_path / f"big-{xml_mb}mb.docx"
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename != "word/document.xml":
                dst.writestr(info, data)
                continue
            head, rest = data.split(b"<w:body>", 1)
            tail = rest[rest.index(b"<w:sectPr") :]
            with dst.open(info.filename, "w", force_zip64=True) as part:
                part.write(head + b"<w:body>")
                written = 0
                batch = []
                while written < xml_mb * 1024 * 1024:
                    text = os.urandom(300).hex()
                    paragraph = f"<w:p><w:r><w:t>Clause {written} {text}</w:t></w:r></w:p>"
                    batch.append(paragraph)
                    written += len(paragraph)
                    if len(batch) >= 2000:
                        part.write("".join(batch).encode())
                        batch = []
                part.write("".join(batch).encode())
                part.write(tail)
    return target


def test_a_docx_with_100_mb_of_xml_is_read_in_bounded_memory(tmp_path: Path) -> None:
    """python-docx peaked at 1.6 GB on this; the streaming reader holds one paragraph of XML
    at a time (plus the text it returns)."""
    path = _big_docx(tmp_path, 100)
    result = read_measured(path)
    assert result["ok"], result
    assert int(str(result["blocks"])) > 100_000
    text_mb = int(str(result["chars"])) / 2**20
    peak = float(str(result["peak_mb"]))
    # the interpreter with lxml is ~40 MB; the text itself is ~text_mb
    assert peak < 150 + 2 * text_mb, f"peak RSS {peak:.0f} MB for {text_mb:.0f} MB of text"
    assert peak < 400, f"peak RSS {peak:.0f} MB"


def test_a_docx_with_one_huge_text_node_is_too_large_not_damaged(tmp_path: Path) -> None:
    """One 20 MB run of text: lxml's own limit (10 MB per text node) stops it; that is a
    size refusal, and it says so."""
    body = "<w:p><w:r><w:t>" + os.urandom(10 * 1024 * 1024).hex() + "</w:t></w:r></w:p>"
    path = _docx_with_body(tmp_path, "one-node.docx", body)
    result = read_measured(path)
    assert not result["ok"] and result["kind"] == "TooLarge", result
    assert "too large" in str(result["reason"]) and "damaged" not in str(result["reason"])
    assert float(str(result["peak_mb"])) < 400


def test_a_docx_bomb_is_too_large_before_expanding(tmp_path: Path) -> None:
    """200 MB of one repeated paragraph compresses ~1000x: refused from the declared sizes
    alone, with "too large", in the memory of an idle interpreter."""
    body = "<w:p><w:r><w:t>again</w:t></w:r></w:p>" * (200 * 1024 * 1024 // 38)
    path = _docx_with_body(tmp_path, "bomb.docx", body)
    assert path.stat().st_size < 2 * 1024 * 1024
    result = read_measured(path)
    assert not result["ok"] and result["kind"] == "TooLarge", result
    assert "too large" in str(result["reason"]) and "expands" in str(result["reason"])
    assert float(str(result["peak_mb"])) < 150


def _repeated_page_pdf(path: Path, n_pages: int) -> Path:
    """A small PDF whose page tree lists one page object `n_pages` times."""
    content = b"BT /F1 12 Tf 72 720 Td (The same page again.) Tj ET"
    kids = b" ".join([b"3 0 R"] * n_pages)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count " + str(n_pages).encode() + b" >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    path.write_bytes(bytes(out))
    return path


def test_a_pdf_declaring_800_000_pages_is_refused_by_the_page_cap(tmp_path: Path) -> None:
    """4.8 MB that repeats one page 800,000 times: refused from its page count, before any
    page is read, naming the setting that allows it."""
    path = _repeated_page_pdf(tmp_path / "repeated.pdf", 800_000)
    assert path.stat().st_size < 6 * 1024 * 1024
    result = read_measured(path)
    assert not result["ok"] and result["kind"] == "TooLarge", result
    assert "800,000 pages" in str(result["reason"])
    assert "limit of 20,000" in str(result["reason"]) and "ingest.max_pages" in str(
        result["reason"]
    )
    assert float(str(result["peak_mb"])) < 400


def test_the_page_cap_is_a_setting(tmp_path: Path) -> None:
    path = _repeated_page_pdf(tmp_path / "thirty.pdf", 30)
    refused = read_measured(path, max_pages=20)
    assert not refused["ok"] and "30 pages, more than the limit of 20" in str(refused["reason"])
    allowed = read_measured(path, max_pages=30)
    assert allowed["ok"] and allowed["blocks"] == 30, allowed


@pytest.mark.parametrize("engine", ["pdfium", "pypdf"])
def test_both_pdf_engines_honour_the_cap(tmp_path: Path, engine: str) -> None:
    from ingest.errors import TooLarge
    from ingest.readers import read_pdf
    from ingest.types import Source

    path = _repeated_page_pdf(tmp_path / "five.pdf", 5)
    source = Source(
        name=path.name,
        source_key=str(path),
        size=path.stat().st_size,
        open=lambda: path.open("rb"),
        path=path,
    )
    with pytest.raises(TooLarge, match="5 pages, more than the limit of 4"):
        read_pdf(source, engine=engine, max_pages=4)  # type: ignore[arg-type]
    assert len(list(read_pdf(source, engine=engine, max_pages=5).blocks)) == 5  # type: ignore[arg-type]
