"""Answer a question about a project with a local model, citing its sources.

`ask()` returns an `AnswerStream`: `.context` holds the passages being read as soon as they are
chosen (before the model writes), iterating gives text pieces as they are written, and
`.result()` the checked `Answer` with its state and citations.

How a question is answered depends on what it asks (`engine.qa.intent.classify`):
- a specific question is answered *evidence first*: retrieval finds passages (within the
  question's scope: the documents it names, or the chat's chosen documents), the sentences
  that answer it are ranked out of them (`engine.qa.evidence`), the model answers from those
  few hundred tokens (`engine.qa.compose`, with a grammar where the form is known), and every
  sentence of the answer is bound to the evidence span it rests on and checked
  (`engine.qa.binding`, `engine.qa.facts`). Nothing relevant enough: an honest "not found",
  with the closest passages;
- a question about each document ("which agreements have a non-compete clause?") runs the
  same evidence step once per document in scope and gives one cited line per document
  (`Answer.documents`);
- a summary or overview reads the top of the summary tree, and "list every …" maps over its
  parts; their sentences are checked against their sources as before
  (`engine.qa.citations`).
A follow-up in a chat repeats the earlier turns token for token (so the model reuses its KV
cache) and reads new evidence only when it asks about something the thread has not seen.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache

from engine.index.lexical import analyze
from engine.llm.backends import Backend, ChatMessage, GenerationParams, TokenStream
from engine.llm.models import ModelManager
from engine.llm.prompts import NOT_FOUND, answer_preamble, list_preamble, question_message
from engine.qa.answer_types import AnswerType, answer_type
from engine.qa.citations import KEY_RE, resolve_citations
from engine.qa.compose import Conclusion, Draft, Mode, conclude, draft_answer
from engine.qa.evidence import Embed, Evidence, Idf
from engine.qa.instructions import SYSTEM, evidence_turn
from engine.qa.intent import Route, classify, per_document_question
from engine.qa.perdoc import (
    answer_in_document,
    evidence_context,
    find_evidence,
    has_terms,
    locator_of,
)
from engine.qa.retrieve import Retriever
from engine.settings import Settings
from engine.types import (
    Answer,
    AnswerState,
    Citation,
    ContextItem,
    DocumentAnswer,
    Timings,
    Usage,
)

__all__ = ["AnswerStream", "AskScope", "ask", "not_found_text"]

UNSUPPORTED_NOTE = (
    "Tomes could not verify this answer against the documents: none of its citations could be "
    "matched to the sources. Treat it with care and check the sources below."
)

# The evidence of a specific question is `retrieval.evidence_tokens` (a few hundred tokens the
# model reads in ~2-3 s on 2 CPU cores; a 2k-token context took ~13 s); one document's part of a
# per-document answer gets three quarters of it (`engine.qa.perdoc`).


@dataclass(frozen=True)
class AskScope:
    """Where a question may look: the documents (ids, with their names) and why, and how to
    get a retriever within some of them. `doc_ids` None: the whole project."""

    retriever_for: Callable[[Sequence[str] | None], Retriever]
    doc_ids: tuple[str, ...] | None = None
    names: dict[str, str] = field(default_factory=dict)  # every document of the project
    reasons: tuple[str, ...] = ()  # e.g. "named by 'Biopure' in its file name"
    idf: Idf | None = None
    embed: Embed | None = None
    notices: tuple[str, ...] = ()
    code_docs: frozenset[str] = frozenset()  # documents that are source code (cut by lines)

    def describe(self) -> str:
        """How an answer names where it looked: "the documents", or the document names."""
        if not self.doc_ids:
            return "the documents"
        names = [self.names.get(d, "a document") for d in self.doc_ids]
        if len(names) == 1:
            return names[0]
        if len(names) <= 3:
            return ", ".join(names[:-1]) + " and " + names[-1]
        return f"the {len(names)} chosen documents"


def not_found_text(where: str, closest: Sequence[Evidence]) -> str:
    """An honest miss: where it looked, and the closest passages by key."""
    text = (
        f"Not found: {where} do not state this."
        if where == "the documents"
        else (f"Not found: {where} does not state this.")
    )
    if closest:
        keys = ", ".join(f"[{e.key}]" for e in closest)
        text += f" The closest passages are {keys}."
    return text


# ---------------------------------------------------------------------------------- jobs
@dataclass
class _Outcome:
    text: str
    citations: tuple[Citation, ...]
    state: AnswerState
    documents: tuple[DocumentAnswer, ...] = ()
    removed: tuple[str, ...] = ()


@dataclass
class _Job:
    """What one question runs: the context shown at once, the text stream (None: the text is
    fixed, no model runs) and how the raw text becomes the answer."""

    context: Sequence[ContextItem]  # a list that grows while a per-document map runs
    tokens: TokenStream | None
    finish: Callable[[str], _Outcome]
    new_keys: tuple[str, ...] = ()
    followup: bool = False
    notices: tuple[str, ...] = ()
    fixed_text: str = ""
    turn: str = ""  # the user turn as the model read it (replayed by follow-ups)
    replayable: bool = True
    scope: tuple[str, ...] = ()


def _thread(history: Sequence[Answer]) -> list[Answer]:
    """The current chat thread: the answers since (and including) the last fresh one. Empty
    when the chain cannot be replayed exactly (then the next question starts fresh)."""
    thread: list[Answer] = []
    for answer in reversed(history):
        if not answer.raw_text or not answer.turn:
            # e.g. a "not found" reply (the model never saw this turn), a per-document or
            # summary answer, or one saved before evidence-first answering
            return []
        thread.append(answer)
        if not answer.followup:
            thread.reverse()
            return thread
    return []


# Words a follow-up uses to point back or to ask, which say nothing about what to look up.
_FOLLOWUP_FILLER = frozenset(
    "what which who whom whose when where why how does did do can could would should shall "
    "may might must about also more again other else please explain tell say said mean means "
    "meant its them those he she you your me my our we us i so then than just only exactly "
    "simpler simply words short shorter detail details summarize summary list quote quotes "
    "cite source sources answer previous above earlier first second last one".split()
)


def _asks_about_new_things(question: str, earlier: Sequence[ContextItem]) -> bool:
    """Whether a follow-up names something (a stemmed content word) that none of the thread's
    sources mention, and so needs new sources; "explain that more simply" does not."""
    wanted = {t for t in analyze(question)[0] if t not in _filler_stems()}
    if not wanted:
        return False
    seen: set[str] = set()
    for item in earlier:
        seen.update(analyze(item.text)[0])
    return not wanted <= seen


@cache
def _filler_stems() -> frozenset[str]:
    return frozenset(analyze(" ".join(sorted(_FOLLOWUP_FILLER)))[0])


# ---------------------------------------------------------------------------------- evidence
def _find_evidence(
    question: str,
    scope: AskScope,
    doc_ids: Sequence[str] | None,
    *,
    budget: int,
    count: Callable[[str], int],
    first_key: int = 1,
    exclude: frozenset[str] = frozenset(),
    kind: AnswerType | None = None,
) -> tuple[list[Evidence], Retriever]:
    retriever = scope.retriever_for(doc_ids)
    windows = find_evidence(
        question, retriever, budget=budget, count=count, idf=scope.idf, embed=scope.embed,
        first_key=first_key, exclude=exclude, kind=kind, code_docs=scope.code_docs,
    )  # fmt: skip
    return windows, retriever


def _finish_evidence(
    draft: Draft, retriever: Retriever, scope: AskScope, allowed: Sequence[str] | None
) -> Callable[[str], _Outcome]:
    def finish(raw: str) -> _Outcome:
        result = conclude(
            draft, raw, scope=set(allowed) if allowed else None, locate=locator_of(retriever)
        )
        return _outcome(result, scope.describe())

    return finish


def _outcome(result: Conclusion, where: str) -> _Outcome:
    if result.state is AnswerState.FOUND:
        return _Outcome(result.text, result.citations, result.state, removed=result.removed)
    if result.state is AnswerState.UNCLEAR:
        text = (
            "Tomes could not verify an answer in "
            f"{where}: what the model said is not in the passages it read."
        )
        if result.closest:
            text += (
                " The closest passages are " + ", ".join(f"[{e.key}]" for e in result.closest) + "."
            )
        return _Outcome(text, (), result.state, removed=result.removed)
    return _Outcome(not_found_text(where, result.closest), (), result.state, removed=result.removed)


def _evidence_job(
    question: str,
    scope: AskScope,
    backend: Backend,
    settings: Settings,
    history: Sequence[Answer],
) -> _Job:
    """A specific question (or a follow-up to one), answered from evidence."""
    count = backend.count_tokens
    kind = answer_type(question)
    thread = _thread(history)
    earlier_items = [it for a in thread for it in a.context if it.key in a.new_keys]
    doc_ids = scope.doc_ids
    if thread and not scope.reasons and thread[-1].scope:
        doc_ids = thread[-1].scope  # a follow-up stays with the documents of its thread
    if thread and not _asks_about_new_things(question, earlier_items):
        windows: list[Evidence] = []
        retriever = scope.retriever_for(doc_ids)
    else:
        query = f"{thread[-1].question}\n{question}" if thread else question
        windows, retriever = _find_evidence(
            query,
            scope,
            doc_ids,
            budget=settings.retrieval.evidence_tokens,
            count=count,
            first_key=len(earlier_items) + 1,
            exclude=frozenset(i.chunk_id for i in earlier_items),
            kind=kind,
        )
    context = evidence_context(windows, retriever)
    allowed = list(doc_ids) if doc_ids else None
    if thread:
        return _followup_job(
            question, kind, thread, earlier_items, windows, context, retriever, scope, backend,
            settings, allowed,
        )  # fmt: skip
    draft = draft_answer(
        question,
        windows,
        kind=kind,
        has_terms=has_terms(question, kind),
        ask_model_yesno=settings.retrieval.yesno_model,
    )
    finish = _finish_evidence(draft, retriever, scope, allowed)
    scope_ids = tuple(doc_ids or ())
    if not draft.messages:  # decided from the evidence alone: nothing to generate
        outcome = finish("")
        return _Job(
            context, None, lambda _raw: outcome, notices=scope.notices, fixed_text=outcome.text,
            replayable=False, scope=scope_ids,
        )  # fmt: skip
    tokens = backend.stream(draft.messages, draft.params(settings))
    return _Job(
        context,
        tokens,
        finish,
        new_keys=tuple(c.key for c in context),
        notices=scope.notices,
        turn=draft.messages[-1].content,
        scope=scope_ids,
    )


def _followup_job(
    question: str,
    kind: AnswerType,
    thread: Sequence[Answer],
    earlier: Sequence[ContextItem],
    windows: Sequence[Evidence],
    context: tuple[ContextItem, ...],
    retriever: Retriever,
    scope: AskScope,
    backend: Backend,
    settings: Settings,
    allowed: Sequence[str] | None,
) -> _Job:
    """A follow-up: the thread's turns replayed token for token, then new evidence (if any)
    and the question. Answered in free form (its sentences checked against every passage the
    thread has read)."""
    messages = [ChatMessage("system", SYSTEM)]
    for a in thread:
        messages.append(ChatMessage("user", a.turn))
        messages.append(ChatMessage("assistant", a.raw_text))
    labels = [w.item.locator.label() for w in windows]
    turn = evidence_turn(windows, labels, question, kind, more=True)
    messages.append(ChatMessage("user", turn))
    # earlier passages stay citable: rebuild them as evidence windows over their own text
    earlier_windows = [_window_of(item) for item in earlier]
    draft = Draft(question, kind, Mode.FREE, (*earlier_windows, *windows), messages)
    params = GenerationParams(
        max_tokens=settings.model.max_answer_tokens,
        temperature=settings.model.temperature,
        seed=settings.model.seed,
    )
    tokens = backend.stream(messages, params)
    return _Job(
        (*earlier, *context),
        tokens,
        _finish_evidence(draft, retriever, scope, allowed),
        new_keys=tuple(c.key for c in context),
        followup=True,
        notices=scope.notices,
        turn=turn,
        scope=tuple(allowed or ()),
    )


def _window_of(item: ContextItem) -> Evidence:
    """A context item shown earlier, as an evidence window over its own text."""
    from engine.qa.sentences import split_sentences

    return Evidence(
        item.key, item, 0, len(item.text), tuple(split_sentences(item.text)), item.score, 1.0
    )


# ---------------------------------------------------------------------------------- each
def _each_job(question: str, scope: AskScope, backend: Backend, settings: Settings) -> _Job:
    """One answer per document in scope, in document order, each from its own evidence."""
    doc_ids = list(scope.doc_ids or scope.names)
    one = per_document_question(question)
    results: list[DocumentAnswer] = []
    context: list[ContextItem] = []

    def lines(holder: TokenStream) -> Iterator[str]:
        for doc_id in doc_ids:
            part = answer_in_document(
                one,
                doc_id,
                scope.names.get(doc_id, "document"),
                retriever=scope.retriever_for([doc_id]),
                backend=backend,
                settings=settings,
                idf=scope.idf,
                embed=scope.embed,
                first_key=len(context) + 1,
                code=doc_id in scope.code_docs,
            )
            holder.prompt_tokens += part.prompt_tokens
            holder.completion_tokens += part.completion_tokens
            context.extend(part.evidence)
            results.append(part.answer)
            yield _document_line(part.answer) + "\n"

    tokens = TokenStream.reporting(lines)

    def finish(raw: str) -> _Outcome:
        citations = tuple(c for r in results for c in r.citations)
        found = [r for r in results if r.state is AnswerState.FOUND]
        text = "\n".join(_document_line(r) for r in results)
        state = AnswerState.FOUND if found else AnswerState.NOT_FOUND
        return _Outcome(text, citations, state, documents=tuple(results))

    return _Job(context, tokens, finish, notices=scope.notices, replayable=False)


def _document_line(part: DocumentAnswer) -> str:
    return f"- {part.document}: {part.text}"


# ---------------------------------------------------------------------------------- tree
def _plan_list(
    question: str, retriever: Retriever, backend: Backend, settings: Settings
) -> tuple[list[list[ChatMessage]], tuple[ContextItem, ...]] | None:
    """A map over the most relevant level-1 summary nodes for "list every …" questions:
    each group of their sources is read in full by its own prompt. None when the retriever
    cannot group (then the question is answered like any other)."""
    groups_of = getattr(retriever, "groups", None)
    if groups_of is None:
        return None
    groups = groups_of(
        question,
        budget=max(512, settings.retrieval.budget // 2),
        count=backend.count_tokens,
        max_groups=settings.retrieval.list_groups,
    )
    if len(groups) < 2:
        return None  # one group: a plain answer reads the same sources
    parts = [
        [*list_preamble(), ChatMessage("user", question_message(items, question))]
        for items in groups
    ]
    return parts, tuple(it for g in groups for it in g)


def _listing(
    backend: Backend, parts: list[list[ChatMessage]], params: GenerationParams
) -> TokenStream:
    """One stream over every map prompt; a part that found nothing ("NONE") shows nothing."""

    def pieces(holder: TokenStream) -> Iterator[str]:
        for messages in parts:
            part = backend.stream(messages, params)
            head = ""  # held back until we know the part is not "NONE"
            decided = False
            try:
                for piece in part:
                    if decided:
                        yield piece
                        continue
                    head += piece
                    if len(head.strip()) < 4 and not head.endswith("\n"):
                        continue
                    if head.strip().upper().startswith("NONE"):
                        break  # this part has nothing to list
                    decided = True
                    yield head
                if not decided and head.strip() and not head.strip().upper().startswith("NONE"):
                    yield head
            finally:
                part.close()
                holder.prompt_tokens += part.prompt_tokens
            yield "\n"

    return TokenStream.reporting(pieces)


def _dedupe_lines(text: str) -> str:
    """Drop list lines that repeat an earlier one (parts of a map can overlap)."""
    seen: set[str] = set()
    out = []
    for line in text.splitlines():
        key = " ".join(KEY_RE.sub("", line).lower().split()).strip("-• ")
        if key and key in seen:
            continue
        seen.add(key)
        out.append(line)
    return "\n".join(out).strip()


def _rekey(items: Sequence[ContextItem], start: int) -> tuple[ContextItem, ...]:
    return tuple(dataclasses.replace(it, key=f"c{start + i}") for i, it in enumerate(items))


def _tree_job(
    question: str, route: Route, scope: AskScope, backend: Backend, settings: Settings
) -> _Job:
    """Summaries and overviews (the top of the tree) and "list every …" (a map over its
    parts); each sentence is checked against the sources it cites."""
    retriever = scope.retriever_for(scope.doc_ids)
    params = GenerationParams(
        max_tokens=settings.model.max_answer_tokens,
        temperature=settings.model.temperature,
        seed=settings.model.seed,
    )
    listed = _plan_list(question, retriever, backend, settings) if route is Route.LIST else None
    if listed is not None:
        parts, items = listed
        tokens = _listing(backend, parts, params)
        fixed = False
    else:
        found = retriever(
            question, budget=settings.retrieval.budget, count=backend.count_tokens,
            exclude=frozenset(),
        )  # fmt: skip
        items = _rekey(found.items, 1)
        if not items:
            return _Job(
                (), None, lambda _raw: _Outcome(not_found_text(scope.describe(), ()), (),
                AnswerState.NOT_FOUND), notices=scope.notices,
                fixed_text=not_found_text(scope.describe(), ()), replayable=False,
            )  # fmt: skip
        summary = route is Route.GLOBAL
        turn = question_message(items, question, summary=summary)
        tokens = backend.stream([*answer_preamble(), ChatMessage("user", turn)], params)
        fixed = True
    allowed = set(scope.doc_ids) if scope.doc_ids else None

    def finish(raw: str) -> _Outcome:
        if not fixed:
            raw = _dedupe_lines(raw) or NOT_FOUND
        text, citations = resolve_citations(
            raw, items, locate=retriever.locate, leaves=retriever.leaves
        )
        if allowed is not None:
            citations = [
                dataclasses.replace(c, verified=False) if c.doc_id not in allowed else c
                for c in citations
            ]
        text = text.strip()
        verified = any(c.verified for c in citations)
        state = AnswerState.FOUND if verified else AnswerState.UNCLEAR
        if NOT_FOUND.rstrip(".") in text and not verified:
            return _Outcome(not_found_text(scope.describe(), ()), (), AnswerState.NOT_FOUND)
        if not verified and text:
            text = f"{text}\n\n{UNSUPPORTED_NOTE}"
        return _Outcome(text, tuple(citations), state)

    return _Job(items, tokens, finish, notices=scope.notices, replayable=False)


# ---------------------------------------------------------------------------------- stream
class AnswerStream:
    """Iterate for the answer's text pieces; `result()` gives the finished `Answer`.

    `context` holds what the model reads, known before it writes a word (for a question about
    each document it grows as the documents are read), so a caller can show the sources while
    the answer is being prepared."""

    def __init__(
        self,
        question: str,
        job: _Job,
        *,
        started: float,
        retrieve_s: float,
        model_id: str,
        release: Callable[[], None],
    ) -> None:
        self.question = question
        self._job = job
        self._tokens = job.tokens
        self._started = started
        self._retrieve_s = retrieve_s
        self._model_id = model_id
        self._release = release
        self._released = False
        self._parts: list[str] = [job.fixed_text] if job.fixed_text else []
        self._first: float | None = None
        self._done = job.tokens is None
        self._ended: float | None = None
        self._answer: Answer | None = None
        self._on_finish: list[Callable[[], None]] = []
        if job.tokens is None:
            self._finish_release()

    @property
    def context(self) -> tuple[ContextItem, ...]:
        return tuple(self._job.context)

    def on_finish(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the answer is resolved (`result()`) or abandoned (`close()`)."""
        self._on_finish.append(callback)

    def _run_finish(self) -> None:
        callbacks, self._on_finish = self._on_finish, []
        for callback in callbacks:
            callback()

    def _finish_release(self) -> None:
        if not self._released:
            self._released = True
            self._release()
        if self._ended is None:
            self._ended = time.perf_counter()

    def __iter__(self) -> Iterator[str]:
        if self._tokens is None:
            yield from list(self._parts)
            return
        try:
            for piece in self._tokens:
                if self._first is None:
                    self._first = time.perf_counter()
                self._parts.append(piece)
                yield piece
        finally:
            self._done = True
            self._tokens.close()
            self._finish_release()

    def close(self) -> None:
        """Stop generating (the partial answer is kept) and free the model."""
        if self._tokens is not None:
            self._tokens.close()
        self._done = True
        self._finish_release()
        self._run_finish()

    def result(self) -> Answer:
        if self._answer is not None:
            return self._answer
        if not self._done:
            for _ in self:
                pass
        raw = "".join(self._parts)
        try:
            outcome = self._job.finish(raw)
        finally:
            self._run_finish()
        end = self._ended or time.perf_counter()
        tokens = self._tokens
        job = self._job
        self._answer = Answer(
            question=self.question,
            text=outcome.text.strip(),
            citations=outcome.citations,
            context=self.context,
            usage=Usage(
                prompt_tokens=tokens.prompt_tokens if tokens else 0,
                completion_tokens=tokens.completion_tokens if tokens else 0,
            ),
            timings=Timings(
                retrieve_s=self._retrieve_s,
                first_token_s=None if self._first is None else self._first - self._started,
                total_s=end - self._started,
            ),
            supported=any(c.verified for c in outcome.citations),
            notices=job.notices,
            model=self._model_id,
            raw_text=raw if tokens is not None and job.replayable else "",
            new_keys=job.new_keys,
            followup=job.followup,
            state=outcome.state,
            scope=job.scope,
            documents=outcome.documents,
            removed=outcome.removed,
            turn=job.turn if job.replayable else "",
        )
        return self._answer


