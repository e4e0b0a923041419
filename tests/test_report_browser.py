"""The HTML report in a real headless Chromium (Debian's /usr/bin/chromium via Playwright).

Skipped when Chromium or Playwright is missing, unless the environment variable CI is set:
then a missing browser is a failure, so CI cannot silently stop running these tests.
Playwright never downloads a browser here; it drives the system Chromium.
"""

from __future__ import annotations

import contextlib
import math
import os
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from fexp import _report

pytestmark = pytest.mark.browser

CHROMIUM = pathlib.Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = pathlib.Path(__file__).parent / "artifacts"

# Names that would load something or run script if they were not escaped.
BAIT = [
    '<img src="http://127.0.0.1:9/pwn.png" onerror="window.__pwned=1">',
    "<script>window.__pwned=2</script>",
    "\"'><link rel=stylesheet href=https://example.invalid/x.css>&amp;",
]
WIDTHS = [8, 1024, 16, 128, 2, 512, 64, 4, 256, 32, 100, 9]


def _need(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, so the browser tests must run "
                    "(apt-get install chromium)")
    pytest.skip(reason)


def make_report() -> tuple[list[dict[str, Any]], dict[str, Any], str]:
    """Twelve experiments: the last three with hostile names, two without loss history."""
    rows, histories = [], {}
    for i, width in enumerate(WIDTHS):
        bait = i - len(WIDTHS) + len(BAIT)
        name = BAIT[bait] if bait >= 0 else f"width={width}__seed={i % 2}"
        rows.append({
            "name": name, "path": f"/runs/s/{i}", "set": "/runs/s",
            "status": ["finished", "error", "running"][i % 3], "created": f"2024-05-0{1 + i % 9}",
            "purpose": BAIT[i % len(BAIT)], "notes": [], "version": {},
            "params": {"width": width, "seed": i % 2, "tag": BAIT[i % 3]}, "messages": {},
        })
        history: dict[str, Any] = {}
        if i not in (4, 7):
            history["loss"] = [(s, s, math.exp(-s * width / 500) + 0.01 * i) for s in range(60)]
        if i % 2 == 0:
            history["acc"] = [(s, s, 1 - 1 / (s + 2)) for s in range(0, 60, 3)]
        histories[name] = history
    info = {"root": "/runs/s", "purpose": "browser test <b>set</b>", "notes": ["a note & more"],
            "git": {"commit": "0123456789abcdef", "dirty": True, "branch": "main"}}
    return rows, histories, _report.render_report(rows, histories, info, title="Browser test")


@contextlib.contextmanager
def chromium(allowed: str, height: int = 900) -> Iterator[tuple[Any, list[str]]]:
    """One Chromium; every request whose URL does not start with ``allowed`` is aborted and
    recorded (the report allows ``file:``, the dashboard tests their server's address)."""
    if not CHROMIUM.exists():
        _need(f"Debian's chromium is not installed at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need("the playwright Python package is not installed")
    import tempfile

    blocked: list[str] = []

    def route(route: Any) -> None:
        if route.request.url.startswith(allowed):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": height})
        context.route("**/*", route)
        try:
            yield context, blocked
        finally:
            context.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[tuple[Any, list[str]]]:
    """One Chromium for the module; every non-file request is aborted and recorded."""
    with chromium("file:") as opened:
        yield opened


class Page:
    """An opened report with everything the page requested or complained about."""

    def __init__(self, page: Any, url: str, rows: list[dict[str, Any]],
                 histories: dict[str, Any]) -> None:
        self.page, self.url, self.rows, self.histories = page, url, rows, histories
        self.requests: list[str] = []
        self.errors: list[str] = []

    def column(self, key: str) -> list[str]:
        index = self.page.eval_on_selector_all(
            "#exps thead th", "(hs, k) => hs.findIndex(h => h.dataset.key === k)", key)
        return list(self.page.eval_on_selector_all(
            "#exps tbody tr", "(rows, i) => rows.map(r => r.cells[i].textContent)", index))


def open_report(browser: tuple[Any, list[str]], path: pathlib.Path, html: str,
                rows: list[dict[str, Any]], histories: dict[str, Any]) -> Page:
    path.write_text(html, encoding="utf-8")
    context, _ = browser
    page = context.new_page()
    page.set_default_timeout(5_000)
    opened = Page(page, path.as_uri(), rows, histories)
    page.on("request", lambda request: opened.requests.append(request.url))
    page.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: opened.errors.append(str(error)))
    page.goto(opened.url)
    page.wait_for_selector("html[data-ready='1']", state="attached", timeout=10_000)
    return opened


@pytest.fixture
def report(browser: tuple[Any, list[str]], tmp_path: pathlib.Path) -> Iterator[Page]:
    rows, histories, html = make_report()
    opened = open_report(browser, tmp_path / "report.html", html, rows, histories)
    yield opened
    opened.page.close()


def test_the_table_has_one_row_per_experiment(report: Page) -> None:
    assert report.page.locator("#exps tbody tr").count() == len(WIDTHS)
    assert report.page.text_content("#count") == f"{len(WIDTHS)} of {len(WIDTHS)}"
    names = report.page.eval_on_selector_all("#exps tbody tr", "rs => rs.map(r => r.dataset.exp)")
    assert names == [r["name"] for r in report.rows]  # hostile names arrive as plain text


