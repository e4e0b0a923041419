"""Set-level costs: link and list at 1k/10k experiments, ``fexp --help`` with 20 registered
experiments, and a 100-job no-op sweep against Hydra's ``--multirun``.

Subprocess cases use the installed ``fexp`` console script; fexp and its baseline alternate
run by run and each reports its median.
"""

from __future__ import annotations

import pathlib
import shutil
import statistics
import tempfile
import time

from bench.common import PYTHON, Result
from bench.fixtures import timing

NOOP_REF = f"{timing.FIXTURES / 'noop.py'}:noop"
HELLO_REF = f"{timing.REPO / 'examples' / 'hello_world.py'}:hello_world"


def _sweep(n_a: int, n_b: int, start: int = 1) -> str:
    def alts(n: int) -> str:
        return " | ".join(str(i) for i in range(start, start + n))

    return f"{{a: {alts(n_a)}, b: {alts(n_b)}}}"


def _link_cases(tmp: pathlib.Path, quick: bool) -> tuple[list[Result], dict[int, pathlib.Path]]:
    """Time ``ExperimentSet.link`` alone on fresh sets; keep one set per size for listing."""
    import fexp

    sizes = {1000: (_sweep(10, 100), 3 if quick else 5)}
    if not quick:
        sizes[10_000] = (_sweep(100, 100), 3)
    kept: dict[int, pathlib.Path] = {}
    seconds: dict[int, float] = {}
    for size, (sweep, repeat) in sizes.items():
        times = []
        for i in range(repeat):
            root = tmp / f"link{size}_{i}"
            xs = fexp.ExperimentSet.init(root, NOOP_REF)
            start = time.perf_counter()
            names = xs.link(sweep)
            times.append(time.perf_counter() - start)
            assert len(names) == size, (len(names), size)
            if i == 0:
                kept[size] = root
            else:
                shutil.rmtree(root)
        seconds[size] = statistics.median(times)
    results = [Result(f"link {size:,} configs (ExperimentSet.link)", s, "s",
                      "value <= 0.5" if size == 1000 else "value <= 5")
               for size, s in seconds.items()]
    if 10_000 in seconds:
        per_10k, per_1k = seconds[10_000] / 10_000, seconds[1000] / 1000
        results.append(Result("link per-config time, 10k vs 1k (linearity, info)", per_10k * 1e3,
                              "ms", "", "per config at 1k", per_1k * 1e3))
    return results, kept


def _drop_caches(root: pathlib.Path) -> None:
    """Remove fexp's JSON caches of a set (row index, experiment.yml sidecar), if any."""
    for cache in (".fexp-index.json", ".experiment.yml.json"):
        (root / cache).unlink(missing_ok=True)


