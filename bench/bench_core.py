"""Foundation costs: ``import fexp``, a generated ``--help``, ``message()`` and ``from_yml``.

Subprocess cases alternate fexp and its baseline run by run (medians of each), so that the
load of a busy machine hits both alike.
"""

from __future__ import annotations

import random
import statistics
import time

from bench.common import PYTHON, Result, median_seconds
from bench.fixtures import timing


def _import_cases(repeat: int) -> list[Result]:
    fexp_s, typer_s = timing.paired([([PYTHON, "-c", "import fexp"], None),
                                     ([PYTHON, "-c", "import typer"], None)], repeat)
    return [Result("import fexp (fresh interpreter)", fexp_s * 1e3, "ms", "ratio <= 1.3",
                   "import typer", typer_s * 1e3)]


def _help_cases(repeat: int) -> list[Result]:
    hello = str(timing.REPO / "examples" / "hello_world.py")
    bare = str(timing.FIXTURES / "bare_typer_app.py")
    fexp_s, bare_s, plain_s = timing.paired([
        ([PYTHON, hello, "--help"], None),
        ([PYTHON, bare, "--help"], None),
        ([PYTHON, bare, "--help"], {"BARE_TYPER_PLAIN": "1"}),
    ], repeat)
    return [
        Result("hello_world.py --help (10 options)", fexp_s * 1e3, "ms", "ratio <= 1.0",
               "bare Typer, 10 options", bare_s * 1e3),
        Result("hello_world.py --help vs plain help (info)", fexp_s * 1e3, "ms", "",
               "bare Typer, no rich", plain_s * 1e3),
    ]


def _message_and_from_yml(quick: bool) -> list[Result]:
    from bench.fixtures import twenty

    with timing.temp_home() as tmp:
        exp = twenty.twenty()
        exp.register(tmp / "set", "exp")
        rng = random.Random(0)
        batch = 200 if quick else 1000
        batches = 7 if quick else 15
        payloads = [{f"m{k}": rng.random() for k in range(10)} for _ in range(batch)]
        exp.message(payloads[0], keep="min")  # opens the log

        def one_batch() -> float:
            start = time.perf_counter()
            for values in payloads:
                exp.message(values, keep="min")
            return (time.perf_counter() - start) / batch

        per_call = statistics.median(one_batch() for _ in range(batches))
        exp.save()  # params.yml now carries 10 message keys, as after a run
        params = exp.directory / "params.yml"  # type: ignore[operator]
        reader = twenty.twenty()
        reader.from_yml(params)  # warm
        load_s = median_seconds(lambda: reader.from_yml(params), repeat=31 if quick else 101)
        exp.close()
    return [
        Result("message() 10 float keys, keep=min (20 params)", per_call * 1e6, "µs",
               "value <= 20"),
        Result("from_yml(params.yml) warm (20 params)", load_s * 1e3, "ms", "value <= 2"),
    ]


def run(quick: bool) -> list[Result]:
    repeat = 9 if quick else 21
    with timing.temp_home():
        results = _import_cases(repeat)
        results += _help_cases(repeat)
    results += _message_and_from_yml(quick)
    return results
