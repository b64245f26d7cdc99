"""Evidence-first answering's pieces: sentences with exact offsets, answer types and their
candidate values, sentence ranking, evidence windows, and binding an answer to its spans."""

from __future__ import annotations

from engine.qa.answer_types import AnswerType, answer_type, candidate_spans
from engine.qa.binding import bind_answer, split_answer
from engine.qa.evidence import rank_sentences, select_evidence
from engine.qa.sentences import split_sentences
from engine.types import AnswerState, ContextItem
from ingest.types import Locator

CONTRACT = (
    "MASTER SERVICES AGREEMENT\n\nThis Master Services Agreement is made as of March 29, 1999, "
    "by and between Acme Widgets Inc., a Delaware corporation, and Globex Corp. (the "
    '"Customer").\n\n1.1 Services. Acme shall provide the services described in Exhibit A. '
    "Mr. J. Smith will coordinate them.\n\n9.9 GOVERNING LAW. This Agreement shall be governed "
    "by the laws of the Commonwealth of Massachusetts, without regard to conflicts of law.\n\n"
    "10.2 Termination. Either party may terminate this Agreement on sixty (60) days' written "
    "notice. The Customer pays a fee of $7,350 per month, invoiced on the first day of each "
    "month."
)


def _item(
    text: str = CONTRACT, n: int = 0, doc: str = "docA", name: str = "msa.pdf"
) -> ContextItem:
    return ContextItem(
        key="",
        chunk_id=f"{doc}:{n}",
        document=name,
        locator=Locator(doc_id=doc, page=1),
        text=text,
        n_tokens=len(text.split()),
        doc_id=doc,
    )


def _count(text: str) -> int:
    return len(text.split())


def test_sentences_keep_exact_offsets_and_skip_abbreviations() -> None:
    spans = split_sentences(CONTRACT)
    texts = [CONTRACT[a:b] for a, b in spans]
    assert all(CONTRACT[a:b] == CONTRACT[a:b].strip() for a, b in spans)
    assert not any(t.endswith(("Mr.", "J.")) for t in texts)  # no cut after "Mr." or "J."
    assert any("Acme Widgets Inc., a Delaware corporation" in t for t in texts)  # nor at "Inc."
    # a bare heading stays with the sentence after it
    assert any(t.startswith("9.9 GOVERNING LAW. This Agreement shall be governed") for t in texts)


def test_code_is_cut_into_line_groups() -> None:
    code = "import os\n\n\ndef alpha(x):\n    return x + 1\n\nclass Beta:\n    pass\n"
    groups = [code[a:b] for a, b in split_sentences(code, code=True)]
    assert groups == ["import os", "def alpha(x):\n    return x + 1", "class Beta:\n    pass"]


def test_answer_types() -> None:
    assert answer_type("Which law governs this agreement?") is AnswerType.PLACE
    assert answer_type("When was it signed?") is AnswerType.DATE
    assert answer_type("How long is the notice period?") is AnswerType.DURATION
    assert answer_type("How much is the monthly fee?") is AnswerType.AMOUNT
    assert answer_type("Who are the parties?") is AnswerType.PARTY
    assert answer_type("What is the title of this agreement?") is AnswerType.TITLE
    assert answer_type("Is there a non-compete clause?") is AnswerType.YESNO
    assert answer_type("How does the caching layer work?") is AnswerType.OTHER
    # "when" as a conjunction asks for no date
    assert answer_type("Which backend is used when the input is bytes?") is AnswerType.OTHER
    assert answer_type("What is the term, and when does it start?") is AnswerType.DATE
    assert answer_type("The lease ends when?") is AnswerType.DATE


def test_candidate_values_are_read_verbatim() -> None:
    def values(kind: AnswerType) -> list[str]:
        return [CONTRACT[a:b] for a, b in candidate_spans(kind, CONTRACT)]

    assert values(AnswerType.DATE) == ["March 29, 1999"]
    assert values(AnswerType.DURATION) == ["sixty (60) days"]
    assert values(AnswerType.AMOUNT) == ["$7,350"]
    assert values(AnswerType.PLACE) == ["Commonwealth of Massachusetts"]
    assert values(AnswerType.PARTY)[:2] == ["Acme Widgets Inc.", "Globex Corp."]
    assert {v.lower() for v in values(AnswerType.TITLE)} == {"master services agreement"}


def test_ranking_finds_the_sentence_that_answers() -> None:
    filler = _item("The parties shall meet monthly to discuss progress of the services.", 1)
    ranked = rank_sentences("Which law governs this agreement?", [filler, _item()])
    assert "laws of the Commonwealth of Massachusetts" in ranked[0].text
    ranked = rank_sentences("How much notice is needed to terminate?", [_item()])
    assert "sixty (60) days" in ranked[0].text


