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

from tests.support.pdf import pdf_document, pdf_string

__all__ = [
    "degrade",
    "font",
    "jpeg_bytes",
    "png_header_only",
    "scan_pdf",
    "scan_pdf_bytes",
    "text_page",
]

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


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims `width` x `height` but holds one compressed row: tiny on disk, a
    bomb for anything that decodes it before checking its size."""
    import struct

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" + b"\xff" * width)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    image.convert("L").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _image_xobject(item: Image.Image | bytes, jpeg_quality: int | None) -> tuple[bytes, int, int]:
    """(image XObject object, width, height): JPEG bytes as they are, else the image as JPEG
    (with `jpeg_quality`) or lossless (Flate)."""
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
    body = (
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
        b"/BitsPerComponent 8 /Filter %s /Length %d >>\nstream\n"
        % (w, h, filt, len(data))
        + data
        + b"\nendstream"
    )
    return body, w, h


def scan_pdf_bytes(
    pages: Sequence[Image.Image | bytes | str], *, dpi: int = 150, jpeg_quality: int | None = None
) -> bytes:
    """A PDF with one page per item: an image (PIL image, or JPEG bytes) drawn over the whole
    page with no text layer, sized by `dpi`; or a string, drawn as real text (a text page).

    Images are stored lossless (Flate) unless `jpeg_quality` is given; JPEG bytes are stored
    as they are. Repeating the same image object stores it once (a 2,000-page scan stays
    small). Written by the repository's one PDF writer (`tests.support.pdf`).
    """
    contents: list[bytes] = []
    images: list[bytes | None] = []
    sizes: list[tuple[float, float]] = []
    made: dict[int, tuple[bytes, int, int]] = {}
    for item in pages:
        if isinstance(item, str):
            ops = [b"BT", b"/F1 12 Tf", b"14 TL", b"72 720 Td"]
            for i, line in enumerate(item.split("\n")):
                ops += [b"T*"] if i else []
                ops.append(pdf_string(line) + b" Tj")
            contents.append(b"\n".join([*ops, b"ET"]) + b"\n")
            images.append(None)
            sizes.append((612.0, 792.0))
            continue
        if id(item) not in made:
            made[id(item)] = _image_xobject(item, jpeg_quality)
        body, w, h = made[id(item)]
        w_pt, h_pt = w * 72.0 / dpi, h * 72.0 / dpi
        contents.append(b"q %.3f 0 0 %.3f 0 0 cm /Im1 Do Q\n" % (w_pt, h_pt))
        images.append(body)
        sizes.append((w_pt, h_pt))
    return pdf_document(contents, fonts={"F1": "Helvetica"}, page_images=images, page_sizes=sizes)


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
