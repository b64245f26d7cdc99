"""Claim checking: numbers, dates, periods and names in an answer must occur in what it cites
(issue 11: "sixty (60) days" is "60 days"; "90 days" is not)."""

from __future__ import annotations

import pytest

from engine.qa.facts import check_claim, extract_facts

EVIDENCE = (
    "11.1 Term. This Agreement shall continue for a period of one (1) year and renew "
    "automatically unless either party gives sixty (60) days written notice. It is governed "
    "by the laws of the State of New York. Dated 3/29/99. The fee is $7,350.50 per month."
)


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("sixty (60) days' notice", "duration", ("day", 60.0)),
        ("thirty-six months", "duration", ("month", 36.0)),
        ("successive one-year terms", "duration", ("month", 12.0)),
        ("a 12-month warranty", "duration", ("month", 12.0)),
        ("one hundred twenty (120) days", "duration", ("day", 120.0)),
        ("March 29, 1999", "date", (1999, 3, 29)),
        ("the 22nd day of August, 2005", "date", (2005, 8, 22)),
        ("3/29/99", "date", (1999, 3, 29)),
        ("1999-03-29", "date", (1999, 3, 29)),
        ("August 2005", "date", (2005, 8, 0)),
        ("$7,350.50", "number", (7350.5,)),
        ("15%", "number", (15.0,)),
    ],
)
def test_facts_are_normalized(text: str, kind: str, value: tuple[object, ...]) -> None:
    facts = [f for f in extract_facts(text) if f.kind == kind]
    assert facts and facts[0].value == value


@pytest.mark.parametrize(
    "claim",
    [
        "The notice period is 60 days.",
        "Either party may give sixty days' notice.",
        "The term is twelve months.",
        "It is governed by New York law.",
        "The agreement is dated March 29, 1999.",
        "The monthly fee is 7,350.50 dollars.",
        "The agreement renews automatically.",
    ],
)
def test_claims_the_evidence_holds(claim: str) -> None:
    check = check_claim(claim, EVIDENCE)
    assert check.ok, check.reason


@pytest.mark.parametrize(
    ("claim", "missing"),
    [
        ("The notice period is 90 days.", "90 days"),
        ("The term is two years.", "two years"),
        ("It is governed by Delaware law.", "Delaware"),
        ("The agreement is dated March 30, 1999.", "March 30, 1999"),
        ("The annual fee is 100 euros.", "100"),
    ],
)
def test_claims_with_a_fact_the_evidence_lacks(claim: str, missing: str) -> None:
    check = check_claim(claim, EVIDENCE)
    assert not check.ok
    assert any(missing in f.text for f in check.missing), check.missing
    assert missing in check.reason or "not in the cited passage" in check.reason


def test_a_claim_with_no_fact_needs_a_shared_content_word() -> None:
    assert not check_claim("The agreement includes a non-compete.", EVIDENCE).ok
    assert check_claim("Yes.", EVIDENCE).ok  # a bare reference: judged by its evidence


def test_a_date_without_a_day_matches_any_day_of_that_month() -> None:
    assert check_claim("It was signed in March 1999.", EVIDENCE).ok
    assert not check_claim("It was signed in April 1999.", EVIDENCE).ok


def test_facts_the_question_gives_may_stand_in_the_cited_passage() -> None:
    """The span must hold what the answer adds (TypeError); a name the question gives may be
    elsewhere in the passage the span is cut from, but it must be there."""
    code = 'if not _is_iterable(lines): raise TypeError(f"lines:{lines!r} is not iterable.")'
    passage = f"class PathSpec:\n    def from_lines(cls, lines):\n        {code}\n"
    claim = "PathSpec.from_lines raises TypeError."
    question = "What does PathSpec.from_lines raise?"
    assert not check_claim(claim, code).ok
    assert not check_claim(claim, code, given=question).ok  # no passage: the span alone
    assert check_claim(claim, code, given=question, context=passage).ok
    other = "class Other:\n    def load(cls, lines):\n        " + code
    assert not check_claim(claim, code, given=question, context=other).ok
    assert not check_claim("PathSpec.from_lines raises KeyError.", code, given=question,
                           context=passage).ok  # fmt: skip


def test_a_capitalized_word_the_question_writes_in_lower_case_is_no_name() -> None:
    evidence = "def __add__(self, other): return PathSpec(self.patterns + other.patterns)"
    claim = "Adding specs makes a PathSpec of both patterns."
    assert "Adding" in [f.text for f in check_claim(claim, evidence).missing]
    assert check_claim(claim, evidence, given="What does adding two specs make?").ok


def test_dotted_code_names_match_their_parts() -> None:
    assert check_claim("It calls os.path to join them.", "return os.path.join(a, b)").ok
    assert not check_claim("It calls os.walk to list them.", "return os.path.join(a, b)").ok
