"""The web page in a real Chromium against the real service: both flows end to end, no console errors.

Debian's chromium is driven through Playwright's sync API (`playwright install` is not needed). Without
chromium the tests skip with a reason, unless STYLEWAVE_REQUIRE_BROWSER=1 (as in CI) makes that a failure.
"""

from __future__ import annotations

import base64
import json
import math
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


def _drop_files(pg: Any, zone: str, paths: list[Path], mime: str = "image/png") -> None:
    """Drop files onto an element, as a drag from the desktop does (a `drop` event carrying a DataTransfer)."""
    files = [[p.name, base64.b64encode(p.read_bytes()).decode()] for p in paths]
    transfer = pg.evaluate_handle(
        """([files, mime]) => {
            const dt = new DataTransfer();
            for (const [name, b64] of files) {
                dt.items.add(new File([Uint8Array.from(atob(b64), c => c.charCodeAt(0))], name, {type: mime}));
            }
            return dt;
        }""",
        [files, mime],
    )
    pg.locator(zone).dispatch_event("dragover", {"dataTransfer": transfer})
    pg.locator(zone).dispatch_event("drop", {"dataTransfer": transfer})


def _images(tmp_path: Path) -> tuple[Path, Path]:
    content, style = tmp_path / "content.png", tmp_path / "style.png"
    make_content((64, 48)).save(content)
    make_style((48, 48)).save(style)
    return content, style


def _watch_preview(pg: Any) -> None:
    """Count the moments the live preview is shown while a job runs (it is hidden again once the result is in)."""
    pg.evaluate("""() => {
        window.previewsShown = 0;
        const fig = document.querySelector('#style-preview-fig');
        new MutationObserver(() => { if (!fig.hidden) window.previewsShown += 1; })
            .observe(fig, {attributes: true, attributeFilter: ['hidden']});
        new MutationObserver(() => { if (!fig.hidden) window.previewsShown += 1; })
            .observe(document.querySelector('#style-preview'), {attributes: true, attributeFilter: ['src']});
    }""")


def _stylize(pg: Any, size: str = "64", iterations: str = "40") -> None:
    pg.get_by_label("Size").fill(size)
    pg.get_by_label("Iterations").fill(iterations)
    pg.get_by_role("button", name="Stylize").click()


def _wait_result(pg: Any) -> None:
    pg.get_by_role("img", name="Result").wait_for(state="visible", timeout=240_000)
    pg.wait_for_function("() => document.querySelector('#style-result').naturalWidth > 0")


def test_stylize_flow_with_drag_and_drop_and_a_live_preview(page: Any, tmp_path: Path) -> None:
    content, style = _images(tmp_path)
    streams: list[str] = []
    page.on("request", lambda r: streams.append(r.url) if r.url.endswith("/events") else None)

    _drop_files(page, "#content-drop", [content])
    _drop_files(page, "#style-drop", [style])
    # The thumbnails of both choices appear, and the inputs hold the dropped files.
    page.get_by_role("img", name="Content image: content.png").wait_for()
    page.get_by_role("img", name="Style image: style.png").wait_for()
    assert page.evaluate("document.querySelector('#style').files.length") == 1
    page.get_by_label("Mode", exact=True).select_option("transfer")
    _watch_preview(page)
    _stylize(page)

    page.locator("#style-progress").wait_for(state="visible")
    _wait_result(page)
    assert _natural_width(page, "Result") == 64
    assert page.evaluate("window.previewsShown") >= 1, "no live preview was shown on the way to the result"
    assert streams, "the page did not follow the job over its event stream"
    assert page.locator("#style-status").inner_text().startswith("Done")
    link = page.get_by_role("link", name="Download the result (PNG)")
    assert link.get_attribute("href", timeout=1000).startswith("blob:")
    assert page.locator("#style-progress").evaluate("p => p.value") == 1
    # The history strip shows the job, succeeded, with its thumbnail and a link to the result.
    item = page.locator("#history-list li.succeeded").first
    item.locator("img").wait_for()
    assert item.get_by_role("link").get_attribute("href").endswith("/result")


