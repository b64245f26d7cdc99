"""Evidence-first answering, middle step: from ranked evidence to the model's prompt, and from
the model's reply to a checked answer with a state.

    draft = draft_answer(question, evidence, count=backend.count_tokens)
    if draft.messages:                                    # else: decided without the model
        reply = "".join(backend.stream(draft.messages, draft.params(settings)))
    result = conclude(draft, reply, scope=scope, locate=locate)
    result.state, result.text, result.citations

How an answer is drafted depends on what the question asks for:
- a value (a date, a period, an amount, a law or place, the parties, the title): the
  candidate values are read out of the relevant evidence (`answer_types.candidate_spans`), and
  the model chooses among them (a grammar allows only those strings, or NOT FOUND). The answer
  is then the value as the document writes it, cited to where it stands. A server that
  ignores grammars may reply in its own words: the candidates its reply names are taken, and
  a reply that names none is checked like a free answer;
- yes or no ("Is there a non-compete clause?"): relevant evidence is a Yes, cited to the
  sentence that best matches the question, and none is a No (`MIN_MEANING` says why the
  small model is not asked; with `ask_model_yesno` it says Yes or No under a grammar);
- anything else: the model writes one to three sentences from the evidence, each checked
  against it (`engine.qa.binding`).
When no evidence is relevant enough (its best sentence shares too little with the question),
the answer is "not found" without asking the model, and the closest passages are shown: a
small model asked anyway tends to answer from whatever it was given.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from engine.llm.backends.base import ChatMessage, GenerationParams
from engine.qa.answer_types import AnswerType, answer_type, candidate_spans
from engine.qa.binding import Locate, best_sentence, bind_answer
from engine.qa.choices import (
    Choice,
    candidates,
    counted_end,
    governing_choice,
    of_role,
    own_dated,
    preamble_choices,
    sentence_of,
    sentence_text,
    stamped_by,
)
from engine.qa.evidence import Evidence, asks_identity, asks_term
from engine.qa.governing_law import asks_governing_law
from engine.qa.instructions import (
    CHOOSE_SYSTEM,
    NOT_FOUND_REPLY,
    SYSTEM,
    evidence_header,
    evidence_turn,
)
from engine.qa.periods import OPEN_ENDED, Role, asked_role, dates_itself
from engine.qa.term_end import states_term
from engine.settings import Settings
from engine.types import AnswerState, Citation

__all__ = [
    "Choice",
    "Conclusion",
    "Draft",
    "Mode",
    "conclude",
    "draft_answer",
]

Count = Callable[[str], int]


class Mode(StrEnum):
    VALUE = "value"  # choose among values read out of the evidence
    YESNO = "yesno"
    FREE = "free"  # sentences written from the evidence, each checked
    QUOTE = "quote"  # the passage asked for, quoted as it stands: no model call
    NONE = "none"  # nothing relevant: not found, no model call


@dataclass(frozen=True)
class Draft:
    """What to ask the model (nothing when `mode` is NONE) and how to read its reply."""

    question: str
    kind: AnswerType
    mode: Mode
    evidence: tuple[Evidence, ...]
    messages: list[ChatMessage] = field(default_factory=list)
    grammar: str | None = None
    choices: tuple[Choice, ...] = ()
    max_tokens: int = 160
    spans: tuple[tuple[Evidence, int, int], ...] = ()  # QUOTE: what is quoted (item offsets)
    # VALUE decided by a rule, not by the model: the answer as written, keys included ("May 6,
    # 2024: the term runs … [e1]; the Effective Date is May 6, 2019 [e4]."); it cites the
    # sentence of every choice, all of which must be in scope
    answer: str = ""

    def params(self, settings: Settings) -> GenerationParams:
        return GenerationParams(
            max_tokens=min(self.max_tokens, settings.model.max_answer_tokens),
            temperature=0.0,
            seed=settings.model.seed,
            grammar=self.grammar,
        )


@dataclass(frozen=True)
class Conclusion:
    """The checked answer: its state, text (with keys), citations and removed sentences."""

    state: AnswerState
    text: str
    citations: tuple[Citation, ...]
    removed: tuple[str, ...] = ()  # sentences taken out, each with why
    closest: tuple[Evidence, ...] = ()  # for an honest miss: what came nearest


# Evidence is worth answering from when its best sentence holds at least half of the question's
# words by idf (`Evidence.relevance`), or means the same by the dense embedder
# (`Evidence.meaning`, cosine). Measured on 96 CUAD yes/no cells (6 contracts x 16 clause
# kinds, 40 present): a cosine over 0.5 told present from absent clauses in 74% of cells
# (always "absent": 58%; word share alone at its best threshold: 66%); the embedded model's
# own P(Yes) was no better than chance (0.26-0.45 whatever the truth).
MIN_RELEVANCE = 0.5
MIN_MEANING = 0.5
_VALUE_KINDS = frozenset(
    {
        AnswerType.DATE,
        AnswerType.DURATION,
        AnswerType.AMOUNT,
        AnswerType.PLACE,
        AnswerType.PARTY,
        AnswerType.TITLE,
    }
)
_OPENING_KINDS = frozenset({AnswerType.TITLE, AnswerType.PARTY, AnswerType.DATE})
_HEAD_KINDS = frozenset({AnswerType.TITLE, AnswerType.DATE})


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _relevant(window: Evidence, kind: AnswerType, question_has_terms: bool) -> bool:
    if window.relevance >= MIN_RELEVANCE:
        return True
    if window.meaning is not None and window.meaning >= MIN_MEANING:
        return True
    # A window naming a law or place ("the State of New York") for a question about one needs
    # less else in common with it. (Not so for dates and periods, which most passages of a
    # contract hold: measured on CUAD, relaxing it for them answered absent clauses.)
    if kind is AnswerType.PLACE and candidate_spans(kind, window.text):
        if window.relevance >= MIN_RELEVANCE * 0.6:
            return True
        if window.meaning is not None and window.meaning >= MIN_MEANING - 0.08:
            return True
    # Identity questions ("what is the date of this agreement?") share no words with their
    # answer, which stands in the document's opening lines (after a cover page and contents,
    # the passage that dates the agreement: "This Agreement is entered into as of …").
    return kind in _OPENING_KINDS and (
        window.item.chunk_id.endswith(":0")
        or not question_has_terms
        or (kind is AnswerType.DATE and dates_itself(window.text))
    )


_ASKS_DATE = re.compile(r"\b(?:date|when)\b", re.IGNORECASE)  # see _draft


_OF_DOCUMENT = re.compile(
    r"\b(?:this|the)\s+(?:agreement|contract|document|lease|amendment)\b", re.I
)


def _messages(
    evidence: Sequence[Evidence], question: str, kind: AnswerType, *, system: str = SYSTEM
) -> list[ChatMessage]:
    labels = [w.item.locator.label() for w in evidence]
    return [
        ChatMessage("system", system),
        ChatMessage("user", evidence_turn(evidence, labels, question, kind)),
    ]


def draft_answer(
    question: str,
    evidence: Sequence[Evidence],
    *,
    kind: AnswerType | None = None,
    has_terms: bool = True,
    ask_model_yesno: bool = False,
) -> Draft:
    """How to answer `question` from `evidence` (see the module docstring). `has_terms`: the
    question has content words (evidence relevance means something); `ask_model_yesno`: a
    yes/no question is put to the model (else the evidence decides, which measured better
    with the small embedded model)."""
    kind = kind or answer_type(question)
    evidence = tuple(evidence)
    term = asks_term(question, kind)
    relevant = tuple(
        w
        for w in evidence
        # the clause that states the agreement's term answers when it ends, in whatever words
        if _relevant(w, kind, has_terms) or (term and states_term(w.text))
    )
    if not relevant:
        return Draft(question, kind, Mode.NONE, evidence)
    draft = _draft(question, kind, evidence, relevant, ask_model_yesno)
    if asks_for_text(question) and draft.mode is not Mode.NONE:
        return _quote_draft(draft, relevant)
    return draft


def _draft(
    question: str,
    kind: AnswerType,
    evidence: tuple[Evidence, ...],
    relevant: tuple[Evidence, ...],
    ask_model_yesno: bool,
) -> Draft:
    if kind in _VALUE_KINDS:
        identity = asks_identity(question, kind)
        if identity and kind is AnswerType.PARTY:
            # The parties are those the preamble names ("by and between A … and B …"), each
            # with the name the agreement calls it by; elsewhere it names them by their roles
            # ("the Company", "Franchisee"), which are not parties (see engine.qa.parties).
            named = preamble_choices((*relevant, *evidence))
            if named:
                shown = _leading(named[0].window, relevant)
                return Draft(question, kind, Mode.VALUE, shown, choices=tuple(named))
        wider, head_only = relevant, False
        if identity and kind in _HEAD_KINDS:
            # A document's name and its own date stand at its head: when the head holds
            # candidates, a heading further on ("ENTIRE AGREEMENT") or a later date is not it.
            # (Measured on the 20 CUAD contracts: of 12 such answers cited past the head, 1
            # was right; the parties, named again in signature blocks, are left alone.)
            head = tuple(w for w in relevant if w.item.chunk_id.endswith(":0"))
            if head and candidates(kind, head, identity=True):
                relevant, head_only = head, True
        if kind is AnswerType.PLACE and asks_governing_law(question):
            # the place the choice-of-law clause names, the clause first in the document (an
            # exhibit's form can carry another); the model only when no clause reads so
            governing = governing_choice((*relevant, *evidence))
            if governing is not None:
                shown = _leading(governing.window, relevant)
                return Draft(question, kind, Mode.VALUE, shown, choices=(governing,))
        role, needs = asked_role(question) if not identity else (None, frozenset())
        if role is not None and kind in (AnswerType.DATE, AnswerType.DURATION):
            # A term clause holds the term, its renewals and the notice side by side: the
            # value asked for is the one whose own words say it is of that (see
            # `engine.qa.periods`), and a document without one has none ("not found").
            # Measured on CUAD's term clauses outside the benchmark's contracts (bench/
            # periods.py): 77% right this way, 65% taking the first value; the embedded
            # model, choosing among all values, was right less often than the first value.
            typed = candidates(
                kind, relevant, identity=False,
                keep=lambda c: of_role(c, role, needs),
            )  # fmt: skip
            if role is Role.TERM:
                # the agreement's own term before a licence's, a warranty's or a cure period
                # that a relevant sentence also states ("within seven (7) calendar days")
                typed.sort(key=lambda c: not states_term(sentence_text(c)))
            if not typed:
                return Draft(question, kind, Mode.NONE, evidence)
            term = typed[0]
            counted = counted_end(term, evidence) if role is Role.TERM else None
            if counted is not None and (kind is AnswerType.DATE or _ASKS_DATE.search(question)):
                end, start, said = counted
                answer = (
                    f"{_written(end)}: the term runs {_as_clause(term.text)} [{term.window.key}]; "
                    f"{said} {start.text} [{start.window.key}]."
                )
                shown = _leading(term.window, _leading(start.window, relevant))
                return Draft(
                    question, kind, Mode.VALUE, shown, choices=(term, start), answer=answer
                )
            answer = ""
            if role is Role.TERM and OPEN_ENDED.match(term.text):  # "perpetually", "until …"
                answer = f"The term is open-ended: it runs {term.text} [{term.window.key}]."
            return Draft(question, kind, Mode.VALUE, relevant, choices=(term,), answer=answer)
        choices = candidates(kind, relevant, identity=identity)
        if kind is AnswerType.DATE:
            # A filing stamp on every page ("Source: ACME INC., 10-K, 2/27/2020") is not a
            # date the document states; nor, for its own date, a date it speaks of: when some
            # date is given by the words that date an agreement ("made as of", "dated",
            # "effective"), only those are offered, from the head first. (Measured on the 20
            # CUAD contracts: 2 of 5 wrong agreement dates were the stamp.)
            stamped = stamped_by(evidence)
            choices = [c for c in choices if not stamped(c)]
            if identity:
                own = [c for c in choices if own_dated(c)]
                if not own and head_only:
                    own = [
                        c
                        for c in candidates(kind, wider, identity=identity)
                        if own_dated(c) and not stamped(c)
                    ]
                choices = own or choices
                if not choices and _OF_DOCUMENT.search(question):
                    # no date of its own in the evidence: a free answer to "what is the date
                    # of this contract?" from the small model was a page number or a post
                    # code (2 of 2 on CUAD)
                    return Draft(question, kind, Mode.NONE, evidence)
        # the windows the values stand in are shown (an own date found past the head too)
        missing = [c.window for c in choices if not any(c.window is w for w in relevant)]
        relevant = (*dict.fromkeys(missing), *relevant)
        if choices:
            alternatives = " | ".join(f'"{_quote(c.text)}"' for c in choices)
            repeat = ' ("; " value){0,2}' if kind is AnswerType.PARTY else ""
            grammar = f"root ::= value{repeat}\nvalue ::= {alternatives}"
            return Draft(
                question,
                kind,
                Mode.VALUE,
                relevant,
                _messages(relevant, question, kind, system=CHOOSE_SYSTEM),
                grammar,
                tuple(choices),
                max_tokens=96,
            )
    if kind is AnswerType.YESNO:
        if not ask_model_yesno:
            # Decided by the evidence (see MIN_MEANING): a relevant window is a Yes, cited.
            best = max(relevant, key=lambda w: (w.meaning or 0.0, w.relevance))
            return Draft(
                question, kind, Mode.YESNO, (best, *(w for w in relevant if w is not best))
            )
        return Draft(
            question,
            kind,
            Mode.YESNO,
            relevant,
            _messages(relevant, question, kind),
            'root ::= "Yes" | "No"',
            max_tokens=4,
        )
    return Draft(question, kind, Mode.FREE, relevant, _messages(relevant, question, kind))


# A request for the document's own words: "Highlight the parts of this contract related to
# 'Expiration Date'", "quote the termination clause", "show me the section on audits".
_ASKS_TEXT = re.compile(
    r"^\s*(?:please\s+)?(?:highlight|quote|show(?:\s+me)?|extract|cite|find|give(?:\s+me)?|"
    r"copy)\b[^?.]{0,60}?\b(?:parts?|clauses?|sections?|provisions?|passages?|text|wording|"
    r"language|paragraphs?|lines?)\b|\bwhat\s+does\s+the\s+[\w\s'-]{1,40}?\s+"
    r"(?:clause|section|provision|paragraph)\s+say\b",
    re.IGNORECASE,
)


def asks_for_text(question: str) -> bool:
    """Whether a question asks for the document's own words rather than an answer."""
    return bool(_ASKS_TEXT.search(question))


