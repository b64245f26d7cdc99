"""One question asked of one document: the kernel of per-document answers ("which agreements
have a non-compete clause?") and of the review grid (documents x questions).

    part = answer_in_document(question, doc_id, name, scope=scope, backend=backend,
                              settings=settings, first_key=1)
    part.answer.state, part.answer.text, part.answer.citations, part.evidence

It runs the evidence-first step inside the one document (`engine.qa.evidence`), asks the model
only when some evidence is relevant (`engine.qa.compose`), and checks the reply against that
document's evidence alone: a citation can never point at another document.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.llm.backends import Backend
from engine.qa.answer_types import AnswerType, answer_type
from engine.qa.compose import Conclusion, conclude, draft_answer
from engine.qa.evidence import (
    Embed,
    Evidence,
    Idf,
    ScoredSentence,
    asks_term,
    question_terms,
    rank_sentences,
    select_evidence,
)
from engine.qa.packing import chunk_item
from engine.qa.periods import dates_itself
from engine.qa.retrieve import Retriever
from engine.qa.sentences import split_sentences
from engine.settings import Settings
from engine.types import AnswerState, ContextItem, DocumentAnswer
from ingest.types import Locator

__all__ = [
    "PASSAGES",
    "DocumentPart",
    "answer_in_document",
    "evidence_context",
    "find_evidence",
]

PASSAGES = 12  # passages ranked for evidence per question
# How contracts state their own term, to find that clause when a question words it otherwise.
TERM_WORDS = (
    "term of this agreement shall commence on the effective date and continue in effect until "
    "expire expiration remain in full force and effect perpetually"
)
_TERM_PASSAGES = 3


@dataclass(frozen=True)
class DocumentPart:
    """A document's answer, the evidence it was drawn from (as context items), and usage."""

    answer: DocumentAnswer
    evidence: tuple[ContextItem, ...]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    asked_model: bool = False


def find_evidence(
    question: str,
    retriever: Retriever,
    *,
    budget: int,
    count: Callable[[str], int],
    idf: Idf | None = None,
    embed: Embed | None = None,
    first_key: int = 1,
    exclude: frozenset[str] = frozenset(),
    kind: AnswerType | None = None,
    code_docs: frozenset[str] = frozenset(),
) -> list[Evidence]:
    """The evidence windows for `question` among what `retriever` finds (best first);
    passages of `code_docs` are cut into line groups, not sentences."""
    kind = kind or answer_type(question)
    term = asks_term(question, kind)
    rank = getattr(retriever, "rank", None)
    if rank is not None:
        passages = [p for p in rank(question, exclude=exclude) if p.level == 0][:PASSAGES]
        if term:
            # The clause that states the term shares few words with "on what date will the
            # initial term expire?" ("This Agreement shall remain in effect from the Effective
            # Date and perpetually thereafter"): its own words find it.
            have = {p.chunk_id for p in passages}
            more = [p for p in rank(TERM_WORDS, exclude=exclude) if p.level == 0]
            passages += [p for p in more if p.chunk_id not in have][:_TERM_PASSAGES]
    else:  # a retriever without ranking: take what it packs
        found = retriever(question, budget=budget * 4, count=count, exclude=exclude)
        passages = [p for p in found.items if p.level == 0]
    sentences = rank_sentences(
        question,
        passages,
        idf=idf,
        embed=embed,
        kind=kind,
        code=(lambda item: item.doc_id in code_docs) if code_docs else None,
    )
    windows = select_evidence(sentences, budget=budget, count=count, first_key=first_key)
    if windows and term and not any(dates_itself(w.text) for w in windows):
        # a term counted from the agreement's own date ends on a date only that date gives
        windows += _opening_window(retriever, windows[0].doc_id, count, first_key + len(windows))
    return [
        dataclasses.replace(
            w,
            code=w.doc_id in code_docs,
            span=retriever.locate(w.item, w.start, w.end),
        )
        for w in windows
    ]


