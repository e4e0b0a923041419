"""The HTML report at scale: 1,000 experiments x 3 message keys x 100 points.

Measures ``render_report`` time, the size of the HTML, and the time headless Chromium
(Debian's /usr/bin/chromium through Playwright) takes to load the page until its script
has run. The browser case is skipped (no Result) when Chromium or Playwright is missing.
"""

from __future__ import annotations

import math
import os
import pathlib
import random
import statistics
import tempfile
import time
from typing import Any

from bench.common import Result, median_seconds

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
KEYS = ("loss", "acc", "lr")


def synthetic(n: int, points: int, seed: int = 0) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows and histories for ``n`` swept experiments with ``points`` steps per key."""
    rng = random.Random(seed)
    rows, histories = [], {}
    for i in range(n):
        lr, width, seed_ = 10 ** -(1 + i % 4), [32, 64, 128, 256][i // 4 % 4], i // 16
        name = f"lr={lr}__width={width}__seed={seed_}"
        rate = rng.uniform(0.01, 0.1)
        history = {
            "loss": [(s, 1e9 + s, math.exp(-rate * s) + rng.gauss(0, 0.01)) for s in range(points)],
            "acc": [(s, 1e9 + s, 1 - math.exp(-rate * s) * 0.9) for s in range(points)],
            "lr": [(s, 1e9 + s, lr * 0.5 ** (s // 30)) for s in range(points)],
        }
        histories[name] = history
        rows.append({
            "name": name, "path": f"/runs/sweep/{name}", "set": "/runs/sweep",
            "status": rng.choice(["finished", "finished", "running", "error"]),
            "created": "2024-05-01T12:00:00", "purpose": "scaling study",
            "params": {"lr": lr, "width": width, "seed": seed_, "epochs": 10},
            "messages": {k: h[-1][2] for k, h in history.items()},
            "version": {"git": {"commit": "0123456789abcdef", "dirty": False}}, "notes": [],
        })
    return rows, histories


def _load_seconds(path: pathlib.Path, repeat: int) -> float:
    """Median time from navigation to the report's script having run, in a warm browser."""
    from playwright.sync_api import sync_playwright

    times = []
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = context.new_page()
            for _ in range(repeat + 1):  # the first load warms the browser up
                start = time.perf_counter()
                page.goto(path.as_uri(), wait_until="load")
                page.wait_for_selector("html[data-ready='1']", state="attached")
                times.append(time.perf_counter() - start)
                page.goto("about:blank")
        finally:
            context.close()
    return statistics.median(times[1:])


def run(quick: bool) -> list[Result]:
    from fexp import _report

    n, points = 1000, 100
    rows, histories = synthetic(n, points)
    info: dict[str, Any] = {"root": "/runs/sweep", "purpose": "bench", "notes": [], "git": None}
    seconds = median_seconds(lambda: _report.render_report(rows, histories, info),
                             repeat=2 if quick else 5)
    html = _report.render_report(rows, histories, info)
    shape = f"{n} exps x {len(KEYS)} keys x {points} pts"
    results = [
        Result(f"report render ({shape})", seconds, "s", target="value <= 2"),
        Result(f"report size ({shape})", len(html.encode()) / 1e6, "MB", target="value <= 10"),
    ]
    if not os.path.exists(CHROMIUM):
        return results
    try:
        import playwright  # noqa: F401
    except ImportError:
        return results
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "report.html"
        path.write_text(html, encoding="utf-8")
        load = _load_seconds(path, repeat=1 if quick else 3)
    results.append(Result(f"report browser load ({shape})", load, "s", target="value <= 3"))
    return results
