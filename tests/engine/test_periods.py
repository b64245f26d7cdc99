"""Period roles: which value of a term clause is the term, a renewal or a notice, and how a
term question is answered from them (engine.qa.periods, engine.qa.compose)."""

from __future__ import annotations

from engine.qa.compose import Mode, conclude, draft_answer
from engine.qa.evidence import rank_sentences, select_evidence
from engine.qa.periods import Role, asked_role, dates_itself, fits, gives_own_date, role_of
from engine.types import AnswerState, ContextItem
from ingest.types import Locator
from tests.support.evidence import passage, windows

# Written for this test, in the way leases and supply agreements put it (not a benchmark's).
TERM_CLAUSE = (
    "4. Term. This Lease runs for an initial period of three (3) years from the Commencement "
    "Date. Thereafter it renews automatically for successive periods of twelve (12) months, "
    "unless the Tenant gives the Landlord written notice at least ninety (90) days prior to "
    "the end of the then-current period. The Landlord shall repaint within fourteen (14) days "
    "of any request."
)
NO_RENEWAL = (
    "7. Term. This Agreement remains in force for two (2) years from signature. Either party "
    "may terminate this Agreement for convenience on thirty (30) days' written notice. "
    "Invoices are payable within forty-five (45) days."
)


def _role(sentence: str, value: str) -> Role | None:
    at = sentence.index(value)
    return role_of(sentence, at, at + len(value))


def test_the_cue_nearest_a_value_says_what_it_is_of() -> None:
    s = (
        "The Supply Term is five years, and it shall be extended by one additional term of two "
        "years unless either side objects by notice given sixty days before expiry."
    )
    assert _role(s, "five years") is Role.TERM
    assert _role(s, "two years") is Role.RENEWAL  # "additional term of": a renewal
    assert _role(s, "sixty days") is Role.NOTICE  # "notice given", "before"
    assert _role("Payment is due within forty-five (45) days.", "forty-five (45) days") is None
    # an open-ended term is a term whatever notice follows it
    until = "It continues until terminated by either party on thirty days' prior written notice."
    assert _role(until, "until terminated by either party") is Role.TERM
    assert _role("upon sixty (60) days' prior written notice", "sixty (60) days") is Role.NOTICE


def test_the_question_says_which_role_it_asks() -> None:
    assert asked_role("How long is each renewal period?") == (Role.RENEWAL, frozenset())
    assert asked_role("When does the initial term expire?") == (Role.TERM, frozenset())
    assert asked_role("When does the lease end?") == (Role.TERM, frozenset())
    notice = asked_role("How much notice stops the automatic renewal?")
    assert notice == (Role.NOTICE, frozenset({Role.RENEWAL}))
    assert asked_role("What is the notice period for termination?") == (Role.NOTICE, frozenset())
    assert asked_role("What is the monthly fee?") == (None, frozenset())


def test_a_term_value_needs_no_cue_but_must_not_be_another_roles() -> None:
    s = "The Term of this Agreement shall end fifteen months after signature."
    at = s.index("fifteen months")
    assert fits(s, at, at + 14, Role.TERM, frozenset())
    n = "Either party may give notice of at least thirty days."
    at = n.index("thirty days")
    assert not fits(n, at, at + 11, Role.TERM, frozenset())
    # notice of renewal is looked for in a sentence about renewal or expiry
    assert not fits(n, at, at + 11, Role.NOTICE, frozenset({Role.RENEWAL}))
    assert fits(n, at, at + 11, Role.NOTICE, frozenset())


def _windows(question: str, text: str) -> list:
    return windows(question, [passage("lease:3", text, document="lease.pdf", page=2)])


def test_term_questions_get_the_value_of_their_role_without_the_model() -> None:
    asked = {
        "How long is each renewal period of the lease?": "twelve (12) months",
        "How much notice must the Tenant give to stop the renewal?": "ninety (90) days",
        "How long is the initial term of the lease?": "three (3) years",
    }
    for question, value in asked.items():
        draft = draft_answer(question, _windows(question, TERM_CLAUSE))
        assert draft.mode is Mode.VALUE and not draft.messages, question  # no model call
        result = conclude(draft, "", scope=["lease"])
        assert result.state is AnswerState.FOUND, question
        assert result.text.startswith(value), (question, result.text)
        assert value in result.citations[0].quote  # cited to the sentence it stands in


def test_a_document_without_a_renewal_has_no_renewal_term_nor_notice_of_one() -> None:
    for question in (
        "How long is each renewal period of the agreement?",
        "How much notice must be given to stop the automatic renewal?",
    ):
        draft = draft_answer(question, _windows(question, NO_RENEWAL))
        result = conclude(draft, "")
        # the termination notice and the payment period are not what was asked
        assert result.state is AnswerState.NOT_FOUND, (question, result.text)
        assert "thirty" not in result.text and "forty-five" not in result.text


