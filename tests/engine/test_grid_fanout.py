"""Fan-out of a review grid (issue 13): with the OpenAI-compatible backend, up to
`concurrency` cells are in flight at once against the server, and the answers are those of
the same grid run one by one; an in-process model is held by one cell at a time. The server is
`engine.testing.StubOpenAIServer` on 127.0.0.1 (answers like the fake backend, after a fixed
delay). Cells/s at N = 1, 4, 16 are measured in bench/grid.py, not asserted here."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.llm.models import ModelManager, PriorityLock
from engine.settings import Settings
from engine.testing import StubOpenAIServer
from engine.types import GridColumn
from engine.workspace import Workspace
from tests.engine.test_grid import FAKE, SMALL_CHUNKS
from tests.support.contracts import QUESTIONS, write_contracts


@pytest.fixture
def stub() -> Iterator[StubOpenAIServer]:
    with StubOpenAIServer(delay_s=0.3) as server:
        yield server


def _server_settings(url: str) -> dict[str, object]:
    return {
        "model.backend": "openai",
        "model.base_url": url,
        "retrieval.embeddings": False,
        **SMALL_CHUNKS,
    }


def _answers(ws: Workspace, project, grid_id: int) -> dict:  # type: ignore[no-untyped-def]
    page = ws.grid_page(project, grid_id)

    def cites(cell):  # type: ignore[no-untyped-def]
        return [(x.locator.page, x.quote) for x in cell.citations]

    return {
        (r.document, c.question): (
            c.state,
            c.answer,
            [(x.locator.page, x.quote) for x in c.citations],
        )
        for r in page.rows
        for c in r.cells
    }


def test_server_cells_run_side_by_side_and_answer_as_one_by_one(
    stub: StubOpenAIServer, tomes_home: Path, tmp_path: Path
) -> None:
    paths = write_contracts(tmp_path / "inbox")
    # (governing law, the notice period and the parties are read without the model now: a
    # question the model answers in its words makes the cells that reach the server)
    questions = [
        *QUESTIONS,
        "When does risk in the products pass to the Customer?",
        "When are the invoices payable?",
    ]
    # the same grid, answered in process one cell at a time by the fake backend
    local = Workspace(Settings.load(overrides={**FAKE, **SMALL_CHUNKS}))
    try:
        p1 = local.project("Local", create=True)
        list(local.ingest(p1, paths, background_index=False))
        g1 = local.save_grid(p1, "G", [GridColumn(q) for q in questions])
        list(local.run_grid(p1, g1.id, concurrency=4))  # in process: one at a time anyway
        expected = _answers(local, p1, g1.id)
    finally:
        local.close()
    ws = Workspace(Settings.load(overrides=_server_settings(stub.url)))
    try:
        project = ws.project("Served", create=True)
        list(ws.ingest(project, paths, background_index=False))
        grid = ws.save_grid(project, "G", [GridColumn(q) for q in questions])
        last = list(ws.run_grid(project, grid.id, concurrency=4))[-1]
        assert (last.done, last.failed) == (15, 0)
        asked = stub.requests
        assert asked >= 4, "too few cells asked the model to show a fan-out"
        assert stub.max_in_flight == 4  # four requests at once, never more
        assert _answers(ws, project, grid.id) == expected
        # one lane: one request at a time
        stub.max_in_flight = 0
        list(ws.run_grid(project, grid.id, concurrency=1, overrides={"model.seed": 1}))
        assert stub.max_in_flight == 1
    finally:
        ws.close()


def test_a_question_waits_only_for_the_requests_in_flight(stub: StubOpenAIServer) -> None:
    models = ModelManager()
    settings = Settings.load(overrides=_server_settings(stub.url))
    try:
        inside = threading.Barrier(3)
        release = threading.Event()

        def cell() -> None:
            with models.share(settings) as backend:
                assert backend.name == "openai"
                inside.wait(5)
                release.wait(5)

        workers = [threading.Thread(target=cell) for _ in range(2)]
        for t in workers:
            t.start()
        inside.wait(5)  # both cells hold the server backend at once
        assert models._lock.shared_holders == 2
        got: list[float] = []
        asker = threading.Thread(
            target=lambda: (models.acquire(settings), got.append(time.perf_counter()))
        )
        asker.start()
        time.sleep(0.2)
        assert not got  # an exclusive hold (a chat question) waits for the cells in flight
        release.set()
        asker.join(5)
        assert got
        for t in workers:
            t.join(5)
        models.release()
    finally:
        models.close()


def test_an_in_process_model_is_held_by_one_cell_at_a_time(tomes_home: Path) -> None:
    models = ModelManager()
    settings = Settings.load(overrides=FAKE)
    try:
        assert not models.concurrent(settings)
        holding = threading.Event()
        release = threading.Event()

        def cell() -> None:
            with models.share(settings):
                holding.set()
                release.wait(5)

        first = threading.Thread(target=cell)
        first.start()
        holding.wait(5)
        lock = models._lock
        assert isinstance(lock, PriorityLock) and lock.shared_holders == 0
        assert not lock.acquire(high=False, timeout=0.2)  # held exclusively by the cell
        release.set()
        first.join(5)
        assert lock.acquire(high=False, timeout=1)
        lock.release()
    finally:
        models.close()


def test_a_reply_cut_short_by_the_server_fails_the_cell_instead_of_answering(
    tomes_home: Path, tmp_path: Path
) -> None:
    # llama_cpp.server ends a request's stream when another arrives: the cut reply must not be
    # read as "not found" (a wrong answer); the cell fails with the reason and is retried.
    with StubOpenAIServer() as server:
        server.cut_short = True
        ws = Workspace(Settings.load(overrides=_server_settings(server.url)))
        try:
            project = ws.project("Cut", create=True)
            list(ws.ingest(project, write_contracts(tmp_path / "in")[:1], background_index=False))
            asked = "When does risk in the products pass to the Customer?"  # the model answers it
            grid = ws.save_grid(project, "G", [GridColumn(asked)])
            last = list(ws.run_grid(project, grid.id))[-1]
            assert last.failed == 1
            (cell,) = ws.grid_page(project, grid.id).rows[0].cells
            assert "ended a reply before it was finished" in cell.error
            server.cut_short = False
            last = list(ws.run_grid(project, grid.id))[-1]
            assert last.failed == 0 and last.computed == 1
        finally:
            ws.close()
