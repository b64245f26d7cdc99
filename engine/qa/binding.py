"""Evidence-first answering, last step: bind each sentence of the model's answer to the
evidence span it rests on, and check it.

For every sentence of the answer:
1. Its keys ([e1], [e2, e3]) name evidence windows; keys the engine did not mint are dropped.
2. Within each cited window, the smallest run of its sentences that holds the claim is found:
   every number, date, duration and name of the claim occurs there and they share a content
   word (`engine.qa.facts.check_claim`). That run is the citation: its exact text is the
   quote the viewer highlights, its locator the page or lines it sits on.
3. If no cited window holds the claim, the other windows are tried (small models attach the
   wrong key); a match there is cited with `origin="matched"`.
4. A sentence no window holds is *unsupported*: it is taken out of the answer, and a notice
   says what was removed and why. It is never shown as verified.
A citation is verified only when its span holds the claim and its document is within the
question's scope.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from engine.qa.evidence import Evidence
from engine.qa.facts import check_claim, content_stems
from engine.types import Citation
from ingest.types import Locator

__all__ = ["Bound", "BoundSentence", "best_sentence", "bind_answer", "split_answer"]

Locate = Callable[[Evidence, int, int], Locator]

# A sentence of an answer: up to . ! ? (with the key groups after it), a line break, or the end.
_SENTENCE = re.compile(r".+?(?:[.!?](?=\s|$)(?:\s*\[[^\]]*\])*[.!?]?|\n|$)", re.S)
_KEY = re.compile(r"\[\s*((?:[ec]?\d+)(?:\s*[,;]\s*[ec]?\d+)*)\s*\]", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class BoundSentence:
    """One sentence of the answer (keys removed), its citations and whether it holds."""

    text: str
    citations: tuple[Citation, ...]
    supported: bool
    reason: str = ""  # why it is unsupported


@dataclass(frozen=True, slots=True)
class Bound:
    """The checked answer: the supported sentences with their keys, the citations in order of
    first use, and the sentences that were taken out."""

    text: str
    citations: tuple[Citation, ...]
    sentences: tuple[BoundSentence, ...]
    removed: tuple[BoundSentence, ...]

    @property
    def supported(self) -> bool:
        return any(c.verified for c in self.citations)


# A locator the model copied from an evidence header ("pathspec/util.py L595-596", "p. 12"):
# not a claim about the text (its numbers are not in it); the citation says where.
_LOCATOR = re.compile(
    r"(?:[\w./-]+\.\w{1,5}\s+)?\bL\d+(?:\s*-\s*\d+)?\b|\bpp?\.\s?\d+(?:\s*[-–]\s*\d+)?\b"
)


def split_answer(answer: str) -> list[tuple[str, tuple[str, ...]]]:
    """(sentence without keys, its keys lower-cased as 'e1'…) for each sentence of `answer`."""
    out: list[tuple[str, tuple[str, ...]]] = []
    for m in _SENTENCE.finditer(answer):
        raw = m.group()
        if not raw.strip():
            continue
        keys: list[str] = []
        for g in _KEY.finditer(raw):
            for k in re.split(r"[,;]", g.group(1)):
                k = k.strip().lower()
                keys.append(k if k[0] in "ec" else f"e{k}")
        text = _LOCATOR.sub("", _KEY.sub("", raw))
        text = " ".join(re.sub(r"\[\s*\]|\(\s*\)", "", text).split())  # what held a locator
        text = re.sub(r"\s+([.,;:!?])", r"\1", text)
        if text or keys:
            out.append((text, tuple(dict.fromkeys(keys))))
    return out


def _runs(window: Evidence) -> list[tuple[int, int]]:
    """Candidate spans of a window, smallest first: each sentence, then each pair of
    neighbours, then the whole window."""
    sentences = list(window.sentences) or [(window.start, window.end)]
    runs = list(sentences)
    runs += [(a[0], b[1]) for a, b in itertools.pairwise(sentences)]
    if (window.start, window.end) not in runs:
        runs.append((window.start, window.end))
    return runs


def _holding_span(
    claim: str, window: Evidence, novel: frozenset[str] = frozenset(), question: str = ""
) -> tuple[int, int] | None:
    """The span of `window` that holds `claim`: of the spans that hold it, the one sharing
    most of its words, less half a word for each sentence it adds; then the shortest. With
    `novel` (the claim's words the question does not have), the span must hold at least half
    of them: a sentence that echoes the question, or adds words of its own ("useful for
    portability"), is not supported by a span that only has the question's words."""
    best: tuple[float, int, int] | None = None  # (-score, length, start)
    found: tuple[int, int] | None = None
    for start, end in _runs(window):
        text = window.item.text[start:end]
        check = check_claim(claim, text, given=question, context=window.item.text)
        if not check.ok:
            continue
        if novel and 2 * len(novel & content_stems(text)) < len(novel):
            continue
        size = sum(1 for a, b in window.sentences if start <= a and b <= end) or 1
        rank = (-(check.shared_words - 0.5 * (size - 1)), end - start, start)
        if best is None or rank < best:
            best, found = rank, (start, end)
    return found


# An option a question offers: "(A) …", "B) …", "c. …" after a space or at a line's start.
_OPTION = re.compile(r"(?:^|(?<=\s))\(?[A-Ea-e][).]\s", re.M)


def _without_options(question: str) -> str:
    """The question without the options it lists ("… Options: (A) … (B) …"): an answer that
    picks an option uses the option's words, which are not the question restated."""
    marks = list(_OPTION.finditer(question))
    if len(marks) < 2:
        return question
    head = question[: marks[0].start()]
    return re.sub(r"\b(?:options?|choices?)\s*:?\s*$", "", head.rstrip(), flags=re.I)


def _bare(claim: str) -> bool:
    """A reference with nothing to check: "Yes.", "See the clause.", "No."."""
    return not content_stems(claim) and not re.search(r"\d", claim)


def best_sentence(window: Evidence, question: str) -> tuple[int, int]:
    """The window's sentence that shares most words with the question, the first on a tie:
    what a bare reference ("Yes [e1].") or a Yes decided by the evidence is cited to."""
    wanted = content_stems(question)
    spans = list(window.sentences) or [(window.start, window.end)]
    return max(spans, key=lambda s: len(content_stems(window.item.text[s[0] : s[1]]) & wanted))


def bind_answer(
    answer: str,
    evidence: Sequence[Evidence],
    *,
    question: str = "",
    scope: Collection[str] | None = None,
    locate: Locate | None = None,
) -> Bound:
    """Check `answer` against `evidence` (see the module docstring). `scope` is the set of
    document ids the question may cite (None: any)."""
    by_key = {e.key: e for e in evidence}
    kept: list[BoundSentence] = []
    removed: list[BoundSentence] = []
    parts: list[str] = []
    order: list[Citation] = []
    seen: set[tuple[str, str, int, int]] = set()

    def cite(
        window: Evidence, span: tuple[int, int], origin: Literal["model", "matched"]
    ) -> Citation:
        start, end = span
        locator = locate(window, start, end) if locate else window.item.locator
        in_scope = scope is None or window.doc_id in scope
        citation = Citation(
            key=window.key,
            chunk_id=window.item.chunk_id,
            document=window.item.document,
            locator=locator,
            quote=window.item.text[start:end],
            verified=in_scope,
            doc_id=window.doc_id,
            origin=origin,
        )
        ident = (window.key, window.item.chunk_id, start, end)
        if ident not in seen:
            seen.add(ident)
            order.append(citation)
        return citation

    asked = content_stems(_without_options(question))
    for text, keys in split_answer(answer):
        cited = [by_key[k] for k in keys if k in by_key]
        if not text:
            continue
        citations: list[Citation] = []
        novel = content_stems(text) - asked
        if _bare(text):
            for window in cited[:1]:
                citations.append(cite(window, best_sentence(window, question), "model"))
        elif asked and not novel and not re.search(r"\d", text):
            # "The insurance coverage must be maintained by the supplier." for "What insurance
            # must the supplier maintain?": the question's own words, nothing from a passage
            removed.append(BoundSentence(text, (), False, "it only restates the question"))
            continue
        else:
            for window in cited:
                span = _holding_span(text, window, novel, question)
                if span is not None:
                    citations.append(cite(window, span, "model"))
            if not citations:
                for window in evidence:
                    if window in cited:
                        continue
                    span = _holding_span(text, window, novel, question)
                    if span is not None:
                        citations.append(cite(window, span, "matched"))
                        break
        supported = bool(citations) and any(c.verified for c in citations)
        if not supported:
            reason = _why(text, cited, scope, bool(citations))
            removed.append(BoundSentence(text, tuple(citations), False, reason))
            continue
        kept.append(BoundSentence(text, tuple(citations), True))
        keys_shown = ", ".join(dict.fromkeys(c.key for c in citations))
        parts.append(_with_keys(text, keys_shown))
    used = {c for s in kept for c in s.citations}
    in_order = tuple(c for c in order if c in used)
    return Bound(" ".join(parts).strip(), in_order, tuple(kept), tuple(removed))


def _why(
    text: str, cited: Sequence[Evidence], scope: Collection[str] | None, had_citations: bool
) -> str:
    if had_citations:
        return "its source is outside the documents this question is about"
    if not cited:
        return "it cites no evidence, and no evidence passage holds it"
    check = check_claim(text, " ".join(w.text for w in cited))
    return check.reason or "the cited passage does not say this"


def _with_keys(text: str, keys: str) -> str:
    m = re.match(r"(.*?)([.!?]?)$", text, re.S)
    assert m is not None
    body, punct = m.groups()
    return f"{body.rstrip()} [{keys}]{punct or '.'}"
