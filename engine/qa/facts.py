"""Claim checking: the numbers, dates, durations and names an answer sentence states must occur
in the evidence it cites.

    check = check_claim("Either party may end it on sixty (60) days' notice [e2].", evidence)
    check.ok        # every fact of the claim is in the evidence
    check.missing   # the facts that are not, as written in the claim ("sixty (60) days")

Facts are compared normalized, so the same fact written two ways matches:
- numbers: digits with separators ("7,350"), decimals, percentages, ordinals ("22nd") and
  English number words ("sixty", "thirty-six", "one hundred twenty"); "sixty (60)" is one 60;
- dates: "March 29, 1999", "29 March 1999", "the 22nd day of August, 2005", "3/29/99",
  "1999-03-29", "August 2005" (a date without a day matches any day of that month);
- durations: a number and a unit ("60 days", "three (3) years", "12 months" = "one year");
- names: capitalized words that are not common English or generic legal words ("New York",
  "Biopure"), compared case-insensitively as whole words.

A claim also has to share at least one content word with its evidence, unless it states facts
that all occur there: "Yes [e1]." alone is a bare reference and is judged by its evidence
having been chosen for the question.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Literal

__all__ = [
    "ClaimCheck",
    "Fact",
    "add_period",
    "check_claim",
    "content_stems",
    "extract_facts",
    "normalize_text",
]

FactKind = Literal["number", "date", "duration", "name"]


@dataclass(frozen=True, slots=True)
class Fact:
    """One checkable fact: its kind, how the claim wrote it and its normalized value."""

    kind: FactKind
    text: str
    value: tuple[object, ...]


@dataclass(frozen=True, slots=True)
class ClaimCheck:
    """Whether a claim's facts occur in its evidence (`missing` lists those that do not)."""

    ok: bool
    facts: tuple[Fact, ...]
    missing: tuple[Fact, ...]
    shared_words: int

    @property
    def reason(self) -> str:
        """Why the claim failed, for the user ("'60 days' is not in the cited passage")."""
        if self.ok:
            return ""
        if self.missing:
            shown = ", ".join(f"'{f.text}'" for f in self.missing[:3])
            return f"{shown} {'is' if len(self.missing) == 1 else 'are'} not in the cited passage"
        return "the cited passage does not say this"


_FOLD = str.maketrans(
    {"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "\u00a0": " ", "\u2011": "-"}
)


def normalize_text(text: str) -> str:
    """NFKC, typographic quotes and dashes folded, whitespace runs collapsed to one space."""
    return " ".join(unicodedata.normalize("NFKC", text).translate(_FOLD).split())


# ----------------------------------------------------------------------------- numbers
_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "a": 1, "an": 1,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
_ORDINAL_WORDS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "twentieth": 20, "twenty-fifth": 25, "thirtieth": 30,
}  # fmt: skip
_NUMBER_WORDS = sorted(
    [*(u for u in _UNITS if len(u) > 2), *_TENS, *_SCALES], key=len, reverse=True
)
_WORD = "(?:" + "|".join(_NUMBER_WORDS) + ")"
# a run of number words: "sixty", "thirty-six", "one hundred and twenty"
_WORD_NUMBER = rf"{_WORD}(?:(?:[\s-]+(?:and[\s-]+)?){_WORD})*"
_DIGITS = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
# "sixty (60)", "sixty", "60", "7,350.50", "22nd", "15%"
_NUMBER = re.compile(
    rf"\b(?P<word>{_WORD_NUMBER})(?:\s*\(\s*(?P<paren>{_DIGITS})\s*\))?(?!\w)"
    rf"|(?<![\w.,])(?P<digits>{_DIGITS})(?:st|nd|rd|th)?(?P<pct>\s*%|\s+percent)?(?![\w])",
    re.IGNORECASE,
)


def _words_to_number(text: str) -> int | None:
    total = current = 0
    seen = False
    for word in re.split(r"[\s-]+", text.lower()):
        if not word or word == "and":
            continue
        if word in _UNITS:
            current += _UNITS[word]
        elif word in _TENS:
            current += _TENS[word]
        elif word in _SCALES:
            scale = _SCALES[word]
            if scale == 100:
                current = max(current, 1) * 100
            else:
                total += max(current, 1) * scale
                current = 0
        else:
            return None
        seen = True
    return total + current if seen else None


def _number_value(m: re.Match[str]) -> float | None:
    if m.group("paren"):
        return float(m.group("paren").replace(",", ""))
    if m.group("digits"):
        return float(m.group("digits").replace(",", ""))
    value = _words_to_number(m.group("word"))
    return float(value) if value is not None else None


# ----------------------------------------------------------------------------- dates
_MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
    "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len)[::-1]) + r")\.?"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:1[6-9]|2[0-2])\d\d)"
