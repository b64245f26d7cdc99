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
_NAME = rf"[A-Z][A-Za-z&'.-]*(?<!\.)(?:{_GAP}(?:(?:of|and){_GAP})?[A-Z][A-Za-z&'-]*){{0,3}}"
_POLITY = (
    r"(?i:state|commonwealth|province|republic|kingdom|people's\s+republic|federal\s+republic)"
)
_PLACE = rf"(?P<place>(?:(?i:the\s+)?{_POLITY}\s+of\s+)?{_NAME})"
_LAWS_OF = (
    r"(?i:\b(?:laws?|legislation)(?:\s+and\s+(?:decisions|judicial\s+decisions|regulations))?"
    r"\s+(?:in\s+force\s+in|in|of)\s+(?:the\s+)?)"
)
_VERB = r"(?i:\b(?:governed|construed|interpreted|enforced|regulated|determined|controlled)\b)"
# "governed by and construed in accordance with the laws of the State of New York"
_GOVERNED = re.compile(rf"{_VERB}(?:(?!\.\s)[^;]){{0,140}}?{_LAWS_OF}{_PLACE}")
# "The laws of the State of New York … govern", "the law of Germany applies"
_LAW_GOVERNS = re.compile(
    rf"{_LAWS_OF}{_PLACE}(?:(?!\.\s)[^;]){{0,160}}?(?i:\b(?:govern|governs|shall\s+govern|appl(?:y|ies)|shall\s+apply)\b)"
)
# "governed by English law", "governed by PRC Laws": the law by its adjective
_ADJECTIVE = re.compile(
    rf"{_VERB}(?:(?!\.\s)[^;]){{0,60}}?\b(?:by|under|with)\s+(?:the\s+)?"
    r"(?P<place>(?-i:[A-Z][A-Za-z]+|PRC))\s+(?i:laws?)\b"
)
# "accepted in the State of Nevada and governed by … the laws thereof": the State named before
_THEREOF = re.compile(
    rf"{_VERB}(?:(?!\.\s)[^;]){{0,140}}?(?i:\blaws?\s+(?:thereof|of\s+(?:that|such|said)\s+state))"
)
_EARLIER_STATE = re.compile(rf"(?P<place>{_POLITY}\s+of\s+{_NAME})")
_COUNTRY = re.compile(r"^(?:the\s+)?United\s+States(?:\s+of\s+America)?$", re.IGNORECASE)
_AND_STATE = re.compile(
    rf"\s*(?:and|,)\s+(?:(?:of|with)\s+)?(?:the\s+)?(?P<place>{_POLITY}\s+of\s+{_NAME})"
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
    """Offsets of the places `text`'s choice-of-law clauses name ("State of California"), in
    the order they stand."""
    out: list[tuple[int, int]] = []
    for pattern in (_GOVERNED, _LAW_GOVERNS, _ADJECTIVE):
        for m in pattern.finditer(text):
            start, end = m.span("place")
            # "the laws of the United States and the State of Florida": the state's law
            more = _AND_STATE.match(text, end)
            if _COUNTRY.match(text[start:end]) and more is not None:
                start, end = more.span("place")
            if pattern is _ADJECTIVE:
                end = m.end()  # "English law"
            out.append((start, start + len(text[start:end].rstrip(" ,.;"))))
    for m in _THEREOF.finditer(text):
        before = list(_EARLIER_STATE.finditer(text, max(0, m.start() - 200), m.start()))
        if before:
            start, end = before[-1].span("place")
            out.append((start, end))
    return sorted(set(out))
