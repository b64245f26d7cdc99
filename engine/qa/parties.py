"""Who an agreement is between: the parties its preamble names, each with the name the
agreement calls it by.

An agreement names its parties once, in its opening: "This Agreement is made as of March 29,
1999, by and between Biopure Corporation, a Delaware corporation (the "Company") and the
Agent named on the signature page hereof (the "Agent")." Everywhere else it uses the defined
names ("the Company", "Franchisee"), which are roles, not parties. So the parties are read
from the preamble, not picked among every company name the evidence holds:

    for party in preamble_parties(text):
        text[party.start:party.end], party.alias   # "Biopure Corporation", "Company"

Read as contracts write a preamble: "between A and B", "by and among A, B and C", a list
("between: ● A …; and ● B …"), a letter-spaced "B E T W E E N:" with "- and -". A party's
name runs to its first description (", a Delaware corporation", ", having its principal
place of business", the defined name in brackets); a party named only by a blank or a
description ("a [corporation organized in] …") is given by its defined name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Party", "preamble_parties", "shown"]


@dataclass(frozen=True, slots=True)
class Party:
    """A party as the preamble names it: `text[start:end]` and its defined name, if any."""

    start: int
    end: int
    alias: str | None


_BETWEEN = re.compile(
    r"\b(?:by\s+and\s+)?(?:between|among|amongst|B\s?E\s?T\s?W\s?E\s?E\s?N)\b\s*:?\s*",
    re.IGNORECASE,
)
# Where a preamble ends: the recitals, or a sentence that follows it ("Dova and Valeant are
# each referred to …"); not the full stop of "Inc." or "Ltd.".
_ABBREVIATION = (
    r"(?<!\bInc)(?<!\bLtd)(?<!\bCorp)(?<!\bCo)(?<!\bL\.P)(?<!\bN\.A)(?<!\bS\.A)(?<!\bB\.V)"
)
_PREAMBLE_END = re.compile(
    r"\b(?:WHEREAS|W\s?I\s?T\s?N\s?E\s?S\s?S\s?E\s?T\s?H|RECITALS|BACKGROUND|PREAMBLE|"
    r"NOW,?\s+THEREFORE|IN\s+CONSIDERATION|(?i:table\s+of\s+contents)|(?i:dated)(?:\s+as\s+of)?)\b|"
    r"\b(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December)\s+\d|"
    rf"{_ABBREVIATION}\.\s+(?=(?:[A-Z][\w'&.-]*\s+){{1,4}}(?:and|are|is|shall|may|will|each|"
    r"hereby|agree|together|collectively)\b)|"
    r"\beach\s+(?:a|of\s+them\s+a)\s+[\"“]?Party\b"
)
_SUFFIX = (
    r"(?:Inc|Incorporated|Corp|Corporation|Company|LLC|L\.L\.C|Ltd|Limited|GmbH|S\.A|N\.V|B\.V|plc|PLC|"
    r"AG|LLP|LP|L\.P|Co|S\.p\.A|S\.r\.l|SRL|SARL|Pte|Oy|ApS|AB|A/S|Pty|N\.A)\b\.?"
)
_HAS_SUFFIX = re.compile(rf"\b{_SUFFIX}", re.IGNORECASE)
_ALIAS = re.compile(
    r"\(\s*(?:hereinafter\s+(?:referred\s+to\s+as\s+|called\s+)?)?(?:the\s+)?[\"“”']"
    r"(?P<alias>[^\"“”']{1,40})[\"“”']"
    # a list of names ("we," "us," or "our"): the last one
    r"(?:[,\s]*(?:or\s+)?(?:the\s+)?[\"“”'](?P<last>[^\"“”']{1,40})[\"“”'])*",
    re.IGNORECASE,
)
_NOT_ALIASES = frozenset({"agreement", "party", "parties", "contract"})
_BULLET = re.compile(r"^[\s●•▪◦*:;,\-–]+")
_MAX_PREAMBLE = 1500  # characters after "between"
_MAX_NAME = 90


def _top_level(text: str) -> list[bool]:
    """For each character, whether it stands outside brackets."""
    depth, out = 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        out.append(depth == 0)
        if ch in ")]" and depth:
            depth -= 1
    return out


_AND = re.compile(
    r"\s*[,;]?\s*(?:-\s*and\s*-|\band\b|●|•|;)\s*(?:,?\s*on\s+the\s+other\s+hand\s*,?\s*)?",
    re.IGNORECASE,
)
# "(a) Skype Communications, S.A. …, (b) Skype Technologies …": list markers split parties
_MARKER = re.compile(r"(?:^|(?<=[\s,;]))\((?:[a-h]|i{1,3}|iv|v|vi)\)\s+")
_HAND = re.compile(r"^,?\s*on\s+the\s+one\s+hand\s*,?\s*", re.IGNORECASE)


def _split(text: str) -> list[tuple[int, int]]:
    """The parties' parts of a preamble (offsets in `text`): split at a list marker, a bullet
    or a semicolon, or at an "and" outside brackets that follows a complete party: its
    defined name in brackets where the preamble gives defined names, else a description
    after a comma or a company suffix. Never inside "Johnson and Johnson" or "England and
    Wales"."""
    outside = _top_level(text)
    aliased = bool(_ALIAS.search(text))
    cuts: list[tuple[int, int]] = [(m.start(), m.end()) for m in _MARKER.finditer(text)]
    if aliased:  # "… ("HOFV"), National Football Museum, Inc. …"
        cuts += [(m.start() + 1, m.end()) for m in re.finditer(r"\)\s*,\s+(?=[A-Z])", text)]
    for m in _AND.finditer(text):
        if not outside[m.start()]:
            continue
        cuts.append((m.start(), m.end()))
    parts, begin = [], 0
    for start, end in sorted(cuts):
        if start < begin:
            continue
        so_far = text[begin:start].rstrip(" ,")
        hard = any(c in text[start:end] for c in "●•;") or bool(_MARKER.match(text, start))
        if aliased:
            # after its defined name, or after a description that follows it ("("Bank of
            # America"), a national banking association, and …")
            named = _ALIAS.search(so_far)
            complete = named is not None and (so_far.endswith(")") or "," in so_far[named.end() :])
        else:
            complete = "," in so_far or bool(_HAS_SUFFIX.search(so_far[-14:]))
        if (hard or complete) and so_far.strip(" ●•:;,-"):
            parts.append((begin, start))
            begin = end
        elif hard and not so_far.strip(" ●•:;,-"):
            begin = end
    parts.append((begin, len(text)))
    return parts


