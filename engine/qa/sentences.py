"""Cut a passage into sentences (or clauses, or line groups for code) with exact offsets, so
that evidence can be ranked sentence by sentence and a citation can point at exactly the words
it rests on.

    for start, end in split_sentences(chunk.text):
        chunk.text[start:end]

Prose: a sentence ends at . ! ? followed by a space and a capital, digit, quote or bracket
(not after "Inc.", "No.", "e.g." or an initial), at a blank line, or at a line break before
an enumerated item or a heading-like line. PDF text breaks lines mid-sentence, so a plain line
break is not an end. A sentence longer than `max_chars` (legal sentences run to pages) is cut
at "; " or ": ", then at ", " before an enumerator like "(b)", then at a space. Fragments
shorter than `min_chars` join their neighbour, so a bare heading ("9.9 GOVERNING LAW") stays
with the sentence after it.

Code (`code=True`): runs of lines, broken at blank lines and at top-level definitions, at
most `max_lines` lines each.
"""

from __future__ import annotations

import itertools
import re

__all__ = ["split_sentences"]

_ABBREVIATIONS = frozenset(
    """inc ltd co corp llc llp plc no nos sec secs art arts para paras cl e.g i.e etc vs
    mr mrs ms dr st jr sr u.s u.k fig figs approx dept est min max viz cf al ibid op
    jan feb mar apr jun jul aug sep sept oct nov dec ave blvd n.a s.a b.v n.v gmbh ag
    pp p ch vol""".split()
)
# candidate sentence ends: terminal punctuation (and closing quotes/brackets) then a space
_END = re.compile(r"[.!?][\"')\]’”]*(?=\s+[\"'(\[“‘A-Z0-9])")
_BLANK = re.compile(r"\n[ \t]*\n\s*")
# a line that starts an enumerated item or looks like a heading
# (case matters: with IGNORECASE a word like "York." read as an enumerator, and any short
# line of plain words, which PDF text is full of, as a heading)
_ITEM_LINE = re.compile(
    r"\n(?=[ \t]*(?:\(?(?:\d{1,3}|[a-zA-Z]|[ivx]{2,4}|[IVX]{2,4})[.)]\s|\d+(?:\.\d+)+\s|"
    r"[-*•▪●]\s|(?i:section|article|exhibit|schedule)\s+\d|[A-Z][A-Z0-9 ,&'-]{3,60}(?:\n|$)))"
)
_SOFT = (re.compile(r"[;:](?=\s)"), re.compile(r",(?=\s+\(?[a-z0-9ivx]{1,3}\)\s)"))
# A top-level definition starts a group (a decorator or comment line right above it stays
# with it: see `_code_groups`).
_TOPLEVEL_CODE = re.compile(r"\n(?=(?:def |class |async def |function |export |public |fn ))")


def _is_abbreviation(text: str, end: int) -> bool:
    """Whether the period at text[end - 1] ends an abbreviation or an initial, not a sentence."""
    start = end - 1
    while start > 0 and not text[start - 1].isspace() and text[start - 1] not in "(\"'“":
        start -= 1
    word = text[start : end - 1].lower().strip("\"'“”‘’()[]")
    if not word:
        return False
    if len(word) == 1 and word.isalpha():
        return True  # an initial: "J. Smith"
    return word in _ABBREVIATIONS or word.rstrip(".") in _ABBREVIATIONS


def _cuts(text: str) -> list[int]:
    """Offsets where a sentence may end (exclusive end of the sentence)."""
    cuts: set[int] = set()
    for m in _END.finditer(text):
        end = m.start() + 1
        if text[m.start()] == "." and _is_abbreviation(text, end):
            continue
        cuts.add(m.end())
    cuts.update(m.start() for m in _BLANK.finditer(text))
    cuts.update(m.start() for m in _ITEM_LINE.finditer(text))
    return sorted(cuts)


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _split_long(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    if end - start <= max_chars:
        return [(start, end)]
    piece = text[start:end]
    for pattern in _SOFT:
        points = [m.end() for m in pattern.finditer(piece) if 40 <= m.end() <= len(piece) - 40]
        if points:
            best = min(points, key=lambda p: abs(p - len(piece) / 2))
            a, b = _trim(text, start, start + best), _trim(text, start + best, end)
            return _split_long(text, *a, max_chars) + _split_long(text, *b, max_chars)
    cut = piece.rfind(" ", 0, max_chars)
    if cut <= 0:
        cut = max_chars
    a, b = _trim(text, start, start + cut), _trim(text, start + cut, end)
    if b[0] >= b[1]:
        return [a]
    return [a, *_split_long(text, *b, max_chars)]


def _merge_short(spans: list[tuple[int, int]], min_chars: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    pending: tuple[int, int] | None = None
    for span in spans:
        if pending is not None:
            span = (pending[0], span[1])
            pending = None
        if span[1] - span[0] < min_chars:
            pending = span
            continue
        out.append(span)
    if pending is not None:
        if out:
            out[-1] = (out[-1][0], pending[1])
        else:
            out.append(pending)
    return out


def split_sentences(
    text: str,
    *,
    code: bool = False,
    max_chars: int = 480,
    min_chars: int = 24,
    max_lines: int = 8,
) -> list[tuple[int, int]]:
    """(start, end) offsets of `text`'s sentences (or code line groups), in order, trimmed of
    surrounding whitespace; empty text gives none."""
    if code:
        return _code_groups(text, max_lines)
    bounds = [0, *_cuts(text), len(text)]
    spans: list[tuple[int, int]] = []
    for a, b in itertools.pairwise(bounds):
        s, e = _trim(text, a, b)
        if s < e:
            spans.extend(_split_long(text, s, e, max_chars))
    return _merge_short(spans, min_chars)


def _code_groups(text: str, max_lines: int) -> list[tuple[int, int]]:
    starts = set()
    for m in _TOPLEVEL_CODE.finditer(text):
        at = m.start() + 1
        # walk up over decorator and comment lines that lead into the definition
        while at > 0:
            prev = text.rfind("\n", 0, at - 1) + 1
            line = text[prev : at - 1].lstrip()
            if not line.startswith(("@", "#", "//", "/*", "*")) or not line:
                break
            at = prev
        starts.add(at)
    bounds = sorted({0, len(text), *(m.start() for m in _BLANK.finditer(text))} | starts)
    spans: list[tuple[int, int]] = []
    for a, b in itertools.pairwise(bounds):
        s, e = _trim(text, a, b)
        if s >= e:
            continue
        # at most max_lines lines per group
        line_starts = [s] + [m.end() for m in re.finditer(r"\n", text[s:e]) if m.end() < e - s]
        line_starts = [s] + [s + x for x in line_starts[1:]]
        for i in range(0, len(line_starts), max_lines):
            ga = line_starts[i]
            gb = line_starts[i + max_lines] if i + max_lines < len(line_starts) else e
            ga, gb = _trim(text, ga, gb)
            if ga < gb:
                spans.append((ga, gb))
    return spans
