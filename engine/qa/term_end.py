"""When an agreement's term ends: the sentence that states the term, and the end date when
the term is counted from the agreement's own date.

Asked "on what date will the initial term expire?", most contracts do not write a date: they
write "the term … will continue until the fifth (5th) anniversary of the Effective Date" or
"for a period of three (3) years from the date hereof", and the Effective Date stands in the
opening ("entered into as of May 6, 2019"). The date a reader wants is the one counted:

    states_term("The term of this Agreement will commence upon the Effective Date and will "
                "continue until the fifth (5th) anniversary of the Effective Date")   # True
    period_of("the fifth (5th) anniversary of the Effective Date")   # ("month", 60)
    counted_from(sentence, start, end)   # "the Effective Date": it runs from the agreement's date
    add_period(date(2019, 5, 6), ("month", 60))  # 2024-05-06 (engine.qa.facts)

The end is the anniversary (May 6, 2024 for five years from May 6, 2019), as contracts and
CUAD's lawyers count it. The claim check accepts such a date only when the answer cites both
the period and the start date (`engine.qa.facts`).
"""

from __future__ import annotations

import re
from datetime import date

from engine.qa.facts import ANNIVERSARY, anniversary_years, extract_facts

__all__ = [
    "anniversary_spans",
    "counted_from",
    "period_of",
    "start_date",
    "states_term",
]

# The agreement's own term, not a licence's, a warranty's or a payment's: "the term of this
# Agreement", "the Initial Term", "This Agreement shall commence … and continue", "shall
# remain in effect", "This Agreement will expire on".
_TERM_STATEMENT = re.compile(
    r"\b(?:(?:the\s+)?(?:initial\s+)?term\s+of\s+(?:this|the)\s+(?:agreement|contract)\s+"
    r"(?:shall|will|is|commences?|begins?|continues?|expires?|ends?|runs?)|"
    r"(?:an?|the)\s+initial\s+(?:term|period)\s+of|"
    r"(?:this|the)\s+(?:agreement|contract)\s+(?:shall|will|is\s+to|is)?\s*"
    r"(?:\w+\s+){0,3}?(?:commences?|continues?|remains?|becomes?\s+effective|be\s+effective|"
    r"expires?|terminates?\s+(?:on|upon)|ends?|runs?|applies|apply|be\s+in\s+(?:full\s+)?"
    r"(?:force|effect))\b|"
    r"\bterm\s*\.\s+(?:this|the)\s+(?:agreement|contract))",
    re.IGNORECASE,
)

# What the term is counted from: the agreement's own date, by any of its names.
_START = (
    r"(?P<start>(?:the\s+)?(?:Effective\s+Date|Execution\s+Date|date\s+(?:hereof|of\s+(?:this|the)\s+"
    r"(?:Agreement|Contract)|(?:first\s+)?(?:written|set\s+forth|stated)\s+above|of\s+execution)))"
)
_ANNIVERSARY = re.compile(rf"\b(?:the\s+)?{ANNIVERSARY.pattern[2:]}\s+of\s+{_START}", re.IGNORECASE)
# any anniversary a term can end on, also of a date the agreement defines elsewhere ("the
# second (2nd) anniversary of the Commencement Date"): a value, if not one to count from
_ANY_ANNIVERSARY = re.compile(
    rf"\b(?:the\s+)?{ANNIVERSARY.pattern[2:]}\s+of\s+(?:the\s+)?"
    r"(?-i:[A-Z][\w-]*(?:\s+[A-Z][\w-]*){0,3})",
    re.IGNORECASE,
)
_COUNTED = re.compile(
    rf"^[\s,]*(?:\w+\s+){{0,4}}?(?:from|after|following|commencing\s+(?:on|with)|beginning\s+"
    rf"(?:on|with)|starting\s+(?:on|with))\s+{_START}",
    re.IGNORECASE,
)
_COMMENCES = re.compile(
    rf"\b(?:commenc\w*|begin\w*|start\w*|effective|in\s+effect)\s+(?:on|as\s+of|upon|from|with)\s+"
    rf"{_START}",
    re.IGNORECASE,
)


def states_term(sentence: str) -> bool:
    """Whether `sentence` states the agreement's own term (how long it runs, when it ends)."""
    return bool(_TERM_STATEMENT.search(" ".join(sentence.split())))


def anniversary_spans(text: str) -> list[tuple[int, int]]:
    """Offsets of the anniversaries `text` names ("the fifth (5th) anniversary of the
    Effective Date"): values a term can end on."""
    return [(m.start(), m.end()) for m in _ANY_ANNIVERSARY.finditer(text)]


def period_of(value: str) -> tuple[str, float] | None:
    """How long `value` runs, as the claim check compares periods (("month", 60) for "five
    (5) years" and for "the fifth anniversary of …"), or None for a date or no period."""
    m = ANNIVERSARY.search(value)
    if m is not None:
        return ("month", float(12 * anniversary_years(m)))
    for fact in extract_facts(value):
        if fact.kind == "duration":
            unit, amount = fact.value
            return (str(unit), float(amount))  # type: ignore[arg-type]
        if fact.kind == "date":
            return None
    return None


def counted_from(sentence: str, start: int, end: int) -> str | None:
    """What the period `sentence[start:end]` runs from, when that is the agreement's own date
    (the words naming it: "the Effective Date", "the date hereof"), else None: "five (5)
    years *from the Effective Date*", "the fifth anniversary *of the Effective Date*" (not of
    a "Commencement Date" defined elsewhere), or a term that "*commences on the Effective
    Date* and continues for three years"."""
    value = sentence[start:end]
    if ANNIVERSARY.search(value):
        m = _ANNIVERSARY.search(value)
        return m.group("start") if m else None
    m = _COUNTED.match(sentence[end:]) or _COMMENCES.search(sentence)
    return m.group("start") if m else None


def start_date(text: str) -> date | None:
    """The first full date `text` writes ("May 6, 2019", "the 23rd day of September, 1997")."""
    for fact in extract_facts(text):
        if fact.kind == "date":
            y, m, d = (int(v) for v in fact.value)  # type: ignore[call-overload]
            if d:
                try:
                    return date(y, m, d)
                except ValueError:
                    return None
    return None
