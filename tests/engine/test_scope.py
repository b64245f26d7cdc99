"""Which documents a question is about: named by file name, title or party (issue 11), and
the per-document form of a question about each document."""

from __future__ import annotations

import pytest

from engine.qa.intent import Route, classify, per_document_question
from engine.qa.scope import identify, resolve_scope

OPENINGS = {
    "a": (
        "BIOPURECORP_06_30_1999-EX-10.13-AGENCY AGREEMENT.pdf",
        "BIOPURE CORPORATION AGENCY AGREEMENT This Agency Agreement is made as of March 29, "
        "1999, by and between Biopure Corporation, a Delaware corporation, and the Agent.",
    ),
    "b": (
        "ZogenixInc_20190509_EX-10.2_Distributor Agreement.pdf",
        "DISTRIBUTORSHIP AGREEMENT This Distributorship Agreement is entered into by and "
        "between Zogenix, Inc. and Nippon Shinyaku Co., Ltd.",
    ),
    "c": (
        "TomOnlineInc_EX-4.46_Co-Branding Agreement.pdf",
        "CO-BRANDING AGREEMENT THIS CO-BRANDING AGREEMENT is entered into between Skype "
        "Communications S.A. and TOM Online Inc.",
    ),
    "d": (
        "VERICELCORP_SUPPLY AGREEMENT.pdf",
        "SUPPLY AGREEMENT This Supply Agreement is made between Vericel Corporation and "
        "MediWound Ltd.",
    ),
    "e": (
        "UpjohnInc_Manufacturing Agreement_ Supply Agreement.pdf",
        "MANUFACTURING AND SUPPLY AGREEMENT by and between Pfizer Inc. and Upjohn Inc.",
    ),
    "code": ("src/engine/store.py", ""),
}


@pytest.fixture
def identities() -> list:
    return [
        identify(doc_id, name, "code" if doc_id == "code" else "pdf", opening)
        for doc_id, (name, opening) in OPENINGS.items()
    ]


def test_identity_reads_title_and_parties() -> None:
    ident = identify("b", *OPENINGS["b"][:1], "pdf", OPENINGS["b"][1])
    assert ident.title.lower() == "distributorship agreement"
    assert "Zogenix, Inc." in ident.parties


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What is the governing law of the Biopure agreement?", {"a"}),
        ("When does the Zogenix agreement expire?", {"b"}),
        ("Who may terminate the co-branding agreement?", {"c"}),
        ("What does Skype pay under its agreement?", {"c"}),
        ("Does Nippon Shinyaku have exclusivity?", {"b"}),
        ("What does store.py do?", {"code"}),
        ("Compare the Biopure and Zogenix agreements.", {"a", "b"}),
        ("What are the supply obligations?", set()),  # 'supply' names no one document
        ("Which law governs this agreement?", set()),
        ("What services are provided?", set()),
    ],
)
def test_questions_name_their_documents(identities: list, question: str, expected: set) -> None:
    match = resolve_scope(question, identities, doc_freq=lambda word: 1)
    assert set(match.doc_ids) == expected, match.reasons


def test_a_word_common_in_the_corpus_names_nothing(identities: list) -> None:
    # "Vericel" is rare: it names a document; a word every document has does not
    common = resolve_scope("Tell me about Vericel.", identities, doc_freq=lambda w: 1)
    assert set(common.doc_ids) == {"d"}
    lower = resolve_scope("what about the agent", identities, doc_freq=lambda w: 6)
    assert not lower


@pytest.mark.parametrize(
    ("question", "one"),
    [
        (
            "Which agreements have a non-compete clause?",
            "Does this document have a non-compete clause?",
        ),
        ("What is the governing law of each agreement?", "What is the governing law?"),
        (
            "Do any of the contracts include audit rights?",
            "Does this document include audit rights?",
        ),
        ("For each contract, when does it expire?", "When does it expire?"),
        (
            "Compare the termination clauses across the agreements.",
            "What are the termination clauses?",
        ),
    ],
)
def test_per_document_questions(question: str, one: str) -> None:
    assert classify(question) is Route.EACH
    assert per_document_question(question) == one


def test_other_routes_are_kept() -> None:
    assert classify("Summarize each document.") is Route.GLOBAL
    assert classify("Which law governs this agreement?") is Route.SPECIFIC
    assert classify("List every fee mentioned.") is Route.LIST
