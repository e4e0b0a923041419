"""Scale: a set of N experiments, where every single-experiment command should cost what it
costs in an empty set (issue 16).

Sets of 1k/10k/100k (``--quick``: 1k/10k) are built once per run, in-process through
``ExperimentSet.link`` (the fastest path), on the working filesystem and on tmpfs
(``/dev/shm``, fexp's CPU without the disk). Subprocess cases run the installed ``fexp``,
alternating each case with its baseline run by run.
"""

from __future__ import annotations

import itertools
import os
import pathlib
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable

from bench.common import PYTHON, Result
from bench.fixtures import timing

NOOP_REF = f"{timing.FIXTURES / 'noop.py'}:noop"
_COUNTER = itertools.count(1_000_000)


def _sweep(size: int) -> str:
    b = min(size, 100)
    return (
        "{a: "
        + " | ".join(map(str, range(size // b)))
        + ", b: "
        + " | ".join(map(str, range(b)))
        + "}"
    )


def _build(base: pathlib.Path, size: int) -> pathlib.Path:
    import fexp

    root = base / f"set{size}"
    xs = fexp.ExperimentSet.init(root, NOOP_REF)
    if size:
        xs.link(_sweep(size))
        xs.find()  # settle the row index as a user's set is after one listing
    return root


def _alternate(cases: list[Callable[[], list[str]]], repeat: int) -> list[float]:
    """Median seconds of each command maker's commands, alternated (one warm-up each)."""
    times: list[list[float]] = [[] for _ in cases]
    for round_ in range(repeat + 1):
        for i, make in enumerate(cases):
            elapsed = timing.run_once(make())
            if round_:
                times[i].append(elapsed)
    return [statistics.median(t) for t in times]


def _one_link(root: pathlib.Path) -> Callable[[], list[str]]:
    return lambda: [timing.FEXP, "link", f"{{a: {next(_COUNTER)}, b: -1}}", "-r", str(root)]


def _single_cases(fs: str, sets: dict[int, pathlib.Path], repeat: int) -> list[Result]:
    """link/reset/run of ONE experiment into each set vs into the empty set."""
    empty = sets[0]
    results = []
    for size, root in sets.items():
        if not size:
            continue
        goal = "ratio <= 1.2" if size >= 100_000 else ""
        link_n, link_0 = _alternate([_one_link(root), _one_link(empty)], repeat)
        results.append(
            Result(
                f"[{fs}] link ONE into {size:,}",
                link_n * 1e3,
                "ms",
                goal,
                "into an empty set",
                link_0 * 1e3,
            )
        )
        reset = ["reset", "a=0__b=0", "--status", "registered"]
        run = ["run", "a=0__b=0", "--force"]
        timing.run_once([timing.FEXP, "link", "{a: 0, b: 0}", "-r", str(empty)], check=False)
        for verb, args in (("reset", reset), ("run", run)):
            n, zero = _alternate(
                [
                    lambda args=args, root=root: [timing.FEXP, *args, "-r", str(root)],
                    lambda args=args: [timing.FEXP, *args, "-r", str(empty)],
                ],
                repeat,
            )
            results.append(
                Result(
                    f"[{fs}] {verb} ONE in {size:,}",
                    n * 1e3,
                    "ms",
                    goal,
                    "in an empty set",
                    zero * 1e3,
                )
            )
    return results


def _list_cases(fs: str, sets: dict[int, pathlib.Path], repeat: int) -> list[Result]:
    results = []
    bare = [PYTHON, str(timing.FIXTURES / "bare_typer_app.py"), "--greeting", "Hi"]
    for size, root in sets.items():
        if not size:
            continue
        argv = [timing.FEXP, "list", "--json", "-r", str(root)]
        where = [timing.FEXP, "list", "-w", "a==3", "-w", "b==7", "-r", str(root)]
        if size == 1000:
            fexp_s, bare_s = timing.paired(
                [(argv, None), (bare, {"BARE_TYPER_PLAIN": "1"})], repeat=repeat * 2
            )
            results.append(
                Result(
                    f"[{fs}] fexp list --json, 1,000",
                    fexp_s * 1e3,
                    "ms",
                    "ratio <= 1.2",
                    "bare Typer command run",
                    bare_s * 1e3,
                )
            )
            continue
        full_s, where_s = timing.paired([(argv, None), (where, None)], repeat=max(3, repeat // 2))
        results.append(
            Result(
                f"[{fs}] fexp list --json, {size:,}",
                full_s,
                "s",
                "value <= 3" if size >= 100_000 else "",
            )
        )
        results.append(
            Result(
                f"[{fs}] fexp list -w (selective), {size:,}",
                where_s,
                "s",
                "value <= 0.5" if size >= 100_000 else "",
            )
        )
    return results


def _log_case(base: pathlib.Path, repeat: int, messages: int) -> list[Result]:
    """``fexp list`` with one running experiment whose log holds 200k messages vs a short
    log; 10 messages are appended before every listing (a live run)."""
    from fexp import _messages

    roots = []
    for name, count in (("long", messages), ("short", 10)):
        root = _build(base / name, 0)
        timing.run_once([timing.FEXP, "link", "{a: 1 | 2 | 3, b: 1}", "-r", str(root)])
        timing.run_once([timing.FEXP, "reset", "a=1__b=1", "--status", "running", "-r", str(root)])
        line = _messages.encode({"loss": 0.5, "acc": 0.9}, keep="min", step=1, now=1.0)
        (root / "a=1__b=1" / "messages.jsonl").write_bytes(line * count)
        roots.append(root)

    def listing(root: pathlib.Path) -> Callable[[], list[str]]:
        def make() -> list[str]:
            with open(root / "a=1__b=1" / "messages.jsonl", "ab") as log:
                log.write(_messages.encode({"loss": 0.4}, keep="min", now=2.0) * 10)
            return [timing.FEXP, "list", "--json", "-r", str(root)]

        return make

    long_s, short_s = _alternate([listing(roots[0]), listing(roots[1])], repeat)
    return [
        Result(
            f"fexp list, a running log of {messages:,} messages",
            long_s * 1e3,
            "ms",
            "ratio <= 1.2",
            "a 10-message log",
            short_s * 1e3,
        )
    ]


def _floor(base: pathlib.Path, count: int) -> float:
    """mkdir + two small files per folder: what any tool creating the folders pays."""
    text = b"x" * 560
    start = time.perf_counter()
    for i in range(count):
        folder = base / f"f{i}"
        folder.mkdir()
        for name in ("params.yml", ".params.yml.json"):
            fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, text)
            os.close(fd)
    return time.perf_counter() - start


def _link_floor_case(fs: str, base: pathlib.Path, repeat: int) -> list[Result]:
    import fexp

    links, floors = [], []
    for i in range(repeat):
        xs = fexp.ExperimentSet.init(base / f"lf{i}", NOOP_REF)
        start = time.perf_counter()
        xs.link(_sweep(1000))
        links.append(time.perf_counter() - start)
        (base / f"fl{i}").mkdir()
        floors.append(_floor(base / f"fl{i}", 1000))
    return [
        Result(
            f"[{fs}] link 1,000 (ExperimentSet.link)",
            statistics.median(links),
            "s",
            "ratio <= 2",
            "mkdir + 2 files x 1,000",
            statistics.median(floors),
        )
    ]


def _torch_cases(base: pathlib.Path, repeat: int) -> list[Result]:
    import torch

    from fexp import _npz

    state = {"w": torch.randn(50 * 1024 * 1024 // 4), "b": torch.randn(1000)}
    ours, theirs = base / "ckpt", base / "state.pt"

    def save_ours() -> None:
        ours.unlink(missing_ok=True)
        _npz.write(ours, {"model": state}, {})

    def save_torch() -> None:
        with open(theirs, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())

    def load_ours() -> None:
        with _npz.Reader(ours) as reader:
            _npz.unpack(reader.meta["tree"], None, reader)

    def load_torch() -> None:
        torch.load(theirs, map_location="cpu", weights_only=True)

    times: dict[str, list[float]] = {k: [] for k in ("so", "st", "lo", "lt")}
    for _ in range(repeat):
        for key, fn in (
            ("so", save_ours),
            ("st", save_torch),
            ("lo", load_ours),
            ("lt", load_torch),
        ):
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    return [
        Result(
            "torch checkpoint save, 50 MB",
            med["so"],
            "ms",
            "ratio <= 1.1",
            "torch.save + fsync",
            med["st"],
        ),
        Result(
            "torch checkpoint restore, 50 MB",
            med["lo"],
            "ms",
            "ratio <= 1.2",
            "torch.load",
            med["lt"],
        ),
    ]


def _help_case(repeat: int) -> list[Result]:
    import subprocess

    shown = subprocess.run(
        [timing.FEXP, "--help"],
        capture_output=True,
        text=True,
        check=True,
        env=timing.subprocess_env(),
    ).stdout
    lines = shown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "Commands:")
    n = sum(
        1 for line in lines[start + 1 :] if line.startswith("  ") and not line.startswith("   ")
    )
    group = str(timing.FIXTURES / "bare_typer_group.py")
    fexp_s, bare_s = timing.paired(
        [
            ([timing.FEXP, "--help"], None),
            ([PYTHON, group, "--help"], {"BARE_TYPER_COMMANDS": str(n), "BARE_TYPER_PLAIN": "1"}),
        ],
        repeat=repeat * 2,
    )
    return [
        Result(
            f"fexp --help ({n} commands)",
            fexp_s * 1e3,
            "ms",
            "ratio <= 1.0",
            f"bare plain Typer, {n} commands",
            bare_s * 1e3,
        )
    ]


def _filesystems(tmp: pathlib.Path) -> list[tuple[str, pathlib.Path]]:
    out = [("fs", tmp)]
    if pathlib.Path("/dev/shm").is_dir():
        out.append(("tmpfs", pathlib.Path(tempfile.mkdtemp(prefix="fexp-scale-", dir="/dev/shm"))))
    return out


def run(quick: bool) -> list[Result]:
    sizes = [1000, 10_000] if quick else [1000, 10_000, 100_000]
    repeat = 3 if quick else 7
    results: list[Result] = []
    with timing.temp_home() as tmp:
        for fs, base in _filesystems(tmp):
            try:
                sets = {size: _build(base, size) for size in [0, *sizes]}
                results += _single_cases(fs, sets, repeat)
                results += _list_cases(fs, sets, repeat)
                results += _link_floor_case(fs, base, 3)
            finally:
                if base != tmp:
                    shutil.rmtree(base, ignore_errors=True)
        results += _log_case(tmp, repeat, 20_000 if quick else 200_000)
        results += _torch_cases(tmp, 3 if quick else 5)
        results += _help_case(repeat)
    return results
