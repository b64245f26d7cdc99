"""The Grid tab in a real browser (Debian's Chromium through Playwright) with the real
embedded model (issue 13): define a small grid, run it, watch the cells fill, click a cell
and see its page in the viewer with the quote marked, mark it reviewed, export it to Excel.
No request may leave this machine. The screenshot of the grid is saved in the test's tmp dir
and, if TOMES_SCREENSHOT_DIR is set, there too (assets/screenshot-grid.png comes from here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.settings import Settings
from engine.workspace import Workspace
from tests.app.test_browser import CHROMIUM, _shot, browser_page
from tests.support.contracts import QUESTIONS, write_contracts

LAW, NONCOMPETE, NOTICE = QUESTIONS
RUN_TIMEOUT_MS = 300_000


@pytest.mark.browser
@pytest.mark.model
def test_run_a_grid_click_a_cell_and_review_it_in_a_browser(
    real_model_env: Path, serve: Any, tmp_path: Path, screenshot_dir: Path | None
) -> None:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is not installed at /usr/bin/chromium: apt-get install chromium")
    ws = Workspace(
        Settings.load(
            overrides={"ingest.chunk_tokens": 64, "ingest.overlap_tokens": 0,
                       "retrieval.embeddings": False}
        )
    )  # fmt: skip
    project = ws.project("Supply contracts", create=True)
    list(ws.ingest(project, write_contracts(tmp_path / "inbox"), background_index=False))
    server = serve(ws, project="Supply contracts")
    with browser_page() as (page, outside):
        _grid_path(page, server.url, tmp_path, screenshot_dir)
    assert outside == [], f"requests left this machine: {outside}"


def _grid_path(page: Any, url: str, tmp_path: Path, screenshot_dir: Path | None) -> None:
    page.goto(url)
    page.wait_for_selector("#main", state="visible")
    page.get_by_role("tab", name="Grid").click()
    page.wait_for_selector("#grid-name", state="visible")
    name = page.locator("#grid-name textarea, #grid-name input").first
    questions = page.locator("#grid-questions textarea")
    wanted = f"Governing law | {LAW}\nNon-compete | {NONCOMPETE}\nNotice period | {NOTICE}"
    # The page's first loads (project, tab) may still be answering on a cold start: type until
    # the form keeps it, as a user would see their text and retype it.
    for _ in range(20):
        name.fill("Supplier review")
        questions.fill(wanted)
        page.wait_for_timeout(500)
        if name.input_value() == "Supplier review" and questions.input_value() == wanted:
            break
    page.click("#grid-save")
    page.wait_for_selector("#grid-table td.pending", timeout=30_000)
    assert page.locator("#grid-table td[data-cell]").count() == 9
    page.click("#grid-run")
    # cells fill in while the run goes on, then the progress line says it is done
    page.wait_for_selector("#grid-table td.found", timeout=RUN_TIMEOUT_MS)
    page.wait_for_function(
        "document.querySelector('#grid-progress').innerText.includes('Done: 9 of 9')",
        timeout=RUN_TIMEOUT_MS,
    )
    assert page.locator("#grid-table td.pending").count() == 0
    law_beta = page.locator("#grid-table tbody tr").nth(1).locator("td").nth(0)
    assert "New York" in law_beta.inner_text()
    # a click opens the cell: its answer, and its page in the viewer with the quote marked
    law_beta.click()
    page.wait_for_selector("#grid-viewer-text mark", timeout=30_000)
    assert "Page 2 of 3" in page.inner_text("#grid-viewer-head")
    marked = " ".join(page.locator("#grid-viewer-text mark").all_inner_texts())
    assert "New York" in " ".join(marked.split())  # the quote's lines are marked one by one
    assert "beta.pdf" in page.inner_text("#grid-cell")
    page.wait_for_selector("#grid-viewer-image img", timeout=30_000)
    page.locator("#grid-table").scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    shot = _shot(page, "grid.png", tmp_path, screenshot_dir)
    # mark it reviewed; the table shows it
    page.locator("#grid-reviewed input").check()
    page.click("#grid-save-review")
    page.wait_for_selector("#grid-table .mk.ok", timeout=30_000)
    # export to Excel and read it back
    page.click("#grid-export")
    link = page.locator("#grid-export-file a").first
    link.wait_for(timeout=30_000)
    with page.expect_download() as info:
        link.click()
    target = tmp_path / "grid.xlsx"
    info.value.save_as(str(target))
    from openpyxl import load_workbook

    sheet = load_workbook(target)["Grid"]
    assert sheet["B3"].value.startswith("✓ ") and "New York" in sheet["B3"].value
    assert shot.stat().st_size > 10_000