def test_a_refused_submission_keeps_the_previous_result(page: Any, tmp_path: Path) -> None:
    content, style = _images(tmp_path)
    page.get_by_label("Content image").set_input_files(str(content))
    page.get_by_label("Style image").set_input_files(str(style))
    _stylize(page, size="32", iterations="5")
    _wait_result(page)
    before = page.locator("#style-result").get_attribute("src")
    status = page.locator("#style-status").inner_text()

    _stylize(page, size="-5", iterations="5")
    page.wait_for_function("() => document.querySelector('#style-error').textContent.length > 0")
    assert "size:" in page.get_by_role("alert").first.inner_text()  # a 422 item rendered as "field: msg"
    assert page.locator("#style-result").get_attribute("src") == before  # nothing wiped
    assert page.get_by_role("img", name="Result").is_visible()
    assert page.locator("#style-status").inner_text() == status
    # The browser logs the 422 response itself; that one is expected, anything else is not.
    page.problems[:] = [p for p in page.problems if "status of 422" not in p]


def test_empty_fields_say_the_api_defaults(page: Any) -> None:
    assert page.get_by_label("Size").input_value() == ""
    assert page.get_by_label("Size").get_attribute("placeholder") == "512"
    assert "Default: 512." in page.locator("#size-hint").inner_text()
    assert "Default: 150; style: 250; dream: 5 per octave." in page.locator("#iterations-hint").inner_text()
    assert "Default: 3000." in page.locator("#history-hint").inner_text()


def test_the_page_reconnects_when_the_stream_drops(page: Any, tmp_path: Path) -> None:
    content, style = _images(tmp_path)
    dropped: list[str] = []

    def drop_first(route: Any) -> None:
        if not dropped:
            dropped.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route("**/events", drop_first)
    page.get_by_label("Content image").set_input_files(str(content))
    page.get_by_label("Style image").set_input_files(str(style))
    _stylize(page, size="32", iterations="20")
    _wait_result(page)
    assert dropped and page.locator("#style-status").inner_text().startswith("Done")
    page.problems[:] = [p for p in page.problems if "ERR_FAILED" not in p]  # the drop we caused


def test_waves_form_live_chart_and_json_toggle(page: Any) -> None:
    chart = page.locator("#wave-chart path.series").first
    before = chart.get_attribute("d")
    amplitude = page.get_by_label("Amplitude of term 1, channel 1")
    assert amplitude.input_value() == "5"
    amplitude.fill("25")
    page.wait_for_function(f"() => document.querySelector('#wave-chart path.series').getAttribute('d') !== {before!r}")

    page.get_by_role("button", name="Add a term to channel 1").click()
    assert page.get_by_label("Period of term 3, channel 1").input_value() == "100"
    page.get_by_role("button", name="Remove term 2 of channel 1").click()
    assert page.locator("#channels fieldset").first.locator("li.term:not(.heads)").count() == 2

    page.get_by_role("button", name="Edit as JSON").click()
    box = page.get_by_label("Waves (JSON)")
    waves = json.loads(box.input_value())
    assert waves[0]["terms"][0]["amplitude"] == 25 and len(waves[0]["terms"]) == 2
    waves[1]["terms"][0]["period"] = 77
    box.fill(json.dumps(waves))
    page.get_by_role("button", name="Edit as a form").click()
    assert page.get_by_label("Period of term 1, channel 2").input_value() == "77"


def test_forecast_is_drawn_interactively_and_reopens_from_the_history(page: Any) -> None:
    page.get_by_label("Preset").select_option("original")
    page.get_by_label("History").fill("400")
    page.get_by_label("Horizon").fill("10")
    page.get_by_label("Model", exact=True).select_option("harmonic")
    page.get_by_role("button", name="Forecast").click()

    page.locator("#wave-result").wait_for(state="visible", timeout=240_000)
    panels = page.locator("#forecast-chart svg")
    assert panels.count() == 2  # one per channel
    for part in ("history-line", "forecast-line", "actual-line", "band80", "band95"):
        assert page.locator(f"#forecast-chart path.{part}").count() == 2, part
    assert "model harmonic" in page.locator("#forecast-title").inner_text()
    # Hovering over the last forecast step shows its values, the same as the result JSON.
    result = page.evaluate("async () => (await fetch(document.querySelector('#wave-download').href)).json()")
    box = panels.first.bounding_box()
    page.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)  # the last step
    tip = page.locator("#forecast-chart .tip")
    tip.wait_for(state="visible")
    last = result["forecast"][-1][0]
    assert f"step {result['start'] + 9}" in tip.inner_text()
    assert f"forecast {last:.3f}" in tip.inner_text() or f"forecast {last:.1f}" in tip.inner_text()
    assert "actual" in tip.inner_text() and "95%" in tip.inner_text()
    # The keyboard reads the same values.
    page.locator("#forecast-chart").focus()
    page.keyboard.press("End")
    assert f"step {result['start'] + 9}" in page.locator("#forecast-readout").inner_text()
    # The PNG plot stays downloadable.
    png = page.evaluate("""async () => {
        const b = await (await fetch(document.querySelector('#wave-plot-link').href)).blob(); return b.type; }""")
    assert png == "image/png"
    assert "harmonic (used)" in page.get_by_role("table").inner_text()
    # Less history on show: the forecast takes more of the width.
    points = "() => document.querySelector('#forecast-chart path.history-line').getAttribute('d').split('L').length"
    recent = page.evaluate(points)
    page.get_by_label("forecast only").check()
    assert page.evaluate(points) < recent

    # A fresh visit lists the job in the history strip; opening it draws the forecast again.
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    page.locator("#history-list li.succeeded").first.get_by_role("button").click()
    page.locator("#forecast-chart path.forecast-line").first.wait_for()
    assert page.locator("#wave-result").is_visible()


