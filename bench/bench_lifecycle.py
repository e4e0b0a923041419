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


def _message_rate(exp: object, payloads: list[dict[str, float]], seconds: float) -> float:
    """Median µs per ``message()`` over batches, for at least ``seconds`` (so that the
    refresh timer fires several times inside the measured batches)."""
    per_call = []
    until = time.monotonic() + seconds
    while time.monotonic() < until or len(per_call) < 5:
        start = time.perf_counter()
        for values in payloads:
            exp.message(values, keep="min")  # type: ignore[attr-defined]
        per_call.append((time.perf_counter() - start) / len(payloads))
    return statistics.median(per_call) * 1e6


def _message_cases(quick: bool) -> list[Result]:
    from bench.fixtures import twenty
    from fexp import _experiment

    rng = random.Random(0)
    payloads = [{f"m{k}": rng.random() for k in range(10)} for _ in range(1000)]
    seconds = 2.0 if quick else 4.0
    with timing.temp_home() as tmp:
        exp = twenty.twenty()
        exp.register(tmp / "set", "exp")
        exp.message(payloads[0])
        live = _message_rate(exp, payloads, seconds)
        saved, _experiment.REFRESH_SECONDS = _experiment.REFRESH_SECONDS, 1e9
        try:
            exp.refresh_messages()
            exp.message(payloads[0])  # the timer now never fires
            without = _message_rate(exp, payloads, seconds)
        finally:
            _experiment.REFRESH_SECONDS = saved
            exp.close()
    return [
        Result(
            "message() with live params.yml refresh (10 keys, 20 params)",
            live,
            "µs",
            "value <= 20",
            "same, refresh off",
            without,
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
    import fexp
    from fexp._store import owner, params_file

    size = 1000 if quick else 10_000
    side = 10 if quick else 100
    with timing.temp_home() as tmp:
        xs = fexp.ExperimentSet.init(tmp / "set", NOOP_REF)
        names = xs.link(f"{{a: {_alts(side)}, b: {_alts(size // side)}}}")
        argv = [timing.FEXP, "list", "--json", "-r", str(xs.root)]
        repeat = 3 if quick else 5
        (registered,) = timing.paired([(argv, None)], repeat=repeat)
        mine = owner.me(owner.new_claim())  # this process: alive, so every row is checked

        def running(name: str, data: dict[str, object]) -> bool:
            data.update(_status="running", _owner=mine)
            return True

        params_file.update_many(xs.root, names, running)
        (checked,) = timing.paired([(argv, None)], repeat=repeat)
        assert os.getpid() == mine["pid"]
    return [
        Result(
            f"fexp list --json, {size:,} running, owners checked",
            checked,
            "s",
            "value <= 1.5",
            "same set, all registered",
            registered,
        )
    ]


def run(quick: bool) -> list[Result]:
    return _message_cases(quick) + _claim_cases(quick) + _list_cases(quick)
