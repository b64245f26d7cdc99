"""Two gradio_client users ask 20 questions each while a third ingests: every question is
answered with its citation, nothing fails, and the model is never used by two requests at
once (a backend registered at our own seam counts overlapping generations)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client, handle_file

from engine.llm.backends import BACKENDS, ChatMessage, GenerationParams, TokenStream
from engine.llm.backends.fake import FakeBackend
from engine.settings import Settings
from engine.workspace import Workspace
from tests.app.conftest import CONTRACT_PAGES, FEE_QUESTION
from tests.support.fixtures import make_pdf

QUESTIONS = [FEE_QUESTION, "Who are the parties?", "Which law governs the agreement?"]


class CountingBackend(FakeBackend):
    """The fake backend, slowed a little, recording how many generations overlap."""

    active = 0
    peak = 0
    calls = 0
    guard = threading.Lock()

    def stream(self, messages: Sequence[ChatMessage], params: GenerationParams) -> TokenStream:
        cls = type(self)
        with cls.guard:
            cls.active += 1
            cls.calls += 1
            cls.peak = max(cls.peak, cls.active)
        inner = super().stream(messages, params)

        def pieces() -> Iterator[str]:
            try:
                for piece in inner:
                    time.sleep(0.002)  # widen the window in which overlap would show
                    yield piece
            finally:
                with cls.guard:
                    cls.active -= 1

        return TokenStream(pieces(), prompt_tokens=inner.prompt_tokens)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> type[CountingBackend]:
    CountingBackend.active = CountingBackend.peak = CountingBackend.calls = 0
    monkeypatch.setitem(BACKENDS, "fake", lambda s: CountingBackend(n_ctx=s.model.n_ctx))
    return CountingBackend


def test_two_askers_and_an_ingester(
    tmp_path: Path, tomes_home: Path, serve: Any, counting: type[CountingBackend]
) -> None:
    workspace = Workspace(
        Settings.load(overrides={"model.backend": "fake", "retrieval.embeddings": False})
    )
    server = serve(workspace)
    setup = Client(server.base_url, verbose=False, headers=server.headers)
    setup.predict("Acme", api_name="/create_project")
    contract = make_pdf(tmp_path / "contract.pdf", CONTRACT_PAGES)
    setup.predict("Acme", [handle_file(str(contract))], api_name="/add_files")
    batch = [
        make_pdf(
            tmp_path / "batch" / f"annex-{i:02d}.pdf",
            [f"Annex {i}. " + " ".join(CONTRACT_PAGES)] * 20,
        )
        for i in range(12)
    ]
    answers: dict[str, list[dict[str, Any]]] = {"a": [], "b": []}
    errors: list[BaseException] = []
    ingest_events: list[dict[str, Any]] = []
    latencies: list[float] = []

    def asker(name: str) -> None:
        try:
            client = Client(server.base_url, verbose=False, headers=server.headers)
            for i in range(20):
                t0 = time.perf_counter()
                answers[name].append(client.predict("Acme", QUESTIONS[i % 3], api_name="/ask"))
                latencies.append(time.perf_counter() - t0)
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)

    def ingester() -> None:
        try:
            client = Client(server.base_url, verbose=False, headers=server.headers)
            ingest_events.extend(
                client.predict("Acme", [handle_file(str(p)) for p in batch], api_name="/add_files")
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=asker, args=(n,)) for n in answers]
    threads.append(threading.Thread(target=ingester))
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    wall = time.perf_counter() - started
    assert not errors, errors
    assert all(len(v) == 20 for v in answers.values())
    for answer in answers["a"] + answers["b"]:
        assert answer["citations"], answer
        assert answer["citations"][0]["verified"]
    assert sum(1 for e in ingest_events if e["status"] == "added") == len(batch)
    assert counting.peak == 1, "two requests used the model at the same time"
    assert counting.calls >= 40
    latencies.sort()
    print(
        f"\n40 questions from 2 clients while ingesting {len(batch)} PDFs: {wall:.1f}s wall, "
        f"median {latencies[len(latencies) // 2]:.2f}s, max {latencies[-1]:.2f}s per answer, "
        f"peak concurrent model use {counting.peak}"
    )