def ask(
    question: str,
    *,
    scope: AskScope,
    models: ModelManager,
    settings: Settings,
    history: Sequence[Answer] = (),
) -> AnswerStream:
    """Find evidence, start the model, and return the answer as a stream (see the module
    docstring). The model is held (its lock taken) until the stream ends or is closed."""
    question = " ".join(question.split())
    if not question:
        raise ValueError("empty question")
    started = time.perf_counter()
    backend = models.acquire(settings, interactive=True)
    try:
        t0 = time.perf_counter()
        if not scope.names:
            text = "This project has no documents yet: add documents first, then ask."
            job = _Job(
                (), None, lambda _raw: _Outcome(text, (), AnswerState.NOT_FOUND),
                fixed_text=text, replayable=False,
            )  # fmt: skip
        else:
            route = classify(question)
            thread = _thread(history)
            if thread and route in (Route.SPECIFIC, Route.LIST, Route.COMPARE):
                route = Route.SPECIFIC  # follow-ups continue their thread
            if route is Route.COMPARE and scope.doc_ids and len(scope.doc_ids) >= 2:
                route = Route.EACH  # "compare A and B": the same question of each
            if route is Route.EACH:
                job = _each_job(question, scope, backend, settings)
            elif route in (Route.GLOBAL, Route.COMPARE, Route.LIST):
                job = _tree_job(question, route, scope, backend, settings)
            else:
                job = _evidence_job(question, scope, backend, settings, history)
        retrieve_s = time.perf_counter() - t0
    except BaseException:
        models.release()
        raise
    return AnswerStream(
        question,
        job,
        started=started,
        retrieve_s=retrieve_s,
        model_id=backend.model_id,
        release=models.release,
    )
