"""The progress of a background drawing in a real browser (headless Chromium, Playwright).

The page of a large context shows the summary and a progress bar; a drawing
run (in this process, as a worker would make it) finishes; the page's script
notices on its next poll and swaps in the full drawing without a reload, with
pan and zoom working; a group is expanded the same way.  Screenshots land in
test-artifacts/screenshots/.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from lineage_ui import precompute
from store.models import GraphDrawing
from tests.graphs.builders import BigContext
from tests.graphs.conftest import Sent
from tests.ui.conftest import screenshot_path

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

USERNAME = "ana"
PASSWORD = "a long browser password 7"


@pytest.fixture
def reader(transactional_db: None, settings: Any) -> User:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return User.objects.create_user(USERNAME, "ana@example.com", PASSWORD)


def log_in(page: Any, base: str) -> None:
    page.goto(base + "/accounts/login/")
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")


def test_the_full_drawing_replaces_the_summary_when_ready(
    live_server: Any, reader: User, big: BigContext, sent: Sent, browser_page: Any, settings: Any
) -> None:
    page = browser_page
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/contexts/{big.context_id}/")
    job = page.locator('[data-testid="graph-job"]')
    assert job.is_visible()
    assert page.locator("progress[data-graph-job-progress]").is_visible()
    assert page.locator(".graph-viewport svg").count() == 1  # the summary, meanwhile
    assert "summary" in page.locator("#graph-title").inner_text()
    page.screenshot(path=str(screenshot_path("graphs-01-progress")), full_page=True)

    assert precompute.run(big.context_id, runner="task-1").status == "done"  # what the worker does
    page.wait_for_selector('[data-testid="graph-stored"]', timeout=30_000)  # swapped in by graph_job.js
    assert page.locator('[data-testid="graph-job"]').count() == 0
    assert page.url.endswith(f"/contexts/{big.context_id}/")  # no reload, no navigation
    viewport = page.locator(".graph-viewport")
    before = viewport.locator("svg").get_attribute("viewBox")
    page.click('[data-graph-action="zoom-in"]')
    assert viewport.locator("svg").get_attribute("viewBox") != before  # pan/zoom attached to the new drawing
    page.screenshot(path=str(screenshot_path("graphs-02-full-drawing")), full_page=True)

    # Expand a group from the list below the drawing: its members are drawn one by one.
    drawing = GraphDrawing.objects.get(variant="")
    trainers = next(g for g in drawing.node_index["groups"] if g["type"] == "Trainer" and not g["outcome"])
    page.click("details.graph-groups summary")
    page.click(f'a[href*="expand={trainers["key"]}"]')
    page.wait_for_selector('[data-testid="graph-job"]')
    assert precompute.run(big.context_id, trainers["key"], runner="task-2").status == "done"
    page.wait_for_selector('[data-testid="graph-job"]', state="detached", timeout=30_000)
    assert page.locator("text=(drawn one by one)").count() == 1
    assert page.locator(f'.graph-viewport svg [id="node_e{trainers["ids"][0]}"]').count() == 1
    page.screenshot(path=str(screenshot_path("graphs-03-group-expanded")), full_page=True)


def test_a_large_drawing_is_fetched_after_the_page(
    live_server: Any, reader: User, big: BigContext, sent: Sent, browser_page: Any, settings: Any
) -> None:
    settings.MLMD_GRAPH_INLINE_SVG_BYTES = 1000
    precompute.run(big.context_id, runner="task-1")
    page = browser_page
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/contexts/{big.context_id}/")
    page.wait_for_selector(".graph-viewport svg")
    assert page.locator('[data-testid="graph-loading"]').count() == 0
    assert page.locator(".graph-viewport svg g.node").count() > 10
