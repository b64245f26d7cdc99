"""What kind of answer a question expects (a date, a duration, an amount, a place or law, a
party, a title, yes/no), and whether a sentence holds something of that kind.

Classic question answering ranks candidate sentences higher when they contain an entity of
the expected answer type; the evidence ranker does that with `holds(kind, sentence)`. The
patterns are plain English and cover documents in general (contracts, papers, manuals); they
are never tied to a benchmark's question wording.
"""

from __future__ import annotations

import re
from enum import StrEnum

from engine.qa.facts import PERIODIC, extract_facts

__all__ = ["AnswerType", "answer_type", "holds"]


class AnswerType(StrEnum):
    DATE = "date"
    DURATION = "duration"
    AMOUNT = "amount"
    PLACE = "place"  # a governing law, a jurisdiction, a venue, a location
    PARTY = "party"  # who: people and organizations
    TITLE = "title"  # the name of a document
    YESNO = "yesno"
    OTHER = "other"


_Q = [
    (AnswerType.DURATION, r"\bhow long\b|\bhow many (days|weeks|months|years)\b|\bduration\b|"
     r"\bhow much (notice|time|advance notice)\b|"
     r"\b(notice|renewal|initial|warranty|cure|grace|payment) (period|term)s?\b|\bperiod\b"),
    # "when" asks for a date where it opens the question or a clause ("When does it end?",
    # "..., and when?"), not as a conjunction ("which backend is used when the input is ...")
    (AnswerType.DATE, r"(^|[,;:]\s*|\b(and|or|but)\s+)when\b|"
     r"\bwhen (do|does|did|is|was|will|would|shall|must|can|are|were|has|have)\b|"
     r"\bwhen\s*\?|\bwhat (day|date|year)\b|\bdates?\b|\bdated\b|\bdeadline\b|"
     r"\bexpir\w*\b|\bend date\b|\bstart date\b"),
    (AnswerType.AMOUNT, r"\bhow much\b|\bamount\b|\bprice\b|\bcosts?\b|\bfees?\b|\bpaid\b|"
     r"\bpay(ment|able)?s?\b|\broyalt\w*\b|\bcompensation\b|\bcap\b|\bdollars?\b|\beuros?\b"),
    (AnswerType.PLACE, r"\bgovern\w*\b|\bwhich law\b|\blaws? of\b|\bjurisdiction\w*\b|"
     r"\bvenue\b|\bwhere\b|\bcourts?\b|\barbitrat\w*\b"),
    (AnswerType.PARTY, r"\bwho\b|\bwhom\b|\bparties\b|\bparty\b|\bsignator\w*\b|"
     r"\bcounterpart\w*\b"),
    (AnswerType.TITLE, r"\b(name|title) of (the|this) (agreement|contract|document|paper|report)\b|"
     r"\bwhat is (the|this) (agreement|contract|document) called\b|\btitled?\b"),
]  # fmt: skip
_QUESTIONS = [(kind, re.compile(p, re.IGNORECASE)) for kind, p in _Q]
_YESNO = re.compile(
    r"^\s*(is|are|was|were|does|do|did|can|could|may|might|will|would|shall|should|has|have|"
    r"had|must)\b",
    re.IGNORECASE,
)


def answer_type(question: str) -> AnswerType:
    """The answer type a question asks for (OTHER when none stands out). A yes/no question
    that asks for a kind of value ("Is there a notice period?") is YESNO."""
    if _YESNO.match(question):
        return AnswerType.YESNO
    for kind, pattern in _QUESTIONS:
        if pattern.search(question):
            return kind
    return AnswerType.OTHER


_AMOUNT = re.compile(
    r"[$€£¥]\s?\d|\b\d[\d,.]*\s?(dollars?|euros?|pounds?|usd|eur|gbp|chf|jpy|percent)\b|"
    r"\b(usd|eur|gbp|us\$)\s?\d|\d\s?%",
    re.IGNORECASE,
)
_PLACE = re.compile(
    r"\blaws? of\b|\bgoverned by\b|\bjurisdiction\b|\bcourts? (of|in|located)\b|\bvenue\b|"
    r"\b(state|commonwealth|province|republic|kingdom) of [A-Z]",
)
_PARTY = re.compile(
    r"\b(by and )?between\b|\b(Inc|Corp|Corporation|LLC|L\.L\.C|Ltd|Limited|GmbH|S\.A|N\.V|"
    r"B\.V|plc|PLC|AG|LLP|LP|Company|Co)\b\.?|\(\s*(the\s+)?[\"“][A-Z][\w ]+[\"”]\s*\)"
)
_TITLE = re.compile(
    r"^[\s\d.]*[A-Z][A-Z0-9 ,&'/-]{3,}(AGREEMENT|CONTRACT|LICENSE|LEASE|PLAN|POLICY|DEED|"
    r"MEMORANDUM|ADDENDUM|AMENDMENT|TERMS|STATEMENT|REPORT)\b",
    re.MULTILINE,
)
_PERPETUAL = re.compile(r"\b(perpetu\w*|indefinite\w*|until terminated)\b", re.IGNORECASE)


