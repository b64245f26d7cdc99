"""The whole app in a real browser (Debian's Chromium through Playwright), answering with the
real embedded model: create a project, upload a PDF, ask, open the cited page, pin, export.

Every request the page makes is checked: anything not on 127.0.0.1/localhost fails the test
(no CDN, no fonts, no telemetry). Screenshots of the answered chat and of the source viewer are
saved in the test's tmp dir and, if TOMES_SCREENSHOT_DIR is set, there too.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import docx
import pytest

from engine.settings import Settings
from engine.workspace import Workspace
from tests.app.conftest import FEE_QUESTION

CHROMIUM = Path("/usr/bin/chromium")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
ANSWER_TIMEOUT_MS = 240_000


@contextlib.contextmanager
def browser_page() -> Iterator[tuple[Any, list[str]]]:
    """A Chromium page that refuses, and records, every request to another machine."""
    from playwright.sync_api import sync_playwright

    outside: list[str] = []

    def guard(route: Any) -> None:
        url = route.request.url
        host = urlparse(url).hostname or ""
        if url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-gpu",
            ],
        )
        context = browser.new_context(
            viewport={"width": 1440, "height": 960}, accept_downloads=True
        )
        context.route("**/*", guard)
        page = context.new_page()
        page.on("websocket", lambda ws: guard_ws(ws.url, outside))
        try:
            yield page, outside
        finally:
            context.close()
            browser.close()


# Record every text the last chat message shows while the answer streams in.
_WATCH_CHAT_JS = """
window.tomesSeen = [];
new MutationObserver(() => {
  const messages = document.querySelectorAll('#chat .message');
  const last = messages[messages.length - 1];
  const text = last ? last.innerText.trim() : '';
  if (text && window.tomesSeen[window.tomesSeen.length - 1] !== text) window.tomesSeen.push(text);
}).observe(document.querySelector('#chat'), {childList: true, subtree: true, characterData: true});
"""


def guard_ws(url: str, outside: list[str]) -> None:
    if (urlparse(url).hostname or "") not in LOCAL_HOSTS:
        outside.append(url)


def _shot(page: Any, name: str, tmp_path: Path, extra: Path | None) -> Path:
    target = tmp_path / "screenshots" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target))
    if extra is not None:
        extra.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, extra / name)
    return target


@pytest.mark.browser
@pytest.mark.model
def test_ask_cite_view_pin_and_export_in_a_browser(
    real_model_env: Path,
    contract_pdf: Path,
    serve: Any,
    tmp_path: Path,
    screenshot_dir: Path | None,
) -> None:
    if not CHROMIUM.exists():
        pytest.fail(
            "Chromium is not installed at /usr/bin/chromium: run `apt-get install chromium` "
            "(Debian's package; never `playwright install`). CI installs it."
        )
    server = serve(Workspace(Settings.load()))
    with browser_page() as (page, outside):
        _ask_cite_view_pin_export(page, server.url, contract_pdf, tmp_path, screenshot_dir)
    assert outside == [], f"requests left this machine: {outside}"


def _ask_cite_view_pin_export(
    page: Any, url: str, contract_pdf: Path, tmp_path: Path, screenshot_dir: Path | None
) -> None:
    """The user's whole path, from an empty app to an exported report."""
    page.goto(url)

    # first run: the welcome panel offers to create a project
    page.locator("#welcome-name textarea, #welcome-name input").first.fill("Acme contracts")
    page.click("#welcome-create")
    page.wait_for_selector("#main", state="visible")
    page.wait_for_selector("#upload", state="visible")  # a new project opens on Documents

    # upload the PDF and watch it get read and indexed
    page.set_input_files("#upload input[type=file]", str(contract_pdf))
    page.wait_for_selector("#upload :text('contract.pdf')")
    page.click("#add-btn")
    page.wait_for_selector("#file-status .tomes-badge.added", timeout=60_000)
    assert "3 pages" in page.inner_text("#file-status")
    page.wait_for_function(
        "document.querySelector('#index-status').innerText.includes('summary tree ready')",
        timeout=180_000,
    )

    # ask about the fact on page 2; the answer streams, then its sources appear as chips
    page.get_by_role("tab", name="Ask").click()
    page.locator("#question textarea").fill(FEE_QUESTION)
    page.evaluate(_WATCH_CHAT_JS)
    page.click("#ask-btn")
    page.wait_for_selector("#chips .tomes-chip", timeout=ANSWER_TIMEOUT_MS)
    answer = page.locator("#chat .message").last.inner_text()
    assert "7,350" in answer, answer
    seen = page.evaluate("window.tomesSeen")
    partial = [t for t in seen if t and t != answer.strip() and answer.startswith(t[:20])]
    assert partial, f"the answer did not stream: {seen}"
    chip = page.locator("#chips .tomes-chip", has_text="contract.pdf p. 2").first
    assert chip.is_visible(), page.inner_text("#chips")
    page.wait_for_timeout(300)  # let the chat settle before the picture is taken
    chat_png = _shot(page, "chat.png", tmp_path, screenshot_dir)

    # the chip opens the source viewer at page 2 with the quoted words marked
    chip.click()
    page.wait_for_selector("#viewer-text mark", timeout=30_000)
    assert "Page 2 of 3" in page.inner_text("#viewer-head")
    assert "7,350" in page.inner_text("#viewer-text")
    page.wait_for_selector("#viewer-image img", timeout=30_000)
    page.locator("#viewer-head").scroll_into_view_if_needed()
    viewer_png = _shot(page, "viewer.png", tmp_path, screenshot_dir)

    # pin the answer, then export the notes as a Word report
    page.click("#pin-btn")
    page.wait_for_selector("text=Pinned to your notes", timeout=30_000)
    page.get_by_role("tab", name="Notes & export").click()
    page.wait_for_selector("#export-notes input[type=checkbox]:checked", timeout=30_000)
    page.click("#export-btn")
    link = page.locator("#export-file a").first
    link.wait_for(timeout=30_000)
    with page.expect_download() as info:
        link.click()
    report = tmp_path / "report.docx"
    info.value.save_as(str(report))
    text = "\n".join(p.text for p in docx.Document(str(report)).paragraphs)
    assert "contract.pdf p. 2" in text and FEE_QUESTION in text

    assert chat_png.stat().st_size > 10_000 and viewer_png.stat().st_size > 10_000
