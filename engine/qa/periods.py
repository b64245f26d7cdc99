"""What a period or date in an agreement is *of*: its term, a renewal of it, or a notice.

A term clause holds several values side by side: "This Agreement shall continue for an
initial period of five (5) years. Thereafter it shall automatically renew for subsequent one
(1) year periods unless either party gives written notice at least thirty (30) days prior to
the expiration of the initial five (5) year term." Asked "what is the renewal term?", every
one of them is a duration in a relevant sentence; only the words beside a value say which one
it is: the cue nearest to it ("renew for subsequent *one (1) year*", "*thirty (30) days*
prior to").

    role, needs = asked_role("What is the notice period required to terminate renewal?")
    # Role.NOTICE, {Role.RENEWAL}: a notice, in a sentence about renewal or expiry
    role_of(sentence, start, end)  # the role of sentence[start:end], or None

The cue words are plain contract English ("initial term", "renew", "extension", "prior
written notice") and never a benchmark's question wording. Measured on CUAD (see
`bench/periods.py`): the clause texts CUAD's lawyers marked in contracts outside the
benchmark's twenty, each with its normalized answer.
"""

from __future__ import annotations

import re
from enum import StrEnum

from engine.qa.answer_types import AnswerType, candidate_spans

__all__ = [
    "OPEN_ENDED",
    "Role",
    "asked_role",
    "dates_itself",
    "fits",
    "gives_own_date",
    "mentions",
    "role_of",
]


class Role(StrEnum):
    TERM = "term"  # how long the agreement runs, or when it ends
    RENEWAL = "renewal"  # how long each renewal or extension runs
    NOTICE = "notice"  # how much notice is to be given


_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*|[;:]")

# A cue before a value: the nearest one, within a few words and the same clause, says what
# the value is of ("an initial period of *five years*", "renew for successive *one year*
# periods", "upon *thirty days'* notice").
_BEFORE: dict[Role, re.Pattern[str]] = {
    Role.NOTICE: re.compile(r"^(?:notices?|notif\w*|advance)$"),
    Role.RENEWAL: re.compile(
        r"^(?:renew\w*|non-?renew\w*|extensions?|successive|subsequent|additional|"
        r"automatic\w*)$"
    ),
    Role.TERM: re.compile(
        r"^(?:initial|terms?|expir\w*|expiry|continues?|remains?|until|through|commenc\w*|"
        r"ends?|ending)$"
    ),
}
# A cue right after a value: "*thirty (30) days* prior to", "*sixty days'* written notice",
# "*one year* renewal periods", "a *five (5) year* term".
_AFTER: dict[Role, re.Pattern[str]] = {
    Role.NOTICE: re.compile(r"^(?:prior|before|notices?|notif\w*|advance|written)$"),
    Role.RENEWAL: re.compile(r"^(?:renewals?|extensions?)$"),
}
# Words a question uses for the term that a clause need not ("when does it *end*?").
_ASKED_TERM = re.compile(r"^(?:ends?|ending|lasts?|duration)$")
# A value that is itself an open-ended term: whatever notice follows it is another value.
OPEN_ENDED = re.compile(r"\s*(?:until|indefinite|perpetu|in perpetuity)", re.IGNORECASE)
_REACH_BEFORE = 10  # words
# An agreement that runs on until someone gives notice renews itself in effect: "shall
# continue thereafter on a month to month basis until terminated upon thirty days' notice".
_EVERGREEN = frozenset({"thereafter", "continue", "continues", "indefinitely"})
_REACH_AFTER = 3


def _words(text: str) -> list[str]:
    return [w.lower().replace("’", "'") for w in _WORD.findall(text)]


def _cue(word: str, table: dict[Role, re.Pattern[str]]) -> Role | None:
    return next((role for role, pattern in table.items() if pattern.match(word)), None)


