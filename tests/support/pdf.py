"""The one minimal PDF writer of the repository (tests, benchmarks and the sample agreement in
assets/sample/ use it): Type 1 base fonts in WinAnsi encoding, content streams given by the
caller, no dependencies, the same bytes on every machine.

    pdf_document([content_page_1, content_page_2], fonts={"F1": "Helvetica"})
    pdf_string("Fees (monthly)")  ->  b"(Fees \\(monthly\\))"
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

__all__ = ["pdf_document", "pdf_string"]


def pdf_string(text: str) -> bytes:
    """A PDF literal string for `text` in WinAnsi (cp1252) encoding, escaped, ASCII-only
    (other characters become octal escapes; characters cp1252 lacks become '?')."""
    out = bytearray(b"(")
    for byte in text.encode("cp1252", errors="replace"):
        if byte in b"()\\":
            out += b"\\" + bytes([byte])
        elif 32 <= byte < 127:
            out.append(byte)
        else:
            out += b"\\%03o" % byte
    out += b")"
    return bytes(out)


def _num(value: float) -> bytes:
    return (b"%d" % value) if float(value).is_integer() else (b"%.3f" % value)


def pdf_document(
    contents: Sequence[bytes],
    *,
    fonts: Mapping[str, str],
    image: bool = False,
    image_pages: Collection[int] = (),
    page_images: Sequence[bytes | None] | None = None,
    page_sizes: Sequence[tuple[float, float]] | None = None,
) -> bytes:
    """A valid PDF with one page (US Letter) per content stream in `contents`.

    `fonts` names the base fonts the streams use ({"F1": "Helvetica", "F2": "Helvetica-Bold"}).
    With `image`, the file holds an 8x8 grey image XObject `/Im1`, which the pages whose
    0-based index is in `image_pages` may draw. `page_images` gives a page its own `/Im1`
    instead: a whole image XObject object (dictionary and stream), stored once however many
    pages share the same bytes object. `page_sizes` sets each page's size in points.
    """
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in below, once the page tree's number is known
    pages_obj = add(b"")
    font_refs = b" ".join(
        b"/%s %d 0 R"
        % (
            name.encode(),
            add(
                b"<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding >>"
                % base.encode()
            ),
        )
        for name, base in fonts.items()
    )
    image_obj = 0
    if image:
        pixels = bytes((x * 32 + y * 4) % 256 for y in range(8) for x in range(8))
        image_obj = add(
            b"<< /Type /XObject /Subtype /Image /Width 8 /Height 8 /ColorSpace /DeviceGray "
            b"/BitsPerComponent 8 /Length %d >>\nstream\n" % len(pixels) + pixels + b"\nendstream"
        )
    kids = []
    stored: dict[int, int] = {}
    for index, content in enumerate(contents):
        stream = add(b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream")
        own = page_images[index] if page_images is not None else None
        if own is not None:
            if id(own) not in stored:
                stored[id(own)] = add(own)
            xobjects = b" /XObject << /Im1 %d 0 R >>" % stored[id(own)]
        else:
            xobjects = b" /XObject << /Im1 %d 0 R >>" % image_obj if index in image_pages else b""
        width, height = page_sizes[index] if page_sizes is not None else (612, 792)
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %s %s] /Contents %d 0 R "
                b"/Resources << /Font << %s >>%s >> >>"
                % (pages_obj, _num(width), _num(height), stream, font_refs, xobjects)
            )
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_obj
    objects[pages_obj - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        catalog,
        xref,
    )
    return bytes(out)