def _opening_window(
    retriever: Retriever, doc_id: str, count: Callable[[str], int], key: int
) -> list[Evidence]:
    """The sentence of a document's opening that dates it, as one evidence window."""
    opening = getattr(retriever, "opening", None)
    if opening is None:
        return []
    for chunk in opening(doc_id):
        item = chunk_item(chunk, 0.0)
        spans = tuple(split_sentences(item.text))
        for index, (a, b) in enumerate(spans):
            if dates_itself(item.text[a:b]):
                sentence = ScoredSentence(item, a, b, index, 1.0, spans)
                return select_evidence(
                    [sentence], budget=count(item.text[a:b]) + 40, count=count, first_key=key
                )
    return []


def evidence_context(windows: Sequence[Evidence], retriever: Retriever) -> tuple[ContextItem, ...]:
    """Evidence windows as context items (what `ask --json` lists and the viewer opens)."""
    out = []
    for window in windows:
        locator = window.span or retriever.locate(window.item, window.start, window.end)
        out.append(
            dataclasses.replace(
                window.item,
                key=window.key,
                text=window.text,
                locator=locator,
                score=window.score,
                n_tokens=max(
                    1, window.item.n_tokens * len(window.text) // max(1, len(window.item.text))
                ),
            )
        )
    return tuple(out)


def locator_of(retriever: Retriever) -> Callable[[Evidence, int, int], Locator]:
    """The exact page or lines of a span of a window, through the retriever's chunk map."""
    return lambda window, start, end: retriever.locate(window.item, start, end)


def has_terms(question: str, kind: AnswerType) -> bool:
    """Whether the question has content words (so evidence relevance means something)."""
    return bool(question_terms(question, kind))


def document_answer(doc_id: str, name: str, result: Conclusion) -> DocumentAnswer:
    """A conclusion as one document's line: the answer, or "not stated in this document"."""
    if result.state is AnswerState.FOUND:
        text = result.text
    elif result.state is AnswerState.UNCLEAR:
        text = "unclear: the model's answer could not be verified in this document"
    else:
        text = "not stated in this document"
    return DocumentAnswer(doc_id, name, result.state, text, result.citations)


def answer_in_document(
    question: str,
    doc_id: str,
    name: str,
    *,
    retriever: Retriever,
    backend: Backend,
    settings: Settings,
    idf: Idf | None = None,
    embed: Embed | None = None,
    first_key: int = 1,
    budget: int | None = None,
    code: bool = False,
) -> DocumentPart:
    """Answer `question` from document `doc_id` alone (`retriever` must be scoped to it).
    The caller holds the model (`ModelManager.acquire`/`use`)."""
    kind = answer_type(question)
    windows = find_evidence(
        question,
        retriever,
        budget=budget or settings.retrieval.evidence_tokens * 3 // 4,
        count=backend.count_tokens,
        idf=idf,
        embed=embed,
        first_key=first_key,
        kind=kind,
        code_docs=frozenset({doc_id}) if code else frozenset(),
    )
    draft = draft_answer(
        question,
        windows,
        kind=kind,
        has_terms=has_terms(question, kind),
        ask_model_yesno=settings.retrieval.yesno_model,
    )
    raw = ""
    prompt_tokens = completion_tokens = 0
    if draft.messages:
        # one-off prompts: saving their KV state for reuse would only cost time
        params = dataclasses.replace(draft.params(settings), cache_state=False)
        stream = backend.stream(draft.messages, params)
        try:
            raw = "".join(stream)
        finally:
            stream.close()
            prompt_tokens, completion_tokens = stream.prompt_tokens, stream.completion_tokens
    result = conclude(draft, raw, scope={doc_id}, locate=locator_of(retriever))
    return DocumentPart(
        document_answer(doc_id, name, result),
        evidence_context(windows, retriever),
        prompt_tokens,
        completion_tokens,
        bool(draft.messages),
    )