def holds(kind: AnswerType, sentence: str) -> bool:
    """Whether `sentence` contains something of answer type `kind` (YESNO/OTHER: never)."""
    if kind in (AnswerType.DATE, AnswerType.DURATION):
        facts = extract_facts(sentence)
        if kind is AnswerType.DATE and any(f.kind == "date" for f in facts):
            return True
        if any(f.kind == "duration" for f in facts):
            return True
        return bool(_PERPETUAL.search(sentence))
    if kind is AnswerType.AMOUNT:
        return bool(_AMOUNT.search(sentence))
    if kind is AnswerType.PLACE:
        return bool(_PLACE.search(sentence))
    if kind is AnswerType.PARTY:
        return bool(_PARTY.search(sentence))
    if kind is AnswerType.TITLE:
        return bool(_TITLE.search(sentence))
    return False


# ----------------------------------------------------------------------------- candidates
_DATE_SPANS = [
    re.compile(
        r"\b(?:January|February|March|April|May|June|July|August|September|October|November|"
        r"December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.?\s+[0-3]?\d(?:st|nd|rd|th)?,?"
        r"\s+(?:1[6-9]|2[0-2])\d\d\b",
        re.IGNORECASE,  # "NOV 02, 2019" on a cover page
    ),
    re.compile(
        r"\b[0-3]?\d(?:st|nd|rd|th)?\s+(?:day\s+of\s+|of\s+)?(?:January|February|March|April|"
        r"May|June|July|August|September|October|November|December)\.?,?\s+(?:1[6-9]|2[0-2])\d\d\b",
        re.IGNORECASE,
    ),
    re.compile(r"\b[01]?\d/[0-3]?\d/(?:19|20)?\d\d\b"),
    re.compile(r"\b(?:19|20)\d\d-[01]\d-[0-3]\d\b"),
]
_NUMBER_WORDS = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|forty-five|fifty|sixty|"
    r"seventy|eighty|ninety|hundred|one hundred|one hundred twenty|one hundred eighty)"
)
_DURATION_SPAN = re.compile(
    rf"\b(?:(?:{_NUMBER_WORDS})(?:[- ](?:{_NUMBER_WORDS}))?(?:\s*\(\s*\d+\s*\))?|\d+|\[\*+\])"
    r"\s*-?\s*(?:\(\s*\d+\s*\)\s*)?(?:calendar\s+|business\s+|consecutive\s+|full\s+)?"
    r"(?:days?|weeks?|months?|years?)\b",
    re.IGNORECASE,
)
_PERPETUAL_SPAN = re.compile(
    r"\b(?:perpetual(?:ly)?|in perpetuity|indefinitely|until terminated(?: [a-z ]{0,40})?)\b",
    re.IGNORECASE,
)
_AMOUNT_SPAN = re.compile(
    r"(?:[$€£¥]|US\$|USD\s?|EUR\s?|GBP\s?)\s?\d[\d,]*(?:\.\d+)?(?:\s?(?:million|billion|thousand))?"
    r"|\b\d[\d,]*(?:\.\d+)?\s?(?:dollars|euros|pounds|percent|%)",
    re.IGNORECASE,
)
_CAP = r"[A-Z][A-Za-z&'-]*"  # a capitalized word, not across a sentence end
_PLACE_SPAN = re.compile(
    rf"\blaws?\s+of\s+(?:the\s+)?((?:(?:State|Commonwealth|Province|Republic|Kingdom|"
    rf"People's Republic)\s+of\s+)?{_CAP}(?:\s+(?:and\s+)?{_CAP}){{0,3}})"
    rf"|\b(?:courts?|tribunals?)\s+(?:of|in|located in)\s+(?:the\s+)?({_CAP}(?:\s+{_CAP}){{0,3}})"
    rf"|\b((?:State|Commonwealth|Province|Republic|Kingdom|People's Republic)\s+of\s+"
    rf"{_CAP}(?:\s+{_CAP}){{0,2}})"
)
_ORG_SUFFIX = (
    r"(?:Inc|Incorporated|Corp|Corporation|LLC|L\.L\.C|Ltd|Limited|GmbH|S\.A|N\.V|B\.V|plc|PLC|"
    r"AG|LLP|LP|L\.P|Company|Co|S\.p\.A|S\.[Rr]\.[Ll]|S\.r\.l|SRL|SARL|S\.A\.S|Pte|Oy|ApS|AB|A/S|"
    r"Pty)\.?"
)
_PARTY_SPAN = re.compile(
    rf"\b((?:[A-Z][A-Za-z0-9&'.-]*,?\s+){{1,5}}{_ORG_SUFFIX})(?![A-Za-z])"
    # a name given a defined alias: Bank of America, N.A. ("Bank of America")
    r"|\b((?:[A-Z][A-Za-z0-9&'.-]*,?(?:\s+(?:of|and|&|de|la|the))?\s+){0,5}[A-Z][A-Za-z0-9&'.-]*)"
    r",?\s*\(\s*(?:the\s+|hereinafter\s+)?[\"“][A-Z][\w .&-]*[\"”]"
)
_NBSP = "\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
_SPACES = str.maketrans(dict.fromkeys(_NBSP, " "))
_NOT_PARTY = re.compile(
    r"\b(agreement|contract|license|plan|schedule|exhibit|section|article|date|term)\b|\.\s",
    re.IGNORECASE,
)
_GENERIC_TITLES = frozenset("agreement contract license lease plan policy amendment".split())
# A word of an upper-case title: no "." ("CORIO INC." is not part of one) and none of the
# words that start the sentence after it ("CO-BRANDING AGREEMENT THIS CO-BRANDING …").
_TITLE_WORD = r"(?!(?:THIS|THE|BY|BETWEEN|IS|MADE|ENTERED|DATED)\b)[A-Z][A-Z0-9&'/-]*"
_TITLE_SPAN = re.compile(
    # an upper-case title ("INTELLECTUAL PROPERTY AGREEMENT"), wherever the line break fell
    rf"\b((?:{_TITLE_WORD},?(?:[ \t]+|[ \t]*\n[ \t]*)){{0,6}}"
    r"(?:AGREEMENT|CONTRACT|LICENSE|LEASE|PLAN|POLICY|DEED|"
    r"MEMORANDUM|ADDENDUM|AMENDMENT|TERMS AND CONDITIONS|STATEMENT OF WORK))\b"
    # or "This Master Services Agreement"
    r"|\b(?:THIS|This)\s+(?:[\"“])?([A-Z][A-Za-z0-9 ,&'/-]{2,80}?(?:AGREEMENT|Agreement|"
    r"CONTRACT|Contract))\b"
)