_DATE_PATTERNS = [
    # March 29, 1999 · Mar. 29 1999 · March 29th, 1999
    re.compile(rf"\b{_MONTH}\s+{_DAY},?\s+{_YEAR}\b", re.IGNORECASE),
    # 29 March 1999 · 22nd day of August, 2005 · 1st of May 2020
    re.compile(rf"\b{_DAY}\s+(?:day\s+of\s+|of\s+)?{_MONTH},?\s+{_YEAR}\b", re.IGNORECASE),
    # 1999-03-29
    re.compile(r"\b(?P<year>(?:19|20)\d\d)-(?P<month>[01]?\d)-(?P<day>[0-3]?\d)\b"),
    # 3/29/99 · 03/29/1999 (US order, as in US contracts)
    re.compile(r"\b(?P<month>[01]?\d)/(?P<day>[0-3]?\d)/(?P<year>(?:19|20)?\d\d)\b"),
    # August 2005 (no day)
    re.compile(rf"\b{_MONTH},?\s+{_YEAR}\b", re.IGNORECASE),
]


def _month(value: str) -> int:
    return int(value) if value.isdigit() else _MONTHS[value.lower().rstrip(".")]


def _year(value: str) -> int:
    y = int(value)
    if y < 100:
        y += 2000 if y < 50 else 1900
    return y


def _dates(text: str) -> list[tuple[int, int, Fact]]:
    """Dates in `text` as (start, end, fact), earlier patterns first, never overlapping."""
    taken: list[tuple[int, int]] = []
    out: list[tuple[int, int, Fact]] = []
    for pattern in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            try:
                month = _month(m.group("month"))
                day = int(m.group("day")) if "day" in m.groupdict() and m.group("day") else 0
                year = _year(m.group("year"))
            except (KeyError, ValueError):
                continue
            if not 1 <= month <= 12 or day > 31:
                continue
            taken.append((m.start(), m.end()))
            out.append((m.start(), m.end(), Fact("date", m.group(), (year, month, day))))
    return sorted(out, key=lambda t: t[0])


# ----------------------------------------------------------------------------- durations
_UNIT = re.compile(
    r"\s*-?\s*(?:\(\s*\d+\s*\)\s*)?(?:calendar\s+|business\s+|consecutive\s+|full\s+)?"
    r"(?P<unit>days?|weeks?|months?|years?|quarters?|hours?)\b",
    re.IGNORECASE,
)
_UNIT_DAYS = {"hour": 1 / 24, "day": 1, "week": 7, "month": 30, "quarter": 91, "year": 365}


# A period said without a number ("renews for annual periods", "on a year-to-year basis",
# "month to month"): one year or one month, so that "renews for annual periods" and "one (1)
# year renewal periods" agree. (Not "monthly fee" or "annual report": an adjective of a fee
# says how often, not how long.) The answer step offers the same phrases as values.
PERIODIC = re.compile(
    r"\b(?:(?P<year>(?:annual|yearly)\s+(?:periods?|terms?|basis|renewals?|increments?)|"
    r"year[- ]to[- ]year(?:\s+basis)?)|(?P<month>monthly\s+(?:periods?|terms?|basis|renewals?|"
    r"increments?)|month[- ]to[- ]month(?:\s+basis)?))\b",
    re.IGNORECASE,
)


def _unit(word: str) -> str:
    return word.lower().rstrip("s")


def _canonical_duration(value: float, unit: str) -> tuple[object, ...]:
    """Months and years compare as months; weeks and days as days."""
    if unit == "year":
        return ("month", value * 12)
    if unit == "quarter":
        return ("month", value * 3)
    if unit == "week":
        return ("day", value * 7)
    return (unit, value)


# "the fifth (5th) anniversary of the Effective Date": a period of five years, counted
ANNIVERSARY = re.compile(
    rf"\b(?P<n>{'|'.join(sorted(_ORDINAL_WORDS, key=len, reverse=True))}|\d{{1,2}}(?:st|nd|rd|th))"
    r"\s*(?:\(\s*\d{1,2}(?:st|nd|rd|th)?\s*\)\s*)?anniversary\b",
    re.IGNORECASE,
)


def anniversary_years(m: re.Match[str]) -> int:
    """The years of an `ANNIVERSARY` match ("fifth", "5th": 5)."""
    word = m.group("n").lower()
    return _ORDINAL_WORDS.get(word) or int(re.sub(r"\D", "", word))


def add_period(start: date, period: tuple[object, ...]) -> date | None:
    """`start` plus a canonical period (("month", 60.0), ("day", 90.0)): the anniversary for
    whole years, the month's last day where the day does not exist (Jan 31 + 1 month: Feb 28);
    None for a fractional or unknown period."""
    unit, amount = period
    if not isinstance(amount, int | float) or amount != int(amount) or amount <= 0:
        return None
    if unit == "day":
        return date.fromordinal(start.toordinal() + int(amount))
    if unit != "month":
        return None
    months = start.month - 1 + int(amount)
    year, month = start.year + months // 12, months % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


