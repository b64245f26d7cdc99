"""The chunker: a document's blocks in, token-bounded and structure-aware chunks out, streamed.

How it works, in one pass over the blocks (never more than one block plus one chunk in memory):

1. Every block is cut into *units*: one line plus the blank lines after it (leading blank lines
   join the first line, so no unit is whitespace only unless its block is). Each unit is counted
   once and carries the strength of the break in front of it, strongest first: a structural block
   start (new page, new heading section, DOCX heading, new top-level code block), an unindented
   line after a blank line in code, a blank line, a line break. Weaker breaks (sentence end,
   whitespace, a cut between two tokens) are only looked for inside a unit that must be split.
2. Units are packed greedily up to the token budget. A chunk that already has `min_tokens` ends
   at the next structural break. When the next unit does not fit, the chunk ends at its strongest
   break that still leaves it `min_tokens` long (or half the budget, if that is less), the latest
   such break on a tie; the break may lie inside the unit that did not fit.
3. Sums of unit counts are estimates (BPE is not additive across every cut), so each chunk's text
   is counted exactly once more; in the rare case it is over the budget, units go back to the
   queue (or the one unit is split) until it fits.
4. The next chunk starts with an overlap: the longest suffix of the previous chunk's new text that
   starts at a clean boundary and has at most `overlap_tokens` tokens. Clean is a line start in
   code; a line start, else a sentence start, else a word start in text and Markdown (whose
   "lines" are often whole paragraphs); a sentence start, else a word start in PDF and DOCX
   prose. The overlap is shortened (possibly to nothing) when the next unit would otherwise not
   fit whole.

Each chunk comes with its `Segment`s: where, inside `chunk.text`, the text of each differently
located block begins. `locate` turns a character span of a chunk (a verified quote) into the
exact page, paragraph or lines.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final, NamedTuple

from ingest.tokens import Tokenizer, cl100k
from ingest.types import Block, BlockKind, Chunk, Locator

__all__ = [
    "DEFAULT_SETTINGS",
    "ChunkSettings",
    "Segment",
    "chunk_blocks",
    "chunk_blocks_with_segments",
    "dump_segments",
    "load_segments",
    "locate",
]

# Break strengths, weakest first.
_HARD: Final = 0  # between two tokens
_SPACE: Final = 1
_SENTENCE: Final = 2
_LINE: Final = 3
_PARAGRAPH: Final = 4  # blank line, or a DOCX paragraph/table block
_TOPLEVEL: Final = 5  # an unindented line after a blank line inside a code block
_STRUCTURE: Final = 6  # new page, new heading section, DOCX heading, new code block
_STRONG: Final = _TOPLEVEL  # ends a chunk that already has min_tokens

# Overlap styles, from the block kind: where an overlap prefix may begin.
_CODE: Final = "code"
_TEXT: Final = "text"
_PROSE: Final = "prose"

# A line with its newline and the blank lines after it (group 1), or a last line without one.
_LINE_GROUP = re.compile(r"[^\n]*\n((?:[^\S\n]*\n)*)|[^\n]+")
# Where a sentence ends inside a line: before the space after '.?!' (so that the space stays with
# the next word, as cl100k tokenizes it) or after CJK full stops.
_SENTENCE_END = re.compile(r"[.?!][\"'”’)\]]*(?=\s)|[。！？][\"'”’」』)\]]*")
_LAST_SPACE = re.compile(r".*(\s)", re.DOTALL)
# Where an overlap prefix may begin (match end), per style, best first.
_LINE_START = re.compile(r"\n(?=[^\n]*\S)")
_SENTENCE_START = re.compile(
    r"[.?!][\"'”’)\]]*\s+(?=\S)|[。！？][\"'”’」』)\]]*\s*(?=\S)|\n[^\S\n]*\n\s*(?=\S)"
)
_WORD_START = re.compile(r"\s(?=\S)")
_OVERLAP_STARTS: Final[dict[str, tuple[re.Pattern[str], ...]]] = {
    _CODE: (_LINE_START,),
    _TEXT: (_LINE_START, _SENTENCE_START, _WORD_START),
    _PROSE: (_SENTENCE_START, _WORD_START),
}
# Characters per token are rarely above this in the tail an overlap is looked for in.
_OVERLAP_CHARS_PER_TOKEN: Final = 12


@dataclass(frozen=True, slots=True)
class ChunkSettings:
    """How big chunks are, in cl100k tokens.

    `max_tokens` bounds every chunk including its overlap prefix; `overlap_tokens` bounds the
    prefix repeated from the previous chunk; a chunk is not ended at a structural boundary (or
    at a weak break when a stronger one is available) before its new text (overlap not
    counted) has `min_tokens`. So that
    `ChunkSettings(max_tokens=100)` just works, `min_tokens` acts as at most `max_tokens` and
    `overlap_tokens` as at most half of `max_tokens` (see `min_chunk` and `max_overlap`).
    """

    max_tokens: int = 400
    overlap_tokens: int = 40
    min_tokens: int = 120

    def __post_init__(self) -> None:
        # A single code point can take 4 tokens; below 8 a chunk could not always make progress.
        if self.max_tokens < 8:
            raise ValueError(f"max_tokens must be at least 8, got {self.max_tokens}")
        if self.overlap_tokens < 0:
            raise ValueError(f"overlap_tokens must not be negative, got {self.overlap_tokens}")
        if self.min_tokens < 0:
            raise ValueError(f"min_tokens must not be negative, got {self.min_tokens}")

    @property
    def min_chunk(self) -> int:
        """The `min_tokens` in effect."""
        return min(self.min_tokens, self.max_tokens)

    @property
    def max_overlap(self) -> int:
        """The `overlap_tokens` in effect: every chunk keeps at least half for new text."""
        return min(self.overlap_tokens, self.max_tokens // 2)


DEFAULT_SETTINGS: Final = ChunkSettings()


@dataclass(frozen=True, slots=True)
class Segment:
    """Where the text of one source location begins inside a chunk's text.

    `offset` indexes `chunk.text` (0 = the first segment, overlap prefix included). For
    line-addressed documents `locator.line_start`/`line_end` are the exact lines of the segment;
    a position inside it is on line `line_start` plus the newlines before it.
    """

    offset: int
    locator: Locator

    def to_json(self) -> list[int | list[str] | None]:
        """A compact list: offset, page, page_end, line_start, line_end, paragraph,
        paragraph_end, heading_path; trailing empty fields are left out."""
        loc = self.locator
        row: list[int | list[str] | None] = [
            self.offset,
            loc.page,
            loc.page_end,
            loc.line_start,
            loc.line_end,
            loc.paragraph,
            loc.paragraph_end,
            list(loc.heading_path),
        ]
        while len(row) > 1 and (row[-1] is None or row[-1] == []):
            row.pop()
        return row

    @classmethod
    def from_json(cls, row: Sequence[object], *, doc_id: str = "") -> Segment:
        """The segment `to_json` wrote, with its locator's `doc_id` set to `doc_id`."""
        fields = [*row, *([None] * (8 - len(row)))]
        offset = fields[0]
        if not isinstance(offset, int):
            raise ValueError(f"bad segment row {row!r}")
        ints = [_opt_int(v, row) for v in fields[1:7]]
        heading = fields[7] or []
        if not isinstance(heading, list | tuple) or not all(isinstance(h, str) for h in heading):
            raise ValueError(f"bad segment row {row!r}")
        return cls(
            offset,
            Locator(
                doc_id=doc_id,
                page=ints[0],
                page_end=ints[1],
                line_start=ints[2],
                line_end=ints[3],
                paragraph=ints[4],
                paragraph_end=ints[5],
                heading_path=tuple(heading),
            ),
        )