def _name(text: str, start: int, end: int) -> tuple[int, int, str | None] | None:
    """The name of the party part `text[start:end]`: (start, end, defined name)."""
    part = text[start:end]
    lead = _BULLET.match(part)
    offset = lead.end() if lead else 0
    alias_m = _ALIAS.search(part)
    alias = None
    if alias_m is not None:
        alias = " ".join((alias_m.group("last") or alias_m.group("alias")).split()).strip(" ,")
        if alias.lower() in _NOT_ALIASES:
            alias = None
    outside = _top_level(part)
    stop = len(part)
    for m in re.finditer(r",\s+|\s+\(|\s{3,}|\s+an?\s+(?=[a-zA-Z])", part[offset:]):
        at = offset + m.start()
        if not outside[at]:
            continue
        after = part[offset + m.end() :]
        if m.group().startswith(",") and re.match(_SUFFIX, after):
            continue  # "Dova Pharmaceuticals, Inc."
        bracket = part[at:].lstrip()
        if m.group().strip() == "(" and re.match(r"\([A-Z]{2,4}\)", bracket):
            continue  # "Dialog Semiconductor (UK) Ltd."
        stop = at
        break
    name = part[offset:stop].rstrip(" ,;:")
    if not name or (name[0].islower() and name.split()[0] in ("a", "an")):
        if alias is None:
            return None
        group = "last" if alias_m.group("last") else "alias"  # type: ignore[union-attr]
        return (start + alias_m.start(group), start + alias_m.end(group), alias)  # type: ignore[union-attr]
    if len(name) > _MAX_NAME:
        return None
    return (start + offset, start + offset + len(name), alias)


def preamble_parties(text: str) -> list[Party]:
    """The parties `text`'s preamble names ("by and between A … and B …"), in its order;
    empty when `text` has no preamble naming two or more."""
    for between in _BETWEEN.finditer(text):
        body_start = between.end()
        body = text[body_start : body_start + _MAX_PREAMBLE]
        end = _PREAMBLE_END.search(body)
        body = body[: end.start()] if end else body
        hand = _HAND.match(body)
        if hand:
            body_start, body = body_start + hand.end(), body[hand.end() :]
        parties = []
        for a, b in _split(body):
            found = _name(body, a, b)
            if found is not None:
                s, e, alias = found
                parties.append(Party(body_start + s, body_start + e, alias))
        parties = [p for p in parties if _plausible(text[p.start : p.end])]
        # a stray split ("FISCAL CODE AND VAT NUMBER", "and consists of this signature page")
        # is no party: past the first two, only names with a defined name or company suffix
        parties = parties[:2] + [
            p for p in parties[2:] if p.alias or _HAS_SUFFIX.search(text[p.start : p.end])
        ]
        if len(parties) >= 2:
            return parties[:6]
    return []


def _plausible(name: str) -> bool:
    """A name starts with a capital or "the" ("the Agent named on the signature page")."""
    words = name.lower().split()
    if len(words) > 1 and words[0] == "the" and words[1].startswith("part"):
        return False  # "the Parties about the clinical trial program"
    first = name.split()[0] if words else ""
    return bool(words) and (
        name[0].isupper() or words[0] == "the" or name[0] == "[" or first != first.lower()
    )  # "eFashion Solutions, LLC"


def shown(text: str, party: Party) -> str:
    """A party as an answer names it: "Biopure Corporation (“Company”)"."""
    name = " ".join(text[party.start : party.end].split())
    if party.alias and party.alias.lower() not in name.lower() and party.alias[0].isupper():
        return f"{name} (“{party.alias}”)"
    return name
