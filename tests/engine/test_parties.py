"""The parties of an agreement: read from its preamble, each with its defined name; a role
("the Company", "Franchisee") is not a party (engine.qa.parties, engine.qa.compose)."""

from __future__ import annotations

from engine.qa.compose import Mode, conclude, draft_answer
from engine.qa.parties import preamble_parties, shown
from engine.types import AnswerState
from tests.support.evidence import passage, windows


def _names(text: str) -> list[str]:
    return [shown(text, p) for p in preamble_parties(text)]


def test_a_preamble_names_its_parties_with_their_defined_names() -> None:
    text = (
        'This Supply Agreement (the "Agreement") is made as of May 2, 2022 by and between '
        'Halvorsen Marine AS, a Norwegian company ("Halvorsen"), and Quill & Barrow, Inc., a '
        'Delaware corporation (the "Distributor"). Halvorsen and the Distributor are each a '
        '"Party".'
    )
    assert _names(text) == ["Halvorsen Marine AS", "Quill & Barrow, Inc. (“Distributor”)"]


def test_roles_descriptions_and_places_are_not_parties() -> None:
    # a party known by its role only; "England and Wales" is not a second party
    text = (
        "This Agency Agreement is made as of March 1, 2020, by and between Northwind Optics "
        'Limited, a company registered in England and Wales (the "Company") and the Agent '
        'named on the signature page hereof (the "Agent").'
    )
    assert _names(text) == [
        "Northwind Optics Limited (“Company”)",
        "the Agent named on the signature page hereof",
    ]
    # a blank party is given by its defined name
    form = (
        "THIS FRANCHISE AGREEMENT is entered into by and between: ● Larkspur Tutoring, LLC, a "
        'Texas limited liability company ("we" or "us"); and ● a [corporation] [partnership] '
        'formed in [state] ("you" or the "Franchisee").'
    )
    assert _names(form) == ["Larkspur Tutoring, LLC", "Franchisee"]


def test_cover_pages_lists_and_letter_spaced_headings() -> None:
    spaced = (
        "THIS AGREEMENT made this 20 day of November, 1995.\n\nB E T W E E N:\n\n"
        '   ORRIN FREIGHT LTD.      ("Orrin")      - and -     BELVEDERE CARTAGE INC.   '
        '("Belvedere")\n\nWHEREAS Orrin provides courier services;'
    )
    assert _names(spaced) == ["ORRIN FREIGHT LTD.", "BELVEDERE CARTAGE INC."]
    listed = (
        'THIS AGREEMENT is entered into by and among (a) Calder Holdings, S.A. ("Calder"), a '
        'company incorporated in Luxembourg, (b) Ferro Labs Limited ("Ferro"), a company '
        'incorporated in Ireland; and (c) Jun Media Inc. ("Jun"). WHEREAS the parties agree.'
    )
    assert _names(listed) == ["Calder Holdings, S.A.", "Ferro Labs Limited", "Jun Media Inc."]
    assert preamble_parties("The parties met between March and May to discuss it.") == []


def test_the_parties_question_is_answered_from_the_preamble_without_the_model() -> None:
    head = (
        "DISTRIBUTION AGREEMENT\n\nThis Distribution Agreement is made as of June 1, 2021 by "
        'and between Halvorsen Marine AS, a Norwegian company ("Halvorsen"), and Quill & '
        'Barrow, Inc., a Delaware corporation (the "Distributor").'
    )
    later = "The Distributor shall buy Products from Halvorsen. The Company shall pay in USD."
    items = [
        passage(f"dist:{i}", t, document="dist.pdf", page=i + 1)
        for i, t in enumerate((head, later))
    ]
    question = "Who are the parties to this agreement?"
    draft = draft_answer(question, windows(question, items))
    assert draft.mode is Mode.VALUE and not draft.messages
    result = conclude(draft, "", scope=["dist"])
    assert result.state is AnswerState.FOUND
    assert result.text.startswith("Halvorsen Marine AS; Quill & Barrow, Inc. (“Distributor”)")
    assert "Company" not in result.text
    assert result.citations[0].chunk_id == "dist:0"
    assert len(result.citations) == 1  # both parties stand in one sentence: cited once
