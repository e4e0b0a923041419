"""Lifecycle costs: ``message()`` with the live params.yml refresh, the claim each launched
experiment takes, and ``fexp list`` when every experiment is running and its owner is checked.

Each is compared with the same work without the new step, measured in the same run.
"""

from __future__ import annotations

import os
import random
import statistics
import time

from bench.common import Result
from bench.fixtures import timing

NOOP_REF = f"{timing.FIXTURES / 'noop.py'}:noop"


def _alts(n: int) -> str:
    return " | ".join(str(i) for i in range(1, n + 1))


def _message_cases(quick: bool) -> list[Result]:
    """Batches of 1,000 ``message()`` calls, alternating between an experiment whose live
    refresh runs (a timer writes params.yml every second) and one whose refresh never fires,
    for a few seconds: the median µs per call of each."""
    import threading

    from bench.fixtures import twenty

    rng = random.Random(0)
    payloads = [{f"m{k}": rng.random() for k in range(10)} for _ in range(1000)]
    until = time.monotonic() + (3.0 if quick else 8.0)
    with timing.temp_home() as tmp:
        live, off = twenty.twenty(), twenty.twenty()
        live.register(tmp / "set", "live")
        off.register(tmp / "set", "off")
        off._refresh = threading.Timer(1e9, lambda: None)  # never started: no refresh
        times: dict[str, list[float]] = {"live": [], "off": []}
        while time.monotonic() < until or len(times["off"]) < 5:
            for label, exp in (("live", live), ("off", off)):
                start = time.perf_counter()
                for values in payloads:
                    exp.message(values, keep="min")
                times[label].append((time.perf_counter() - start) / len(payloads) * 1e6)
        off._refresh = None
        live.close()
        off.close()
    return [
        Result(
            "message() with live params.yml refresh (10 keys, 20 params)",
            statistics.median(times["live"]),
            "µs",
            "value <= 20",
            "same, refresh off (interleaved)",
            statistics.median(times["off"]),
        )
    ]


def _claim_cases(quick: bool) -> list[Result]:
    import fexp
    from fexp._launchers import local
    from fexp._store import owner, params_file

    size = 100 if quick else 300
    with timing.temp_home() as tmp:
        xs = fexp.ExperimentSet.init(tmp / "set", NOOP_REF)
        names = xs.link(f"{{a: {_alts(size)}}}")
        start = time.perf_counter()
        local.runnable(xs, "*", False)
        select_s = (time.perf_counter() - start) / size
        mine = owner.me(owner.new_claim())
        start = time.perf_counter()
        chosen, _ = local.claim_all(xs, "*", mine, force=False, resume=False)
        claim_s = (time.perf_counter() - start) / size
        assert len(chosen) == len(names)
        for name in chosen:
            params_file.release(xs.root / name, mine)
    return [
        Result(
            f"claim per launched experiment ({size} in one fexp run)",
            claim_s * 1e3,
            "ms",
            "value <= 5",
            "unlocked status read (old selection)",
            select_s * 1e3,
        )
    ]


def _list_cases(quick: bool) -> list[Result]:
    """``fexp list --json`` over a set whose experiments all run (owned by this process, so
    every owner is checked and found alive) against the same set all registered; the two
    commands alternate run by run."""
    import fexp
    from fexp._store import owner, params_file

    size = 1000 if quick else 10_000
    side = 10 if quick else 100
    sweep = f"{{a: {_alts(side)}, b: {_alts(size // side)}}}"
    with timing.temp_home() as tmp:
        plain = fexp.ExperimentSet.init(tmp / "plain", NOOP_REF)
        plain.link(sweep)
        busy = fexp.ExperimentSet.init(tmp / "busy", NOOP_REF)
        names = busy.link(sweep)
        mine = owner.me(owner.new_claim())

        def running(name: str, data: dict[str, object]) -> bool:
            data.update(_status="running", _owner=mine)
            return True

        params_file.update_many(busy.root, names, running)
        checked, registered = timing.paired(
            [
                ([timing.FEXP, "list", "--json", "-r", str(busy.root)], None),
                ([timing.FEXP, "list", "--json", "-r", str(plain.root)], None),
            ],
            repeat=3 if quick else 5,
        )
        assert os.getpid() == mine["pid"]
    return [
        Result(
            f"fexp list --json, {size:,} running, owners checked",
            checked,
            "s",
            "value <= 1.5",
            "same size, all registered",
            registered,
        )
    ]


def run(quick: bool) -> list[Result]:
    return _message_cases(quick) + _claim_cases(quick) + _list_cases(quick)
