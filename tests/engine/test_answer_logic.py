"""The answer path with the deterministic fake backend (a real Backend, registered like the
others): evidence, streaming, checked citations, honest misses, follow-ups, the model lock,
and prompts that carry no example content."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from engine.llm.backends import BACKENDS
from engine.llm.backends.fake import FakeBackend
from engine.llm.models import ModelManager, PriorityLock
from engine.qa.answer import AskScope, ask
from engine.qa.packing import edge_order, select_within_budget
from engine.qa.retrieve import Retrieval, Retriever
from engine.settings import Settings
from engine.types import AnswerState, ContextItem
from ingest.types import Locator


class ListRetriever(Retriever):
    def __init__(self, items: list[ContextItem]) -> None:
        self.items = items
        self.calls: list[tuple[str, int, frozenset[str]]] = []

    def __call__(self, question, *, budget, count, exclude):  # type: ignore[override]
        self.calls.append((question, budget, exclude))
        chosen = select_within_budget(
            [i for i in self.items if i.chunk_id not in exclude], budget, lambda i: count(i.text)
        )
        return Retrieval(tuple(chosen))


def chunk(n: int, text: str, page: int) -> ContextItem:
    return ContextItem(
        key="",
        chunk_id=f"d:{n}",
        document="lease.pdf",
        locator=Locator(doc_id="d", page=page),
        text=text,
        n_tokens=0,
        doc_id="d",
    )


ITEMS = [
    chunk(0, "The tenant pays rent of 1,200 euros on the first day of each month.", 3),
    chunk(1, "The landlord keeps a deposit of three months' rent.", 4),
    chunk(2, "Pets are not allowed in the apartment without written consent.", 9),
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.load(env={"TOMES_HOME": str(tmp_path)}, overrides={"model.backend": "fake"})


def scope_of(retriever: Retriever, names: dict[str, str] | None = None) -> AskScope:
    return AskScope(
        retriever_for=lambda ids: retriever,
        names=names if names is not None else {"d": "lease.pdf"},
    )


def test_packing_never_exceeds_budget() -> None:
    costs = [5, 9, 3, 7, 2, 11]
    for budget in range(0, 40):
        chosen = select_within_budget(costs, budget, lambda c: c)
        assert sum(chosen) <= budget


def test_edge_order_puts_best_at_both_ends() -> None:
    assert edge_order([1, 2, 3, 4, 5]) == [1, 3, 5, 4, 2]


def test_fake_backend_is_registered_like_real_ones() -> None:
    assert set(BACKENDS) >= {"llama.cpp", "torch", "openai", "fake"}


def test_stream_then_result_with_verified_citation(settings: Settings) -> None:
    models = ModelManager()
    stream = ask(
        "How much is the rent each month?",
        scope=scope_of(ListRetriever(ITEMS)),
        models=models,
        settings=settings,
    )
    assert stream.context, "the sources being read are known before the model writes"
    pieces = list(stream)
    answer = stream.result()
    assert "".join(pieces).strip() == "1,200 euros"
    assert answer.state is AnswerState.FOUND and answer.supported
    assert answer.text == "1,200 euros [e1]."
    assert [c.locator.page for c in answer.citations] == [3]
    assert answer.citations[0].verified
    assert "1,200 euros" in answer.citations[0].quote
    assert answer.timings.first_token_s is not None
    assert answer.timings.total_s >= answer.timings.first_token_s
    assert answer.usage.prompt_tokens > 0 and answer.usage.completion_tokens > 0
    models.close()


def test_an_unsupported_claim_is_removed_never_verified(settings: Settings, monkeypatch) -> None:
    models = ModelManager()
    scripted = FakeBackend(script='The rent is "two million dollars" [e1] [e42].')
    monkeypatch.setitem(BACKENDS, "fake", lambda s: scripted)
    answer = ask(
        "What does the lease say about rent?",
        scope=scope_of(ListRetriever(ITEMS)),
        models=models,
        settings=settings,
    ).result()
    assert not answer.supported and answer.state is AnswerState.UNCLEAR
    assert "could not verify" in answer.text
    assert "[e42]" not in answer.text and "two million" not in answer.text
    assert answer.citations == ()
    assert answer.removed and "two million" in answer.removed[0]


def test_nothing_found_does_not_call_model(settings: Settings) -> None:
    models = ModelManager()
    answer = ask(
        "anything?", scope=scope_of(ListRetriever([])), models=models, settings=settings
    ).result()
    assert answer.state is AnswerState.NOT_FOUND and not answer.supported
    assert answer.text.startswith("Not found: lease.pdf") or "Not found" in answer.text
    assert answer.usage.prompt_tokens == 0
    # the lock was released: another question can go
    assert ask(
        "rent?", scope=scope_of(ListRetriever(ITEMS)), models=models, settings=settings
    ).result()


def test_an_empty_project_says_add_documents_first(settings: Settings) -> None:
    models = ModelManager()
    answer = ask(
        "rent?", scope=scope_of(ListRetriever([]), names={}), models=models, settings=settings
    ).result()
    assert "add documents first" in answer.text


def test_followup_repeats_earlier_turn_and_adds_only_new_sources(settings: Settings) -> None:
    models = ModelManager()
    retriever = ListRetriever(ITEMS[:1] + ITEMS[2:])
    first = ask(
        "rent per month?", scope=scope_of(retriever), models=models, settings=settings
    ).result()
    assert first.turn and first.raw_text
    retriever.items = ITEMS
    second = ask(
        "and the deposit kept by the landlord?",
        scope=scope_of(retriever),
        models=models,
        settings=settings,
        history=[first],
    ).result()
    assert second.followup
    # the follow-up never re-retrieves what the model already saw
    assert retriever.calls[-1][2] == frozenset(i.chunk_id for i in first.context)
    assert "rent per month?" in retriever.calls[-1][0]  # the thread's last question helps retrieval
    assert {i.key for i in second.context} >= {i.key for i in first.context}


@pytest.mark.parametrize(
    "question", ["and the deposit?", "Can you explain that more simply?", "Quote it exactly."]
)
def test_followup_over_the_same_sources_reads_nothing_new(
    settings: Settings, question: str
) -> None:
    # Every content word is already in the thread's sources: no retrieval, no new sources,
    # so the whole prompt is the cached prefix plus the question (TTFT well under a second).
    models = ModelManager()
    retriever = ListRetriever(ITEMS)
    first = ask(
        "rent per month and deposit?", scope=scope_of(retriever), models=models, settings=settings
    ).result()
    calls = len(retriever.calls)
    second = ask(
        question, scope=scope_of(retriever), models=models, settings=settings, history=[first]
    ).result()
    assert second.followup
    assert len(retriever.calls) == calls
    assert second.new_keys == () or set(second.new_keys) <= {i.key for i in first.context}
    assert [i.chunk_id for i in second.context] == [i.chunk_id for i in first.context]


def test_closing_a_stream_releases_the_model(settings: Settings) -> None:
    models = ModelManager()
    stream = ask(
        "What does it say about rent?",
        scope=scope_of(ListRetriever(ITEMS)),
        models=models,
        settings=settings,
    )
    next(iter(stream))
    stream.close()
    done = threading.Event()

    def other() -> None:
        ask(
            "pets?", scope=scope_of(ListRetriever(ITEMS)), models=models, settings=settings
        ).result()
        done.set()

    t = threading.Thread(target=other)
    t.start()
    t.join(5)
    assert done.is_set()


def test_priority_lock_prefers_interactive() -> None:
    lock = PriorityLock()
    order: list[str] = []
    lock.acquire(high=True)

    def background() -> None:
        lock.acquire(high=False)
        order.append("background")
        lock.release()

    def question() -> None:
        lock.acquire(high=True)
        order.append("question")
        lock.release()

    tb = threading.Thread(target=background)
    tb.start()
    import time

    time.sleep(0.05)
    tq = threading.Thread(target=question)
    tq.start()
    time.sleep(0.05)
    lock.release()
    tb.join(2)
    tq.join(2)
    assert order == ["question", "background"]


def test_summary_questions_ask_for_cited_prose(settings: Settings, monkeypatch) -> None:
    from engine.llm.prompts import SUMMARY_STYLE

    seen: list[list[object]] = []

    class Recording(FakeBackend):
        def stream(self, messages, params):  # type: ignore[no-untyped-def, override]
            seen.append(list(messages))
            return super().stream(messages, params)

    backend = Recording()
    monkeypatch.setitem(BACKENDS, "fake", lambda s: backend)
    models = ModelManager()
    ask(
        "Summarize the whole lease.",
        scope=scope_of(ListRetriever(ITEMS)),
        models=models,
        settings=settings,
    ).result()
    assert seen[-1][-1].content.endswith(SUMMARY_STYLE)  # type: ignore[attr-defined]
    ask(
        "When is the rent due?", scope=scope_of(ListRetriever(ITEMS)), models=models,
        settings=settings,
    ).result()  # fmt: skip
    assert SUMMARY_STYLE not in seen[-1][-1].content  # type: ignore[attr-defined]


def test_fixed_prompts_carry_no_example_content() -> None:
    """An example's content ("The annual fee is 100 euros") leaked into real answers: every
    fixed prompt text describes the form only (no amounts, file names, quoted text or keys
    with example sources), and no prompt carries a worked example turn."""
    import re

    from engine.llm import prompts
    from engine.qa import instructions

    fixed = [
        prompts.ANSWER_SYSTEM,
        prompts.LIST_SYSTEM,
        prompts.SUMMARY_STYLE,
        instructions.SYSTEM,
        instructions.CHOOSE_SYSTEM,
        *(m.content for m in prompts.answer_preamble()),
        *(m.content for m in prompts.list_preamble()),
    ]
    for text in fixed:
        assert not re.search(r"[$€£]|\d\s*(euros?|dollars?|%)|\.pdf|\"[^\"]+\"|\[[ce]\d", text), (
            text
        )
        assert "assistant" not in [m.role for m in prompts.answer_preamble()]
