"""Tests for fexp._report: the self-contained HTML report and its SVG plots (no browser)."""

from __future__ import annotations

import base64
import hashlib
import math
import re
from typing import Any

import pytest

from fexp import _report

EVIL = "<script>alert('x')</script>&\"q\"<img src=x onerror=alert(1)>"
INFO = {"root": "/runs/mnist", "purpose": "compare learning rates", "notes": ["first note"],
        "git": {"commit": "0123456789abcdef0123", "dirty": True, "branch": "main"}}


def row(name: str, status: str = "finished", **params: Any) -> dict[str, Any]:
    return {"name": name, "path": f"/runs/mnist/{name}", "set": "/runs/mnist", "status": status,
            "created": "2024-05-01T12:30:00", "purpose": "", "notes": [],
            "params": {"epochs": 10, **params}, "messages": {},
            "version": {"git": {"commit": "0123456789abcdef0123", "dirty": True}}}


def curve(values: list[float], key: str = "loss") -> dict[str, list[tuple[float, float, Any]]]:
    return {key: [(float(i), 100.0 + i, v) for i, v in enumerate(values)]}


def tbody(html: str) -> str:
    return html.split("<tbody>")[1].split("</tbody>")[0]


def svgs(html: str) -> list[str]:
    return re.findall(r"<svg class=\"plot\".*?</svg>", html, flags=re.S)


def test_report_shows_the_set_and_one_table_row_per_experiment() -> None:
    rows = [row("a", lr=0.1), row("b", lr=0.01), row("c", "error", lr=0.001)]
    html = _report.render_report(rows, {}, INFO)
    assert html.startswith("<!DOCTYPE html>")
    assert "<title>fexp report: mnist</title>" in html
    assert "compare learning rates" in html and "<li>first note</li>" in html
    assert 'title="0123456789abcdef0123">0123456789ab</code>' in html
    assert ">dirty</span>" in html
    assert tbody(html).count("<tr ") == 3
    assert '<option value="error">error (1)</option>' in html
    # Only the varying parameter gets a column; `epochs` is the same everywhere.
    assert 'data-key="lr"' in html and 'data-key="epochs"' not in html
    assert 'data-kind="commit"' not in html  # every experiment ran the set's commit


def test_notes_and_read_errors_show_as_the_name_tooltip() -> None:
    rows = [row("a", lr=0.1), row("b", "corrupt")]
    rows[0]["purpose"], rows[0]["notes"] = "baseline", ["diverged at 3k"]
    rows[1]["error"] = "params.yml: bad YAML"
    html = _report.render_report(rows, {}, INFO)
    assert '<td title="baseline\ndiverged at 3k">a</td>' in html
    assert '<td title="params.yml: bad YAML">b</td><td class="st-corrupt">corrupt</td>' in html


def test_custom_title_and_empty_report() -> None:
    html = _report.render_report([], {}, {"root": "", "purpose": "", "notes": [], "git": None},
                                 title="My <sweep>")
    assert "<title>My &lt;sweep&gt;</title>" in html
    assert "No experiments." in html and "No numeric message history" in html


def test_last_min_max_of_each_numeric_message() -> None:
    rows = [row("a", lr=0.1), row("b", lr=0.01)]
    rows[0]["messages"] = {"loss": 0.3, "phase": "done"}
    rows[1]["messages"] = {"loss": 7.0}  # no history: only the latest value is known
    histories = {"a": curve([0.9, 0.2, 0.3123456])}
    html = _report.render_report(rows, histories, INFO)
    heads = re.findall(r'<th scope="col" data-kind="(\w+)" data-key="(\w*)">', html)
    assert heads == [("name", ""), ("status", ""), ("created", ""), ("param", "lr"),
                     ("msg", "loss"), ("msg", "loss"), ("msg", "loss"), ("text", "phase")]
    first, second = tbody(html).strip().splitlines()
    cells = re.findall(r"<td[^>]*>(.*?)</td>", first)
    assert cells == ["a", "finished", "2024-05-01 12:30", "0.1", "0.3123", "0.2", "0.9", "done"]
    assert re.findall(r"<td[^>]*>(.*?)</td>", second)[4:] == ["7", "", "", ""]


def test_commit_column_appears_when_experiments_ran_other_commits() -> None:
    rows = [row("a", lr=0.1), row("b", lr=0.01)]
    rows[1]["version"] = {"git": {"commit": "fedcba9876543210", "dirty": False}}
    html = _report.render_report(rows, {}, INFO)
    assert 'data-kind="commit"' in html
    assert "<td>0123456789*</td>" in html and "<td>fedcba9876</td>" in html


def test_one_svg_per_key_with_one_path_per_experiment_having_it() -> None:
    rows = [row(n, lr=i) for i, n in enumerate("abcd")]
    histories = {"a": {**curve([1, 2]), **curve([5, 6], "acc")}, "b": curve([3, 1]),
                 "c": curve([2, 2], "acc")}
    html = _report.render_report(rows, histories, INFO)
    plots = svgs(html)
    assert len(plots) == 2
    assert re.findall(r'<path data-exp="(\w)"', plots[0]) == ["a", "b"]
    assert re.findall(r'<path data-exp="(\w)"', plots[1]) == ["a", "c"]
    assert 'aria-label="loss"' in plots[0] and 'aria-label="acc"' in plots[1]
    # Axes: a frame and tick labels on both axes.
    assert '<rect class="frame"' in plots[0]
    assert len(re.findall(r'class="yt"', plots[0])) >= 2
    assert len(re.findall(r'class="xt"', plots[0])) >= 2
    # The legend and the table rows carry the same data-exp, for hover highlighting.
    assert html.count('<li data-exp="a"') == 1 and html.count('<tr data-exp="a"') == 1


