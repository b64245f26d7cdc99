"""Answer a question about a project with a local model, citing its sources.

`ask()` returns an `AnswerStream`: iterate it for text pieces as the model writes them, then
call `.result()` for the `Answer` with resolved, verified citations. Follow-ups in a chat pass
the earlier answers as `history`; when they still fit the budget, the new prompt repeats the
earlier turns exactly and adds only new sources, so the model reuses its KV cache instead of
re-reading the context.
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
from engine.qa.citations import KEY_RE, resolve_citations
from engine.qa.intent import Route, classify
from engine.qa.retrieve import Retrieval, Retriever
from engine.settings import Settings
from engine.types import Answer, ContextItem, Timings, Usage

__all__ = ["AnswerStream", "ask"]

UNSUPPORTED_NOTE = (
    "Tomes could not verify this answer against the documents: none of its citations could be "
    "matched to the sources. Treat it with care and check the sources below."
)


@dataclass
class _Plan:
    messages: list[ChatMessage]
    items: tuple[ContextItem, ...]  # every item the model can see (earlier turns + new)
    new_items: tuple[ContextItem, ...]
    followup: bool
    notices: tuple[str, ...] = ()
    # "list every …": one prompt per group of sources (the map step); empty otherwise
    parts: list[list[ChatMessage]] = field(default_factory=list)


def _thread(history: Sequence[Answer]) -> list[Answer]:
    """The current chat thread: the answers since (and including) the last fresh one. Empty
    when the chain cannot be replayed exactly (then the next question starts fresh)."""
    thread: list[Answer] = []
    for answer in reversed(history):
        if not answer.raw_text:
            return []  # e.g. a "nothing found" reply: the model never saw this turn
        thread.append(answer)
        if not answer.followup:
            thread.reverse()
            return thread
    return []


def _plan_list(
    question: str, retriever: Retriever, backend: Backend, settings: Settings
) -> _Plan | None:
    """A map over the most relevant level-1 summary nodes for "list every …" questions:
    each group of their sources is read in full by its own prompt. None when the retriever
    cannot group (then the question is answered like any other)."""
    groups_of = getattr(retriever, "groups", None)
    route = getattr(retriever, "route", None) or classify(question)
    if groups_of is None or route != Route.LIST:
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
    items = tuple(it for g in groups for it in g)
    notices = tuple(getattr(retriever, "notices", ()))
    return _Plan(parts[0], items, items, False, notices, parts)


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


def _plan(
    question: str,
    history: Sequence[Answer],
    retriever: Retriever,
    backend: Backend,
    settings: Settings,
) -> _Plan:
    budget = settings.retrieval.budget
    count = backend.count_tokens
    thread = _thread(history)
    if thread:
        # A follow-up replays the thread token for token (so the model reuses its KV cache)
        # and adds new sources in the room left in the model's window, up to one budget.
        earlier = [it for a in thread for it in a.context if it.key in a.new_keys]
        used = (
            sum(count(m.content) for m in answer_preamble())
            + sum(count(it.text) + 16 for it in earlier)
            + sum(count(a.question) + count(a.raw_text) + 16 for a in thread)
        )
        window_left = backend.context_window - settings.model.max_answer_tokens - used - 64
        room = min(budget, window_left - count(question))
        if room >= min(512, budget // 4):
            if _asks_about_new_things(question, earlier):
                query = f"{thread[-1].question}\n{question}"
                found = retriever(
                    query, budget=room, count=count, exclude=frozenset(i.chunk_id for i in earlier)
                )
            else:  # over the same sources: nothing new to read, the answer starts at once
                found = Retrieval(())
            new = _rekey(found.items, len(earlier) + 1)
            messages = answer_preamble()
            for i, a in enumerate(thread):
                shown = [it for it in a.context if it.key in a.new_keys]
                turn = question_message(shown, a.question, more=i > 0, summary=_summary(a.question))
                messages.append(ChatMessage("user", turn))
                messages.append(ChatMessage("assistant", a.raw_text))
            turn = question_message(new, question, more=True, summary=_summary(question))
            messages.append(ChatMessage("user", turn))
            return _Plan(messages, (*earlier, *new), new, True, found.notices)
    found = retriever(question, budget=budget, count=count, exclude=frozenset())
    items = _rekey(found.items, 1)
    turn = question_message(items, question, summary=_summary(question))
    messages = [*answer_preamble(), ChatMessage("user", turn)]
    return _Plan(messages, items, items, False, found.notices)


def _summary(question: str) -> bool:
    """Whether a question asks for a summary or overview (answered as cited prose). From the
    question's words alone, so replaying a thread rebuilds each turn token for token."""
    return classify(question) == Route.GLOBAL