def role_of(sentence: str, start: int, end: int) -> Role | None:
    """The role of the value `sentence[start:end]`: that of the nearest cue beside it in the
    same clause (None when no cue is near)."""
    if OPEN_ENDED.match(sentence[start:end]):
        return Role.TERM  # "until terminated by either party", "indefinitely", "perpetual"
    before = _words(sentence[:start])[-_REACH_BEFORE:]
    after = _words(sentence[end:])[:_REACH_AFTER]
    found: tuple[int, Role] | None = None
    for distance, word in enumerate(reversed(before)):
        if word in ";:":
            break
        role = _cue(word, _BEFORE)
        if role is Role.TERM and word.startswith("term") and not word.startswith("termin"):
            # "a subsequent term of two years" is a renewal: a term is what its modifier says
            modifiers = before[max(0, len(before) - distance - 3) : len(before) - distance - 1]
            if any(_BEFORE[Role.RENEWAL].match(m) for m in modifiers):
                role = Role.RENEWAL
        if role is not None:
            found = (distance, role)
            break
    for distance, word in enumerate(after):
        if word in ";:" or (found is not None and distance >= found[0]):
            break
        role = _cue(word, _AFTER)
        if role is not None:
            found = (distance, role)
            break
    return found[1] if found else None


def mentions(text: str, role: Role) -> bool:
    """Whether `text` speaks of `role` at all (a renewal, an expiry: "renew", "expiration")."""
    words = _words(text)
    if role is Role.RENEWAL:
        # notice to stop a renewal is given before the term expires: "sixty days prior to the
        # expiration of the Initial Term" is such a notice
        return any(
            _BEFORE[Role.RENEWAL].match(w) or w.startswith("expir") or w in _EVERGREEN
            for w in words
        )
    return any(_BEFORE[role].match(w) for w in words)


def asked_role(question: str) -> tuple[Role | None, frozenset[Role]]:
    """The role a question asks the value of (the first cue of its first sentence: "the
    *renewal* term after the initial term expires" asks a renewal), and the roles the value's
    sentence must also speak of (notice *of renewal*). (None, {}) when it names no role."""
    first = re.split(r"(?<=[?.!])\s+", question.strip(), maxsplit=1)[0]
    roles = []
    for word in _words(first):
        role = _cue(word, _BEFORE) or (Role.TERM if _ASKED_TERM.match(word) else None)
        if role is not None:
            roles.append(role)
    if not roles:
        return None, frozenset()
    asked = roles[0]
    if asked is not Role.NOTICE:
        return asked, frozenset()
    return asked, frozenset(r for r in roles if r is Role.RENEWAL)


def fits(sentence: str, start: int, end: int, role: Role, needs: frozenset[Role]) -> bool:
    """Whether the value `sentence[start:end]` is of `role`, in a sentence that also speaks of
    each of `needs` (see `asked_role`). The term is what a value is of unless a cue says
    otherwise: "shall end fifteen months therefrom", "Termination Date: December 31, 2023"."""
    found = role_of(sentence, start, end)
    if found is not role and not (role is Role.TERM and found is None):
        return False
    return all(mentions(sentence, n) for n in needs)


# The words that give an agreement its own date: "made and entered into as of March 29,
# 1999", "dated June 26, 2015", "effective as of the 19th day of December, 2018".
_OWN_DATE = re.compile(
    r"\b(?:dated|made|entered\s+into|executed|signed|as\s+of|day\s+of|effective|"
    r"(?:effective|agreement)\s+date(?:\s+of\s+this\s+\w+)?\s+(?:is|shall\s+be|will\s+be)|"
    r"date\s*:)[\s,:(“\"]*(?:\s*the)?\s*$",
    re.IGNORECASE,
)


def gives_own_date(before: str) -> bool:
    """Whether the words just before a date (`before`, the sentence up to it) make it the
    agreement's own date, not a filing stamp ("Source: ACME INC., 10-K, 2/27/2020") or a
    date the agreement speaks of."""
    return bool(_OWN_DATE.search(" ".join(before[-80:].split())))


def dates_itself(text: str) -> bool:
    """Whether some date in `text` is given by the words that date an agreement (its
    opening: "This Agreement is entered into as of March 18, 2019")."""
    return any(gives_own_date(text[:a]) for a, _ in candidate_spans(AnswerType.DATE, text))