def _opt_int(value: object, row: Sequence[object]) -> int | None:
    if value is None or isinstance(value, int):
        return value
    raise ValueError(f"bad segment row {row!r}")


def dump_segments(segments: Iterable[Segment]) -> str:
    """A chunk's segments as compact JSON, for storage."""
    return json.dumps([s.to_json() for s in segments], separators=(",", ":"), ensure_ascii=False)


def load_segments(text: str, *, doc_id: str = "") -> tuple[Segment, ...]:
    """The segments `dump_segments` wrote."""
    rows = json.loads(text)
    if not isinstance(rows, list):
        raise ValueError("segments JSON must be a list")
    return tuple(Segment.from_json(row, doc_id=doc_id) for row in rows)


def locate(
    chunk: Chunk,
    start: int,
    end: int,
    segments: Sequence[Segment] | None = None,
) -> Locator:
    """The locator of `chunk.text[start:end]`: its pages, paragraphs, or exact lines.

    Without `segments` (as `chunk_blocks_with_segments` yields them) the chunk's own locator
    stands for one segment: lines are still exact for a chunk of consecutive lines, but pages
    and paragraphs are the chunk's whole span. `segments` is positional for callers that pass
    it straight from storage: `locate(chunk, start, end, segments)`.
    """
    text = chunk.text
    if not 0 <= start <= end <= len(text):
        raise ValueError(f"span [{start}, {end}) outside chunk of {len(text)} characters")
    segs = tuple(segments) if segments else (Segment(0, chunk.locator),)
    offsets = [s.offset for s in segs]
    last = end - 1 if end > start else start
    first_i = max(0, bisect_right(offsets, start) - 1)
    last_i = max(first_i, bisect_right(offsets, last) - 1)
    found: Locator | None = None
    for i in range(first_i, last_i + 1):
        seg = segs[i]
        loc = seg.locator
        if loc.line_start is not None:
            lo = max(start, seg.offset)
            hi = min(last, offsets[i + 1] - 1) if i + 1 < len(segs) else last
            hi = max(hi, lo)
            line = loc.line_start + text.count("\n", seg.offset, lo)
            loc = replace(loc, line_start=line, line_end=line + text.count("\n", lo, hi))
        found = loc if found is None else found.merge(loc)
    assert found is not None  # the range always has a first segment
    return replace(found, doc_id=chunk.doc_id, heading_path=segs[first_i].locator.heading_path)


