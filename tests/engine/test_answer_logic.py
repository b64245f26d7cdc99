"""The answer path with the deterministic fake backend (a real Backend, registered like the
others): packing, streaming, citations, follow-ups, and the model lock."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from engine.llm.backends import BACKENDS
from engine.llm.backends.fake import FakeBackend
from engine.llm.models import ModelManager, PriorityLock
from engine.qa.answer import ask
from engine.qa.packing import edge_order, select_within_budget
from engine.qa.retrieve import Retrieval, Retriever
from engine.settings import Settings
from engine.types import ContextItem
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
        retriever=ListRetriever(ITEMS),
        models=models,
        settings=settings,
    )
    pieces = list(stream)
    answer = stream.result()
    assert "".join(pieces).strip().startswith("The documents say")
    assert answer.supported
    assert [c.locator.page for c in answer.citations] == [3]
    assert answer.citations[0].verified
    assert answer.timings.first_token_s is not None
    assert answer.timings.total_s >= answer.timings.first_token_s
    assert answer.usage.prompt_tokens > 0 and answer.usage.completion_tokens > 0
    models.close()


def test_hallucinated_citation_makes_answer_unsupported(settings: Settings, monkeypatch) -> None:
    models = ModelManager()
    BACKENDS_fake = FakeBackend(script='The rent is "two million dollars" [c1] [c42].')
    monkeypatch.setitem(BACKENDS, "fake", lambda s: BACKENDS_fake)
    answer = ask("rent?", retriever=ListRetriever(ITEMS), models=models, settings=settings).result()
    assert not answer.supported
    assert "could not verify" in answer.text
    assert "[c42]" not in answer.text
    assert [c.verified for c in answer.citations] == [False]


def test_nothing_found_does_not_call_model(settings: Settings) -> None:
    models = ModelManager()
    answer = ask(
        "anything?", retriever=ListRetriever([]), models=models, settings=settings
    ).result()
    assert "Nothing in this project" in answer.text and not answer.supported
    # the lock was released: another question can go
    assert ask("rent?", retriever=ListRetriever(ITEMS), models=models, settings=settings).result()


def test_followup_repeats_earlier_turn_and_adds_only_new_sources(settings: Settings) -> None:
    models = ModelManager()
    retriever = ListRetriever(ITEMS)
    first = ask("rent per month?", retriever=retriever, models=models, settings=settings).result()
    second = ask(
        "and the parking fees?",
        retriever=retriever,
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
    first = ask("rent per month?", retriever=retriever, models=models, settings=settings).result()
    calls = len(retriever.calls)
    second = ask(
        question, retriever=retriever, models=models, settings=settings, history=[first]
    ).result()
    assert second.followup
    assert len(retriever.calls) == calls
    assert second.new_keys == () or set(second.new_keys) <= {i.key for i in first.context}
    assert [i.chunk_id for i in second.context] == [i.chunk_id for i in first.context]


def test_closing_a_stream_releases_the_model(settings: Settings) -> None:
    models = ModelManager()
    stream = ask("rent?", retriever=ListRetriever(ITEMS), models=models, settings=settings)
    next(iter(stream))
    stream.close()
    done = threading.Event()

    def other() -> None:
        ask("pets?", retriever=ListRetriever(ITEMS), models=models, settings=settings).result()
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


def test_summary_questions_ask_for_cited_prose_and_replay_exactly(settings: Settings) -> None:
    from engine.llm.prompts import SUMMARY_STYLE
    from engine.qa.answer import _plan

    backend = FakeBackend()
    models = ModelManager()
    summary = _plan("Summarize the whole lease.", [], ListRetriever(ITEMS), backend, settings)
    assert summary.messages[-1].content.endswith(SUMMARY_STYLE)
    specific = _plan("When is the rent due?", [], ListRetriever(ITEMS), backend, settings)
    assert SUMMARY_STYLE not in specific.messages[-1].content
    # a follow-up rebuilds the summary turn token for token (the KV cache stays valid)
    first = ask(
        "Summarize the whole lease.",
        retriever=ListRetriever(ITEMS),
        models=models,
        settings=settings,
    ).result()
    follow = _plan("and the deposit?", [first], ListRetriever(ITEMS), backend, settings)
    assert follow.messages[len(summary.messages) - 1] == summary.messages[-1]
    assert SUMMARY_STYLE not in follow.messages[-1].content
