"""Resolve the citation keys in a generated answer and verify each against its source.

Per sentence of the answer:
1. Only keys the engine minted survive; unknown keys are removed from the text.
2. A cited key is verified when the sentence's quote ("…" before the key) is found in the
   source (whitespace, case and typographic quotes normalized), or, without a quote, when the
   source contains a run of the sentence's words or most of its content words.
3. A sentence with no verified key is matched against every source: if one contains it (same
   test), the sentence is cited to that source instead (`origin="matched"`): small models often
   copy the right text but attach the wrong key or none. Otherwise its citations stay, marked
   unverified, and the answer is flagged.
Every verified citation carries the exact source text it rests on (`quote`), so the viewer can
highlight it, and a locator narrowed to that text's page or lines.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.types import Citation, ContextItem, Origin
from ingest.types import Locator

__all__ = ["KEY_RE", "find_quote", "normalize_with_map", "resolve_citations"]

# [c1] · [c1, c2] · [c1][c2] · [C3] · [1] (small models drop the letter)
KEY_RE = re.compile(r"\[\s*((?:c?\d+)(?:\s*[,;]\s*c?\d+)*)\s*\]", re.IGNORECASE)
_QUOTE_RE = re.compile(r"[\"“”„«»]([^\"“”„«»]{2,400})[\"“”„«»]")
# A sentence ends at . ! ? (keeping key groups that follow it), a blank line, or a line break
# that starts a list item; a quote may wrap onto the next line.
_SENTENCE = re.compile(
    r".+?(?:[.!?](?=\s|$)(?:\s*\[[^\]]*\])*|\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)|$)", re.S
)
_WORD = re.compile(r"\w+", re.UNICODE)
_STOP = frozenset(
    "the a an and or of to in on for with by at from as is are was were be been this that these "
    "those it its which who whom what when where how not no shall will may can must any all each "
    "such other than then there their they them he she his her we our you your i documents "
    "document source sources say says said according also yes".split()
)
_TRANSLATE = str.maketrans(
    {"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "\u00a0": " "}
)
_MIN_RUN = 5  # words in a row shared with the source that count as support by themselves

Locate = Callable[[ContextItem, int, int], Locator]
Leaves = Callable[[ContextItem], Sequence[ContextItem]]


def normalize_with_map(text: str) -> tuple[str, list[int]]:
    """Lower-case, NFKC, typographic quotes/dashes folded, whitespace runs collapsed to one
    space; plus, for each normalized character, its index in `text`."""
    out: list[str] = []
    index: list[int] = []
    prev_space = True
    for i, ch in enumerate(text):
        norm = unicodedata.normalize("NFKC", ch).translate(_TRANSLATE).lower()
        for c in norm:
            if c.isspace():
                if prev_space:
                    continue
                c = " "
                prev_space = True
            else:
                prev_space = False
            out.append(c)
            index.append(i)
    while out and out[-1] == " ":
        out.pop()
        index.pop()
    return "".join(out), index


def _norm(text: str) -> str:
    return normalize_with_map(text)[0].strip(" .,;:")


def find_quote(quote: str, source: str) -> tuple[int, int] | None:
    """Where `quote` occurs in `source`, as (start, end) offsets into `source`, or None. An
    ellipsis in the quote ("a … b") matches its parts in order."""
    hay, index = normalize_with_map(source)
    parts = [p for p in (_norm(x) for x in re.split(r"\.\.\.|…", quote)) if p]
    if not parts or not index:
        return None
    pos = 0
    first = last = None
    for part in parts:
        at = hay.find(part, pos)
        if at < 0:
            return None
        if first is None:
            first = at
        last = at + len(part)
        pos = last
    assert first is not None and last is not None
    return index[first], index[last - 1] + 1


def _content_words(text: str) -> set[str]:
    return {w for w in (x.lower() for x in _WORD.findall(text)) if len(w) > 2 and w not in _STOP}


def _word_spans(text: str) -> list[tuple[str, int, int]]:
    return [(m.group().lower(), m.start(), m.end()) for m in _WORD.finditer(text)]


def _longest_run(claim: str, source: str) -> tuple[int, tuple[int, int] | None]:
    """The longest run of consecutive claim words that appears as consecutive words in the
    source: (length in words, its (start, end) in `source`)."""
    cw = [w for w, _, _ in _word_spans(claim)]
    sw = _word_spans(source)
    if not cw or not sw:
        return 0, None
    positions: dict[str, list[int]] = {}
    for i, (w, _, _) in enumerate(sw):
        positions.setdefault(w, []).append(i)
    best, best_span = 0, None
    prev: dict[int, int] = {}  # source index -> run length ending there (for claim word j-1)
    for w in cw:
        cur: dict[int, int] = {}
        for i in positions.get(w, ()):
            cur[i] = prev.get(i - 1, 0) + 1
            if cur[i] > best:
                best = cur[i]
                best_span = (sw[i - best + 1][1], sw[i][2])
        prev = cur
    return best, best_span


@dataclass(frozen=True, slots=True)
class _Support:
    ok: bool
    span: tuple[int, int] | None  # the source text the claim rests on
    score: float


def _support(claim: str, quote: str, source: str) -> _Support:
    """Does `source` support `claim`? A quote must be found verbatim; otherwise a run of
    ≥ 5 shared words, or most content words shared (at least 3), counts."""
    if quote:
        span = find_quote(quote, source)
        if span is not None:
            return _Support(True, span, 100.0 + len(quote))
        return _Support(False, None, 0.0)
    run, run_span = _longest_run(claim, source)
    words = _content_words(claim)
    shared = words & _content_words(source)
    ratio = len(shared) / len(words) if words else 0.0
    ok = run >= _MIN_RUN or (len(shared) >= 3 and ratio >= 0.7)
    return _Support(ok, run_span if run >= 2 else None, run + 5 * ratio)


@dataclass(frozen=True, slots=True)
class _Group:
    start: int  # offsets of the [..] group within the sentence
    end: int
    keys: tuple[str, ...]  # minted keys only
    quote: str  # the last quote between the previous group and this one


def _groups(sentence: str, minted: set[str]) -> list[_Group]:
    groups = []
    prev_end = 0
    for m in KEY_RE.finditer(sentence):
        raw = [k.strip().lower() for k in re.split(r"[,;]", m.group(1))]
        keys = tuple(dict.fromkeys(k if k.startswith("c") else f"c{k}" for k in raw))
        quotes = _QUOTE_RE.findall(sentence[prev_end : m.start()])
        groups.append(
            _Group(
                m.start(),
                m.end(),
                tuple(k for k in keys if k in minted),
                quotes[-1].strip() if quotes else "",
            )
        )
        prev_end = m.end()
    return groups


def _strip_keys(sentence: str) -> str:
    return KEY_RE.sub("", sentence)


def _cite(
    key: str,
    item: ContextItem,
    support: _Support,
    origin: Origin,
    quote: str,
    locate: Locate | None,
) -> Citation:
    locator = item.locator
    exact = quote
    if support.ok and support.span is not None:
        start, end = support.span
        exact = item.text[start:end]
        if locate is not None:
            locator = locate(item, start, end)
    return Citation(
        key=key,
        chunk_id=item.chunk_id,
        document=item.document,
        locator=locator,
        quote=exact,
        verified=support.ok,
        doc_id=item.doc_id,
        origin=origin,
    )


def _best_source(
    claim: str, quote: str, items: Sequence[ContextItem], leaves: Leaves | None
) -> tuple[ContextItem, ContextItem, _Support] | None:
    """The (context item, leaf it rests on, support) that best supports the claim, or None."""
    best: tuple[ContextItem, ContextItem, _Support] | None = None
    for item in items:
        for cand in _candidates(item, leaves):
            sup = _support(claim, quote, cand.text)
            if sup.ok and (best is None or sup.score > best[2].score):
                best = (item, cand, sup)
    return best


def _candidates(item: ContextItem, leaves: Leaves | None) -> Sequence[ContextItem]:
    """The texts to check a claim against: a chunk itself; for a summary node, first the
    original chunks under it (then the citation points at the exact page or lines), and
    last the summary itself (then it points at the pages or lines the summary covers)."""
    if item.level > 0 and leaves is not None:
        return [*leaves(item), item]
    return [item]


def resolve_citations(
    answer: str,
    items: Sequence[ContextItem],
    *,
    locate: Locate | None = None,
    leaves: Leaves | None = None,
) -> tuple[str, list[Citation]]:
    """The answer with citation keys cleaned up (unknown removed, wrong ones re-attributed,
    missing ones added) and its citations in order of appearance."""
    by_key = {i.key: i for i in items}
    out: list[str] = []
    citations: list[Citation] = []
    seen: set[tuple[str, str, str]] = set()

    def add(c: Citation) -> None:
        ident = (c.key, c.chunk_id, c.quote)
        if ident not in seen:
            seen.add(ident)
            citations.append(c)

    for m in _SENTENCE.finditer(answer):
        sentence = m.group()
        if not sentence:
            continue
        groups = _groups(sentence, set(by_key))
        claim = _strip_keys(sentence)
        verified: list[Citation] = []
        unverified: list[Citation] = []
        for g in groups:
            for key in g.keys:
                item = by_key[key]
                found = None
                for cand in _candidates(item, leaves):
                    sup = _support(claim, g.quote, cand.text)
                    if sup.ok:
                        found = _cite(key, cand, sup, "model", g.quote, locate)
                        break
                if found is None:
                    found = _cite(key, item, _Support(False, None, 0), "model", g.quote, locate)
                (verified if found.verified else unverified).append(found)
        text = _rewrite_keys(sentence, groups)
        if not verified and len(_content_words(claim)) >= 2:
            quotes = [g.quote for g in groups if g.quote] or _QUOTE_RE.findall(claim)
            best = _best_source(claim, quotes[-1] if quotes else "", items, leaves)
            if best is not None:
                item, leaf, sup = best
                verified = [_cite(item.key, leaf, sup, "matched", "", locate)]
                unverified = []
                text = _place_key(_strip_keys(sentence), item.key)
        for c in (*verified, *unverified):
            add(c)
        out.append(text)
    cleaned = re.sub(r"[ \t]+([.,;:])", r"\1", "".join(out))
    return cleaned, citations


def _rewrite_keys(sentence: str, groups: list[_Group]) -> str:
    """Rewrite each key group to its minted keys only (dropping the group when none)."""
    parts = []
    last = 0
    for g in groups:
        parts.append(sentence[last : g.start])
        if g.keys:
            parts.append("[" + ", ".join(g.keys) + "]")
        last = g.end
    parts.append(sentence[last:])
    return "".join(parts)


def _place_key(sentence: str, key: str) -> str:
    """Put `[key]` at the end of the sentence, before its final punctuation and whitespace."""
    m = re.match(r"(.*?)([.!?]?)(\s*)$", sentence, re.S)
    assert m is not None
    body, punct, tail = m.groups()
    return f"{body.rstrip()} [{key}]{punct}{tail}"
