"""OCR of one page image: blank skip, orientation, deskew, recognition, layout, confidence.

    read_page(image, engine, options) -> OcrPage

1. A page with almost no ink is BLANK and never reaches the engine.
2. Orientation: a page whose text runs top to bottom is turned a quarter (`orient.is_sideways`);
   the page is straightened by its small skew (`orient.estimate_skew`) and read. When the
   result's confidence is under `OcrOptions.retry_below`, the page is read again turned half
   a circle more, and the more confident reading wins: upside-down text reads as confident
   garbage far less often than as low-confidence garbage (measured in tests/ingest/test_ocr.py).
3. Lines are put in reading order (`layout.lay_out`) and every word's polygon is mapped back
   through the inverse of the rotations to the original page, as page fractions.
4. Status by the character-weighted mean confidence: TEXT, LOW_CONFIDENCE (indexed, marked)
   or UNREADABLE (flagged and not indexed); a page with ink but no text read is BLANK.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ingest.ocr.engine import OcrEngine
from ingest.ocr.images import grey_on_white
from ingest.ocr.layout import PageText, lay_out
from ingest.ocr.orient import (
    PageInk,
    Transform,
    estimate_skew,
    is_blank,
    is_sideways,
    rotate_quarter,
    straighten,
)
from ingest.ocr.types import Box, OcrPage, PageStatus, Point, TextLine

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

__all__ = ["OcrOptions", "read_page", "to_gray"]


@dataclass(frozen=True, slots=True)
class OcrOptions:
    """How pages are read. The defaults were chosen on `bench/ocr.py` (see the README)."""

    low_confidence: float = 0.80  # under this a page is indexed but marked as doubtful
    unreadable_confidence: float = 0.55  # under this a page is flagged and not indexed
    retry_below: float = 0.85  # under this the page is also read upside down
    deskew: bool = True
    min_skew: float = 0.25  # degrees; smaller skew is left alone

    def __post_init__(self) -> None:
        for name in ("low_confidence", "unreadable_confidence", "retry_below"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.unreadable_confidence > self.low_confidence:
            raise ValueError("unreadable_confidence must not exceed low_confidence")


def to_gray(image: Image.Image | np.ndarray) -> np.ndarray:
    """An 8-bit grey numpy array of a PIL image or an array (grey, RGB or RGBA)."""
    import numpy as np

    arr = image if isinstance(image, np.ndarray) else np.asarray(grey_on_white(image))
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 3:
        from PIL import Image as PILImage

        mode = {1: "L", 3: "RGB", 4: "RGBA"}.get(arr.shape[2])
        if mode is None:
            raise ValueError(f"an image needs 1, 3 or 4 channels, not {arr.shape[2]}")
        arr = np.asarray(to_gray(PILImage.fromarray(arr[..., 0] if mode == "L" else arr, mode)))
    return np.ascontiguousarray(arr)


@dataclass(frozen=True, slots=True)
class _Reading:
    lines: list[TextLine]
    rotation: int
    skew: float
    transform: Transform
    confidence: float


def _confidence(lines: Sequence[TextLine]) -> float:
    chars = weighted = 0.0
    for line in lines:
        n = len("".join(line.text.split()))
        chars += n
        weighted += line.confidence * n
    return weighted / chars if chars else 0.0


def _read(
    gray: np.ndarray, ink: PageInk, rotation: int, engine: OcrEngine, options: OcrOptions
) -> _Reading:
    work, transform = rotate_quarter(gray, rotation, Transform())
    skew = estimate_skew(ink.rotated(rotation)) if options.deskew else 0.0
    if abs(skew) < options.min_skew:
        skew = 0.0
    work, transform = straighten(work, skew, transform)
    lines = engine.recognize(work)
    return _Reading(lines, rotation, skew, transform, _confidence(lines))


def _page_boxes(transform: Transform, width: int, height: int) -> Any:
    import numpy as np

    def to_page(polygon: Sequence[Point]) -> Box:
        pts = transform.to_original(np.asarray(polygon, dtype=np.float64))
        x0 = float(np.clip(pts[:, 0].min() / width, 0.0, 1.0))
        x1 = float(np.clip(pts[:, 0].max() / width, 0.0, 1.0))
        y0 = float(np.clip(pts[:, 1].min() / height, 0.0, 1.0))
        y1 = float(np.clip(pts[:, 1].max() / height, 0.0, 1.0))
        return (round(x0, 5), round(y0, 5), round(x1, 5), round(y1, 5))

    return to_page


def _status(page: PageText, options: OcrOptions) -> PageStatus:
    if not page.text.strip():
        return PageStatus.BLANK
    if page.confidence < options.unreadable_confidence:
        return PageStatus.UNREADABLE
    if page.confidence < options.low_confidence:
        return PageStatus.LOW_CONFIDENCE
    return PageStatus.TEXT


def read_page(
    image: Image.Image | np.ndarray, engine: OcrEngine, options: OcrOptions | None = None
) -> OcrPage:
    """OCR one page image (see the module docstring)."""
    options = options or OcrOptions()
    start = time.perf_counter()
    gray = to_gray(image)
    height, width = gray.shape[:2]
    ink = PageInk.of(gray)
    if width < 2 or height < 2 or is_blank(ink):
        return OcrPage(
            "", (), 0.0, PageStatus.BLANK, width=width, height=height,
            seconds=time.perf_counter() - start,
        )  # fmt: skip
    first = 90 if is_sideways(ink) else 0
    best = _read(gray, ink, first, engine, options)
    if best.confidence < options.retry_below:
        other = _read(gray, ink, (first + 180) % 360, engine, options)
        if other.confidence > best.confidence:
            best = other
    page = lay_out(best.lines, _page_boxes(best.transform, width, height))
    return OcrPage(
        text=page.text,
        words=page.words,
        confidence=round(page.confidence, 4),
        status=_status(page, options),
        rotation=best.rotation,
        skew=best.skew,
        width=width,
        height=height,
        seconds=time.perf_counter() - start,
    )
