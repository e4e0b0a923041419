"""``fexp ui`` at scale, in headless Chromium (Debian's /usr/bin/chromium via Playwright).

One set of 10,000 experiments (``ExperimentSet.link`` of 20 configs x 500 repeats, each with
a final loss/acc message; 100 of them with 1,000-step loss curves) served by the installed
``fexp ui`` on uvicorn. Measured: server start (cold index and warm), the page's first
render, sort / search / ``-w`` filter of 10,000 rows, 100 curves x 1,000 points, the delay
from a ``message`` write to the page showing it, and the server's memory. ``mlflow ui`` on
1,000 runs is measured for a ratio when mlflow is importable (it is not installed here).
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from bench.common import Result, median_seconds

CHROMIUM = "/usr/bin/chromium"
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
SWEEP = "{lr: 0.1 | 0.03 | 0.01 | 0.001, width: 32 | 64 | 128 | 256 | 512}"


def build_set(
    base: pathlib.Path, repeats: int, curves: int, points: int
) -> tuple[pathlib.Path, list[str]]:
    """A set of 20 x ``repeats`` experiments with a final message each, ``curves`` of them
    with ``points``-step loss histories (written as ``message`` writes them)."""
    from fexp import _expset, _messages
    from tests import ui_sets

    base.mkdir(parents=True, exist_ok=True)
    (base / "train.py").write_text(ui_sets.TRAIN, encoding="utf-8")
    xs = _expset.ExperimentSet.init(base / "big", f"{base / 'train.py'}:train")
    names = xs.link(SWEEP, repeats=repeats)
    rng = random.Random(0)
    now = time.time()
    for i, name in enumerate(names):
        loss = rng.uniform(0.05, 1.0)
        steps = points if i < curves else 1
        lines = [
            _messages.encode(
                {"loss": loss * (1 + 50 / (s + 1)), "acc": 1 - loss / 2}, step=s, now=now + s
            )
            for s in range(steps)
        ]
        (xs.root / name / "messages.jsonl").write_bytes(b"".join(lines))
    return xs.root, names[:curves]


def _rss_mb(pid: int) -> float:
    import psutil

    process = psutil.Process(pid)
    return (
        float(sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]))
        / 2**20
    )


def _page_seconds(page: Any, url: str, repeat: int) -> float:
    times = []
    for _ in range(repeat + 1):  # the first load warms the browser and the server's caches
        start = time.perf_counter()
        page.goto(url)
        page.wait_for_selector("html[data-ready='1']", state="attached", timeout=60_000)
        times.append(time.perf_counter() - start)
        page.goto("about:blank")
    return statistics.median(times[1:])


def _in_page_ms(page: Any, script: str, repeat: int) -> float:
    """Median milliseconds of an async in-page action (``script`` is a function body)."""
    values = [
        page.evaluate(
            f"async () => {{ const t0 = performance.now(); {script}; "
            "return performance.now() - t0; }"
        )
        for _ in range(repeat)
    ]
    return statistics.median(values)


def _live_seconds(page: Any, root: pathlib.Path, repeat: int) -> float:
    """From a running experiment's ``message()`` to the table cell showing it: the bench
    lets a real ``fexp run`` experiment send ``loss = 42.5 + k`` when it sees ``go{k}``."""
    from fexp import _expset

    wait = root.parent / "live-wait"
    wait.mkdir()
    [name] = _expset.ExperimentSet(root).link(
        f"{{wait: '{wait}', live_key: loss, steps: 1}}", name="live"
    )
    run = subprocess.Popen(
        [_fexp(), "run", name, "-r", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    row = f'#gbody .grow[data-exp="{name}"]'
    times = []
    try:
        page.wait_for_selector(f"{row} .status-running", timeout=60_000)
        for k in range(repeat):
            start = time.perf_counter()
            (wait / f"go{k}").touch()
            page.wait_for_selector(
                f'{row} .cell[data-key="loss"]:text-is("{42.5 + k}")', timeout=30_000
            )
            times.append(time.perf_counter() - start)
    finally:
        (wait / "stop").touch()
        run.wait(timeout=120)
    return statistics.median(times)


SEARCH = (
    "const q = document.querySelector('#search'); q.value = 'width=128';"
    "q.dispatchEvent(new Event('input')); q.value = ''; q.dispatchEvent(new Event('input'))"
)


def _table_cases(page: Any, url: str, repeat: int) -> list[Result]:
    render = _page_seconds(page, url, repeat)
    page.goto(url)
    page.wait_for_selector("html[data-ready='1']", state="attached", timeout=60_000)
    sort = _in_page_ms(page, "fexpUi.sortBy('loss', !fexpUi.state.sort.desc)", repeat)
    search = _in_page_ms(page, SEARCH, repeat)
    first = _in_page_ms(page, "await fexpUi.applyWhere(['lr<0.01', 'loss>0.5'])", 1)
    where = _in_page_ms(
        page, "await fexpUi.applyWhere(['lr<0.01', 'loss>' + Math.random().toFixed(3)])", repeat
    )
    page.evaluate("fexpUi.applyWhere([])")
    return [
        Result(
            "ui first render, 10,000 experiments (navigation to table)", render, "s", "value <= 1.5"
        ),
        Result("ui sort 10,000 rows by a message (in page)", sort, "ms", "value <= 100"),
        Result(
            "ui search 10,000 rows, then clear (in page, 2 filters)", search, "ms", "value <= 100"
        ),
        Result(
            "ui -w filter of 10,000 rows, keys not yet used (server round trip + render)",
            first,
            "ms",
            "value <= 100",
        ),
        Result(
            "ui -w filter of 10,000 rows, new threshold (server round trip + render)",
            where,
            "ms",
            "value <= 100",
        ),
    ]


def _curve_cases(page: Any, curved: list[str], repeat: int) -> list[Result]:
    """The first call reads the 100 logs from disk; later ones reuse the parsed logs."""
    page.evaluate("fexpUi.sortBy('name', false)")
    ids = json.dumps([f"0:{name}" for name in curved])
    script = (
        f"fexpUi.state.selected = new Set({ids}); await fexpUi.showCurves(); "
        "if (document.documentElement.dataset.curves !== '100') throw new Error('not 100')"
    )
    cold = _in_page_ms(page, script, 1)
    warm = _in_page_ms(page, script, repeat)
    page.evaluate(
        "fexpUi.state.selected = new Set(); location.hash = '#table'; fexpUi.sortBy('name', false)"
    )
    return [
        Result("ui 100 curves x 1,000 points, logs not yet read (info)", cold, "ms"),
        Result("ui 100 curves x 1,000 points (fetch + draw)", warm, "ms", "value <= 500"),
    ]


def _browser_cases(url: str, root: pathlib.Path, curved: list[str], quick: bool) -> list[Result]:
    from playwright.sync_api import sync_playwright

    repeat = 2 if quick else 5
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            page = context.new_page()
            out = _table_cases(page, url, repeat) + _curve_cases(page, curved, repeat)
            live = _live_seconds(page, root, 3 if quick else 5)
        finally:
            context.close()
    return out + [
        Result("ui live: message() -> shown in the table, 10,000 exps", live, "s", "value <= 2")
    ]


def _fexp() -> str:
    """The ``fexp`` script of this interpreter's environment (else the one on PATH)."""
    beside = pathlib.Path(sys.executable).with_name("fexp")
    return str(beside) if beside.exists() else "fexp"


