"""Page images for OCR: PDF pages rendered with PDFium, and the frames of image files (PNG,
JPEG, TIFF including multi-page TIFF, and the other formats Pillow reads).

Memory stays bounded whatever the input:
- an image file is opened lazily (Pillow reads the header only) and refused, before any pixel
  is decoded, when it is larger than `MAX_IMAGE_PIXELS`. That is Pillow's own
  decompression-bomb guard, used deliberately: its warning (which fires at 1x its limit,
  89.5 megapixels, and becomes an error only at 2x) is raised as an error while the header is
  read, and both become a `TooLarge` error that names the file and says what to do. Frames of
  a multi-page file are checked the same way before each is decoded;
- a JPEG is decoded straight at the reduced size it is read at (`Image.draft`);
- every page image is scaled down to at most `max_pixels` before OCR, and a PDF page is
  rendered at a resolution that respects the same bound (a 200-inch poster page is not
  rendered at 300 dpi).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Final

from ingest.errors import CorruptFile, EmptyFile, IngestError, TooLarge, UnreadableFile

if TYPE_CHECKING:
    import pypdfium2
    from PIL import Image

__all__ = [
    "MAX_IMAGE_PIXELS",
    "MIN_IMAGE_SIDE",
    "PAGE_PIXELS",
    "grey_on_white",
    "image_frames",
    "open_image",
    "pillow_errors",
    "render_pdf_page",
    "scale_to_fit",
]

#: Largest image file read, in pixels (Pillow's decompression-bomb limit).
MAX_IMAGE_PIXELS: Final = 89_478_485
_LIMIT_ADVICE: Final = (
    f"Tomes reads images up to {MAX_IMAGE_PIXELS / 1e6:.1f} megapixels (Pillow's "
    "decompression-bomb limit): scale it down or split it, and add it again"
)
#: Default bound on the pixels of one page image handed to OCR (a Letter page at 300 dpi
#: is 8.4 megapixels).
PAGE_PIXELS: Final = 16_000_000
#: An image with a side shorter than this, in pixels, cannot hold readable text.
MIN_IMAGE_SIDE: Final = 8


@contextmanager
def pillow_errors(name: str) -> Iterator[None]:
    """Pillow's exceptions as IngestErrors naming the file."""
    from PIL import Image, UnidentifiedImageError

    try:
        yield
    except IngestError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's guard fired while reading the header (see `open_image`); say it our way.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found.group(1)) / 1e6:,.0f} megapixels" if found else "too many pixels"
        raise TooLarge(name, f"is an image of {size}; {_LIMIT_ADVICE}") from exc
    except UnidentifiedImageError as exc:
        raise CorruptFile(name, "is not an image Tomes can read, or it is damaged") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)):
            # Imported here: ingest.readers imports this module (no import cycle at load).
            from ingest.readers._io import os_reason

            raise UnreadableFile(name, os_reason(exc)) from exc
        # Pillow reports truncated and damaged data as OSError/SyntaxError/ValueError.
        raise CorruptFile(name, f"is a damaged or truncated image ({exc})") from exc
    except MemoryError as exc:
        raise TooLarge(name, "is too large to decode in memory") from exc


def _check_size(name: str, width: int, height: int, frame: int | None = None) -> None:
    where = f" (page {frame})" if frame is not None else ""
    if width * height > MAX_IMAGE_PIXELS:
        raise TooLarge(
            name,
            f"is {width:,} x {height:,} pixels{where} ({width * height / 1e6:,.0f} megapixels); "
            + _LIMIT_ADVICE,
        )
    if min(width, height) < MIN_IMAGE_SIDE:
        raise EmptyFile(
            name,
            f"is {width} x {height} pixels{where}: too small to hold any readable text",
        )


def open_image(name: str, stream: IO[bytes]) -> Image.Image:
    """Open an image lazily (header only) and check its size; see the module docstring."""
    from PIL import Image

    with pillow_errors(name), warnings.catch_warnings():
        # Pillow only warns between 1x and 2x its limit; as an error, its guard refuses the
        # file from its header, like the >2x case. (catch_warnings is process-wide, but held
        # only while the header is read.)
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = Image.open(stream)
    _check_size(name, *image.size)
    return image


def _frame_count(image: Image.Image) -> int:
    return int(getattr(image, "n_frames", 1) or 1)


def scale_to_fit(image: Image.Image, max_pixels: int) -> Image.Image:
    """`image` scaled down (never up) so that it has at most `max_pixels` pixels."""
    from PIL import Image

    w, h = image.size
    if w * h <= max_pixels:
        return image
    factor = math.sqrt(max_pixels / (w * h))
    return image.resize(
        (max(1, int(w * factor)), max(1, int(h * factor))), Image.Resampling.LANCZOS
    )


def grey_on_white(image: Image.Image) -> Image.Image:
    """`image` as 8-bit grey ('L'), transparent areas flattened on white (they are paper)."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(canvas, rgba)
    elif image.mode.startswith(("I", "F")):
        # 16/32-bit grey scans: scale to 8 bits rather than clipping
        import numpy as np

        arr = np.asarray(image, dtype=np.float64)
        top = float(arr.max()) or 1.0
        return Image.fromarray((arr * (255.0 / top)).astype(np.uint8), "L")
    return image.convert("L")


def image_frames(
    name: str,
    image: Image.Image,
    *,
    max_pixels: int = PAGE_PIXELS,
    only: Collection[int] | None = None,
) -> Iterator[tuple[int, Image.Image]]:
    """(page number, upright grey image) for each frame of an opened image, one at a time;
    with `only`, just those 1-based frames (the others are not decoded).

    The EXIF orientation is applied (phones and scanners record the turn there), transparency
    is flattened on white, and each frame is scaled to at most `max_pixels`.
    """
    from PIL import ImageOps

    with pillow_errors(name):
        count = _frame_count(image)
    for index in range(count):
        if only is not None and index + 1 not in only:
            continue
        with pillow_errors(name):
            if count > 1:
                image.seek(index)
                _check_size(name, *image.size, frame=index + 1)
            if image.format == "JPEG":
                w, h = image.size
                factor = math.sqrt(max_pixels / (w * h)) if w * h > max_pixels else 1.0
                image.draft("L", (max(1, int(w * factor)), max(1, int(h * factor))))
            frame = image.copy() if count > 1 else image
            frame = ImageOps.exif_transpose(frame) or frame
            grey = scale_to_fit(grey_on_white(frame), max_pixels)
        yield index + 1, grey


def render_pdf_page(
    pdf: pypdfium2.PdfDocument, index: int, *, dpi: int, max_pixels: int = PAGE_PIXELS
) -> Image.Image:
    """Page `index` (0-based) of an open PDF as a grey image at `dpi` (lowered so that the
    image has at most `max_pixels`). The caller holds `ingest.readers.pdf.PDFIUM_LOCK`."""
    page = pdf[index]
    try:
        w_pt, h_pt = page.get_size()
        scale = dpi / 72.0
        if w_pt * h_pt * scale * scale > max_pixels:
            scale = math.sqrt(max_pixels / (w_pt * h_pt))
        bitmap = page.render(scale=scale, grayscale=True, may_draw_forms=True)
        try:
            return bitmap.to_pil().convert("L")
        finally:
            bitmap.close()
    finally:
        page.close()