def test_csv_upload_forecasts_the_series(page: Any, tmp_path: Path) -> None:
    csv = tmp_path / "observed.csv"
    rows = ["date,a,b"] + [
        f"2024-01-{1 + i // 24:02d}T{i % 24:02d}:00,{math.sin(i / 8):.5f},{math.cos(i / 5):.5f}" for i in range(240)
    ]
    csv.write_text("\n".join(rows) + "\n")
    page.get_by_label("Observed series (CSV)").check()
    _drop_files(page, "#csv-drop", [csv], mime="text/csv")
    page.wait_for_function("() => document.querySelector('#csv-summary').textContent.includes('240 rows')")
    # The chart redraw is debounced after the file is read: wait for it rather than race it.
    page.wait_for_function("() => document.querySelectorAll('#wave-chart path.series').length === 2")
    page.get_by_label("Horizon").fill("12")
    page.get_by_label("Model", exact=True).select_option("harmonic")
    page.get_by_role("button", name="Forecast").click()
    page.locator("#forecast-chart path.forecast-line").first.wait_for(timeout=240_000)
    assert page.locator("#forecast-chart svg").count() == 2
    assert "from step 240" in page.locator("#forecast-title").inner_text()


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


def test_every_control_is_labelled_reachable_by_keyboard_in_order(page: Any) -> None:
    _tab_order(page)
    page.get_by_role("button", name="Add a term to channel 2").click()  # controls made at run time count too
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(el => el.labels.length === 0 && !el.getAttribute('aria-label')).map(el => el.id)""")
    assert unlabelled == []
    unnamed = page.evaluate("""() => [...document.querySelectorAll('button')]
        .filter(b => !(b.getAttribute('aria-label') || b.textContent.trim())).map(b => b.outerHTML)""")
    assert unnamed == []


def _tab_order(page: Any) -> None:
    # Tabbing from the top reaches every key control, in the order of the page (no positive tabindex).
    assert page.locator("[tabindex]:not([tabindex='0']):not([tabindex='-1'])").count() == 0
    wanted = ["content", "style", "stylize", "source-waves", "ch0-t0-amplitude", "json-toggle", "horizon", "forecast"]
    order: list[str] = []
    page.locator("body").focus()
    for _ in range(120):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.id")
        if focused in wanted and focused not in order:
            order.append(focused)
        if len(order) == len(wanted):
            break
    assert order == wanted


def test_the_api_docs_work_offline_under_the_sites_csp(browser: Any, request: pytest.FixtureRequest) -> None:
    """/docs renders every operation from files the service ships: no other host, no CSP violation."""
    stack = request.getfixturevalue("service")
    context = browser.new_context()
    pg = context.new_page()
    problems: list[str] = []
    hosts: set[str] = set()
    pg.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    pg.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    pg.on("request", lambda req: hosts.add(req.url.split("/")[2]))
    pg.set_default_timeout(30_000)
    response = pg.goto(stack.url + "/docs")
    assert response is not None and "frame-ancestors 'none'" in response.headers["content-security-policy"]
    pg.wait_for_function("document.querySelectorAll('.opblock').length >= 10")  # every operation is listed
    pg.locator(".opblock-summary-path[data-path='/v1/wave-forecasts']").click()  # expands, renders the schema
    pg.wait_for_selector(".opblock-body .model-example")
    context.close()
    assert problems == [], problems
    assert hosts == {stack.url.split("/")[2]}, hosts