def _start(root: pathlib.Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str, float]:
    start = time.perf_counter()
    process = subprocess.Popen(
        [_fexp(), "ui", str(root), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "fexp ui at" not in line:
        raise RuntimeError(f"fexp ui did not start: {line} {process.stderr}")
    return process, line.split()[3], time.perf_counter() - start


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    process.wait(timeout=30)
    for pipe in (process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()


MLFLOW_RUNS = """
import random, sys, time
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

client = MlflowClient(tracking_uri=sys.argv[1])
exp = client.create_experiment("sweep")
rng = random.Random(0)
for i in range(int(sys.argv[2])):
    run = client.create_run(exp, run_name=f"run-{i}")
    loss, now = rng.uniform(0.05, 1.0), int(time.time() * 1000)
    params = [Param("lr", str([0.1, 0.03, 0.01, 0.001][i % 4])),
              Param("width", str([32, 64, 128, 256, 512][i // 4 % 5])), Param("seed", str(i // 20))]
    metrics = [Metric("loss", loss, now, 0), Metric("acc", 1 - loss / 2, now, 0)]
    client.log_batch(run.info.run_id, metrics=metrics, params=params)
    client.set_terminated(run.info.run_id)
print(exp)
"""


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _mlflow(base: pathlib.Path, env: dict[str, str], quick: bool) -> list[Result]:
    """``mlflow server`` (sqlite store) listing 1,000 runs vs ``fexp ui`` listing 1,000
    experiments with the same parameters and messages. Needs FEXP_BENCH_MLFLOW=VENV, a
    virtualenv with mlflow (not a dependency of fexp: ``python -m venv V && V/bin/pip
    install mlflow``)."""
    import urllib.request

    venv = os.environ.get("FEXP_BENCH_MLFLOW")
    if not venv:
        return []
    (base / "mlflow_runs.py").write_text(MLFLOW_RUNS, encoding="utf-8")
    store = f"sqlite:///{base / 'mlflow.db'}"
    made = subprocess.run(
        [f"{venv}/bin/python", str(base / "mlflow_runs.py"), store, "1000"],
        capture_output=True,
        text=True,
        check=True,
    )
    port = _free_port()
    server = subprocess.Popen(
        [
            f"{venv}/bin/mlflow",
            "server",
            "--backend-store-uri",
            store,
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    small, _ = build_set(base / "small", repeats=50, curves=0, points=1)
    fexp_ui, url, _ = _start(small, env)
    body = json.dumps({"experiment_ids": [made.stdout.split()[-1]], "max_results": 1000})
    search = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/2.0/mlflow/runs/search",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        for _ in range(600):  # mlflow takes a while to start
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).read()
                break
            except OSError:
                time.sleep(0.5)
        ml = median_seconds(
            lambda: urllib.request.urlopen(search, timeout=300).read(), repeat=3 if quick else 5
        )
        fx = median_seconds(
            lambda: urllib.request.urlopen(url + "api/rows").read(), repeat=3 if quick else 5
        )
    finally:
        _stop(fexp_ui)
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    return [
        Result(
            "ui: every row of 1,000 runs as JSON (GET /api/rows)",
            fx,
            "s",
            "ratio <= 1.0",
            "mlflow server runs/search, 1,000 runs (sqlite)",
            ml,
        )
    ]


def run(quick: bool) -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        base = pathlib.Path(tmp)
        env = {"FEXP_HOME": str(base / "home")}
        os.environ["FEXP_HOME"] = env["FEXP_HOME"]
        root, curved = build_set(base, repeats=500, curves=100, points=1000)
        process, url, cold = _start(root, env)
        _stop(process)
        process, url, warm = _start(root, env)
        try:
            out = [
                Result("ui server start, 10,000 exps, no index yet (info)", cold, "s"),
                Result("ui server start, 10,000 exps, warm index (info)", warm, "s"),
            ]
            if os.path.exists(CHROMIUM):
                out += _browser_cases(url, root, curved, quick)
            out.append(
                Result(
                    "ui server memory (RSS) serving 10,000 experiments",
                    _rss_mb(process.pid),
                    "MB",
                    "value <= 300",
                )
            )
        finally:
            _stop(process)
        out += _mlflow(base, env, quick)
    return out


if __name__ == "__main__":
    for r in run(quick=True):
        print(json.dumps(r.__dict__))
