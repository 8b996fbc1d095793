"""The dashboard in a real browser: headless Chromium (Debian's package) driven by Playwright.

log in → home → an experiment (its context type's table) → a run (context page)
with its DAG → an artifact (clicked in the drawing) → its lineage → compare with
another artifact.  A screenshot of each page lands in test-artifacts/screenshots/
(the run prints the folder).  No test reaches the network: the site is
pytest-django's live server on 127.0.0.1, assets are served from static/.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from tests.ui.builders import Pipeline, record_pipeline
from tests.ui.conftest import screenshot_path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
USERNAME = "ana"
PASSWORD = "a long browser password 7"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _require_browser() -> None:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("the playwright package")
    if missing:
        message = "browser tests need " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def browser_page(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    _require_browser()
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the
    # test makes around it (fixtures, flush) are still plain synchronous calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        page.set_default_timeout(20_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()


@pytest.fixture
def recorded(transactional_db: None, settings: Any) -> Pipeline:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    User.objects.create_user(USERNAME, "ana@example.com", PASSWORD)
    return record_pipeline()


def shoot(page: Any, name: str) -> None:
    page.screenshot(path=str(screenshot_path(name)), full_page=True)


def test_walk_from_login_to_compare(live_server: Any, recorded: Pipeline, browser_page: Any) -> None:
    page = browser_page
    base = live_server.url

    # Log in: the dashboard sends an anonymous visitor to the login page.
    page.goto(base + "/")
    assert "/accounts/login/" in page.url
    shoot(page, "01-login")
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")

    # Home: counts, recent and failed executions.
    assert page.locator("h1").inner_text() == "Lineage dashboard"
    assert page.locator(".stat .n").first.inner_text() == "4"
    assert "trainer-3" in page.locator("#failed").locator("xpath=..").inner_text()
    shoot(page, "02-home")

    # Experiments → the runs of the experiment (the PipelineRun context type's table).
    page.click("nav.topnav >> text=Experiments & runs")
    page.click("text=PipelineRun")
    assert page.locator("h1").inner_text().startswith("PipelineRun")
    assert page.locator("table tbody tr").count() == 3
    assert "taxi-experiment" in page.locator("table tbody tr").first.inner_text()  # the parent context
    shoot(page, "03-experiment-runs")

    # A run: its execution DAG is an SVG whose nodes link to their pages.
    page.click("table >> text=run-2")
    assert page.locator("h1").inner_text().startswith("run-2")
    svg = page.locator(".graph-viewport svg")
    svg.wait_for()
    links = page.locator(".graph-viewport svg a")
    hrefs = {
        links.nth(i).get_attribute("xlink:href") or links.nth(i).get_attribute("href") for i in range(links.count())
    }
    model_url = f"/artifacts/{recorded.models[1]}/"
    assert f"/executions/{recorded.trainers[1]}/" in hrefs
    assert model_url in hrefs
    # Pan and zoom: the zoom button changes the drawing's viewBox.
    before = svg.get_attribute("viewBox")
    page.click("[data-graph-action=zoom-in]")
    assert svg.get_attribute("viewBox") != before
    page.click("[data-graph-action=fit]")
    shoot(page, "04-run-dag")

    # An artifact: click the model in the drawing.
    page.locator(f'.graph-viewport svg a[*|href="{model_url}"]').first.click()
    page.wait_for_url(base + model_url)
    assert page.locator("[data-testid=artifact-uri]").inner_text() == "s3://models/taxi/2"
    assert "trainer-2" in page.locator("#producers").locator("xpath=..").inner_text()
    shoot(page, "05-artifact")

    # Its lineage: one hop shows only the producing step, more hops reach the dataset.
    page.select_option("#hops", "1")
    page.wait_for_url(re.compile(r".*hops=1$"))
    assert page.locator(f'.graph-viewport svg [id="node_a{recorded.dataset}"]').count() == 0
    page.select_option("#hops", "4")
    page.wait_for_url(re.compile(r".*hops=4$"))
    assert page.locator(f'.graph-viewport svg [id="node_a{recorded.dataset}"]').count() == 1
    page.locator(".graph-card").scroll_into_view_if_needed()
    shoot(page, "06-artifact-lineage")

    # Compare with the other model, picked with the compare page's search.
    page.click("text=Compare with another artifact…")
    page.fill("#pick-q", "model-1")
    page.click("text=Find / compare")
    page.locator("[data-testid=compare-choices] tbody tr").first.locator("text=B").click()
    page.wait_for_selector("[data-testid=compare-table]")
    assert f"a={recorded.models[1]}" in page.url and f"b={recorded.models[0]}" in page.url
    differing = page.locator("table.compare tr.diff")
    assert differing.count() >= 4  # uri, name, learning_rate, train_steps
    labels = {differing.nth(i).locator("td").first.inner_text().split()[0] for i in range(differing.count())}
    assert {"uri", "name", "learning_rate", "train_steps"} <= labels
    highlighted = differing.first.locator("td").nth(1).evaluate("cell => getComputedStyle(cell).backgroundColor")
    plain = page.locator("table.compare tbody tr:not(.diff):not(.group)").first.locator("td").nth(1)
    assert highlighted != plain.evaluate("cell => getComputedStyle(cell).backgroundColor")
    assert page.locator(".marker.shared").count() == 1  # the dataset both trainers read
    shoot(page, "07-compare")


def test_compare_from_an_artifact_table(live_server: Any, recorded: Pipeline, browser_page: Any) -> None:
    page = browser_page
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/contexts/{recorded.experiment}/")
    button = page.locator("#artifacts").locator("xpath=..").locator("[data-compare-button]")
    assert button.is_disabled()
    page.check(f'input[name=id][value="{recorded.models[0]}"]')
    page.check(f'input[name=id][value="{recorded.models[1]}"]')
    assert button.is_enabled()
    button.click()
    page.wait_for_selector("[data-testid=compare-table]")
    assert f"a={recorded.models[0]}" in page.url
    # Keyboard: the drawing takes focus and zooms with "+".
    page.goto(f"{live_server.url}/contexts/{recorded.experiment}/")
    viewport = page.locator(".graph-viewport")
    viewport.focus()
    before = viewport.locator("svg").get_attribute("viewBox")
    page.keyboard.press("+")
    assert viewport.locator("svg").get_attribute("viewBox") != before
    shoot(page, "08-context-overview")
