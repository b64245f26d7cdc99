"""Which law governs an agreement: the place its choice-of-law clause names.

"This Agreement shall be governed by and construed in accordance with the laws of the State
of New York" names the law; "the courts of Delaware", "a corporation organized under the
laws of Michigan" and a notice address do not. The answer step asks the model to choose
only when no clause reads so:

    governing_law_spans(text)   # offsets of "State of New York" in such a clause
    asks_governing_law("Which state's law governs the interpretation of the contract?")

An agreement with exhibits can carry a second clause for an attached form (a customer
licence governed by another state's law); the agreement's own clause comes first in it, so
the answer step takes the clause that stands first in the document.
"""

from __future__ import annotations

import re

__all__ = ["asks_governing_law", "governing_law_spans"]

_GAP = r"(?:[ \t]+|[ \t]*\n[ \t]*)"  # one space or one line break, not a blank line
_NAME = rf"[A-Z][A-Za-z&'-]*(?:{_GAP}(?:(?:of|and){_GAP})?[A-Z][A-Za-z&'-]*){{0,3}}"
_GOVERNED = re.compile(
    r"(?i:\b(?:governed|construed|interpreted|enforced|regulated|determined)\b)"
    r"(?:(?!\.\s)[^;]){0,140}?"
    r"(?i:\blaws?\s+(?:in\s+force\s+in\s+|of\s+(?:the\s+)?))"
    rf"(?P<place>(?:(?i:state|commonwealth|province|republic|kingdom|people's\s+republic)\s+of\s+)?"
    rf"{_NAME})",
)
_ASKS = re.compile(
    r"\bgovern\w*\b[^?.]*\blaws?\b|\blaws?\b[^?.]*\bgovern\w*\b|\bchoice\s+of\s+law\b|"
    r"\bwhich\s+(?:state|country|jurisdiction)(?:'s|s')?\s+laws?\b|\bapplicable\s+law\b",
    re.IGNORECASE,
)


def asks_governing_law(question: str) -> bool:
    """Whether a question asks which law governs the agreement."""
    return bool(_ASKS.search(question))


def governing_law_spans(text: str) -> list[tuple[int, int]]:
    """Offsets of the places `text`'s choice-of-law clauses name ("State of California")."""
    out = []
    for m in _GOVERNED.finditer(text):
        start, end = m.span("place")
        place = text[start:end]
        # "the laws of the State of New York without reference to …": the name ends before a
        # lower-case word; a trailing "USA" or comma is not part of it
        out.append((start, start + len(place.rstrip(" ,.;"))))
    return out