def _quote_draft(draft: Draft, relevant: Sequence[Evidence]) -> Draft:
    """The passage a request for text asks for, without the model: the sentence of the value
    the question asks for when there is one ("… related to 'Renewal Term'. Details: what is
    the renewal term?" quotes the renewal clause), then the best sentence of the best
    windows."""
    quoted: list[tuple[Evidence, int, int]] = []
    for choice in draft.choices[:1]:
        quoted.append((choice.window, *sentence_of(choice.window, choice.start, choice.end)))
    for window in relevant[:_QUOTED]:
        if len(quoted) >= _QUOTED:
            break
        if any(w is window for w, _, _ in quoted):
            continue
        if quoted and window.relevance < MIN_RELEVANCE and (window.meaning or 0) < MIN_MEANING:
            continue  # a second passage only when it is relevant in its own right
        start, end = best_sentence(window, draft.question)
        if quoted and len(window.item.text[start:end].split()) < _QUOTE_WORDS:
            continue  # a heading or a contents line ("14.1 Governing Law") adds nothing
        quoted.append((window, start, end))
    return Draft(draft.question, draft.kind, Mode.QUOTE, tuple(relevant), spans=tuple(quoted))


_QUOTED = 2  # passages quoted for a request for text
_QUOTE_WORDS = 8  # a second quote is a sentence, not a heading


