"""Shared pieces for bench cases: the Result record and timing helpers.

Each ``bench/bench_*.py`` defines ``run(quick: bool) -> list[Result]``; ``python -m bench``
runs them all in one process tree and prints one table (and ``--markdown`` for BENCHMARKS.md).
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence


@dataclasses.dataclass
class Result:
    """One measured case, optionally compared with a baseline measured in the same run.

    ``ratio`` is value / baseline_value; ``target`` says what passes, e.g. "ratio <= 1.3"
    or "value <= 20" (in ``unit``); ``ok`` is computed from it.
    """

    case: str
    value: float
    unit: str
    target: str = ""
    baseline: str = ""
    baseline_value: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline_value in (None, 0):
            return None
        return self.value / self.baseline_value  # type: ignore[operator]

    @property
    def ok(self) -> bool | None:
        if not self.target:
            return None
        what, op, bound = self.target.split()
        actual = self.ratio if what == "ratio" else self.value
        if actual is None:
            return None
        limit = float(bound)
        return {"<=": actual <= limit, ">=": actual >= limit}[op]


def median_seconds(fn: Callable[[], object], repeat: int = 7, number: int = 1) -> float:
    """Median wall time of ``number`` calls of ``fn``, over ``repeat`` runs, per call."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return statistics.median(times)


def command_seconds(argv: Sequence[str], repeat: int = 7, env: dict[str, str] | None = None,
                    cwd: str | None = None) -> float:
    """Median wall time of running a command to completion (output discarded)."""
    full_env = {**os.environ, **(env or {})}

    def once() -> None:
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env=full_env, cwd=cwd)

    once()  # warm the page cache and .pyc files
    return median_seconds(once, repeat=repeat)


PYTHON = sys.executable