def chunk_blocks(
    blocks: Iterable[Block],
    *,
    doc_id: str,
    settings: ChunkSettings = DEFAULT_SETTINGS,
    tokenizer: Tokenizer | None = None,
) -> Iterator[Chunk]:
    """Chunks of one document's blocks, in order, streamed (see the module docstring)."""
    for chunk, _ in chunk_blocks_with_segments(
        blocks, doc_id=doc_id, settings=settings, tokenizer=tokenizer
    ):
        yield chunk


def chunk_blocks_with_segments(
    blocks: Iterable[Block],
    *,
    doc_id: str,
    settings: ChunkSettings = DEFAULT_SETTINGS,
    tokenizer: Tokenizer | None = None,
) -> Iterator[tuple[Chunk, tuple[Segment, ...]]]:
    """Chunks of one document's blocks with the segments `locate` needs, streamed.

    `blocks` may be a one-shot iterator; it is read one block at a time, as chunks are taken.
    """
    return _Chunker(blocks, doc_id, settings, tokenizer or cl100k()).run()


@dataclass(frozen=True, slots=True, eq=False)
class _Source:
    """One block's locator (with the document id) and its overlap style; compared by identity."""

    locator: Locator
    style: str


class _Unit(NamedTuple):
    text: str
    level: int  # strength of the break in front of it
    ntok: int  # token count: exact for whole units, an estimate for split ones
    src: _Source
    line: int | None  # line of its first character, for line-addressed blocks
    exact: bool = True  # whether `ntok` is the exact count of `text`


def _additive(left: str, right: str) -> bool:
    r"""Whether cl100k is sure to count `left + right` as count(left) + count(right).

    BPE runs within the pieces the pre-tokenizer regex cuts, so counts add up wherever the
    cut between the two strings is a piece boundary in the joined string too. It is when
    `left` ends with a newline and `right` has a non-space character before any newline:
    no piece of the regex reaches past a newline into following non-newline text (`\s*[\r\n]`
    ends at the last newline of its run, `[\r\n]*+` stops at the first other character,
    `\s++$` needs all-space text to the end), and the regex has no look-behind, so `right`
    splits as it does alone. tests/ingest/test_chunking.py checks this on random strings.
    """
    if not left.endswith("\n"):
        return False
    for ch in right:
        if ch == " " or ch == "\t":
            continue
        return not ch.isspace()  # a newline (or other space) first: no guarantee
    return False