def _list_cases(sets: dict[int, pathlib.Path], quick: bool) -> list[Result]:
    """``fexp list --json`` right after link (warm caches) and with fexp's caches removed
    before every run (cold: the first listing after a run has changed every params.yml)."""
    results = []
    for size, root in sets.items():
        argv = [timing.FEXP, "list", "--json", "-r", str(root)]
        repeat = 5 if quick or size > 1000 else 7
        # The floor: any Typer command invocation (Typer 0.29 imports pydantic to coerce).
        bare = [PYTHON, str(timing.FIXTURES / "bare_typer_app.py"), "--greeting", "Hi"]
        warm, floor = timing.paired([(argv, None), (bare, {"BARE_TYPER_PLAIN": "1"})],
                                    repeat=repeat)
        cold = []
        for _ in range(max(3, repeat // 2)):
            _drop_caches(root)
            cold.append(timing.run_once(argv))
        results.append(Result(f"fexp list --json, {size:,} experiments", warm, "s",
                              "value <= 0.3" if size == 1000 else "value <= 1.5",
                              "bare Typer command run", floor))
        results.append(Result(f"fexp list --json, {size:,}, caches removed (info)",
                              statistics.median(cold), "s", "", "warm", warm))
    return results


def _listed_commands(help_text: str) -> int:
    lines = help_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "Commands:")
    entries = lines[start + 1:]
    return sum(1 for line in entries if line.startswith("  ") and not line.startswith("   "))


def _help_cases(quick: bool) -> list[Result]:
    import subprocess

    from fexp import _config

    with timing.temp_home():
        timing.run_once([timing.FEXP, "experiments", "add", HELLO_REF, "hello00"])
        with _config.editing() as config:
            entry = config["experiments"]["hello00"]
            config["experiments"] = {f"hello{i:02d}": dict(entry) for i in range(20)}
        shown = subprocess.run([timing.FEXP, "--help"], capture_output=True, text=True, check=True,
                               env=timing.subprocess_env()).stdout
        n = _listed_commands(shown)
        assert n >= 20, shown
        group = str(timing.FIXTURES / "bare_typer_group.py")
        fexp_s, bare_s, plain_s = timing.paired([
            ([timing.FEXP, "--help"], None),
            ([PYTHON, group, "--help"], {"BARE_TYPER_COMMANDS": str(n)}),
            ([PYTHON, group, "--help"], {"BARE_TYPER_COMMANDS": str(n), "BARE_TYPER_PLAIN": "1"}),
        ], repeat=9 if quick else 21)
    return [
        Result(f"fexp --help, 20 registered ({n} commands)", fexp_s * 1e3, "ms", "ratio <= 1.0",
               f"bare Typer, {n} commands", bare_s * 1e3),
        Result("fexp --help vs plain help (info)", fexp_s * 1e3, "ms", "",
               f"bare Typer, {n} cmds, no rich", plain_s * 1e3),
    ]


def _job_floor(params: pathlib.Path, registered: bytes, repeat: int) -> tuple[float, float]:
    """Median seconds of one ``script.sh params.yml`` (a no-op job) and of a bare
    interpreter start, alternated; params.yml is reset to ``registered`` before each job."""
    folder = params.parent
    root = folder.parent
    job = ["bash", str(root / "script.sh"), str(params)]
    bare = [PYTHON, "-c", "pass"]
    jobs, bares = [], []
    for i in range(repeat + 1):
        params.write_bytes(registered)
        for leftover in ("out.txt", "messages.jsonl"):
            (folder / leftover).unlink(missing_ok=True)
        job_s, bare_s = timing.run_once(job), timing.run_once(bare)
        if i:  # the first round warms up
            jobs.append(job_s)
            bares.append(bare_s)
    return statistics.median(jobs), statistics.median(bares)


def _noop_sweep_cases(tmp: pathlib.Path, quick: bool) -> list[Result]:
    """init + link + run of 100 no-op experiments vs Hydra's basic launcher, alternated."""
    hydra_app = str(timing.FIXTURES / "hydra_noop.py")
    sweep = _sweep(10, 10, start=0)
    fexp_times, hydra_times, run_times, fork_times = [], [], [], []
    for i in range(1 if quick else 3):
        forked = tmp / f"noop_fork_{i}"
        start = time.perf_counter()
        timing.run_once([timing.FEXP, "init", NOOP_REF, "-r", str(forked)])
        timing.run_once([timing.FEXP, "link", sweep, "-r", str(forked)])
        timing.run_once([timing.FEXP, "run", "*", "--fork", "-r", str(forked)])
        fork_times.append(time.perf_counter() - start)
        shutil.rmtree(forked)
        root = tmp / f"noop_{i}"
        start = time.perf_counter()
        timing.run_once([timing.FEXP, "init", NOOP_REF, "-r", str(root)])
        timing.run_once([timing.FEXP, "link", sweep, "-r", str(root)])
        mid = time.perf_counter()
        first = root / "a=0__b=0" / "params.yml"
        registered = first.read_bytes()
        timing.run_once([timing.FEXP, "run", "*", "-r", str(root)])
        end = time.perf_counter()
        fexp_times.append(end - start)
        run_times.append(end - mid)
        if i == 0:
            job_s, bare_s = _job_floor(first, registered, repeat=5 if quick else 11)
        shutil.rmtree(root)
        with tempfile.TemporaryDirectory(prefix="hydra-bench-") as cwd:
            hydra_times.append(timing.run_once(
                [PYTHON, hydra_app, "--multirun", "a=range(10)", "b=range(10)"], cwd=cwd))
    fexp_s, hydra_s = statistics.median(fexp_times), statistics.median(hydra_times)
    fork_s = statistics.median(fork_times)
    return [
        # Hydra's basic launcher runs every job inside its own process; `--fork` is fexp's
        # counterpart (one import, a fork per job). The default launcher starts a fresh
        # interpreter through script.sh for every job, like Hydra's process launchers.
        Result("init+link+run 100 no-op jobs (fexp run --fork)", fork_s, "s", "ratio <= 0.5",
               "hydra --multirun, 100 jobs", hydra_s),
        Result("init+link+run 100 no-op jobs (script.sh per job, info)", fexp_s, "s", "",
               "hydra --multirun, 100 jobs", hydra_s),
        Result("  of which `fexp run`, per job (info)", statistics.median(run_times) / 100 * 1e3,
               "ms", "", "hydra per job", hydra_s / 100 * 1e3),
        Result("  one job: bash script.sh params.yml (info)", job_s * 1e3, "ms", "",
               "python -c pass", bare_s * 1e3),
    ]


def run(quick: bool) -> list[Result]:
    with timing.temp_home() as tmp:
        results, sets = _link_cases(tmp, quick)
        results += _list_cases(sets, quick)
        results += _noop_sweep_cases(tmp, quick)
    results += _help_cases(quick)
    return results
