"""The values an answer can be: read out of the evidence windows, each with where it
stands, and the values some questions are answered with without the model.

    candidates(AnswerType.DATE, windows, identity=True)   # every date the windows state
    preamble_choices(windows)          # the parties the preamble names
    governing_choice(windows)          # the place the choice-of-law clause names
    counted_end(term, windows)         # the date a term counted from the Effective Date ends

`engine.qa.compose` offers candidates to the model under a grammar, or answers with the one
these rules give.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from engine.qa.answer_types import AnswerType, candidate_spans
from engine.qa.evidence import Evidence
from engine.qa.facts import add_period
from engine.qa.governing_law import governing_law_spans
from engine.qa.parties import preamble_parties, shown
from engine.qa.periods import Role, fits, gives_own_date
from engine.qa.term_end import anniversary_spans, counted_from, period_of, start_date
from ingest.types import Chunk

__all__ = [
    "Choice",
    "candidates",
    "counted_end",
    "given_as_effective",
    "governing_choice",
    "of_role",
    "own_dated",
    "preamble_choices",
    "sentence_of",
    "sentence_text",
    "stamped_by",
]


@dataclass(frozen=True, slots=True)
class Choice:
    """A value the model may answer with: its text, and where it stands."""

    text: str
    window: Evidence
    start: int  # offsets in window.item.text
    end: int


def sentence_of(window: Evidence, start: int, end: int) -> tuple[int, int]:
    """The offsets (in `window.item.text`) of the window's sentence that holds start..end."""
    return next(((a, b) for a, b in window.sentences if a <= start and end <= b), (start, end))


def own_dated(choice: Choice) -> bool:
    """Whether the words before a date make it the agreement's own (`periods.gives_own_date`)."""
    a, _ = sentence_of(choice.window, choice.start, choice.end)
    return gives_own_date(choice.window.item.text[a : choice.start])


_EFFECTIVE_BEFORE = re.compile(r"\beffective\b", re.IGNORECASE)
_EFFECTIVE_AFTER = re.compile(r"^[\s,]*\(?\s*(?:the\s+|this\s+)?[\"“']?effective\s+date", re.I)


def given_as_effective(choice: Choice) -> bool:
    """Whether a date is given as the Effective Date: "effective as of May 6, 2019",
    "Effective Date: 11/4/10", "May 6, 2019 (the "Effective Date")"."""
    text = choice.window.item.text
    before = text[max(0, choice.start - 60) : choice.start]
    return bool(
        _EFFECTIVE_BEFORE.search(before)
        or _EFFECTIVE_AFTER.match(text[choice.end : choice.end + 40])
    )


def governing_choice(windows: Sequence[Evidence]) -> Choice | None:
    """The place named by the choice-of-law clause that stands first in the document of the
    best window, among the windows."""
    if not windows:
        return None
    found: list[tuple[int, int, Choice]] = []
    for window in windows:
        if window.doc_id != windows[0].doc_id:
            continue
        for a, b in governing_law_spans(window.text):
            start, end = window.start + a, window.start + b
            text = " ".join(window.item.text[start:end].split())
            _, ordinal = Chunk.split_id(window.item.chunk_id)
            found.append((ordinal, start, Choice(text, window, start, end)))
    return min(found, key=lambda f: (f[0], f[1]))[2] if found else None


def preamble_choices(windows: Sequence[Evidence]) -> list[Choice]:
    """The parties of the first preamble among the windows' passages (one that gives every
    party a defined name first: a cover page lists names without them), as choices."""
    found: list[list[Choice]] = []
    seen: set[str] = set()
    for window in windows:
        if window.item.chunk_id in seen:
            continue
        seen.add(window.item.chunk_id)
        text = window.item.text
        parties = preamble_parties(text)
        if parties:
            found.append([Choice(shown(text, p), window, p.start, p.end) for p in parties])
            if all(p.alias for p in parties):
                return found[-1]
    return found[0] if found else []


def sentence_text(choice: Choice) -> str:
    """The sentence a choice stands in."""
    a, b = sentence_of(choice.window, choice.start, choice.end)
    return choice.window.item.text[a:b]