class _Run(NamedTuple):
    """Consecutive text of a chunk from one block."""

    text: str
    src: _Source
    line: int | None


def _same_place(a: Locator, b: Locator) -> bool:
    return (
        a.page == b.page
        and a.page_end == b.page_end
        and a.paragraph == b.paragraph
        and a.paragraph_end == b.paragraph_end
        and a.heading_path == b.heading_path
        and (a.line_start is None) == (b.line_start is None)
    )


def _segment_locator(loc: Locator, line: int | None, text: str, newlines: int) -> Locator:
    if line is None:
        return loc
    last = line + newlines - (1 if text.endswith("\n") else 0)
    return replace(loc, line_start=line, line_end=max(line, last))


def _segments(runs: Iterable[_Run]) -> tuple[Segment, ...]:
    """Runs merged into segments wherever the location only continues (same block, or the next
    lines of the same page/section)."""
    out: list[Segment] = []
    offset = 0
    start = 0
    loc: Locator | None = None
    line: int | None = None
    newlines = 0
    last_text = ""
    src: _Source | None = None
    for run in runs:
        continues = loc is not None and (
            run.src is src
            or (
                _same_place(run.src.locator, loc)
                and (run.line is None or (line is not None and run.line == line + newlines))
            )
        )
        if not continues:
            if loc is not None:
                out.append(Segment(start, _segment_locator(loc, line, last_text, newlines)))
            start, loc, line, newlines = offset, run.src.locator, run.line, 0
        src = run.src
        newlines += run.text.count("\n")
        last_text = run.text
        offset += len(run.text)
    if loc is not None:
        out.append(Segment(start, _segment_locator(loc, line, last_text, newlines)))
    return tuple(out)


def _body_runs(units: Sequence[_Unit]) -> list[_Run]:
    runs: list[_Run] = []
    texts: list[str] = []
    first = units[0]
    for u in units:
        if u.src is not first.src:
            runs.append(_Run("".join(texts), first.src, first.line))
            texts, first = [], u
        texts.append(u.text)
    runs.append(_Run("".join(texts), first.src, first.line))
    return runs


def _suffix_runs(runs: Sequence[_Run], start: int) -> tuple[_Run, ...]:
    """The runs of the text from `start` on (offsets into the runs' concatenation)."""
    out: list[_Run] = []
    offset = 0
    for run in runs:
        end = offset + len(run.text)
        if end > start:
            if offset >= start:
                out.append(run)
            else:
                cut = start - offset
                line = None if run.line is None else run.line + run.text.count("\n", 0, cut)
                out.append(_Run(run.text[cut:], run.src, line))
        offset = end
    return tuple(out)


def _style(kind: BlockKind) -> str:
    if kind is BlockKind.CODE:
        return _CODE
    if kind is BlockKind.SECTION:
        return _TEXT
    return _PROSE


def _line_groups(text: str) -> list[tuple[str, bool]]:
    """`text` as (line plus following blank lines, whether blank lines follow); whitespace-only
    pieces are joined to a neighbour."""
    groups: list[tuple[str, bool]] = []
    lead = ""
    for m in _LINE_GROUP.finditer(text):
        piece = m.group()
        blank_after = bool(m.group(1))
        if piece.isspace():
            if groups:
                prev, _ = groups[-1]
                groups[-1] = (prev + piece, True)
            else:
                lead += piece
            continue
        if lead:
            piece, lead = lead + piece, ""
        groups.append((piece, blank_after))
    if lead:  # the whole text is whitespace
        groups.append((lead, False))
    return groups


