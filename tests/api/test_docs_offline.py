"""``/docs`` renders in a real browser with every request outside the server refused, and "Try it
out" works with a token pasted into Authorize.

Debian's Chromium (``apt-get install chromium``) driven by Playwright; Playwright's own browser
download is never used. Skipped locally without Chromium, a failure on CI.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import LiveServer

CHROMIUM = "/usr/bin/chromium"
# As the machine's notes advise: without the background-networking flags Chromium keeps dialling out.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        message = f"no {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


def test_docs_render_offline_and_try_it_out_works_with_a_token(
    server: LiveServer, chromium: str, tmp_path: Path
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    token = server.token_client().http.headers["X-Auth-Token"]
    own = urlsplit(server.endpoint).netloc
    refused: list[str] = []

    def only_the_server(route: Any) -> None:
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1800})
            page.route("**/*", only_the_server)
            page.goto(f"{server.endpoint}/docs", wait_until="networkidle")
            page.wait_for_selector(".opblock", timeout=120_000)  # 900 KB of schema on a busy machine
            blocks = page.locator(".opblock").count()
            assert blocks >= 209, blocks
            assert page.get_by_text("16.1.1 Querying the Dataset List").count() >= 1
            overview = tmp_path / "docs_offline.png"
            page.screenshot(path=str(overview))

            page.get_by_role("button", name="Authorize").first.click()
            scheme = page.locator(".auth-container").filter(has=page.locator("h4", has_text="X-Auth-Token"))
            scheme.locator("input").fill(token)
            scheme.locator("button.authorize").click()
            page.locator("button.close-modal").click()

            operation = page.locator("#operations-datasets-list_datasets")
            operation.locator(".opblock-summary").click()
            operation.get_by_role("button", name="Try it out").click()
            operation.locator("input[placeholder='project_id']").fill(server.credentials["project_id"])
            operation.get_by_role("button", name="Execute").click()
            status = operation.locator(".live-responses-table .response .response-col_status").first
            status.wait_for(timeout=30_000)
            assert status.inner_text().strip() == "200", operation.locator(
                ".live-responses-table"
            ).inner_text()
            assert '"datasets"' in operation.locator(".live-responses-table").inner_text()

            tried = tmp_path / "docs_try_it_out.png"
            operation.screenshot(path=str(tried))
        finally:
            browser.close()
    assert refused == [], refused
    keep = Path(tempfile.gettempdir())
    for shot in (overview, tried):
        shutil.copyfile(shot, keep / shot.name)
        print(f"screenshot: {shot} (copied to {keep / shot.name})")