def counted_end(term: Choice, evidence: Sequence[Evidence]) -> tuple[date, Choice, str] | None:
    """The date a term ends on when it is a period counted from the agreement's own date
    ("until the fifth (5th) anniversary of the Effective Date", "for three (3) years from the
    date hereof"), with the choice that gives the start date; None otherwise."""
    period = period_of(term.text)
    if period is None:
        return None
    a, _ = sentence_of(term.window, term.start, term.end)
    # with the sentence before it in the window: "This Agreement is effective on the
    # Effective Date. Unless earlier terminated, it continues for an initial term of …"
    a = max(term.window.start, max((s for s, e in term.window.sentences if e <= a), default=a))
    anchor = counted_from(term.window.item.text[a:], term.start - a, term.end - a)
    if anchor is None:
        return None
    stamped = stamped_by(evidence)
    # counted from "the Effective Date": a date the document gives as that, not a date it is
    # merely dated ("Dated 05/05/98" where the Effective Date is an approval)
    effective = "effective" in anchor.lower()
    for choice in candidates(AnswerType.DATE, evidence, identity=True):
        if not own_dated(choice) or stamped(choice):
            continue
        begun = start_date(choice.text)
        if begun is None or (effective and not given_as_effective(choice)):
            continue
        end = add_period(begun, period)
        said = "the Effective Date is" if effective else "the agreement is dated"
        return (end, choice, said) if end is not None else None
    return None


def of_role(choice: Choice, role: Role, needs: frozenset[Role]) -> bool:
    """Whether a value is of `role` in its sentence (`periods.fits`)."""
    a, b = sentence_of(choice.window, choice.start, choice.end)
    sentence = choice.window.item.text[a:b]
    return fits(sentence, choice.start - a, choice.end - a, role, needs)


def stamped_by(windows: Sequence[Evidence]) -> Callable[[Choice], bool]:
    """Whether a date is page furniture: it recurs, with the same words before it, in more
    than one of the windows' passages. A filed agreement carries "Source: ACME INC., 10-K,
    2/27/2020" under every page, often run into the text around it; its date is not the
    agreement's."""
    texts = {w.item.chunk_id: " ".join(w.item.text.split()) for w in windows}

    def stamped(choice: Choice) -> bool:
        text = choice.window.item.text
        lead = " ".join(text[max(0, choice.start - 40) : choice.end].split())
        lead = lead[-(len(choice.text) + 25) :]
        return sum(lead in t for t in texts.values()) > 1

    return stamped


def candidates(
    kind: AnswerType,
    windows: Sequence[Evidence],
    *,
    identity: bool,
    limit: int = 10,
    keep: Callable[[Choice], bool] | None = None,
) -> list[Choice]:
    """The values of `kind` the windows state, in order, each once (at most `limit`, those
    `keep` accepts). When a term ends is said either way: "until September 1, 2045" or "for
    five years", so a date or a period question is offered both."""
    # When a term ends is said either way: "until September 1, 2045" or "for five years".
    kinds = [kind]
    if kind in (AnswerType.DATE, AnswerType.DURATION) and not identity:
        kinds = (
            [AnswerType.DURATION, AnswerType.DATE]
            if kind is AnswerType.DURATION
            else [AnswerType.DATE, AnswerType.DURATION]
        )
    out: list[Choice] = []
    seen: set[str] = set()
    for window in windows:
        text = window.item.text
        found = {s for k in kinds for s in candidate_spans(k, window.text)}
        if len(kinds) > 1:  # a term also ends "on the fifth (5th) anniversary of the …"
            found.update(anniversary_spans(window.text))
        spans = sorted(found)
        for a, b in spans:
            start, end = window.start + a, window.start + b
            value = " ".join(text[start:end].split())
            if not value or value.lower() in seen or len(value) > 120:
                continue
            choice = Choice(value, window, start, end)
            if keep is not None and not keep(choice):
                continue
            seen.add(value.lower())
            out.append(choice)
            if len(out) >= limit:
                return out
    return out