def _span_citation(
    window: Evidence,
    start: int,
    end: int,
    locate: Locate | None,
    scope: Collection[str] | None,
) -> Citation:
    """The citation of `window.item.text[start:end]`: verified only inside the scope."""
    return Citation(
        key=window.key,
        chunk_id=window.item.chunk_id,
        document=window.item.document,
        locator=locate(window, start, end) if locate else window.item.locator,
        quote=window.item.text[start:end],
        verified=scope is None or window.doc_id in scope,
        doc_id=window.doc_id,
        origin="model",
    )


def _cite(choice: Choice, locate: Locate | None, scope: Collection[str] | None) -> Citation:
    # The quote is the sentence the value stands in, so the viewer shows it in context.
    start, end = sentence_of(choice.window, choice.start, choice.end)
    return _span_citation(choice.window, start, end, locate, scope)


def _citations(
    chosen: Sequence[Choice], locate: Locate | None, scope: Collection[str] | None
) -> tuple[Citation, ...]:
    """The sentence of each choice, cited once however many choices it holds (the parties
    of one preamble sentence)."""
    cited = {(c.chunk_id, c.quote): c for c in (_cite(c, locate, scope) for c in chosen)}
    return tuple(cited.values())


def _leading(window: Evidence, rest: Sequence[Evidence]) -> tuple[Evidence, ...]:
    """`rest` with `window` first: the passage an answer stands in is shown first."""
    return (window, *(w for w in rest if w is not window))


