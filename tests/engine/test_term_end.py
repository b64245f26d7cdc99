"""When a term ends: the clause that states the agreement's own term, an end date counted from
the agreement's own date, open-ended terms, and the claim check of a counted date
(engine.qa.term_end, engine.qa.compose, engine.qa.facts)."""

from __future__ import annotations

from datetime import date

from engine.qa.compose import Mode, conclude, draft_answer
from engine.qa.evidence import Evidence
from engine.qa.facts import add_period, check_claim
from engine.qa.term_end import anniversary_spans, counted_from, period_of, states_term
from engine.types import AnswerState
from tests.support.evidence import passage, windows

# Written for these tests in the way supply and licence agreements put it (not a benchmark's).
OPENING = (
    "MAINTENANCE AGREEMENT. This Maintenance Agreement is entered into as of March 3, 2021 "
    '(the "Effective Date") by and between Orrin Tools Ltd. and Vasquez Fabrication LLC.'
)
ANNIVERSARY_TERM = (
    "9. Term. The term of this Agreement shall commence on the Effective Date and shall "
    "continue until the third (3rd) anniversary of the Effective Date, unless terminated "
    "earlier. Any licence granted hereunder survives for nine (9) months after termination."
)
PERIOD_TERM = (
    "9.1 Term. This Agreement shall commence on the Effective Date and continue in full force "
    "for an initial period of four (4) years. Orrin shall respond to a service call within "
    "seven (7) days."
)
OPEN_TERM = (
    "12.1 This Agreement shall remain in effect from the Effective Date and perpetually "
    "thereafter unless terminated under Section 12.2. Invoices are due within thirty (30) days."
)
EVENT_START = (
    "5. Term. This Agreement shall become effective on the Effective Date and shall continue "
    "for a period of three (3) years."
)
EVENT_OPENING = (
    'Dated 04/01/20. "Effective Date" means the day on which the regulator approves this Agreement.'
)
QUESTION = "On what date will the contract's initial term expire?"


def _windows(*texts: str) -> list[Evidence]:
    items = [
        passage(f"maint:{i}", t, document="maint.pdf", page=i + 1) for i, t in enumerate(texts)
    ]
    return windows(QUESTION, items, budget=400)


def test_a_term_statement_is_the_agreements_own_term() -> None:
    assert states_term(ANNIVERSARY_TERM)
    assert states_term("Unless terminated, this Agreement continues for an initial term of 7 years")
    assert states_term("This Agreement will become effective on signing and continue until ended")
    # a licence, a release plan or a cure period during the term is not a statement of it
    assert not states_term("The licence remains in effect during the term of this Agreement.")
    assert not states_term("Supplier completes two releases a year during the initial Term.")


def test_a_period_counted_from_the_agreements_own_date() -> None:
    a, b = anniversary_spans(ANNIVERSARY_TERM)[0]
    assert ANNIVERSARY_TERM[a:b] == "the third (3rd) anniversary of the Effective Date"
    assert period_of(ANNIVERSARY_TERM[a:b]) == ("month", 36.0)
    assert counted_from(ANNIVERSARY_TERM, a, b) == "the Effective Date"
    other = "The term ends on the second (2nd) anniversary of the Launch Date."
    a, b = anniversary_spans(other)[0]
    assert other[a:b] == "the second (2nd) anniversary of the Launch Date"  # a value ...
    assert counted_from(other, a, b) is None  # ... but not counted from the agreement's date
    assert add_period(date(2021, 3, 3), ("month", 36.0)) == date(2024, 3, 3)
    assert add_period(date(2020, 1, 31), ("month", 1.0)) == date(2020, 2, 29)
    assert add_period(date(2020, 1, 1), ("day", 90.0)) == date(2020, 3, 31)


def test_the_end_date_is_counted_and_both_sources_are_cited() -> None:
    for clause, period in ((ANNIVERSARY_TERM, "third (3rd) anniversary"), (PERIOD_TERM, "four")):
        windows = _windows(clause, OPENING)
        draft = draft_answer(QUESTION, windows)
        assert draft.mode is Mode.VALUE and not draft.messages  # no model call
        result = conclude(draft, "", scope=["maint"])
        assert result.state is AnswerState.FOUND
        assert result.text.startswith("March 3, 2024" if "3rd" in period else "March 3, 2025")
        assert period in result.text and "March 3, 2021" in result.text
        quotes = [c.quote for c in result.citations]
        assert any(period in q for q in quotes) and any("March 3, 2021" in q for q in quotes)
        # the claim check holds the counted date: its start and its period are both cited
        assert check_claim(result.text, "\n".join(quotes)).ok
        # and the cure period or the surviving licence is never the answer
        assert "seven" not in result.text and "nine" not in result.text


def test_a_counted_date_needs_both_its_sources() -> None:
    claim = "The term ends on March 3, 2024."
    assert check_claim(claim, OPENING + " " + ANNIVERSARY_TERM).ok
    assert check_claim(claim, ANNIVERSARY_TERM).missing != ()  # no start date cited
    assert not check_claim("The term ends on March 4, 2024.", OPENING + ANNIVERSARY_TERM).ok


def test_an_open_ended_term_is_said_so() -> None:
    result = conclude(draft_answer(QUESTION, _windows(OPEN_TERM, OPENING)), "", scope=["maint"])
    assert result.state is AnswerState.FOUND
    assert result.text.startswith("The term is open-ended: it runs perpetually")
    assert "thirty" not in result.text


def test_no_date_is_counted_from_an_effective_date_that_is_an_event() -> None:
    # "Effective Date" is the regulator's approval: the document's own "Dated" line is not it
    result = conclude(draft_answer(QUESTION, _windows(EVENT_START, EVENT_OPENING)), "")
    assert result.text.startswith("three (3) years"), result.text