def test_identity_questions_read_the_opening() -> None:
    later = _item("Notices are effective on receipt, and at the latest on June 1, 2001.", 7)
    ranked = rank_sentences("What is the date of this agreement?", [later, _item()])
    assert "March 29, 1999" in ranked[0].text


def test_windows_fit_the_budget_and_are_keyed_best_first() -> None:
    ranked = rank_sentences("Which law governs this agreement?", [_item()])
    windows = select_evidence(ranked, budget=60, count=_count, first_key=3)
    assert windows and windows[0].key == "e3"
    assert sum(_count(w.text) for w in windows) <= 60
    assert "Commonwealth of Massachusetts" in windows[0].text
    assert all(CONTRACT[w.start : w.end] == w.text for w in windows)


def test_binding_cites_the_span_that_holds_each_sentence() -> None:
    ranked = rank_sentences("What are the termination and payment terms?", [_item()])
    windows = select_evidence(ranked, budget=200, count=_count)
    key = windows[0].key
    answer = (
        f"Either party may terminate on sixty (60) days' notice [{key}]. "
        f"The fee is $9,999 per month [{key}]."
    )
    bound = bind_answer(answer, windows, question="termination and payment")
    assert [s.text for s in bound.sentences] == [
        "Either party may terminate on sixty (60) days' notice."
    ]
    assert bound.citations[0].quote.startswith("10.2 Termination") or "sixty (60)" in (
        bound.citations[0].quote
    )
    assert bound.citations[0].verified
    assert len(bound.removed) == 1 and "9,999" in bound.removed[0].reason


def test_a_sentence_cited_to_the_wrong_key_is_matched_to_its_source() -> None:
    other = _item("Deliveries are made to the Customer's warehouse in Boston.", 4)
    ranked = rank_sentences("governing law and deliveries", [other, _item()])
    windows = select_evidence(ranked, budget=300, count=_count)
    law = next(w for w in windows if "Massachusetts" in w.text)
    wrong = next(w for w in windows if w is not law)
    bound = bind_answer(
        f"The laws of the Commonwealth of Massachusetts govern it [{wrong.key}].",
        windows,
        question="governing law",
    )
    assert bound.citations and bound.citations[0].key == law.key
    assert bound.citations[0].origin == "matched"


def test_citations_outside_the_scope_are_never_verified() -> None:
    ranked = rank_sentences("Which law governs?", [_item(doc="docB", name="other.pdf")])
    windows = select_evidence(ranked, budget=200, count=_count)
    bound = bind_answer(
        f"The laws of the Commonwealth of Massachusetts govern it [{windows[0].key}].",
        windows,
        question="Which law governs?",
        scope={"docA"},
    )
    assert not bound.supported
    assert bound.removed and "outside" in bound.removed[0].reason


def test_split_answer_reads_keys_in_every_form() -> None:
    parts = split_answer("First [e1]. Second [e2, e3]. Third [3]. No key here.")
    assert parts == [
        ("First.", ("e1",)),
        ("Second.", ("e2", "e3")),
        ("Third.", ("e3",)),
        ("No key here.", ()),
    ]


def test_a_value_reply_in_its_own_words_still_picks_a_candidate() -> None:
    """A server that ignores the grammar answers in a sentence: the candidate it names is the
    answer; a reply naming none is checked like a free answer (an unsupported one goes)."""
    from engine.qa.compose import Mode, conclude, draft_answer

    question = "How much is the monthly fee the Customer pays?"
    windows = select_evidence(rank_sentences(question, [_item()]), budget=200, count=_count)
    draft = draft_answer(question, windows)
    assert draft.mode is Mode.VALUE and draft.grammar
    said = conclude(draft, "The Customer pays $7,350 each month.")
    assert said.state is AnswerState.FOUND
    assert said.text.startswith("$7,350 [")
    assert "$7,350" in said.citations[0].quote
    wrong = conclude(draft, "It pays a fee of $9,100 a month.")
    assert wrong.state is not AnswerState.FOUND and not wrong.citations
    # governing law is read from the choice-of-law clause, without the model
    law = "Which law governs this agreement?"
    windows = select_evidence(rank_sentences(law, [_item()]), budget=200, count=_count)
    ruled = draft_answer(law, windows)
    assert ruled.mode is Mode.VALUE and not ruled.messages
    assert conclude(ruled, "").text.startswith("Commonwealth of Massachusetts [")


CODE = (
    "class PathSpec:\n"
    "\tdef from_lines(cls, pattern_factory, lines):\n"
    "\t\tif not callable(pattern_factory):\n"
    '\t\t\traise TypeError(f"pattern_factory:{pattern_factory!r} is not callable.")\n'
    "\n"
    "\t\tif not _is_iterable(lines):\n"
    '\t\t\traise TypeError(f"lines:{lines!r} is not an iterable.")\n'
    "\t\treturn cls(lines)\n"
)


