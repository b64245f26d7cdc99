"""Fixtures for the app's tests: a Workspace on the fake backend, handlers over it (as the
UI wires them), a generated contract PDF, and a running server (port 0, 127.0.0.1) that is
shut down after the test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.handlers import Handlers
from engine.settings import Settings
from engine.workspace import Workspace
from tests.support.app import Wired
from tests.support.fixtures import make_pdf

#: The generated contract: the distinctive fact (the fee) is on page 2.
CONTRACT_PAGES = [
    "SERVICES AGREEMENT\n\n"
    "1. Parties\n"
    "This agreement is made between Northwind Traders Ltd. (the Client)\n"
    "and Contoso Shipping plc (the Provider).\n\n"
    "2. Term\n"
    "The agreement starts on 1 April 2024 and runs for two years.",
    "3. Fees\n"
    "The monthly service fee is 7,350 euros, payable within 30 days\n"
    "of each invoice. Late payment bears interest at 2 percent per month.\n\n"
    "4. Reports\n"
    "The Provider sends a service report on the first Monday of each quarter.",
    "5. Termination\n"
    "Either party may terminate the agreement with sixty days written notice.\n\n"
    "6. Governing law\n"
    "The agreement is governed by the laws of Scotland.",
]
FEE_QUESTION = "What is the monthly service fee?"

FAKE = {"model.backend": "fake", "retrieval.embeddings": False}


@pytest.fixture(scope="session")
def screenshot_dir() -> Path | None:
    """TOMES_SCREENSHOT_DIR, read before the per-test `tomes_home` fixture clears TOMES_*."""
    value = os.environ.get("TOMES_SCREENSHOT_DIR")
    return Path(value) if value else None


@pytest.fixture
def contract_pdf(tmp_path: Path) -> Path:
    return make_pdf(tmp_path / "inbox" / "contract.pdf", CONTRACT_PAGES)


@pytest.fixture
def fake_workspace(tomes_home: Path) -> Iterator[Workspace]:
    """A Workspace answering with the deterministic fake backend, no embeddings (fast)."""
    workspace = Workspace(Settings.load(overrides=FAKE))
    try:
        yield workspace
    finally:
        workspace.close()


@pytest.fixture
def handlers(fake_workspace: Workspace) -> Handlers:
    """The app's handlers as its events call them (through the real wiring: an error is a
    warning toast that leaves the outputs as they were)."""
    return Wired(Handlers(fake_workspace))  # type: ignore[return-value]


def run(gen: Iterator[Any]) -> list[Any]:
    """Every value a generator handler yields."""
    return list(gen)