class AnswerStream:
    """Iterate for the answer's text pieces; `result()` gives the finished `Answer`."""

    def __init__(
        self,
        question: str,
        plan: _Plan,
        tokens: TokenStream | None,
        retriever: Retriever,
        *,
        started: float,
        retrieve_s: float,
        model_id: str,
        release: Callable[[], None],
        fixed_text: str = "",
    ) -> None:
        self.question = question
        self.context = plan.items
        self._plan = plan
        self._tokens = tokens
        self._retriever = retriever
        self._started = started
        self._retrieve_s = retrieve_s
        self._model_id = model_id
        self._release = release
        self._released = False
        self._parts: list[str] = [fixed_text] if fixed_text else []
        self._first: float | None = None
        self._done = tokens is None
        self._ended: float | None = None
        self._answer: Answer | None = None
        self._on_finish: list[Callable[[], None]] = []
        if tokens is None:
            self._finish_release()

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
        if self._plan.parts:
            raw = _dedupe_lines(raw) or NOT_FOUND
        try:
            text, citations = resolve_citations(
                raw,
                self._plan.items,
                locate=self._retriever.locate,
                leaves=self._retriever.leaves,
            )
        finally:
            self._run_finish()
        text = text.strip()
        supported = any(c.verified for c in citations)
        if not supported and text and NOT_FOUND.rstrip(".") not in text:
            text = f"{text}\n\n{UNSUPPORTED_NOTE}"
        end = self._ended or time.perf_counter()
        tokens = self._tokens
        self._answer = Answer(
            question=self.question,
            text=text,
            citations=tuple(citations),
            context=self._plan.items,
            usage=Usage(
                prompt_tokens=tokens.prompt_tokens if tokens else 0,
                completion_tokens=tokens.completion_tokens if tokens else 0,
            ),
            timings=Timings(
                retrieve_s=self._retrieve_s,
                first_token_s=None if self._first is None else self._first - self._started,
                total_s=end - self._started,
            ),
            supported=supported,
            notices=self._plan.notices,
            model=self._model_id,
            raw_text=raw if tokens is not None else "",
            new_keys=tuple(i.key for i in self._plan.new_items),
            followup=self._plan.followup,
        )
        return self._answer


def ask(
    question: str,
    *,
    retriever: Retriever,
    models: ModelManager,
    settings: Settings,
    history: Sequence[Answer] = (),
) -> AnswerStream:
    """Retrieve context, start the model, and return the answer as a stream.

    The model is held (its lock taken) until the stream ends or is closed.
    """
    question = " ".join(question.split())
    if not question:
        raise ValueError("empty question")
    started = time.perf_counter()
    backend = models.acquire(settings, interactive=True)
    try:
        t0 = time.perf_counter()
        listed = None if _thread(history) else _plan_list(question, retriever, backend, settings)
        plan = listed or _plan(question, history, retriever, backend, settings)
        retrieve_s = time.perf_counter() - t0
        if not plan.new_items and not plan.followup:
            return AnswerStream(
                question,
                plan,
                None,
                retriever,
                started=started,
                retrieve_s=retrieve_s,
                model_id=backend.model_id,
                release=models.release,
                fixed_text="Nothing in this project's documents matches this question.",
            )
        params = GenerationParams(
            max_tokens=settings.model.max_answer_tokens,
            temperature=settings.model.temperature,
            seed=settings.model.seed,
        )
        if plan.parts:
            tokens = _listing(backend, plan.parts, params)
        else:
            tokens = backend.stream(plan.messages, params)
    except BaseException:
        models.release()
        raise
    return AnswerStream(
        question,
        plan,
        tokens,
        retriever,
        started=started,
        retrieve_s=retrieve_s,
        model_id=backend.model_id,
        release=models.release,
    )
