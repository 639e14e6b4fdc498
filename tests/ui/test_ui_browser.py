"""End to end in a real browser: ``workbench ui`` on 127.0.0.1, Debian's Chromium driven by Playwright.

Opens every page, selects two trials in the trial table, opens the Compare view, opens an artifact
preview, checks that an HTML artifact's scripts do not run, and saves a screenshot of each page
under ``tests/_output/`` for review. Skipped only when ``/usr/bin/chromium`` is missing
(``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO
from ui_helpers import OUTSIDE

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OUTPUT = REPO / "tests" / "_output"
#: The log file of each running server (by its URL): what ``workbench ui`` printed.
SERVER_LOGS: dict[str, Path] = {}
RENDERED = """() => {
  const app = document.querySelector('[data-testid=stApp]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (document.querySelector('[data-testid=stSkeleton]')) return false;
  return [...document.querySelectorAll('[data-testid=stPlotlyChart]')].every(c => c.querySelector('.main-svg'));
}"""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(ui_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``workbench ui --home <workspace> --port <free port>`` (read-only, 127.0.0.1)."""
    port = free_port()
    log = tmp_path_factory.mktemp("ui-server") / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench", "ui", "--home", str(ui_home), "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    SERVER_LOGS[url] = log
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as r:  # noqa: S310
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"workbench ui did not start:\n{log.read_text()}") from None
                time.sleep(0.3)
        yield url
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):  # its own session: the server and anything it started
            try:
                os.killpg(proc.pid, sig)
                proc.wait(15)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1600})
    pg = context.new_page()
    yield pg
    context.close()


def wait_rendered(pg: Any, started_run: bool = False) -> None:
    if started_run:  # after a click: wait for the rerun it triggers to start
        try:
            pg.wait_for_function(
                "() => document.querySelector('[data-testid=stApp]')"
                ".getAttribute('data-test-script-state') === 'running'",
                timeout=5_000,
                polling=20,
            )
        except Exception:  # noqa: BLE001 - a fast rerun may already be over
            pass
    pg.wait_for_function(RENDERED, timeout=120_000, polling=50)
    errors = pg.locator("[data-testid=stException]").all_inner_texts()
    assert not errors, errors[0][:2000]


def shot(pg: Any, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)


def test_every_page_renders(server: str, page: Any) -> None:
    for name, path, expect in [
        ("01-experiments", "/", "quad-ui"),
        ("02-experiment-history", "/experiment?name=quad-ui", "Optimization history"),
        ("03-experiment-parallel", "/experiment?name=quad-ui&view=Parallel%20coordinates", "Parallel coordinates"),
        ("04-experiment-importance", "/experiment?name=quad-ui&view=Importance", "Parameter importance"),
        ("05-experiment-learning-curves", "/experiment?name=quad-ui&view=Learning%20curves", "Intermediate values"),
        ("06-experiment-timeline", "/experiment?name=quad-ui&view=Timeline", "Timeline"),
        ("07-experiment-pareto", "/experiment?name=zoo-mo", "Pareto front"),
        ("08-trial-sklearn", "/trial?experiment=sk-ui&trial=0", "sk-ui · trial 0"),
        ("09-lineage", "/lineage?experiment=sk-ui&trial=0", "artifact → execution → artifact"),
        ("10-runs", "/runs", "Standalone runs"),
        ("11-compare-experiments", "/compare?experiments=quad-ui,sk-ui", "best so far"),
    ]:
        page.goto(server + path)
        wait_rendered(page)
        page.get_by_text(expect).first.wait_for(timeout=30_000)
        shot(page, name)
    assert page.title() != "PWNED"


def test_select_two_trials_then_compare_and_preview_artifacts(server: str, page: Any) -> None:
    page.goto(server + "/experiment?name=zoo-mo&view=Trials")
    wait_rendered(page)
    grid = page.locator("[data-testid=stDataFrame]").first
    grid.wait_for()
    box = grid.bounding_box()
    assert box is not None
    for row in (0, 1):  # the row checkboxes at the left edge of the first two rows
        page.mouse.click(box["x"] + 18, box["y"] + 35 + 35 * row + 17)
        wait_rendered(page, started_run=True)
    button = page.get_by_role("button", name="Compare 2 trials")
    button.wait_for(timeout=30_000)
    shot(page, "12-experiment-two-trials-selected")
    button.click()
    page.wait_for_url("**/compare?*", timeout=60_000)
    wait_rendered(page, started_run=True)
    page.get_by_text("Differences only").first.wait_for(timeout=30_000)
    page.get_by_text("changed cells").first.wait_for(timeout=30_000)  # the first common output: the CSV table, diffed
    shot(page, "13-compare-trials-table-diff")
    # the confusion matrices side by side
    page.goto(server + "/compare?trials=zoo-mo:0,zoo-mo:1")
    wait_rendered(page)
    page.locator("[data-testid=stSelectbox]").filter(has_text="Output").click()
    page.keyboard.type("confusion")  # the list is filtered as one types
    page.get_by_role("option", name="score/confusion").click()
    wait_rendered(page, started_run=True)
    page.get_by_text("−").first.wait_for(timeout=30_000)  # the difference matrix "b − a"
    shot(page, "14-compare-trials-confusion")