def _written(day: date) -> str:
    return f"{day:%B} {day.day}, {day.year}"


def _as_clause(period: str) -> str:
    """ "five (5) years" as "for five (5) years"; "the fifth anniversary of …" as "until …"."""
    return f"until {period}" if "anniversary" in period.lower() else f"for {period}"


def _with_cosignatories(chosen: Sequence[Choice], choices: Sequence[Choice]) -> list[Choice]:
    """Parties are named together ("by and between A and B"): with each party the model
    chose, the other parties named in the same passage (at most four in all)."""
    out = list(dict.fromkeys(chosen))
    for choice in chosen:
        for other in choices:
            if other.window is choice.window and other not in out and len(out) < 4:
                out.append(other)
    return out


def conclude(
    draft: Draft,
    reply: str,
    *,
    scope: Collection[str] | None = None,
    locate: Locate | None = None,
) -> Conclusion:
    """Read the model's `reply` to `draft` into a checked answer (see the module docstring)."""
    reply = reply.strip()
    if draft.mode is Mode.NONE or reply.upper().startswith(NOT_FOUND_REPLY):
        return Conclusion(AnswerState.NOT_FOUND, "", (), closest=draft.evidence[:3])
    if draft.mode is Mode.QUOTE:
        citations = tuple(_span_citation(w, a, b, locate, scope) for w, a, b in draft.spans)
        lines = [f"“{' '.join(w.item.text[a:b].split())}” [{w.key}]" for w, a, b in draft.spans]
        state = AnswerState.FOUND if any(c.verified for c in citations) else AnswerState.UNCLEAR
        return Conclusion(state, "\n".join(lines), citations)
    if draft.mode is Mode.VALUE and draft.answer:
        citations = _citations(draft.choices, locate, scope)
        state = AnswerState.FOUND if all(c.verified for c in citations) else AnswerState.UNCLEAR
        return Conclusion(state, draft.answer, citations)
    if draft.mode is Mode.VALUE:
        # decided without the model (`draft.messages` empty): the one value typed to the question
        chosen = _picked(reply, draft.choices) if draft.messages else list(draft.choices[:1])
        if not chosen:
            # A backend that ignores grammars (an OpenAI-compatible server) may answer in its
            # own words: bind that like a free answer, so only what the evidence holds stays.
            return _bound(draft, reply, scope=scope, locate=locate)
        if draft.kind is AnswerType.PARTY:
            chosen = _with_cosignatories(chosen, draft.choices)
        citations = _citations(chosen, locate, scope)
        keys = ", ".join(dict.fromkeys(c.key for c in citations))
        text = "; ".join(c.text for c in chosen) + f" [{keys}]."
        verified = any(c.verified for c in citations)
        state = AnswerState.FOUND if verified else AnswerState.UNCLEAR
        return Conclusion(state, text, citations)
    if draft.mode is Mode.YESNO:
        if draft.messages and not reply.lower().startswith("yes"):
            return Conclusion(AnswerState.NOT_FOUND, "No.", (), closest=draft.evidence[:3])
        window = draft.evidence[0]
        start, end = best_sentence(window, draft.question)
        citation = _span_citation(window, start, end, locate, scope)
        state = AnswerState.FOUND if citation.verified else AnswerState.UNCLEAR
        said = " ".join(window.item.text[start:end].split())
        if not draft.messages and (
            not _asks_presence(draft.question)
            or (_negative(said) and not _negative(draft.question))
        ):
            # Decided by the evidence, a Yes means "the document speaks to this": right for
            # "is there a non-compete clause?", not an answer to "can the distributor sell
            # competing products?", where the sentence found may grant or forbid it. Nor when
            # the sentence is negative ("can't send trailers to HTTP/1.0 client"): a bare Yes
            # could say the opposite of its source. The sentence is the answer, to weigh.
            return Conclusion(state, f"The document says: “{said}” [{window.key}].", (citation,))
        return Conclusion(state, f"Yes [{window.key}].", (citation,))
    return _bound(draft, reply, scope=scope, locate=locate)


