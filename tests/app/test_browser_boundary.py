"""The boundary in a real browser (Debian's Chromium): the printed token URL signs the page
in, the bare address does not, and a destructive action goes through its confirmation (the
nonce round trip) in the real UI. Fake backend: this is about the server, not the model."""

from __future__ import annotations

from typing import Any

import pytest

from engine.settings import Settings
from engine.workspace import Workspace
from tests.app.test_browser import CHROMIUM, browser_page

FAKE = {"model.backend": "fake", "retrieval.embeddings": False}


@pytest.mark.browser
def test_the_token_url_signs_the_browser_in_and_deleting_asks_first(serve: Any) -> None:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is not installed at /usr/bin/chromium: apt-get install chromium")
    workspace = Workspace(Settings.load(overrides=FAKE))
    workspace.create_project("Acme")
    workspace.create_project("Beta")
    server = serve(workspace)
    with browser_page() as (page, outside):
        refused = page.goto(server.base_url)
        assert refused is not None and refused.status == 401
        assert "?token=" in page.inner_text("body")  # it says what to open instead
        page.goto(server.url)
        assert "token=" not in page.url  # the token left the address bar
        page.wait_for_selector("#main", state="visible", timeout=60_000)
        cookies = page.context.cookies()
        session = next(c for c in cookies if c["name"].startswith("tomes-session-"))
        assert session["httpOnly"] and session["sameSite"] == "Strict"
        # delete the open project: the question first, then the confirmed click
        page.get_by_role("button", name="Delete", exact=True).first.click()
        page.wait_for_selector("text=cannot be undone", timeout=30_000)
        page.get_by_role("button", name="Delete project").click()
        page.wait_for_selector("text=deleted", timeout=30_000)
    assert outside == []
    assert len(workspace.projects.list()) == 1
