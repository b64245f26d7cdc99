"""From recognized lines to page text: reading order, line and paragraph breaks, and each
word's character offsets and box.

Reading order is a recursive XY-cut over the line boxes (of the upright, straightened page):
a region is cut at a vertical gutter at least one line high wide (columns, left before right)
when it has one, else at its widest horizontal gap (top before bottom); a region that no gap
cuts is one row, read left to right. Rows that follow each other with a gap wider than
`PARAGRAPH_GAP` line heights, or that jump back up (a new column), are separated by a blank
line, which the chunker treats as a paragraph break.

Known limit: a full-width heading above columns whose paragraph gaps line up across the
columns can be cut below the heading's band first, giving the columns' parts in bands.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import median
from typing import Final

from ingest.ocr.types import Box, OcrWord, Point, TextLine, WordGuess

__all__ = ["PARAGRAPH_GAP", "PageText", "lay_out"]

#: A vertical gap wider than this many (median) line heights starts a new paragraph.
PARAGRAPH_GAP: Final = 0.8
# A vertical gutter at least this many line heights wide separates columns.
_GUTTER: Final = 1.0
# Two boxes whose vertical overlap is at least this share of the shorter one share a row.
_SAME_ROW: Final = 0.5


@dataclass(frozen=True, slots=True)
class PageText:
    """A page's text and its words (offsets into `text`, boxes in page fractions)."""

    text: str
    words: tuple[OcrWord, ...]
    confidence: float  # character-weighted mean over the lines


@dataclass(frozen=True, slots=True)
class _Line:
    line: TextLine
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def height(self) -> float:
        return self.y1 - self.y0


def _bounds(line: TextLine) -> _Line:
    xs = [p[0] for p in line.polygon]
    ys = [p[1] for p in line.polygon]
    return _Line(line, min(xs), min(ys), max(xs), max(ys))


def _widest_gap(spans: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """(width, middle) of the widest gap between the merged 1-D spans; (0, 0) if none."""
    best = (0.0, 0.0)
    ordered = sorted(spans)
    reach = ordered[0][1]
    for lo, hi in ordered[1:]:
        if lo > reach and lo - reach > best[0]:
            best = (lo - reach, (lo + reach) / 2)
        reach = max(reach, hi)
    return best


def _rows(lines: list[_Line]) -> list[list[_Line]]:
    """Lines that no gap separates, grouped into rows (top to bottom, each left to right)."""
    rows: list[list[_Line]] = []
    for line in sorted(lines, key=lambda ln: (ln.y0 + ln.y1) / 2):
        if rows:
            row = rows[-1]
            top, bottom = min(r.y0 for r in row), max(r.y1 for r in row)
            overlap = min(bottom, line.y1) - max(top, line.y0)
            if overlap >= _SAME_ROW * min(line.height, bottom - top):
                row.append(line)
                continue
        rows.append([line])
    return [sorted(row, key=lambda ln: ln.x0) for row in rows]


def _xy_cut(lines: list[_Line], line_height: float) -> list[list[_Line]]:
    """Rows in reading order (see the module docstring)."""
    if len(lines) <= 1:
        return [lines] if lines else []
    vgap, vcut = _widest_gap([(ln.x0, ln.x1) for ln in lines])
    if vgap >= _GUTTER * line_height:
        left = [ln for ln in lines if (ln.x0 + ln.x1) / 2 < vcut]
        right = [ln for ln in lines if (ln.x0 + ln.x1) / 2 >= vcut]
        return _xy_cut(left, line_height) + _xy_cut(right, line_height)
    hgap, hcut = _widest_gap([(ln.y0, ln.y1) for ln in lines])
    if hgap > 0:
        top = [ln for ln in lines if (ln.y0 + ln.y1) / 2 < hcut]
        bottom = [ln for ln in lines if (ln.y0 + ln.y1) / 2 >= hcut]
        return _xy_cut(top, line_height) + _xy_cut(bottom, line_height)
    return _rows(lines)


def _split_words(line: TextLine) -> tuple[WordGuess, ...]:
    """Word polygons for a line the engine gave none for: the line box cut in proportion to
    character positions (good enough to highlight; engines with word boxes do better)."""
    if len(line.polygon) < 4:
        return ()
    (ax, ay), (bx, by), (cx, cy), (dx, dy) = line.polygon[:4]
    text = line.text
    n = max(1, len(text))
    out = []
    pos = 0
    for word in text.split():
        start = text.index(word, pos)
        end = start + len(word)
        pos = end
        f0, f1 = start / n, end / n
        top0 = (ax + (bx - ax) * f0, ay + (by - ay) * f0)
        top1 = (ax + (bx - ax) * f1, ay + (by - ay) * f1)
        bot1 = (dx + (cx - dx) * f1, dy + (cy - dy) * f1)
        bot0 = (dx + (cx - dx) * f0, dy + (cy - dy) * f0)
        out.append(WordGuess(word, line.confidence, (top0, top1, bot1, bot0)))
    return tuple(out)


def lay_out(lines: Sequence[TextLine], to_page: Callable[[Sequence[Point]], Box]) -> PageText:
    """Order `lines` (coordinates of the upright page) and build the page text.

    `to_page` turns a word polygon into its box in page fractions on the original page.
    """
    usable = [_bounds(ln) for ln in lines if ln.text.strip()]
    if not usable:
        return PageText("", (), 0.0)
    line_height = median(ln.height for ln in usable) or 1.0
    parts: list[str] = []
    words: list[OcrWord] = []
    offset = 0
    weighted = chars = 0.0
    previous: list[_Line] | None = None
    for row in _xy_cut(usable, line_height):
        if previous is not None:
            gap = min(ln.y0 for ln in row) - max(ln.y1 for ln in previous)
            jumped_up = gap < -line_height
            brk = "\n\n" if jumped_up or gap > PARAGRAPH_GAP * line_height else "\n"
            parts.append(brk)
            offset += len(brk)
        for i, item in enumerate(row):
            if i:
                parts.append(" ")
                offset += 1
            guesses = item.line.words or _split_words(item.line)
            for j, guess in enumerate(guesses):
                if j:
                    parts.append(" ")
                    offset += 1
                token = " ".join(guess.text.split())
                parts.append(token)
                words.append(
                    OcrWord(offset, offset + len(token), to_page(guess.polygon), guess.confidence)
                )
                offset += len(token)
            n = len("".join(item.line.text.split()))
            weighted += item.line.confidence * n
            chars += n
        previous = row
    parts.append("\n")
    return PageText("".join(parts), tuple(words), weighted / chars if chars else 0.0)