def test_everything_user_supplied_is_escaped() -> None:
    rows = [row(EVIL, lr=0.1), row("b", lr=0.2)]
    rows[0]["params"][EVIL] = EVIL
    rows[0]["purpose"], rows[0]["notes"], rows[0]["status"] = EVIL, [EVIL], EVIL
    rows[0]["messages"] = {EVIL: EVIL}
    info = {"root": EVIL, "purpose": EVIL, "notes": [EVIL],
            "git": {"commit": EVIL, "dirty": False, "branch": EVIL}}
    html = _report.render_report(rows, {EVIL: curve([1, 2], EVIL)}, info, title=EVIL)
    assert html.count("<script") == 1  # ours, at the end
    assert "<img" not in html and "alert('x')" not in html
    assert "onerror=alert(1)>" not in html.replace("&gt;", "")  # only as escaped text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&#34;q&#34;" in html
    # No attribute value is broken out of: every data-exp holds the escaped name.
    for value in re.findall(r'data-exp="([^"]*)"', html):
        assert value in ("b", "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&#34;q&#34;"
                         "&lt;img src=x onerror=alert(1)&gt;")


def test_the_page_references_nothing_outside_itself() -> None:
    rows = [row("a", lr=0.1), row("b", lr=0.2)]
    html = _report.render_report(rows, {"a": curve([1, 2, 3])}, INFO)
    for pattern in (r"https?:", r"//[a-z]", r"\bsrc=", r"\bhref=", r"@import", r"url\(",
                    r"<link", r"<iframe", r"<object"):
        assert not re.search(pattern, html), pattern
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert policy is not None and "default-src 'none'" in policy.group(1)
    script = html.split("<script>")[1].split("</script>")[0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy.group(1)


def test_rendering_is_deterministic() -> None:
    rows = [row("a", lr=0.1), row("b", lr=0.2)]
    histories = {"a": curve([1, 2, 3]), "b": curve([3, 2])}
    assert _report.render_report(rows, histories, INFO) == _report.render_report(
        rows, histories, INFO)


def test_long_histories_are_downsampled_and_numbers_rounded() -> None:
    rows = [row(f"e{i}", lr=i) for i in range(3)]
    histories = {f"e{i}": curve([math.sin(s / 50) + i / 3.0 for s in range(5000)])
                 for i in range(3)}
    html = _report.render_report(rows, histories, INFO)
    paths = re.findall(r'<path data-exp="[^"]*" stroke="[^"]*" d="([^"]*)"', html)
    assert len(paths) == 3
    for d in paths:
        assert len(re.findall(r"-?[\d.]+,-?[\d.]+", d)) <= _report.MAX_POINTS
        assert not re.search(r"\.\d\d", d)  # one decimal of a pixel is enough
    assert not re.search(r"<td>-?\d*\.\d{5,}", html)  # table numbers: ~4 significant digits


def test_downsample_keeps_ends_and_extremes() -> None:
    points = [(float(i), 0.0) for i in range(10_000)]
    points[5000] = (5000.0, 99.0)
    points[7000] = (7000.0, -99.0)
    kept = _report.downsample(points)
    assert len(kept) <= 200
    assert kept[0] == points[0] and kept[-1] == points[-1]
    assert (5000.0, 99.0) in kept and (7000.0, -99.0) in kept
    assert [p[0] for p in kept] == sorted(p[0] for p in kept)
    assert _report.downsample(points[:50]) == points[:50]


def test_nan_breaks_the_curve_and_a_single_point_is_a_dot() -> None:
    plot = _report.svg_plot("loss", [("a", "#000", [(0, 1.0), (1, 2.0), (2, math.nan),
                                                     (3, 2.0), (4, 1.0), (5, math.inf),
                                                     (6, 3.0)])])
    d = re.search(r'<path data-exp="a" stroke="#000" d="([^"]*)"', plot).group(1)  # type: ignore[union-attr]
    assert d.count("M") == 3 and d.endswith("h0")


def test_constant_and_single_point_curves_still_have_axes() -> None:
    plot = _report.svg_plot("loss", [("a", "#000", [(3.0, 0.5)])])
    assert 'd="M' in plot and "nan" not in plot and 'class="yt"' in plot


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [(0.0, 1.0, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]), (0.13, 0.87, [0.2, 0.4, 0.6, 0.8]),
     (-5.0, 5.0, [-4.0, -2.0, 0.0, 2.0, 4.0]), (0.0, 1000.0, [0, 200, 400, 600, 800, 1000]),
     (1.0, 1.0, [1.0])],
)
def test_nice_ticks(lo: float, hi: float, expected: list[float]) -> None:
    assert _report.nice_ticks(lo, hi) == pytest.approx(expected)


def test_format_number() -> None:
    assert [_report.format_number(v) for v in (3, 2.0, 0.123456, 1234567.0, 1e-7, math.nan,
                                               math.inf, None, "x", True)] == [
        "3", "2", "0.1235", "1234567", "1e-07", "nan", "inf", "", "x", "True"]


def test_colours_are_distinct_for_many_experiments() -> None:
    assert _report.colour(0, 3) == "#1f77b4"
    many = {_report.colour(i, 500) for i in range(360)}
    assert len(many) > 300