# A question whether something is in the document at all: "Is there a cap on liability?",
# "Does the agreement contain an audit clause?", "Are any warranties given?".
_PRESENCE = re.compile(
    r"^\s*(?:(?:is|are|was|were)\s+(?:there|any)\b|"
    r"(?:does|do|did)\s+(?:\w+\s+){0,4}?(?:contain|include|have|provide\s+for|specify|"
    r"mention|set\s+(?:out|forth)|state)\b|(?:is|are)\s+(?:\w+\s+){0,5}?"
    r"(?:included|specified|mentioned|stated|provided|given|set\s+(?:out|forth))\b)",
    re.IGNORECASE,
)


def _asks_presence(question: str) -> bool:
    return bool(_PRESENCE.match(question))


# A negative statement: "not", "never", "can't", "no one"; not "no later than" or "without"
# (which state when and how something is allowed).
_NEGATION = re.compile(
    r"\b(?:not|never|cannot|nor|neither|none|no(?!\s+(?:later|less|more|fewer|sooner)\b))\b|n't\b",
    re.IGNORECASE,
)


def _negative(text: str) -> bool:
    return bool(_NEGATION.search(text.replace("’", "'")))


def _picked(reply: str, choices: Sequence[Choice]) -> list[Choice]:
    """The candidates a VALUE reply chose: exactly (under the grammar: "A; B"), or else the
    candidates the reply's text contains, in the order it names them (longest first where
    two overlap)."""
    picked = [c.strip() for c in reply.split(";") if c.strip()]
    by_text = {c.text.lower(): c for c in choices}
    exact = [by_text[p.lower()] for p in picked if p.lower() in by_text]
    if exact:
        return exact
    said = " ".join(reply.split()).lower()
    found: list[tuple[int, int, Choice]] = []
    for choice in sorted(choices, key=lambda c: -len(c.text)):
        at = said.find(choice.text.lower())
        if at < 0 or any(a < at + len(choice.text) and at < b for a, b, _ in found):
            continue
        found.append((at, at + len(choice.text), choice))
    return [c for _, _, c in sorted(found, key=lambda f: f[0])]


