"""Generated scans for OCR tests and the OCR benchmark: page images with known text, and
image-only or mixed PDFs built from them.

    page = text_page(["First line", "Second line"], dpi=150)     # a grey PIL image
    scan = degrade(page, rotate=1.0, noise=12, blur=0.6)         # a worse copy
    scan_pdf(path, [page, "a text-layer page", scan], dpi=150)  # images and text pages

Text is drawn with DejaVu Sans when the system has it, else with Pillow's built-in scalable
font (Pillow >= 10.1), so nothing is downloaded and no font file is needed in the repository.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

__all__ = ["degrade", "font", "jpeg_bytes", "scan_pdf", "scan_pdf_bytes", "text_page"]

_SYSTEM_FONTS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
    Path("/Library/Fonts/Arial.ttf"),
)


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A scalable font of `size` pixels: a system TrueType font, else Pillow's own."""
    for path in _SYSTEM_FONTS:
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


def text_page(
    lines: Sequence[str],
    *,
    dpi: int = 150,
    size_in: tuple[float, float] = (8.5, 11.0),
    font_pt: float = 12.0,
    margin_in: float = 1.0,
    line_spacing: float = 1.5,
) -> Image.Image:
    """A white page with `lines` drawn top to bottom from the top-left margin (grey, 'L')."""
    width, height = round(size_in[0] * dpi), round(size_in[1] * dpi)
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    px = round(font_pt * dpi / 72)
    face = font(px)
    x = y = round(margin_in * dpi)
    for line in lines:
        if line:
            draw.text((x, y), line, fill=0, font=face)
        y += round(px * line_spacing)
    return page


def degrade(
    page: Image.Image,
    *,
    rotate: float = 0.0,
    noise: float = 0.0,
    blur: float = 0.0,
    seed: int = 0,
) -> Image.Image:
    """A worse copy of a page: turned `rotate` degrees counter-clockwise (white corners),
    blurred by a Gaussian of radius `blur`, and with Gaussian noise of std `noise`."""
    import numpy as np

    out = page.convert("L")
    if rotate:
        out = out.rotate(rotate, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    if blur:
        out = out.filter(ImageFilter.GaussianBlur(blur))
    if noise:
        rng = np.random.default_rng(seed)
        arr = np.asarray(out, dtype=np.float32) + rng.normal(0.0, noise, (out.height, out.width))
        out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")
    return out


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    image.convert("L").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _text_stream(text: str) -> bytes:
    ops = [b"BT", b"/F1 12 Tf", b"14 TL", b"72 720 Td"]
    for i, line in enumerate(text.split("\n")):
        if i:
            ops.append(b"T*")
        safe = line.encode("latin-1", "replace").replace(b"\\", b"\\\\")
        safe = safe.replace(b"(", b"\\(").replace(b")", b"\\)")
        ops.append(b"(" + safe + b") Tj")
    ops.append(b"ET")
    return b"\n".join(ops) + b"\n"


def scan_pdf_bytes(
    pages: Sequence[Image.Image | bytes | str], *, dpi: int = 150, jpeg_quality: int | None = None
) -> bytes:
    """A PDF with one page per item: an image (PIL image, or JPEG bytes) drawn over the whole
    page with no text layer, sized by `dpi`; or a string, drawn as real text (a text page).

    Images are stored lossless (Flate) unless `jpeg_quality` is given; JPEG bytes are stored
    as they are. Repeating the same JPEG bytes object stores it once (a 2,000-page scan stays
    small).
    """
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")
    tree = add(b"")
    font_obj = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    shared: dict[int, tuple[int, int, int]] = {}
    kids = []
    for item in pages:
        if isinstance(item, str):
            content = _text_stream(item)
            resources = b"<< /Font << /F1 %d 0 R >> >>" % font_obj
            w_pt, h_pt = 612.0, 792.0
        else:
            if id(item) in shared:
                image, w, h = shared[id(item)]
            else:
                if isinstance(item, bytes):
                    with Image.open(io.BytesIO(item)) as probe:
                        w, h = probe.size
                    data, filt = item, b"/DCTDecode"
                elif jpeg_quality is not None:
                    w, h = item.size
                    data, filt = jpeg_bytes(item, jpeg_quality), b"/DCTDecode"
                else:
                    w, h = item.size
                    data, filt = zlib.compress(item.convert("L").tobytes(), 6), b"/FlateDecode"
                image = add(
                    b"<< /Type /XObject /Subtype /Image /Width %d /Height %d "
                    b"/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter %s /Length %d >>\n"
                    b"stream\n" % (w, h, filt, len(data)) + data + b"\nendstream"
                )
                shared[id(item)] = (image, w, h)
            w_pt, h_pt = w * 72.0 / dpi, h * 72.0 / dpi
            content = b"q %.3f 0 0 %.3f 0 0 cm /Im1 Do Q\n" % (w_pt, h_pt)
            resources = b"<< /XObject << /Im1 %d 0 R >> >>" % image
        stream = add(b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream")
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %.3f %.3f] /Contents %d 0 R "
                b"/Resources %s >>" % (tree, w_pt, h_pt, stream, resources)
            )
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % tree
    objects[tree - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
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


def scan_pdf(
    path: Path,
    pages: Sequence[Image.Image | bytes | str],
    *,
    dpi: int = 150,
    jpeg_quality: int | None = None,
) -> Path:
    """Write `scan_pdf_bytes(pages, ...)` to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(scan_pdf_bytes(pages, dpi=dpi, jpeg_quality=jpeg_quality))
    return path