def _code_item() -> ContextItem:
    return ContextItem(
        key="",
        chunk_id="src:0",
        document="pkg/spec.py",
        locator=Locator(doc_id="src", line_start=300, line_end=307),
        text=CODE,
        n_tokens=len(CODE.split()),
        doc_id="src",
    )


def _code_windows(question: str) -> list:  # type: ignore[type-arg]
    from dataclasses import replace

    ranked = rank_sentences(question, [_code_item()], code=lambda _item: True)
    return [replace(w, code=True) for w in select_evidence(ranked, budget=200, count=_count)]


def test_code_evidence_keeps_its_lines_and_prose_is_one_line() -> None:
    """The model reads code as code (its line breaks and indentation are its meaning, tabs
    expanded and dedented) and a PDF's text as running prose (its line breaks are layout)."""
    from dataclasses import replace

    from engine.qa.instructions import evidence_turn

    question = "What does from_lines raise when lines is not an iterable?"
    windows = _code_windows(question)
    turn = evidence_turn(windows, ["L300-307"] * len(windows), question, answer_type(question))
    assert '\n        if not _is_iterable(lines):\n            raise TypeError(f"lines:' in turn
    prose = replace(windows[0], code=False, span=Locator(doc_id="src", page=4))
    flat = evidence_turn([prose], ["p. 1"], question, answer_type(question))
    assert "[e1] pkg/spec.py p. 4" in flat  # a window's own place, not its passage's
    assert "\n    raise" not in flat


def test_a_code_answer_names_what_the_code_shows_not_what_the_question_asked() -> None:
    """An answer "from_lines raises TypeError", asked about from_lines: the name comes from
    the question, TypeError must come from the cited lines, and the citation is the line
    group that raises it for `lines`."""
    question = "What does PathSpec.from_lines raise when lines is not an iterable?"
    windows = _code_windows(question)
    bound = bind_answer(
        "PathSpec.from_lines raises TypeError when lines is not an iterable.",
        windows,
        question=question,
    )
    assert bound.citations, bound.removed
    assert "_is_iterable(lines)" in bound.citations[0].quote
    wrong = bind_answer("PathSpec.from_lines raises ValueError.", windows, question=question)
    assert not wrong.citations and wrong.removed


def test_sentences_that_restate_the_question_or_add_their_own_words_are_removed() -> None:
    question = "What does from_lines raise when lines is not an iterable?"
    windows = _code_windows(question)
    echo = bind_answer(
        "from_lines raises when lines is not an iterable.", windows, question=question
    )
    assert not echo.citations and "restates the question" in echo.removed[0].reason
    padded = bind_answer(
        "This is useful for ensuring that callers across different operating systems pass "
        "iterables.",
        windows,
        question=question,
    )
    assert not padded.citations


def test_locators_copied_from_evidence_headers_are_not_claims() -> None:
    assert split_answer("pkg/spec.py L300-306") == []
    assert split_answer("It raises TypeError (pkg/spec.py L305) [e1].") == [
        ("It raises TypeError.", ("e1",))
    ]
    assert split_answer("[pkg/spec.py L305] raises TypeError.") == [("raises TypeError.", ())]


def test_a_reply_that_declines_is_an_honest_miss() -> None:
    """The model is not offered a way to decline (the small model took it when the answer was
    there); when it says the evidence does not answer anyway, that is a miss, never a cited
    answer (its words would bind to the passage that shares them)."""
    from engine.qa.compose import Mode, conclude, draft_answer

    question = "What are the termination terms of this agreement?"
    windows = select_evidence(rank_sentences(question, [_item()]), budget=200, count=_count)
    draft = draft_answer(question, windows)
    assert draft.mode is Mode.FREE
    assert "NOT FOUND" not in draft.messages[0].content
    said = conclude(draft, "The evidence does not specify the termination terms.")
    assert said.state is AnswerState.NOT_FOUND and not said.citations
    kept = conclude(
        draft,
        "Either party may terminate on sixty (60) days' written notice. The passages do not "
        "mention any termination fee.",
    )
    assert kept.state is AnswerState.FOUND and len(kept.citations) == 1


def test_a_documents_name_and_date_are_read_from_its_head() -> None:
    """When the document's head holds a title (or its own date), a heading further on
    ("12.4 ENTIRE AGREEMENT") or a later date is not offered to the model."""
    from dataclasses import replace

    from engine.qa.compose import Mode, draft_answer

    later = _item(
        "12.4 ENTIRE AGREEMENT. The name and the date of this agreement are as amended on "
        "June 1, 2001.",
        7,
    )
    for question, right, wrong in [
        ("What is the name of this agreement?", "MASTER SERVICES AGREEMENT", "ENTIRE"),
        ("What is the date of this agreement?", "March 29, 1999", "June 1, 2001"),
    ]:
        windows = select_evidence(
            rank_sentences(question, [later, _item()]), budget=300, count=_count
        )
        # as on a real contract, where the later passage shares words with the question
        windows = [
            replace(w, relevance=1.0) if w.item.chunk_id.endswith(":7") else w for w in windows
        ]
        assert any(w.item.chunk_id.endswith(":7") for w in windows)
        draft = draft_answer(question, windows)
        assert draft.mode is Mode.VALUE
        offered = [c.text for c in draft.choices]
        assert any(right in c for c in offered), offered
        assert not any(wrong in c for c in offered), offered


