"""Sentence windows: a chunk cut into runs of whole sentences, each small enough that one
planted fact is not diluted by the rest of the chunk when it is embedded.

    spans = sentence_windows(chunk.text, max_words=48)   # [(start, end), ...] character spans

Why. A chunk is ~400 tokens; one mean vector over all of it barely moves for a single
sentence about something else. Measured on a 128k-token haystack with eight planted
one-sentence facts whose questions share no content word with them: with one vector per
chunk the fact's chunk ranked 0-344th (median ~17th) among 370 chunks; with one vector per
sentence window and a chunk scored by its best window, it ranked first for six of eight
(bench/quality.py, part `paraphrase`). The windows cover the text end to end, so the model
reads every token once, as it does for whole chunks, and attention over short windows is
cheaper.

Sentence ends: `.`, `!`, `?`, `;` or `:` followed by white space, a line break, or a
lower-case letter's full stop directly followed by a capitalized word ("small.It", which
PDF text extraction produces). Windows are whole sentences up to `max_words` words; a longer
sentence is cut into `max_words`-word pieces.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["DEFAULT_WINDOW_WORDS", "sentence_windows", "window_texts"]

DEFAULT_WINDOW_WORDS = 48  # ~64 MiniLM wordpieces of English prose

_BOUNDARY = re.compile(r"(?<=[.!?;:])\s+|(?<=[a-z][.!?])(?=[A-Z][a-z])|\s*\n\s*")
_WORD = re.compile(r"\S+")


def _sentences(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        if m.start() > start:
            spans.append((start, m.start()))
        start = m.end()
    if start < len(text):
        spans.append((start, len(text)))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def sentence_windows(text: str, *, max_words: int = DEFAULT_WINDOW_WORDS) -> list[tuple[int, int]]:
    """Character spans of `text`, in order, each a run of whole sentences of at most
    `max_words` words (a longer sentence is cut at word boundaries). Together they cover every
    word of `text`; an empty or blank text has none."""
    if max_words < 1:
        raise ValueError(f"max_words must be at least 1 (got {max_words})")
    out: list[tuple[int, int]] = []
    cur_start, cur_end, cur_words = -1, -1, 0
    for a, b in _sentences(text):
        words = [m.span() for m in _WORD.finditer(text, a, b)]
        n = len(words)
        if cur_words and cur_words + n > max_words:
            out.append((cur_start, cur_end))
            cur_start, cur_words = -1, 0
        if n > max_words:
            for i in range(0, n, max_words):
                part = words[i : i + max_words]
                out.append((part[0][0], part[-1][1]))
            continue
        if cur_start < 0:
            cur_start = a
        cur_end, cur_words = b, cur_words + n
    if cur_words:
        out.append((cur_start, cur_end))
    return out


def window_texts(
    text: str, heading_path: Sequence[str] = (), *, max_words: int = DEFAULT_WINDOW_WORDS
) -> list[str]:
    """What is embedded for a chunk: its sentence windows, the heading path ("A > B: ")
    prefixed to the first (as `chunk_input` does for a whole chunk). A chunk with no words
    gets one window of its raw text, so every chunk has at least one vector."""
    spans = sentence_windows(text, max_words=max_words)
    pieces = [text[a:b] for a, b in spans] or [text]
    heads = [h.strip() for h in heading_path if h and h.strip()]
    if heads:
        pieces[0] = f"{' > '.join(heads)}: {pieces[0]}"
    return pieces