def test_an_agreements_own_date_is_the_one_its_words_give_not_a_filing_stamp() -> None:
    assert gives_own_date("This Agreement is made and entered into as of the ")
    assert gives_own_date("Once signed by both parties the effective date of this amendment is ")
    assert not gives_own_date("Source: ACME HOLDINGS, INC., 10-K, ")
    head = (
        "SUPPLY AGREEMENT Source: ACME HOLDINGS, INC., 10-K, 2/27/2020 Confidential\n\n"
        "This Supply Agreement is made and entered into as of November 2, 2019 by and between "
        "Acme Holdings, Inc. and Globex Corp."
    )
    item = ContextItem(
        key="", chunk_id="supply:0", document="supply.pdf",
        locator=Locator(doc_id="supply", page=1), text=head, n_tokens=40, doc_id="supply",
    )  # fmt: skip
    question = "What is the date of this agreement?"
    windows = select_evidence(
        rank_sentences(question, [item]), budget=300, count=lambda t: len(t.split())
    )
    draft = draft_answer(question, windows)
    assert [c.text for c in draft.choices] == ["November 2, 2019"]


def test_a_period_said_without_a_number_is_a_value_and_a_fact() -> None:
    from engine.qa.answer_types import AnswerType, candidate_spans
    from engine.qa.facts import extract_facts

    text = "It will automatically renew for one or more annual periods (each a Renewal Term)."
    values = [text[a:b] for a, b in candidate_spans(AnswerType.DURATION, text)]
    assert values == ["annual periods"]
    at = text.index("annual periods")
    assert role_of(text, at, at + len("annual periods")) is Role.RENEWAL
    assert ("month", 12.0) in [f.value for f in extract_facts("a year-to-year basis")]
    assert ("month", 1.0) in [f.value for f in extract_facts("on a month to month basis")]
    # how often a fee is paid is not how long anything runs
    assert not [f for f in extract_facts("The annual fee is $5.") if f.kind == "duration"]


def test_a_date_stamped_on_every_page_is_not_the_agreements_date() -> None:
    def page(n: int, body: str) -> ContextItem:
        text = f"{body}\nSource: ACME HOLDINGS, INC., 10-Q, 5/9/2019 Table of Contents"
        return ContextItem(
            key="", chunk_id=f"acme:{n}", document="acme.pdf",
            locator=Locator(doc_id="acme", page=n + 1), text=text, n_tokens=30, doc_id="acme",
        )  # fmt: skip

    cover = page(0, "Acme Holdings Inc. and Globex Corp. Distributorship Agreement")
    opening = page(
        4,
        "This DISTRIBUTORSHIP AGREEMENT is entered into as of March 18, 2019 (the Effective "
        "Date) by and between Acme Holdings, Inc. and Globex Corp.",
    )
    later = page(9, "7.6 Late Payments. Interest accrues from the date due.")
    assert dates_itself(opening.text) and not dates_itself(cover.text)
    for question in ("What is the date of this contract?", "When is this contract effective?"):
        ranked = rank_sentences(question, [cover, later, opening])
        windows = select_evidence(ranked, budget=300, count=lambda t: len(t.split()))
        draft = draft_answer(question, windows, has_terms=False)
        assert [c.text for c in draft.choices] == ["March 18, 2019"], question
    # with only the stamp in view, the document's own date is not found (not the stamp)
    windows = select_evidence(
        rank_sentences("What is the date of this contract?", [cover, later]),
        budget=300, count=lambda t: len(t.split()),
    )  # fmt: skip
    draft = draft_answer("What is the date of this contract?", windows, has_terms=False)
    assert draft.mode is Mode.NONE


def test_a_request_for_the_text_is_answered_with_the_text_itself() -> None:
    from engine.qa.compose import asks_for_text

    assert asks_for_text(
        'Highlight the parts (if any) of this contract related to "Renewal Term" that should '
        "be reviewed by a lawyer. Details: What is the renewal term after the initial term?"
    )
    assert asks_for_text("Quote the governing law clause.")
    assert asks_for_text("What does the termination clause say?")
    assert not asks_for_text("What is the renewal term?")
    question = (
        'Highlight the parts of this lease related to "Renewal Term". Details: How long is '
        "each renewal period?"
    )
    draft = draft_answer(question, _windows(question, TERM_CLAUSE))
    assert draft.mode is Mode.QUOTE and not draft.messages  # no model call
    result = conclude(draft, "", scope=["lease"])
    assert result.state is AnswerState.FOUND
    first = result.text.splitlines()[0]
    assert first.startswith("“Thereafter it renews automatically for successive periods")
    assert result.citations[0].quote in TERM_CLAUSE and result.citations[0].verified


def test_a_quote_leaves_out_a_contents_line() -> None:
    clause = ContextItem(
        key="", chunk_id="g:9", document="g.pdf", locator=Locator(doc_id="g", page=9),
        text="14.1 Governing Law. This Agreement shall be governed by the laws of the State of "
        "New York, without regard to its conflict of laws rules.",
        n_tokens=30, doc_id="g",
    )  # fmt: skip
    contents = ContextItem(
        key="", chunk_id="g:0", document="g.pdf", locator=Locator(doc_id="g", page=1),
        text="CONTENTS\n14.1 Governing Law 53", n_tokens=6, doc_id="g",
    )  # fmt: skip
    question = "Quote the governing law clause."
    windows = select_evidence(
        rank_sentences(question, [clause, contents]), budget=300,
        count=lambda t: len(t.split()),
    )  # fmt: skip
    result = conclude(draft_answer(question, windows), "", scope=["g"])
    assert result.text.startswith("“14.1 Governing Law. This Agreement shall be governed")
    assert len(result.citations) == 1  # not the contents line too