# A sentence that says the evidence does not answer ("The passages do not specify the
# insurance."): not a claim to bind (it would cite the passage that shares its words).
_ABSTAIN = re.compile(
    r"\b(?:(?:evidence|passages?|documents?|context|text|code)\s+(?:does|do|did)\s+not\s+"
    r"(?:say|state|mention|specify|provide|contain|include|answer|show|indicate|describe)|"
    r"(?:is|are)\s+not\s+(?:mentioned|stated|specified|provided|given|shown|described)\s+in\s+"
    r"the\s+(?:evidence|passages?|documents?|context|text|code)|"
    r"(?:no|not\s+enough)\s+information|(?:I|we)\s+(?:cannot|can't|could\s+not|couldn't)\s+"
    r"(?:find|determine|answer|tell))\b",
    re.IGNORECASE,
)


def _without_abstentions(reply: str) -> str:
    """The reply without its sentences that decline to answer."""
    sentences = (s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", reply))
    return " ".join(s for s in sentences if s and not _ABSTAIN.search(s))


def _bound(
    draft: Draft, reply: str, *, scope: Collection[str] | None, locate: Locate | None
) -> Conclusion:
    reply = _without_abstentions(reply)
    if not reply:  # the model said the evidence does not answer: an honest miss
        return Conclusion(AnswerState.NOT_FOUND, "", (), closest=draft.evidence[:3])
    bound = bind_answer(reply, draft.evidence, question=draft.question, scope=scope, locate=locate)
    removed = tuple(f"“{s.text}” ({s.reason})" for s in bound.removed)
    if not bound.text:
        state = AnswerState.UNCLEAR if bound.removed else AnswerState.NOT_FOUND
        return Conclusion(state, "", (), removed, closest=draft.evidence[:3])
    return Conclusion(AnswerState.FOUND, bound.text, bound.citations, removed)


def header_lines(evidence: Sequence[Evidence]) -> list[str]:
    """The evidence headers as shown to the model (for tests and debugging)."""
    return [evidence_header(w, w.item.locator.label()) for w in evidence]
