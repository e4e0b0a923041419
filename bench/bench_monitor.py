"""Monitor and checkpoint speed: loop overhead vs tqdm, scalars/s vs raw tensorboardX,
checkpoint save MB/s vs np.savez (same arrays, same run)."""

from __future__ import annotations

import io
import os
import pathlib
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from bench.common import Result


class _Experiment:
    """A stand-in experiment for the Messenger (never messaged here: its hook does not fire)."""

    name = "bench"
    directory = None

    def message(self, values: dict[str, Any], keep: str = "latest", leader: str | None = None,
                step: int | None = None) -> None:
        raise AssertionError("the messenger must not fire in the overhead benchmark")


def _median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# -- loop overhead ------------------------------------------------------------------------------


def _bare(epochs: int, steps: int) -> None:
    loss = 0.0
    for _ in range(epochs):
        for _ in range(steps):
            loss += 1.0


def _tqdm(epochs: int, steps: int) -> None:
    from tqdm import tqdm

    loss = 0.0
    for _ in tqdm(range(epochs), disable=False, file=io.StringIO()):
        for _ in tqdm(range(steps), disable=False, file=io.StringIO()):
            loss += 1.0


def _monitor(epochs: int, steps: int, folder: pathlib.Path) -> None:
    from fexp.monitor import Monitor

    ex = _Experiment()
    never = epochs * steps + 1
    m = Monitor(folder, log=f"^loss$@{never}s", msg=f"^loss$->^ex$@{never}s",
                sca=f"^loss$@{never}s")
    loss = 0.0
    for _ in m(range(epochs)):
        for _ in m(range(steps)):
            loss += 1.0
    assert m.step == epochs * steps and ex is not None
    m.close()


def _overhead(quick: bool, folder: pathlib.Path) -> list[Result]:
    epochs, steps = (10, 100_000) if quick else (20, 250_000)
    iterations = epochs * steps
    repeat = 3 if quick else 7
    cases = {"bare": lambda: _bare(epochs, steps), "tqdm": lambda: _tqdm(epochs, steps),
             "monitor": lambda: _monitor(epochs, steps, folder)}
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):  # interleaved, so load changes hit every case alike
        for name, fn in cases.items():
            times[name].append(_median_time(fn, 1))
    ns = {name: statistics.median(t) / iterations * 1e9 for name, t in times.items()}
    return [
        Result("loop: bare two-level loop", ns["bare"], "ns/iter"),
        Result("loop overhead: Monitor (Logger+Messenger+TensorBoard, not firing)",
               ns["monitor"] - ns["bare"], "ns/iter", "ratio <= 1.0",
               "tqdm overhead (2 bars, StringIO)", ns["tqdm"] - ns["bare"]),
    ]


# -- scalars per second -------------------------------------------------------------------------


def _scalars(quick: bool, folder: pathlib.Path) -> list[Result]:
    from tensorboardX import SummaryWriter

    from fexp.monitor import Monitor

    n = 20_000 if quick else 100_000
    repeat = 3 if quick else 5

    def raw() -> float:
        # The Monitor's writer settings, so that only the Monitor's own work differs.
        writer = SummaryWriter(logdir=str(folder / f"raw{time.monotonic_ns()}"), max_queue=1000,
                               flush_secs=30)
        start = time.perf_counter()
        for i in range(n):
            writer.add_scalar("loss", float(i), i)
        elapsed = time.perf_counter() - start
        writer.close()
        return elapsed

    def monitored() -> float:
        m = Monitor(folder / f"mon{time.monotonic_ns()}", sca="^loss$@1s")
        m.summary_writer  # created up front, as the raw writer is  # noqa: B018
        start = time.perf_counter()
        for i in m(range(n)):
            loss = float(i)
        elapsed = time.perf_counter() - start
        m.close()
        assert loss == n - 1
        return elapsed

    raw()  # warm imports
    times: dict[str, list[float]] = {"raw": [], "monitor": []}
    for _ in range(repeat):
        times["raw"].append(raw())
        times["monitor"].append(monitored())
    rate = {k: n / statistics.median(v) for k, v in times.items()}
    return [Result("scalars/s through Monitor(sca='^loss$@1s')", rate["monitor"], "scalars/s",
                   "ratio >= 0.8", "raw tensorboardX add_scalar", rate["raw"])]


# -- checkpoints --------------------------------------------------------------------------------


def _tree(quick: bool) -> dict[str, Any]:
    import numpy as np

    rng = np.random.default_rng(0)
    layers = 44  # ~50 MB in both modes: small trees measure fixed costs, not throughput
    return {
        "layers": [{"w": rng.standard_normal((512, 512)).astype(np.float32),
                    "b": np.zeros(512, np.float32)} for _ in range(layers)],
        "embedding": rng.standard_normal((1000, 1000)).astype(np.float32),
        "step": 1000,
        "lr": 0.001,
    }


def _flat(tree: dict[str, Any]) -> dict[str, Any]:
    arrays = {"embedding": tree["embedding"]}
    for i, layer in enumerate(tree["layers"]):
        arrays[f"w{i}"], arrays[f"b{i}"] = layer["w"], layer["b"]
    return arrays


def _checkpoints(quick: bool, folder: pathlib.Path) -> list[Result]:
    import numpy as np

    from fexp import _checkpoint

    tree = _tree(quick)
    arrays = _flat(tree)
    megabytes = sum(a.nbytes for a in arrays.values()) / 1e6
    repeat = 5 if quick else 11
    step = iter(range(1, 10_000))
    npz, npz_synced = folder / "plain.npz", folder / "synced.npz"

    def savez() -> None:
        np.savez(npz, **arrays)

    def savez_fsync() -> None:
        with open(npz_synced, "wb") as handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())

    def save() -> None:
        _checkpoint.save(folder / "checkpoints", tree, next(step), keep=1)

    def restore() -> None:
        _checkpoint.restore(folder / "checkpoints")

    def load() -> None:
        with np.load(npz) as data:
            for key in data.files:
                data[key]

    cases = {"savez": savez, "savez_fsync": savez_fsync, "save": save}
    times: dict[str, list[float]] = {name: [] for name in [*cases, "restore", "load"]}
    for _ in range(repeat):
        for name, fn in cases.items():
            os.sync()  # every case starts with no dirty pages of the others to write back
            times[name].append(_median_time(fn, 1))
        times["restore"].append(_median_time(restore, 1))
        times["load"].append(_median_time(load, 1))
    rate = {name: megabytes / statistics.median(t) for name, t in times.items()}
    label = f"checkpoint save, {megabytes:.0f} MB pytree (atomic: temp+fsync+rename)"
    return [
        Result(label, rate["save"], "MB/s", "ratio >= 0.8", "np.savez (no fsync)",
               rate["savez"]),
        Result(label, rate["save"], "MB/s", "ratio >= 0.8", "np.savez + fsync",
               rate["savez_fsync"]),
        Result(f"checkpoint restore, {megabytes:.0f} MB pytree", rate["restore"], "MB/s", "",
               "np.load of the npz", rate["load"]),
    ]


def run(quick: bool) -> list[Result]:
    """Measure the monitor's loop overhead, scalar throughput and checkpoint speed."""
    folder = pathlib.Path(tempfile.mkdtemp(prefix="fexp-bench-monitor-"))
    try:
        return [*_overhead(quick, folder), *_scalars(quick, folder),
                *_checkpoints(quick, folder)]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