def test_artifact_previews_and_html_sandbox(server: str, page: Any) -> None:
    page.goto(server + "/trial?experiment=zoo-mo&trial=0&artifact=make/table")
    wait_rendered(page)
    page.get_by_role("tab", name="Artifacts").click()
    page.get_by_text("ML Metadata id").first.wait_for(timeout=30_000)
    assert page.locator("[data-testid=stDataFrame]").count() >= 3  # parameters, metrics and the table artifact
    shot(page, "15-trial-artifact-table")
    page.goto(server + "/trial?experiment=zoo-mo&trial=0&artifact=make/page")
    wait_rendered(page)
    page.get_by_role("tab", name="Artifacts").click()
    page.get_by_text("scripts do not run").wait_for(timeout=30_000)
    outer = page.frame_locator("iframe[title='st.iframe'], [data-testid=stIFrame] iframe, iframe").first
    inner = outer.frame_locator("iframe[sandbox='']")
    inner.locator("#hello").wait_for(timeout=30_000)  # the HTML is shown...
    time.sleep(1.0)
    assert page.title() != "PWNED"  # ...but its script never ran (nor the onerror handler)
    assert "PWNED" not in page.evaluate("() => [...document.querySelectorAll('iframe')].map(f => f.title).join()")
    shot(page, "16-trial-artifact-html-sandboxed")
    page.goto(server + "/trial?experiment=sk-ui&trial=0&artifact=evaluate/confusion_matrix")
    wait_rendered(page)
    page.get_by_role("tab", name="Artifacts").click()
    page.get_by_text("Confusion matrix").first.wait_for(timeout=30_000)
    shot(page, "17-trial-artifact-confusion-matrix")
    page.get_by_role("tab", name="Pipeline").click()
    page.get_by_text("Pipeline").first.wait_for()
    shot(page, "18-trial-pipeline-graph")


def test_no_server_error_for_the_favicon_or_images_and_links_look_like_links(server: str, page: Any) -> None:
    """``GET /favicon.png`` and the images an artifact preview shows answer 200 (Streamlit 1.60's gzip middleware
    under Starlette 1.x answered 500 with an ASGI traceback in the terminal, on every page load); links between
    pages (st.page_link) are coloured like links, not like the text around them."""
    with urllib.request.urlopen(f"{server}/favicon.png", timeout=30) as r:  # noqa: S310
        assert r.status == 200 and r.headers["Content-Type"] == "image/png" and r.read(8) == b"\x89PNG\r\n\x1a\n"
    errors: list[tuple[int, str]] = []
    page.on("response", lambda r: errors.append((r.status, r.url)) if r.status >= 500 else None)
    page.goto(server + "/trial?experiment=zoo-mo&trial=0&artifact=make/image")
    wait_rendered(page)
    link = page.locator("[data-testid=stMain] [data-testid=stPageLink-NavLink]").first
    link.wait_for(timeout=30_000)
    assert link.locator("p").first.evaluate("e => getComputedStyle(e).color") == "rgb(28, 109, 208)"
    page.get_by_role("tab", name="Artifacts").click()
    image = page.locator("[data-testid=stImage] img").first
    image.wait_for(timeout=30_000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle(), timeout=30_000)
    time.sleep(1.0)
    assert not errors, errors
    assert "Traceback" not in SERVER_LOGS[server].read_text(errors="replace")


def test_markdown_from_steps_makes_no_outside_request(server: str, page: Any) -> None:
    """A failure message and a Markdown artifact holding an image, a link and an autolink to an outside address:
    the pages that show them make no request anywhere but the dashboard."""
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((server, "data:", "blob:")) else None)
    page.route(f"{OUTSIDE}/**", lambda route: route.abort())  # were one made, it ends at once
    for path, tab, text in [
        ("/trial?experiment=hostile-md&trial=0", "Logs", "exited with code 3"),
        ("/experiment?name=hostile-md&view=Trials", None, "hostile-md"),
        ("/trial?experiment=zoo-mo&trial=0&artifact=make/notes", "Artifacts", "scale is"),
    ]:
        page.goto(server + path)
        wait_rendered(page)
        if tab:
            page.get_by_role("tab", name=tab).click()
        page.get_by_text(text).first.wait_for(timeout=30_000)
        shot(page, "19-step-markdown-" + path.split("?")[0].strip("/"))
    time.sleep(1.0)
    assert not outside, outside
    assert page.get_by_text(f"{OUTSIDE}/notes.png").count() >= 1  # the address is shown, as text


def test_parallel_coordinates_title_and_ticks_are_legible(server: str, page: Any) -> None:
    """The title stays above the axis names and ranges; tick labels carry no text shadow (it smears them)."""
    page.goto(server + "/experiment?name=quad-ui&view=Parallel%20coordinates")
    wait_rendered(page)
    found = page.evaluate(
        """() => {
      const charts = [...document.querySelectorAll('[data-testid=stPlotlyChart]')];
      const chart = charts.find(c => c.querySelector('.parcoords'));
      const box = e => e.getBoundingClientRect();
      const top = [...chart.querySelectorAll('.axis-title, .axis-extent-top text')].map(e => box(e).top);
      return {title: box(chart.querySelector('.gtitle')).bottom, top: Math.min(...top),
              shadows: [...chart.querySelectorAll('.tick text')].map(t => getComputedStyle(t).textShadow)};
    }"""
    )
    assert found["title"] <= found["top"], found
    assert found["shadows"] and set(found["shadows"]) == {"none"}, set(found["shadows"])


def test_trial_table_fits_the_page(server: str, page: Any) -> None:
    """The trial table of a small experiment needs no horizontal scrolling in a 1200-pixel window."""
    page.set_viewport_size({"width": 1200, "height": 1600})
    page.goto(server + "/experiment?name=quad-ui&view=Trials")
    wait_rendered(page)
    page.locator("[data-testid=stDataFrame] .dvn-scroller").first.wait_for(timeout=30_000)
    widths = page.evaluate(
        "() => [...document.querySelectorAll('[data-testid=stDataFrame] .dvn-scroller')]"
        ".map(s => [s.scrollWidth, s.clientWidth])"
    )
    assert widths and all(scroll <= client for scroll, client in widths), widths
