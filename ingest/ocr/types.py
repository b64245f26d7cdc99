"""OCR value types: a recognized line as the engine returns it, a word placed on its page, and
one page's result.

Coordinates: an engine works in the pixels of the image it was given (`TextLine.polygon`);
a finished page (`OcrPage`) places every word as a box in *page fractions*: (x0, y0, x1, y1)
with 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1, measured from the top-left corner of the page
as it is displayed (a PDF page after its /Rotate, an image after its EXIF orientation). A
viewer draws a highlight at any rendering scale by multiplying by the rendered size.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Box", "OcrPage", "OcrWord", "PageStatus", "Point", "TextLine", "WordGuess"]

#: (x, y) in image pixels.
Point = tuple[float, float]
#: (x0, y0, x1, y1) in page fractions, top-left origin.
Box = tuple[float, float, float, float]


class PageStatus(StrEnum):
    """What OCR made of one page."""

    TEXT = "text"  # text recognized with usable confidence
    LOW_CONFIDENCE = "low_confidence"  # text indexed, but marked as doubtful
    UNREADABLE = "unreadable"  # confidence too low to index: flagged, not indexed
    BLANK = "blank"  # no ink, or ink without any text


@dataclass(frozen=True, slots=True)
class WordGuess:
    """One word inside a recognized line, as the engine saw it (image pixels)."""

    text: str
    confidence: float
    polygon: tuple[Point, ...]


@dataclass(frozen=True, slots=True)
class TextLine:
    """One line of text as an OCR engine returns it.

    `polygon` is the line's quadrilateral in the pixels of the image the engine was given,
    clockwise from the top-left corner of the text. `words` may be empty when the engine
    gives no word positions; the page layout then splits the line box by characters.
    """

    text: str
    confidence: float
    polygon: tuple[Point, ...]
    words: tuple[WordGuess, ...] = ()


@dataclass(frozen=True, slots=True)
class OcrWord:
    """A word of a page's OCR text: where it is in `OcrPage.text` and on the page.

    `start`/`end` are character offsets into the page text (`text[start:end]` is the word);
    `box` is in page fractions (see the module docstring).
    """

    start: int
    end: int
    box: Box
    confidence: float


@dataclass(frozen=True, slots=True)
class OcrPage:
    """One page after OCR.

    `text` is in reading order, lines separated by '\\n' and paragraphs by a blank line,
    ending in '\\n' (empty when nothing was read). `confidence` is the character-weighted
    mean of the line confidences (0 when there is no text). `rotation` is the clockwise
    quarter-turn, in degrees, that made the page upright (0, 90, 180 or 270) and `skew` the
    small angle, in degrees, that was straightened after it.
    """

    text: str
    words: tuple[OcrWord, ...]
    confidence: float
    status: PageStatus
    rotation: int = 0
    skew: float = 0.0
    width: int = 0  # pixels of the image that was read
    height: int = 0
    seconds: float = 0.0

    @property
    def indexed(self) -> bool:
        """Whether the page's text should be searchable."""
        return self.status in (PageStatus.TEXT, PageStatus.LOW_CONFIDENCE)
