"""Which law governs: the place a choice-of-law clause names, the agreement's own clause
before an exhibit's, never an incorporation or a court (engine.qa.governing_law, compose)."""

from __future__ import annotations

from engine.qa.compose import Mode, conclude, draft_answer
from engine.qa.governing_law import asks_governing_law, governing_law_spans
from engine.types import AnswerState
from tests.support.evidence import passage, windows


def _places(text: str) -> list[str]:
    return [" ".join(text[a:b].split()) for a, b in governing_law_spans(text)]


def test_the_clause_names_the_law_not_an_incorporation_or_an_address() -> None:
    assert _places(
        "This Agreement shall be governed by the laws of the State of New\nYork, USA."
    ) == ["State of New York"]
    assert _places("It is construed exclusively under the laws of the state of Oregon. The") == [
        "state of Oregon"
    ]
    assert _places("This Agreement is governed by the laws of England and Wales.") == [
        "England and Wales"
    ]
    assert _places("Orrin Ltd., a company organized under the laws of Michigan, and") == []
    assert _places("The parties submit to the courts of Delaware.") == []
    assert asks_governing_law(
        "Which state/country's law governs the interpretation of the contract?"
    )
    assert asks_governing_law("What is the governing law?")
    assert not asks_governing_law("Where is the supplier's office?")


def test_the_law_said_the_other_ways_round() -> None:
    assert _places("The laws of the State of Idaho (without its conflict rules) govern it.") == [
        "State of Idaho"
    ]
    assert _places("The law of the Federal Republic of Austria applies to this contract.") == [
        "Federal Republic of Austria"
    ]
    assert _places("This Agreement is governed by Scottish law.") == ["Scottish law"]
    assert _places("It is governed by the laws of the United States and the State of Utah.") == [
        "State of Utah"
    ]
    assert _places(
        "This Agreement is made in the State of Maine and is governed by the laws thereof."
    ) == ["State of Maine"]
    assert _places("It is construed under the laws in force in the Province of Manitoba.") == [
        "Province of Manitoba"
    ]


def test_the_agreements_own_clause_comes_before_an_exhibits() -> None:
    main = "14.3 Choice of Law. This Agreement shall be governed by the laws of the State of Utah."
    exhibit = (
        "EXHIBIT C - CUSTOMER LICENCE. 9.9 Governing Law. This licence shall be governed by and "
        "construed in accordance with the laws of the State of Vermont."
    )
    items = [
        passage(f"lic:{n}", t, document="lic.pdf", page=n)
        for n, t in ((40, exhibit), (12, main))  # the exhibit ranks first
    ]
    question = "Which state's law governs the interpretation of the contract?"
    draft = draft_answer(question, windows(question, items))
    assert draft.mode is Mode.VALUE and not draft.messages
    result = conclude(draft, "", scope=["lic"])
    assert result.state is AnswerState.FOUND and result.text.startswith("State of Utah")
    assert result.citations[0].chunk_id == "lic:12"