def candidate_spans(kind: AnswerType, text: str) -> list[tuple[int, int]]:
    """Spans of `text` that could be the answer to a question of answer type `kind` (a date,
    a period, an amount, a law or place, an organization, a document title), in order;
    none for YESNO and OTHER. Used to offer the model verbatim choices."""
    # PDF text spaces words with no-break spaces; one character for one keeps the offsets
    text = text.translate(_SPACES)
    spans: list[tuple[int, int]] = []
    if kind is AnswerType.DATE:
        for pattern in _DATE_SPANS:
            spans += [m.span() for m in pattern.finditer(text)]
    elif kind is AnswerType.DURATION:
        spans += [m.span() for m in _DURATION_SPAN.finditer(text)]
        spans += [m.span() for m in _PERPETUAL_SPAN.finditer(text)]
        spans += [m.span() for m in PERIODIC.finditer(text)]  # "annual periods"
    elif kind is AnswerType.AMOUNT:
        spans += [m.span() for m in _AMOUNT_SPAN.finditer(text)]
    elif kind is AnswerType.PLACE:
        for m in _PLACE_SPAN.finditer(text):
            group = next(g for g in (1, 2, 3) if m.group(g))
            spans.append(m.span(group))
    elif kind is AnswerType.PARTY:
        for m in _PARTY_SPAN.finditer(text):
            group = 1 if m.group(1) else 2
            a, b = m.span(group)
            value = text[a:b]
            if value.split()[0].lower() in ("the", "this", "each", "such", "any"):
                continue
            # "JOINT VENTURE AGREEMENT BETWEEN KIROMIC BIOPHARMA Inc.", "…, a Delaware Company,
            # Houston, AND MOLIPHARMA S.R.L.": the name starts after the last connective, or
            # after a sentence's end ("… in Campobasso. Acme Widgets Inc."; not "U.S. Bank")
            lead = re.match(r".*(?:\b(?:BETWEEN|AMONG|AND|BY)\s+|(?<=[a-z]{3})\.\s+)", value)
            if lead and group == 1:
                a += lead.end()
                if not text[a:b].strip():
                    continue
            elif re.search(r"\b(?:a|an)\s+$", text[max(0, a - 4) : a]):
                continue  # "…, a Delaware Company": what a party is, not its name
            if group == 2 and _NOT_PARTY.search(value):
                continue  # 'the "Agreement"', 'Business Plan. The Company'
            spans.append((a, b))
    elif kind is AnswerType.TITLE:
        for m in _TITLE_SPAN.finditer(text):
            group = 1 if m.group(1) else 2
            a, b = m.span(group)
            # "EXHIBIT 10.17 INTELLECTUAL PROPERTY AGREEMENT": the title starts after the label
            lead = re.match(r"(?:EXHIBIT|Exhibit|SCHEDULE|ANNEX)\s+[\d.A-Z-]+\s+", text[a:b])
            if lead:
                a += lead.end()
            spans.append((a, b))
        # a bare "AGREEMENT" is only a title when nothing longer is offered
        longer = [sp for sp in spans if len(text[sp[0] : sp[1]].split()) > 1]
        if longer:
            spans = [
                sp for sp in spans if text[sp[0] : sp[1]].strip().lower() not in _GENERIC_TITLES
            ]
    spans = sorted(set(spans))
    # drop spans inside a longer one
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans, key=lambda s: (s[0], -(s[1] - s[0]))):
        if out and a >= out[-1][0] and b <= out[-1][1]:
            continue
        out.append((a, b))
    return out
