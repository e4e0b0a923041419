"""The start-up cost a run pays to record its code and environment (issue 17).

A temporary git repository of 200 tracked files, 50 of them edited (a dirty tree) and 5
untracked; 300 fake installed packages added to the real ones. ``record_run`` is timed:
cold (no cache: five git processes, every package listed) and warm (the tree and the
environment unchanged since the sweep's first run: what every further ``--fork`` child or
script.sh run pays). The baseline is the run-start bookkeeping fexp did before (``run_meta``
and the params.yml save), measured in the same run.
"""

from __future__ import annotations

import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from bench.common import PYTHON, Result
from bench.fixtures import timing

TRACKED, DIRTY, UNTRACKED, FAKE_PACKAGES = 200, 50, 5, 300

PROBE = """
import fexp
from fexp import Root


@fexp.experiment
def probe(root: Root, a: int = 1):  # @p a number
    root.message({"a": a})
"""


def _git(repo: pathlib.Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=b@b", "-c", "user.name=b", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def _repo(tmp: pathlib.Path) -> pathlib.Path:
    repo = tmp / "repo"
    (repo / "pkg").mkdir(parents=True)
    _git(repo, "init", "-q")
    (repo / "probe.py").write_text(PROBE)
    for i in range(TRACKED - 1):
        (repo / "pkg" / f"m{i:03d}.py").write_text(f"VALUE_{i} = {i}\n" * 40)
    (repo / ".gitignore").write_text("runs/\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "init")
    for i in range(DIRTY):
        (repo / "pkg" / f"m{i:03d}.py").write_text(f"VALUE_{i} = {i + 1}  # edited\n" * 40)
    for i in range(UNTRACKED):
        (repo / f"new{i}.py").write_text("X = 1\n")
    return repo


def _fake_packages(tmp: pathlib.Path) -> pathlib.Path:
    site = tmp / "fake" / "site-packages"
    for i in range(FAKE_PACKAGES):
        info = site / f"fakepkg{i:03d}-1.{i}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: fakepkg{i:03d}\nVersion: 1.{i}\n"
        )
    return site


def _fresh_interpreter_ms(repo: pathlib.Path, site: pathlib.Path, repeat: int) -> float:
    """Cold cost inside a new interpreter that imported fexp, as a run has (the imports of
    the snapshot code included)."""
    code = (
        "import sys, time, fexp; sys.path.append(sys.argv[2]); t = time.perf_counter(); "
        "from fexp import _environment as e, _environment_code as c; "
        "c.code_snapshot(__import__('pathlib').Path(sys.argv[1]), None); "
        "e.environment_snapshot(None); print((time.perf_counter() - t) * 1e3)"
    )
    times = []
    for _ in range(repeat):
        done = subprocess.run(
            [PYTHON, "-c", code, str(repo / "probe.py"), str(site)],
            capture_output=True,
            text=True,
            check=True,
            env=timing.subprocess_env(),
        )
        times.append(float(done.stdout))
    return sorted(times)[len(times) // 2]


def _cpu() -> float:
    import resource

    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _git_s(repo: pathlib.Path, *args: str) -> float:
    """One git subprocess: the unit a cold record pays a few of."""
    start = time.perf_counter()
    subprocess.run(["git", *args], cwd=repo, capture_output=True, check=True)
    return time.perf_counter() - start


def _measure(repo: pathlib.Path, repeat: int) -> dict[str, float]:
    """Medians (s) of record_run cold, after an edit and warm, of the old run start, of git
    status, and the CPU time (this process and its git children) of a cold record."""
    from fexp import _environment, _meta, _registry

    cls = _registry.resolve(f"{repo / 'probe.py'}:probe")
    cache = _environment.cache_dir()
    count = iter(range(10**6))

    def timed(what: str) -> tuple[float, float]:
        """One run start of a new experiment of the sweep (registered untimed)."""
        exp = cls()
        exp.register(repo / "runs" / "s", f"e{next(count)}")
        if what == "cold":
            shutil.rmtree(cache, ignore_errors=True)
        elif what == "edited":  # an edit since the last run: same files, another diff
            (repo / "pkg" / "m000.py").write_text(f"EDIT = {next(count)}\n")
        start, cpu = time.perf_counter(), _cpu()
        if what == "before":  # what a run start cost before issue 17
            exp.meta = _meta.run_meta(())
            exp.save()
        else:
            _environment.record_run(exp)
        return time.perf_counter() - start, _cpu() - cpu

    cold, status, edited, diff = [], [], [], []
    for _ in range(repeat):  # interleaved, so the machine's load hits all alike
        cold.append(timed("cold"))
        status.append(_git_s(repo, "status", "--porcelain=v2"))
        timed("warm")
        time.sleep(0.2)  # an edit right after git ran is racy, and not cached
        edited.append(timed("edited")[0])
        diff.append(_git_s(repo, "diff", "HEAD"))
    timed("warm")  # the sweep's first run fills the cache
    return {
        "edited": statistics.median(edited),
        "diff": statistics.median(diff),
        "cold": statistics.median(c[0] for c in cold),
        "cold_cpu": statistics.median(c[1] for c in cold),
        "status": statistics.median(status),
        "warm": statistics.median(timed("warm")[0] for _ in range(repeat * 3)),
        "before": statistics.median(timed("before")[0] for _ in range(repeat * 3)),
    }


def run(quick: bool) -> list[Result]:
    from fexp import _environment

    repeat = 5 if quick else 15
    with timing.temp_home(), tempfile.TemporaryDirectory() as tmp_name:
        tmp = pathlib.Path(tmp_name)
        repo, site = _repo(tmp), _fake_packages(tmp)
        sys.path.append(str(site))
        try:
            ms = {k: v * 1e3 for k, v in _measure(repo, repeat).items()}
            packages = len(_environment.environment_snapshot().packages)
            fresh_ms = _fresh_interpreter_ms(repo, site, max(3, repeat // 3))
            idle = [timing.run_once([PYTHON, "-c", "pass"]) for _ in range(5)]
        finally:
            sys.path.remove(str(site))
    tree = f"{DIRTY} dirty of {TRACKED} files, {packages} packages"
    before = "run start before (run_meta + save)"
    return [
        Result(
            f"record at run start, cold ({tree})",
            ms["cold"],
            "ms",
            "value <= 20",
            "one `git status` subprocess",
            ms["status"],
        ),
        Result("  of which CPU time, fexp + its git children (info)", ms["cold_cpu"], "ms"),
        Result(
            f"record at run start after an edit (one git diff; {tree})",
            ms["edited"],
            "ms",
            "value <= 20",
            "one `git diff HEAD` subprocess",
            ms["diff"],
        ),
        Result(
            f"record at run start, warm cache: --fork sweep after 1st run ({tree})",
            ms["warm"],
            "ms",
            "value <= 2",
            before,
            ms["before"],
        ),
        Result("record, cold, in a fresh interpreter incl. imports (info)", fresh_ms, "ms"),
        Result(
            "python -c pass: this machine's load now (info)", statistics.median(idle) * 1e3, "ms"
        ),
    ]