# ----------------------------------------------------------------------------- names
# Capitalized words that are not names: sentence starters, function words and the generic
# vocabulary of agreements (which the answer may use without the passage doing so).
_NOT_NAMES = frozenset(
    """a an the this that these those it its he she they we you i his her their our my your
    and or but nor so yet for of in on at to by with from into onto upon over under about as
    is are was were be been being am do does did has have had shall will would should may
    might must can could not no yes none all any each every either neither both some such
    other another than then there here where when which who whom whose what why how
    if unless until while after before during within without between among per via also only
    one two three four five six seven eight nine ten
    agreement agreements contract contracts party parties document documents section
    sections clause clauses article articles exhibit schedule annex appendix term terms
    effective date dates notice period law laws state states governing governed termination
    renewal expiration payment fee fees company licensor licensee supplier customer
    distributor manufacturer buyer seller client provider vendor purchaser producer
    executive employee consultant contractor franchisee franchisor sponsor owner agent
    product products services service territory confidential information intellectual
    property rights right license licenses warranty warranties liability indemnification
    insurance audit exclusivity assignment control change affiliate affiliates
    january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday
    page pages line lines not found according source sources evidence passage however
    therefore thus accordingly note""".split()
)
# A capitalized word, or a code identifier that starts with one ("PathSpec.from_lines",
# "TypeError"): underscores and digits belong to the name.
_CAP_WORD = re.compile(r"\b([A-Z][\w&'.-]*[a-zA-Z0-9]|[A-Z])\b")


def _names(text: str) -> list[Fact]:
    out: list[Fact] = []
    for m in _CAP_WORD.finditer(text):
        word = m.group(1).strip(".'")
        low = word.lower()
        if len(word) < 2 or low in _NOT_NAMES or low.rstrip("s") in _NOT_NAMES:
            continue
        if low.endswith("'s"):
            low = low[:-2]
        out.append(Fact("name", word, (low,)))
    return out


# ----------------------------------------------------------------------------- extraction
def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for a, b in spans:
        for i in range(a, b):
            chars[i] = " "
    return "".join(chars)


def extract_facts(text: str) -> tuple[Fact, ...]:
    """The checkable facts of `text`, in order: dates first claim their words, then durations
    and numbers, then names."""
    text = normalize_text(text)
    facts: list[tuple[int, Fact]] = []
    dates = _dates(text)
    facts += [(a, f) for a, _, f in dates]
    rest = _mask(text, [(a, b) for a, b, _ in dates])
    for m in _NUMBER.finditer(rest):
        value = _number_value(m)
        if value is None:
            continue
        word = m.group("word")
        if word and word.lower() in ("a", "an"):
            continue
        tail = _UNIT.match(rest, m.end())
        if tail is not None:
            unit = _unit(tail.group("unit"))
            facts.append(
                (
                    m.start(),
                    Fact(
                        "duration",
                        rest[m.start() : tail.end()].strip(),
                        _canonical_duration(value, unit),
                    ),
                )
            )
        else:
            facts.append((m.start(), Fact("number", m.group().strip(), (value,))))
    for m in PERIODIC.finditer(rest):
        months = 12.0 if m.group("year") else 1.0
        facts.append((m.start(), Fact("duration", m.group(), ("month", months))))
    for name in _names(_mask(rest, [(m.start(), m.end()) for m in _NUMBER.finditer(rest)])):
        facts.append((text.find(name.text), name))
    facts.sort(key=lambda t: t[0])
    return tuple(f for _, f in facts)


@dataclass(frozen=True, slots=True)
class _EvidenceFacts:
    numbers: frozenset[float]
    dates: tuple[tuple[int, int, int], ...]
    durations: frozenset[tuple[object, ...]]
    words: frozenset[str]
    stems: frozenset[str]


@cache
def _evidence_facts(evidence: str) -> _EvidenceFacts:
    text = normalize_text(evidence)
    numbers: set[float] = set()
    durations: set[tuple[object, ...]] = set()
    dates: list[tuple[int, int, int]] = []
    for fact in extract_facts(text):
        if fact.kind == "date":
            y, mo, d = fact.value
            dates.append((int(y), int(mo), int(d)))  # type: ignore[call-overload]
            numbers.update({float(y), float(d)} if d else {float(y)})  # type: ignore[arg-type]
        elif fact.kind == "duration":
            durations.add(fact.value)
    for m in ANNIVERSARY.finditer(text):
        durations.add(("month", float(12 * anniversary_years(m))))
    # every number, also those inside dates and durations ("the 2nd year")
    for m in _NUMBER.finditer(text):
        value = _number_value(m)
        if value is not None:
            numbers.add(value)
    words = frozenset(w.lower() for w in re.findall(r"[\w&'-]+", text))
    return _EvidenceFacts(
        frozenset(numbers), tuple(dates), frozenset(durations), words, content_stems(text)
    )


