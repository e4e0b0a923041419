"""``fexp ui`` in a real headless Chromium (Debian's /usr/bin/chromium through Playwright),
against the installed ``fexp ui`` on real uvicorn.

Every request that does not go to the server is aborted and recorded. Each view is saved as
a screenshot in tests/artifacts/ui/; with FEXP_UI_SHOTS=DIR (e.g. docs/ui) also into DIR.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from fexp import _yaml
from tests import ui_sets
from tests.test_report_browser import chromium

pytestmark = pytest.mark.browser
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
ARTIFACTS = pathlib.Path(__file__).parent / "artifacts" / "ui"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, dict[str, str]]:
    return ui_sets.make_demo(tmp_path_factory, "uib")


@pytest.fixture(scope="module")
def server(demo: tuple[pathlib.Path, dict[str, str]]) -> Iterator[ui_sets.UiServer]:
    ui = ui_sets.UiServer(demo[0], env=demo[1])
    yield ui
    ui.stop()


@pytest.fixture(scope="module")
def browser(server: ui_sets.UiServer) -> Iterator[tuple[Any, list[str]]]:
    with chromium(server.base, height=860) as opened:
        yield opened


class Page:
    """One open page of the dashboard and everything it complained about."""

    def __init__(
        self, browser: tuple[Any, list[str]], server: ui_sets.UiServer, view: str = "table"
    ) -> None:
        self.page = browser[0].new_page()
        self.page.set_default_timeout(10_000)
        self.server = server
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(server.url + ("&" if "?" in server.url else "") + f"#{view}")
        self.page.wait_for_selector("html[data-ready='1']", state="attached")

    def go(self, view: str) -> None:
        self.page.evaluate("v => { location.hash = v; }", view)
        self.page.wait_for_selector(f"html[data-view='{view.split('/')[0]}']", state="attached")

    def names(self) -> list[str]:
        return list(
            self.page.eval_on_selector_all("#gbody .grow", "rs => rs.map(r => r.dataset.exp)")
        )

    def column(self, key: str) -> list[str]:
        return list(
            self.page.eval_on_selector_all(
                f'#gbody .cell[data-key="{key}"]', "cs => cs.map(c => c.textContent)"
            )
        )

    def select(self, *names: str) -> None:
        for name in names:
            self.page.locator(f'#gbody .grow[data-exp="{name}"] input[type=checkbox]').check()

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        target = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(target), full_page=True)
        assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        extra = os.environ.get("FEXP_UI_SHOTS")
        if extra:
            pathlib.Path(extra).mkdir(parents=True, exist_ok=True)
            shutil.copy(target, pathlib.Path(extra) / target.name)


@pytest.fixture
def page(browser: tuple[Any, list[str]], server: ui_sets.UiServer) -> Iterator[Page]:
    opened = Page(browser, server)
    yield opened
    # A refused -w condition is a 400 answer the page shows; anything else is a bug.
    assert [e for e in opened.errors if "status of 400" not in e] == []
    assert opened.page.evaluate("window.__pwned") is None
    opened.page.close()


def _count(page: Page) -> str:
    return str(page.page.text_content("#count"))


def test_the_table_lists_every_experiment_and_sorts(page: Page) -> None:
    assert _count(page) == "13 of 13"
    assert ui_sets.HOSTILE in page.names()  # the hostile name arrives as plain text
    page.page.locator('#ghead .hcell[data-key="loss"]').click()
    losses = [float(v) for v in page.column("loss")]
    assert losses == sorted(losses) and len(losses) == 13
    page.page.locator('#ghead .hcell[data-key="loss"]').click()
    assert [float(v) for v in page.column("loss")] == sorted(losses, reverse=True)
    assert page.page.get_attribute('#ghead .hcell[data-key="loss"]', "aria-sort") == "descending"
    page.shot("table")


def test_filters_where_grammar_status_and_search(
    page: Page, demo: tuple[pathlib.Path, dict[str, str]]
) -> None:
    root, env = demo
    listed = subprocess.run(
        [ui_sets.fexp_exe(), "list", "-r", str(root), "-w", "lr<0.01", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    import json

    expected = sorted(r["name"] for r in json.loads(listed.stdout))
    page.page.fill("#where", "lr<0.01")
    page.page.press("#where", "Enter")
    page.page.wait_for_selector("#chips .chip")
    assert sorted(page.names()) == expected and _count(page) == f"{len(expected)} of 13"
    page.page.fill("#where", "lr<<0.01")
    page.page.press("#where", "Enter")
    page.page.wait_for_selector("#error:not([hidden])")
    assert "unknown operator '<<'" in str(page.page.text_content("#error"))
    assert page.page.locator("#chips .chip").count() == 1 and _count(page).startswith(
        f"{len(expected)} "
    )
    page.page.fill("#search", "width=128 seed=1")
    assert all("width=128" in n and "seed=1" in n for n in page.names()) and page.names()
    page.shot("filter")
    page.page.fill("#search", "")
    page.page.locator("#chips .chip button").click()
    page.page.wait_for_function("document.querySelector('#count').textContent === '13 of 13'")
    page.page.check('#statuses input[value="finished"]')
    assert _count(page) == "13 of 13"


def test_compare_shows_only_differing_parameters_highlighted(page: Page) -> None:
    page.select("lr=0.1__width=32__seed=0", "lr=0.01__width=32__seed=0")
    page.go("compare")
    page.page.wait_for_selector('#cmp tr[data-key="lr"]')
    diff_rows = page.page.eval_on_selector_all(
        "#cmp tr[data-key]",
        "rs => rs.map(r => [r.dataset.key, r.querySelectorAll('td.diff').length])",
    )
    keys = dict(diff_rows)
    assert keys["lr"] == 2 and "width" not in keys and "seed" not in keys
    assert keys["loss"] == 2 and keys["status"] == 0  # final messages differ, statuses do not
    assert page.page.locator("#cmplegend li").count() == 2
    page.shot("compare")


def test_parallel_coordinates_brush_filters_the_table(page: Page) -> None:
    page.go("parallel")
    canvas = page.page.locator("#pc")
    xs = page.page.eval_on_selector("#pc", "c => JSON.parse(c.dataset.axisx)")
    top = float(page.page.eval_on_selector("#pc", "c => c.dataset.top"))
    bottom = float(page.page.eval_on_selector("#pc", "c => c.dataset.bottom"))
    box = canvas.bounding_box()
    lr_axis = 0  # the parameters come first, in the table's column order: lr, width, seed
    mouse = page.page.mouse
    mouse.move(box["x"] + xs[lr_axis], box["y"] + top - 6)
    mouse.down()
    mouse.move(box["x"] + xs[lr_axis], box["y"] + (top + bottom) / 2 + 6, steps=6)
    mouse.up()  # lr from its top (0.1) down to the middle of a log axis (0.01)
    page.page.wait_for_function("document.querySelector('#pc').dataset.inside === '8'")
    page.page.select_option("#pgroup", ["lr", "width"])
    assert (
        page.page.locator("#groups tr[data-group]").count() == 4
    )  # 2 lr x 2 width, seeds averaged
    page.page.select_option("#pydir", "max")  # loss down, acc up: one run dominates
    assert page.page.text_content("#paretoinfo") == "1 on the front of 8"
    assert page.page.text_content("#paretolist li a") == "lr=0.1__width=128__seed=0"
    page.shot("parallel")
    page.go("table")
    assert _count(page) == "8 of 13" and page.page.is_visible("#brushchip")
    assert sorted(set(page.column("lr"))) == ["0.01", "0.1"]
    page.page.click("#brushclear")
    assert _count(page) == "13 of 13"


def test_curves_group_by_seed_bands(page: Page) -> None:
    page.go("curves")
    page.page.wait_for_selector("html[data-curves='13']", state="attached")
    assert page.page.locator("#clegend li").count() == 13
    page.page.select_option("#cgroup", ["lr"])
    page.page.wait_for_selector("html[data-curves='3']", state="attached")
    labels = page.page.eval_on_selector_all("#clegend li", "ls => ls.map(l => l.textContent)")
    assert sorted(labels) == ["lr=0.001 (n=5)", "lr=0.01 (n=4)", "lr=0.1 (n=4)"]
    page.page.check("#clogy")
    page.shot("curves")


def test_experiment_page_and_a_note_from_the_page(
    page: Page, demo: tuple[pathlib.Path, dict[str, str]]
) -> None:
    name = "lr=0.1__width=128__seed=1"
    page.page.locator(f'#gbody .grow[data-exp="{name}"] a.exp').click()
    page.page.wait_for_selector("html[data-view='exp']", state="attached")
    page.page.wait_for_function(
        "document.querySelector('#exp-out').textContent.includes('step 39')"
    )
    assert page.page.text_content("#exp-name") == name
    helps = page.page.eval_on_selector_all("#exp-params tr", "rs => rs.map(r => r.textContent)")
    assert any(h.startswith("lr0.1float") for h in helps)
    page.page.fill("#note-text", "<img src=x onerror=window.__pwned=5> looks good")
    page.page.click("#note-add")
    page.page.wait_for_selector("#exp-notes li")
    assert (
        page.page.text_content("#exp-notes li") == "<img src=x onerror=window.__pwned=5> looks good"
    )
    params = _yaml.read_mapping(demo[0] / name / "params.yml")
    assert params["_notes"] == ["<img src=x onerror=window.__pwned=5> looks good"]
    page.shot("experiment")


def test_a_running_experiment_updates_the_page_live(
    page: Page, demo: tuple[pathlib.Path, dict[str, str]], tmp_path: pathlib.Path
) -> None:
    root, env = demo
    linked = subprocess.run(
        [
            ui_sets.fexp_exe(),
            "link",
            "{lr: 0.05, steps: 5, wait: " + f"'{tmp_path}'}}",
            "-r",
            str(root),
            "-n",
            "live",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    assert linked.returncode == 0, linked.stderr
    name = linked.stdout.split(": ", 1)[1].strip()
    page.page.evaluate("window.__noReload = 1")
    page.page.wait_for_selector(f'#gbody .grow[data-exp="{name}"]')  # linked: a new row
    run = subprocess.Popen(
        [ui_sets.fexp_exe(), "run", name, "-r", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **env},
    )
    try:
        row = f'#gbody .grow[data-exp="{name}"]'
        page.page.wait_for_selector(f"{row} .status-running")
        (tmp_path / "go0").touch()
        page.page.wait_for_selector(f'{row} .cell[data-key="live"]:text-is("42.5")', timeout=30_000)
        assert page.page.evaluate("window.__noReload") == 1  # no reload: pushed by the server
        page.page.fill("#search", name)
        assert page.names() == [name]  # a column header alone ("live") matches no other row
        page.page.eval_on_selector("#scroller", "s => { s.scrollLeft = s.scrollWidth; }")
        page.shot("live")
    finally:
        (tmp_path / "stop").touch()
        run.wait(timeout=120)
    page.page.wait_for_selector(f"{row} .status-finished", timeout=30_000)


def test_the_sets_view_and_no_foreign_request(page: Page, browser: tuple[Any, list[str]]) -> None:
    page.go("sets")
    page.page.wait_for_selector("#sets tbody tr")
    cells = page.page.eval_on_selector_all("#sets tbody td", "ds => ds.map(d => d.textContent)")
    assert cells[1] == "ui demo <b>set</b>" and "finished" in cells[3]
    page.shot("sets")
    for view in ("table", "curves", "compare", "parallel"):
        page.go(view)
    assert browser[1] == []
    assert page.page.locator("#gbody img, #gbody script, #cmp img, #exp-notes img").count() == 0