class _Chunker:
    """The state of one `chunk_blocks_with_segments` call."""

    def __init__(
        self, blocks: Iterable[Block], doc_id: str, settings: ChunkSettings, tok: Tokenizer
    ) -> None:
        self._blocks = iter(blocks)
        self._doc_id = doc_id
        self._settings = settings
        self._tok = tok
        self._queue: deque[_Unit] = deque()
        # The last non-empty block, to tell what kind of break the next block starts with.
        self._prev_loc: Locator | None = None
        self._prev_last = ""  # its last character
        self._prev_blank = False  # whether it ended with a blank line

    # ---- blocks to units

    def _refill(self) -> bool:
        """Queue the units of the next non-empty block; False at the end of the document."""
        for block in self._blocks:
            if block.text:
                self._queue.extend(self._units(block))
                return True
        return False

    def _block_level(self, block: Block, loc: Locator) -> int:
        prev = self._prev_loc
        if prev is None:
            return _STRUCTURE
        if block.kind in (BlockKind.HEADING, BlockKind.CODE):
            return _STRUCTURE
        if loc.heading_path != prev.heading_path:
            return _STRUCTURE
        if loc.page is not None and loc.page != prev.page:
            return _STRUCTURE
        if block.kind in (BlockKind.PARAGRAPH, BlockKind.TABLE):
            return _PARAGRAPH
        # A continuation of the same page or section: judge by the text at the seam.
        if self._prev_last == "\n":
            return _PARAGRAPH if self._prev_blank else _LINE
        if self._prev_last.isspace() or block.text[0].isspace():
            return _SPACE
        return _HARD

    def _units(self, block: Block) -> list[_Unit]:
        loc = block.locator
        if loc.doc_id != self._doc_id:
            loc = loc.with_doc(self._doc_id)
        src = _Source(loc, _style(block.kind))
        code = block.kind is BlockKind.CODE
        level = self._block_level(block, loc)
        line = loc.line_start
        count = self._tok.count_line
        units: list[_Unit] = []
        blank_before = False
        for i, (text, blank_after) in enumerate(_line_groups(block.text)):
            if i:
                level = _LINE
                if blank_before:
                    first = text[0]
                    top = code and not first.isspace() and first not in ")]}"
                    level = _TOPLEVEL if top else _PARAGRAPH
            if text.isspace():
                # Only a whitespace-only block gets here: never start a chunk with it.
                level = _HARD
            units.append(_Unit(text, level, count(text), src, line))
            if line is not None:
                line += text.count("\n")
            blank_before = blank_after
        self._prev_loc = loc
        self._prev_last = block.text[-1]
        self._prev_blank = blank_before
        return units

    # ---- packing

    def _floor(self, budget: int) -> int:
        """Below this many tokens a chunk is not ended at a break when a later one is possible."""
        return min(self._settings.min_chunk, budget // 2)

    def _pack(self, budget: int) -> list[_Unit]:
        """Take units off the queue for one chunk's new text (at most `budget` tokens, by
        estimate); leftovers of a split or a cut go back to the front of the queue."""
        cur: list[_Unit] = []
        total = 0
        queue = self._queue
        min_tokens = self._settings.min_chunk
        while queue or self._refill():
            u = queue[0]
            if cur and u.level >= _STRONG and total >= min_tokens:
                break
            queue.popleft()
            if total + u.ntok <= budget:
                cur.append(u)
                total += u.ntok
                continue
            self._cut(cur, total, u, budget)
            break
        return cur

    def _cut(self, cur: list[_Unit], total: int, u: _Unit, budget: int) -> None:
        """`u` does not fit after `cur`: end the chunk at the best break, in `cur` or in `u`."""
        floor = self._floor(budget)
        # Rank: long enough first, then strength, then length (the latest break on a tie).
        best_key = (-1, -1, -1)
        best_k = 0
        acc = 0
        for k in range(1, len(cur) + 1):
            acc += cur[k - 1].ntok
            level = cur[k].level if k < len(cur) else u.level
            key = (1, level, acc) if acc >= floor else (0, 0, acc)
            if key > best_key:
                best_key, best_k = key, k
        best_pos = best_est = 0
        best_level = _HARD
        if best_key < (1, _LINE, 0):
            # Sentence, space and token breaks inside `u` may be better.
            for pos, level, est in self._breaks(u.text, budget - total):
                acc = total + est
                key = (1, level, acc) if acc >= floor else (0, 0, acc)
                if key > best_key:
                    best_key, best_pos, best_level, best_est = key, pos, level, est
        if best_pos:
            self._split_into(cur, u, best_pos, best_level, best_est)
        elif best_k:
            self._queue.appendleft(u)
            self._queue.extendleft(reversed(cur[best_k:]))
            del cur[best_k:]
        else:
            # Not even one token of `u` fits next to nothing: take one character, the exact
            # count in `_fit` sorts out the rest.
            self._split_into(cur, u, 1, _HARD, 1)

    def _split_into(self, cur: list[_Unit], u: _Unit, pos: int, level: int, est: int) -> None:
        """Append `u.text[:pos]` (about `est` tokens) to `cur`; queue the rest, which starts
        with a break of strength `level`."""
        head = u.text[:pos]
        cur.append(_Unit(head, u.level, est, u.src, u.line, False))
        if pos < len(u.text):
            line = None if u.line is None else u.line + head.count("\n")
            tail_tok = max(1, u.ntok - est)
            self._queue.appendleft(_Unit(u.text[pos:], level, tail_tok, u.src, line, False))

    def _breaks(self, text: str, room: int) -> list[tuple[int, int, int]]:
        """Where `text` may be cut so that the part before fits in `room` tokens, as (position,
        strength, estimated tokens before): the latest token boundary, sentence end and space.
        Earlier breaks of the same strength are never better, since ties go to the latest."""
        if room <= 0:
            return []
        tok = self._tok
        width = room * 8 + 16
        while True:
            tokens = tok.encode(text[:width])
            # A few tokens beyond `room` so that the cut is not at the window's ragged end.
            if len(tokens) > room + 8 or width >= len(text):
                break
            width *= 4
        j = min(room, len(tokens))
        head = ""
        while j > 0:
            # A cut between tokens can split a multi-byte character: then the decoded head is
            # not a prefix of the text (it ends in U+FFFD), and the cut moves back.
            head = tok.decode(tokens[:j])
            if text.startswith(head):
                break
            j -= 1
        if j == 0 or not head:
            return []
        limit = len(head)
        out = [(limit, _HARD, j)]
        # Weaker breaks must not leave a whitespace-only rest.
        stop = min(limit, len(text.rstrip()))
        last_sentence = 0
        for sentence in _SENTENCE_END.finditer(text, 0, stop):
            if sentence.end() < stop:
                last_sentence = sentence.end()
        if last_sentence:
            out.append((last_sentence, _SENTENCE, j * last_sentence // limit))
        space = _LAST_SPACE.match(text, 0, stop)
        if space:
            pos = space.start(1)
            while pos > 0 and text[pos - 1].isspace():
                pos -= 1
            if pos:
                out.append((pos, _SPACE, j * pos // limit))
        return out

    # ---- exact fit and overlap

    @staticmethod
    def _exact_sum(prefix_text: str, prefix_tokens: int, units: Sequence[_Unit]) -> int | None:
        """The exact count of the prefix and units without tokenizing them again, when every
        count is exact and every seam additive (`_additive`); None otherwise."""
        total = prefix_tokens
        prev = prefix_text
        for u in units:
            if not u.exact or (prev and not _additive(prev, u.text)):
                return None
            total += u.ntok
            prev = u.text
        return total

    def _fit(
        self,
        prefix: tuple[_Run, ...],
        prefix_text: str,
        prefix_tokens: int,
        units: list[_Unit],
    ) -> tuple[tuple[_Run, ...], str, str, int]:
        """Make prefix plus units fit `max_tokens` by exact count: give back units, then drop
        the prefix, then split the one unit left. Returns prefix, its text, body, count.

        The count is the sum of the parts' exact counts where that is provably the same
        (most chunks of code and text), and a fresh count of the joined text otherwise.
        """
        max_tokens = self._settings.max_tokens
        count = self._tok.count
        room = max_tokens
        resplit = False
        while True:
            body = "".join(u.text for u in units)
            n = self._exact_sum(prefix_text, prefix_tokens, units)
            if n is None:
                n = count(prefix_text + body)
            if n <= max_tokens:
                return prefix, prefix_text, body, n
            if len(units) > 1:
                u = units.pop()
                if not u.exact:
                    u = u._replace(ntok=count(u.text), exact=True)
                self._queue.appendleft(u)
            elif prefix_text:
                prefix, prefix_text, prefix_tokens = (), "", 0
            else:
                # One unit alone is over (its count was an estimate): split it; if the head is
                # still over, ask for less room by the excess, so that this ends.
                u = units.pop()._replace(ntok=n, exact=True)
                if resplit:
                    room = max(1, room - (n - max_tokens))
                resplit = True
                floor = self._floor(room)
                best_key = (-1, -1, -1)
                best_pos, best_level, best_est = 1, _HARD, 1
                for pos, level, est in self._breaks(u.text, room):
                    key = (1, level, est) if est >= floor else (0, 0, est)
                    if key > best_key and pos < len(u.text):
                        best_key, best_pos, best_level, best_est = key, pos, level, est
                self._split_into(units, u, best_pos, best_level, best_est)

    def _overlap(
        self, runs: Sequence[_Run], body: str, first: _Unit, known: Mapping[int, int]
    ) -> tuple[tuple[_Run, ...], str, int]:
        """The overlap prefix for the chunk after the one whose new text is `body` (from
        `runs`): the runs, the text and its exact token count. `known` has the exact counts
        of some suffixes of `body`, by start offset (see `_suffix_counts`)."""
        settings = self._settings
        limit = settings.max_overlap
        if first.ntok < settings.max_tokens:
            # Leave room for the next unit to stay whole.
            limit = min(limit, settings.max_tokens - first.ntok)
        if limit <= 0:
            return (), "", 0
        count = self._tok.count
        lo = max(0, len(body) - limit * _OVERLAP_CHARS_PER_TOKEN - 32)
        stop = len(body.rstrip())
        for i, pattern in enumerate(_OVERLAP_STARTS[runs[-1].src.style]):
            starts = [m.end() for m in pattern.finditer(body, lo, stop)]
            if i == 0 and lo == 0 and stop:
                starts.insert(0, 0)  # the previous chunk's start is a clean boundary too
            # Longest suffix within the limit; counts fall as the start moves right.
            low, high = 0, len(starts)
            found: tuple[int, int] | None = None
            while low < high:
                mid = (low + high) // 2
                n = known.get(starts[mid], -1)
                if n < 0:
                    n = count(body[starts[mid] :])
                if n <= limit:
                    found, high = (starts[mid], n), mid
                else:
                    low = mid + 1
            if found is not None:
                start, n = found
                return _suffix_runs(runs, start), body[start:], n
        return (), "", 0

    @staticmethod
    def _suffix_counts(units: Sequence[_Unit]) -> dict[int, int]:
        """Exact token counts of the suffixes of the units' text that start at a unit, by
        offset, as far back as the counts are exact and the seams additive (`_additive`).
        Code and text overlaps start at line starts, which are unit starts, so most overlap
        candidates need no tokenizing."""
        out: dict[int, int] = {}
        offset = sum(len(u.text) for u in units)
        total = 0
        after: str | None = None
        for u in reversed(units):
            if not u.exact or (after is not None and not _additive(u.text, after)):
                break
            offset -= len(u.text)
            total += u.ntok
            out[offset] = total
            after = u.text
        return out

    # ---- the loop

    def run(self) -> Iterator[tuple[Chunk, tuple[Segment, ...]]]:
        """Chunks with their segments, until the blocks run out."""
        doc_id = self._doc_id
        max_tokens = self._settings.max_tokens
        ordinal = 0
        char_start = 0
        prev_runs: list[_Run] = []
        prev_counts: dict[int, int] = {}
        prev_body = ""
        while self._queue or self._refill():
            prefix: tuple[_Run, ...] = ()
            prefix_text = ""
            ov_tok = 0
            if prev_runs:
                prefix, prefix_text, ov_tok = self._overlap(
                    prev_runs, prev_body, self._queue[0], prev_counts
                )
            units = self._pack(max_tokens - ov_tok)
            prefix, prefix_text, body, n = self._fit(prefix, prefix_text, ov_tok, units)
            body_runs = _body_runs(units)
            segments = _segments([*prefix, *body_runs])
            locator = segments[0].locator
            for seg in segments[1:]:
                locator = locator.merge(seg.locator)
            locator = replace(locator, heading_path=units[0].src.locator.heading_path)
            chunk = Chunk(
                doc_id=doc_id,
                ordinal=ordinal,
                text=prefix_text + body,
                n_tokens=n,
                locator=locator,
                overlap=len(prefix_text),
                char_start=char_start,
            )
            yield chunk, segments
            ordinal += 1
            char_start += len(body)
            prev_runs, prev_body = body_runs, body
            prev_counts = self._suffix_counts(units)