def test_an_answer_that_picks_an_offered_option_is_not_a_restatement() -> None:
    """A question that lists its options: the answer uses one option's words, and is checked
    against the evidence like any claim (the words must be in the span)."""
    story = _item(
        "Korvin waited in the cell. The guards left the door open on purpose, because they "
        "wanted him gone and could not solve him.",
    )
    question = (
        "Why did the guards let Korvin escape? Options: (A) They were bribed. (B) They "
        "wanted him gone and could not solve him."
    )
    windows = select_evidence(rank_sentences(question, [story]), budget=200, count=_count)
    picked = bind_answer("B) They wanted him gone and could not solve him.", windows,
                         question=question)  # fmt: skip
    assert picked.citations and not picked.removed
    other = bind_answer("A) They were bribed.", windows, question=question)
    assert not other.citations


def test_a_yes_decided_by_negative_evidence_shows_the_sentence() -> None:
    """Decided by the evidence, Yes means the document speaks to the question: a bare Yes
    answers whether something is there at all; a question whether something can be done, or
    a sentence that is negative, gets the sentence itself, not a Yes."""
    from engine.qa.compose import conclude, draft_answer

    code = _item("Trailers. We can't send trailers to an HTTP/1.0 client, so they are dropped.")
    question = "Can trailers be sent to an HTTP/1.0 client?"
    windows = select_evidence(rank_sentences(question, [code]), budget=200, count=_count)
    said = conclude(draft_answer(question, windows), "")
    assert said.state is AnswerState.FOUND
    assert said.text.startswith("The document says: “") and "can't send trailers" in said.text
    assert not said.text.startswith("Yes")
    # the sentence speaks to the question but does not say yes (HTTP/1.1 is not HTTP/1.0)
    plain = _item("Trailers. Trailers are sent to an HTTP/1.1 client after the last chunk.")
    windows = select_evidence(rank_sentences(question, [plain]), budget=200, count=_count)
    said = conclude(draft_answer(question, windows), "")
    assert said.state is AnswerState.FOUND
    assert said.text.startswith("The document says: “Trailers. Trailers are sent to an HTTP/1.1")
    # whether something is there at all: a Yes, cited
    presence = "Is there a provision about sending trailers to a client?"
    windows = select_evidence(rank_sentences(presence, [plain]), budget=200, count=_count)
    assert conclude(draft_answer(presence, windows), "").text.startswith("Yes [")
    # a negative question keeps its plain Yes ("a requirement not to disparage")
    clause = _item("Non-Disparagement. Neither party shall disparage the other party.")
    asked = "Is there a requirement on a party not to disparage the counterparty?"
    windows = select_evidence(rank_sentences(asked, [clause]), budget=200, count=_count)
    assert conclude(draft_answer(asked, windows), "").text.startswith("Yes [")


def test_party_candidates_are_names_not_descriptions_or_headings() -> None:
    text = (
        "JOINT VENTURE AGREEMENT BETWEEN KIROMIC BIOPHARMA Inc., a Delaware Company, Houston, "
        "AND MOLIPHARMA S.R.L. an Italian Company seated in Campobasso. Acme Widgets Inc. "
        "joins as guarantor."
    )
    names = [text[a:b] for a, b in candidate_spans(AnswerType.PARTY, text)]
    assert names == ["KIROMIC BIOPHARMA Inc.", "MOLIPHARMA S.R.L.", "Acme Widgets Inc."]


def test_code_identifiers_are_found_by_their_words() -> None:
    code = ContextItem(
        key="",
        chunk_id="h:0",
        document="h11/_connection.py",
        locator=Locator(doc_id="h", line_start=1, line_end=6),
        text=(
            "import enum\n\n"
            "DEFAULT_MAX_INCOMPLETE_EVENT_SIZE = 16 * 1024\n\n"
            "def _keep_alive(event):\n    return event.headers\n"
        ),
        n_tokens=30,
        doc_id="h",
    )
    question = "What is the default size limit of an incomplete event?"
    ranked = rank_sentences(question, [code], code=lambda _item: True)
    assert ranked[0].text.startswith("DEFAULT_MAX_INCOMPLETE_EVENT_SIZE")
    assert ranked[0].relevance >= 0.5