def _date_in(value: tuple[object, ...], dates: tuple[tuple[int, int, int], ...]) -> bool:
    y, m, d = (int(v) for v in value)  # type: ignore[call-overload]
    return any(y == ey and m == em and (d == 0 or ed in (0, d)) for ey, em, ed in dates)


def _duration_in(value: tuple[object, ...], ev: _EvidenceFacts) -> bool:
    if value in ev.durations:
        return True
    unit, amount = value
    # "one year" against "twelve (12) months" is found above (both in months); a bare
    # number with no unit in the evidence is not a duration, so the unit is not confirmed.
    return bool(unit == "day" and ("day", amount) in ev.durations)


def _name_in(value: tuple[object, ...], ev: _EvidenceFacts) -> bool:
    word = str(value[0])
    if word in ev.words:
        return True
    # "Biopure's" / "Biopure", "L.L.C." / "LLC"
    if word.replace(".", "") in {w.replace(".", "") for w in ev.words}:
        return True
    # a dotted name in code ("PathSpec.from_lines", "os.path"): each of its parts
    parts = [p for p in word.split(".") if p]
    return len(parts) > 1 and all(p in ev.words for p in parts)


@cache
def _stemmer() -> object:
    import Stemmer

    return Stemmer.Stemmer("english")


_STOP_STEMS = frozenset(
    """the a an and or of to in on for with by at from as is are was be been this that these
    those it its which who what when where how not no shall will may can must any all each
    such other than then there their they them he she his her we our you your i do does did
    has have had would should could also yes only one answer question document documents
    agreement contract party parti section clause state stated say says""".split()
)


def content_stems(text: str) -> frozenset[str]:
    """Snowball stems of `text`'s words of 3+ letters, function words left out."""
    words = [w for w in re.findall(r"[a-z]{3,}", text.lower())]
    stems = _stemmer().stemWords(words)  # type: ignore[attr-defined]
    return frozenset(s for s in stems if s not in _STOP_STEMS)


def _counted(value: tuple[object, ...], ev: _EvidenceFacts) -> bool:
    """Whether a date is one the evidence counts to: a date it writes plus a period it writes
    ("May 6, 2024" from "May 6, 2019" and "the fifth (5th) anniversary of the Effective Date";
    `engine.qa.term_end` answers so)."""
    y, m, d = (int(v) for v in value)  # type: ignore[call-overload]
    if not d:
        return False
    for ey, em, ed in ev.dates:
        if not ed or ey >= y:
            continue
        try:
            start = date(ey, em, ed)
        except ValueError:
            continue
        if any(add_period(start, p) == date(y, m, d) for p in ev.durations):
            return True
    return False


def _fact_in(fact: Fact, ev: _EvidenceFacts) -> bool:
    if fact.kind == "date":
        return _date_in(fact.value, ev.dates) or _counted(fact.value, ev)
    if fact.kind == "duration":
        return _duration_in(fact.value, ev)
    if fact.kind == "number":
        return float(fact.value[0]) in ev.numbers  # type: ignore[arg-type]
    return _name_in(fact.value, ev)


def check_claim(
    claim: str, evidence: str, *, given: str = "", context: str | None = None
) -> ClaimCheck:
    """Whether every fact of `claim` occurs in `evidence` (see the module docstring).

    With `given` (the question): a capitalized word the question writes in lower case is a
    common word, not a name ("Adding two specs…" for "what does adding two specs do?"); and a
    fact the question gives may stand in `context` (the cited passage) instead of `evidence`
    (the cited span): "PathSpec.from_lines raises TypeError", asked about from_lines, is held
    by a span with TypeError in a passage that names from_lines, so the passage it cites still
    holds every name the answer states."""
    facts = extract_facts(claim)
    if given:
        facts = tuple(
            f
            for f in facts
            if not (f.kind == "name" and re.search(rf"\b{re.escape(str(f.value[0]))}\b", given))
        )
        asked = _evidence_facts(given)
        around = _evidence_facts(context) if context is not None else None
        if around is not None:
            facts = tuple(f for f in facts if not (_fact_in(f, asked) and _fact_in(f, around)))
    ev = _evidence_facts(evidence)
    missing: list[Fact] = []
    for fact in facts:
        if not _fact_in(fact, ev):
            missing.append(fact)
    shared = len(content_stems(claim) & ev.stems)
    claim_words = content_stems(claim)
    ok = not missing and (shared > 0 or not claim_words or any(f.kind != "name" for f in facts))
    return ClaimCheck(ok, facts, tuple(missing), shared)