def test_clicking_a_header_sorts_numerically_and_toggles(report: Page) -> None:
    assert report.column("width") == [str(w) for w in WIDTHS]
    header = report.page.locator('#exps th[data-key="width"]')
    header.click()
    assert report.column("width") == [str(w) for w in sorted(WIDTHS)]
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert report.column("width") == [str(w) for w in sorted(WIDTHS, reverse=True)]
    assert header.get_attribute("aria-sort") == "descending"


def test_empty_cells_sort_last_both_ways(report: Page) -> None:
    header = report.page.locator('#exps th[data-key="loss"]').first  # loss, last value
    header.click()
    ascending = report.column("loss")
    numbers = [float(v) for v in ascending if v]
    assert numbers == sorted(numbers) and ascending[-2:] == ["", ""]
    header.click()
    descending = report.column("loss")
    assert [float(v) for v in descending if v] == sorted(numbers, reverse=True)
    assert descending[-2:] == ["", ""]


def test_typing_in_the_filter_hides_rows_and_their_curves(report: Page) -> None:
    page = report.page
    page.fill("#q", "width=1024")
    assert page.locator("#exps tbody tr:visible").count() == 1
    assert page.text_content("#count") == f"1 of {len(WIDTHS)}"
    visible_paths = page.locator("svg.plot path[data-exp]:visible")
    assert set(visible_paths.evaluate_all("ps => ps.map(p => p.dataset.exp)")) == {
        "width=1024__seed=1"}
    page.fill("#q", "seed=0 finished")  # every term must match
    expected = [r for r in report.rows
                if r["params"]["seed"] == 0 and r["status"] == "finished"]
    assert page.locator("#exps tbody tr:visible").count() == len(expected) > 0
    page.fill("#q", "")
    page.select_option("#status", "error")
    assert page.locator("#exps tbody tr:visible").count() == sum(
        r["status"] == "error" for r in report.rows)
    page.select_option("#status", "")
    assert page.locator("#exps tbody tr:visible").count() == len(WIDTHS)


def test_every_plot_has_one_path_per_experiment_with_that_key(report: Page) -> None:
    figures = report.page.locator("svg.plot")
    assert figures.count() == 2
    for i in range(figures.count()):
        svg = figures.nth(i)
        key = svg.get_attribute("aria-label")
        expected = [r["name"] for r in report.rows if key in report.histories[r["name"]]]
        paths = svg.locator("path[data-exp]")
        assert paths.evaluate_all("ps => ps.map(p => p.dataset.exp)") == expected
        assert all(box["width"] > 0 for box in paths.evaluate_all(
            "ps => ps.map(p => p.getBoundingClientRect().toJSON())"))
        assert svg.locator("text.yt").count() >= 2 and svg.locator("text.xt").count() >= 2


def test_hovering_the_legend_highlights_the_experiment(report: Page) -> None:
    page = report.page
    name = "width=128__seed=1"
    page.hover(f'#legend li[data-exp="{name}"]')
    highlighted = page.eval_on_selector_all(
        ".hl", "els => els.map(e => e.tagName.toLowerCase() + ':' + e.dataset.exp)")
    assert sorted(highlighted) == sorted(
        [f"li:{name}", f"tr:{name}"] + [f"path:{name}"] * len(report.histories[name]))
    assert "hl-on" in (page.get_attribute("body", "class") or "")
    assert page.text_content("#hover") == f"{name} \u2014 width=128, seed=1, tag={BAIT[0]}"


def test_the_page_makes_no_network_request_and_runs_no_injected_script(
    report: Page, browser: tuple[Any, list[str]]
) -> None:
    page = report.page
    page.hover("svg.plot")  # exercise the page a little before checking
    page.locator('#exps th[data-key="seed"]').click()
    assert report.requests == [report.url]
    assert browser[1] == []
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#exps img, #exps script, #exps link").count() == 0
    assert report.errors == []  # a CSP violation (script hash mismatch) would show here


def test_screenshot_artifact(report: Page) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    report.page.hover('#legend li[data-exp="width=64__seed=0"]')
    target = ARTIFACTS / "report.png"
    report.page.screenshot(path=str(target), full_page=True)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_thousand_experiments_stay_usable(
    browser: tuple[Any, list[str]], tmp_path: pathlib.Path
) -> None:
    rows, histories = [], {}
    for i in range(1000):
        name = f"lr={10 ** -(i % 5)}__seed={i}"
        rows.append({"name": name, "status": "finished", "params": {"lr": 10 ** -(i % 5),
                                                                    "seed": i}})
        histories[name] = {k: [(s, s, math.cos(s / 9 + i) + j) for s in range(100)]
                           for j, k in enumerate(("loss", "acc", "lr"))}
    html = _report.render_report(rows, histories, {"root": "/r"})
    assert len(html) < 10_000_000
    opened = open_report(browser, tmp_path / "big.html", html, rows, histories)
    page = opened.page
    assert page.locator("#exps tbody tr").count() == 1000
    assert [page.locator("svg.plot").nth(i).locator("path[data-exp]").count()
            for i in range(3)] == [1000, 1000, 1000]
    page.locator('#exps th[data-key="seed"]').click()
    page.locator('#exps th[data-key="seed"]').click()
    assert opened.column("seed")[:3] == ["999", "998", "997"]
    page.fill("#q", "seed=99")
    assert page.locator("#exps tbody tr:visible").count() == 11  # 99, 990..999
    assert opened.errors == [] and opened.requests == [opened.url]
    page.close()
