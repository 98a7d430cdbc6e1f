"""The web page in a real Chromium against the real service: both flows end to end, no console errors.

Debian's chromium is driven through Playwright's sync API (`playwright install` is not needed). Without
chromium the tests skip with a reason, unless STYLEWAVE_REQUIRE_BROWSER=1 (as in CI) makes that a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_content, make_style
from tests.stack import Stack

CHROMIUM = os.environ.get("STYLEWAVE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REQUIRED = os.environ.get("STYLEWAVE_REQUIRE_BROWSER") == "1"


def _unavailable() -> str | None:
    """Why the browser test cannot run here, or None when it can."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"{CHROMIUM} not found (install Debian's chromium; `make test` does so when run as root)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -e '.[dev]')"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = _unavailable()
    if reason is not None:
        if REQUIRED:
            pytest.fail(f"STYLEWAVE_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@contextmanager
def open_page(browser: Any, stack: Stack) -> Iterator[Any]:
    """A fresh page on `stack`; any page error or console error fails the test when it closes."""
    context = browser.new_context()
    pg = context.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    pg.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    pg.set_default_timeout(30_000)
    pg.goto(stack.url + "/")
    pg.wait_for_selector("body[data-ready=true]")
    pg.problems = problems  # tests that provoke an error response remove the one they expect
    yield pg
    context.close()
    assert problems == [], f"{problems}\n{stack.logs()}"


@pytest.fixture()
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    # The service is asked for only now: without a browser the test skips before starting it.
    with open_page(browser, request.getfixturevalue("service")) as pg:
        yield pg


def _natural_width(pg: Any, alt_part: str) -> int:
    return int(pg.get_by_role("img", name=alt_part).evaluate("img => img.complete ? img.naturalWidth : 0"))


def test_stylize_flow(page: Any, tmp_path: Path) -> None:
    content, style = tmp_path / "content.png", tmp_path / "style.png"
    make_content((64, 48)).save(content)
    make_style((48, 48)).save(style)

    page.get_by_label("Content image").set_input_files(str(content))
    page.get_by_label("Style image").set_input_files(str(style))
    # The thumbnails of both choices appear.
    page.get_by_role("img", name="Content image: content.png").wait_for()
    page.get_by_role("img", name="Style image: style.png").wait_for()
    page.get_by_label("Size").fill("64")
    page.get_by_label("Iterations").fill("20")
    page.get_by_label("Mode", exact=True).select_option("transfer")
    page.get_by_role("button", name="Stylize").click()

    assert page.locator("#style-progress").is_visible()
    result = page.get_by_role("img", name="Result")
    result.wait_for(state="visible", timeout=240_000)
    page.wait_for_function("() => document.querySelector('#style-result').naturalWidth > 0")
    assert _natural_width(page, "Result") == 64
    assert page.get_by_role("status").first.inner_text().startswith("Done")
    link = page.get_by_role("link", name="Download the result (PNG)")
    assert link.get_attribute("href", timeout=1000).startswith("blob:")
    assert page.locator("#style-progress").evaluate("p => p.value") == 1


def test_bad_input_shows_the_api_message_inline(page: Any, tmp_path: Path) -> None:
    content = tmp_path / "content.png"
    make_content((64, 48)).save(content)
    page.get_by_label("Content image").set_input_files(str(content))
    page.get_by_label("Size").fill("-5")
    page.get_by_role("button", name="Stylize").click()
    alert = page.get_by_role("alert").first
    alert.wait_for()
    page.wait_for_function("() => document.querySelector('#style-error').textContent.length > 0")
    text = alert.inner_text()
    assert "size:" in text, text  # a 422 item rendered as "field: msg"
    # The browser logs the 422 response itself; that one is expected, anything else is not.
    page.problems[:] = [p for p in page.problems if "status of 422" not in p]


def test_forecast_flow(page: Any) -> None:
    page.get_by_label("Preset").select_option("original")
    assert '"period": 300' in page.get_by_label("Waves (JSON)").input_value()
    page.get_by_label("History").fill("400")
    page.get_by_label("Horizon").fill("10")
    page.get_by_label("Model", exact=True).select_option("harmonic")
    page.get_by_role("button", name="Forecast").click()

    plot = page.get_by_role("img", name="Forecast")
    plot.wait_for(state="visible", timeout=240_000)
    page.wait_for_function("() => document.querySelector('#wave-plot').naturalWidth > 0")
    assert _natural_width(page, "Forecast") > 0
    table = page.get_by_role("table")
    assert "harmonic (used)" in table.inner_text()
    assert table.locator("tbody tr").count() >= 3  # the model and the baselines it was scored against


def test_api_key_and_queue_position(browser: Any, tmp_path: Path) -> None:
    """With API keys set, the page asks for one, sends it, and shows the queue position of a waiting job."""
    stack = Stack(tmp_path, env={"STYLEWAVE_API_KEYS": "page-key"}, workers=0).start()  # no worker: jobs wait
    try:
        with open_page(browser, stack) as pg:
            pg.get_by_label("History").fill("400")
            pg.get_by_role("button", name="Forecast").click()
            pg.wait_for_function("() => document.querySelector('#wave-error').textContent.includes('API key')")
            assert "missing or unknown API key" in pg.get_by_role("alert").inner_text()  # the API's own detail
            pg.problems[:] = [p for p in pg.problems if "status of 401" not in p]

            pg.get_by_text("API key", exact=True).first.click()  # opens the <details>
            pg.get_by_label("API key", exact=True).fill("page-key")
            pg.get_by_label("API key", exact=True).press("Tab")  # `change` stores it
            assert pg.evaluate("localStorage.getItem('stylewave.apiKey')") == "page-key"
            pg.get_by_role("button", name="Forecast").click()
            pg.wait_for_function("() => document.querySelector('#wave-status').textContent.includes('position 1')")
            assert pg.locator("#wave-progress").is_visible()
            pg.get_by_role("button", name="Cancel").click()  # the only visible one: the forecast's
            pg.wait_for_function("() => document.querySelector('#wave-status').textContent.startsWith('Canceled')")
            assert pg.locator("#wave-error").inner_text() == ""
    finally:
        stack.stop()


def test_every_control_is_labelled_and_reachable_by_keyboard(page: Any) -> None:
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(el => el.labels.length === 0 && !el.getAttribute('aria-label')).map(el => el.id)""")
    assert unlabelled == []
    # Tabbing from the top reaches the Stylize button (no control traps the focus or is skipped).
    page.locator("body").focus()
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "stylize":
            break
    else:
        raise AssertionError("Stylize was not reached by Tab")
