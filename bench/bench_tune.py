"""``fexp tune`` (group ``tune``): search quality, pruning savings, overhead, throughput, SLURM.

- TPE vs random search on Branin (and Hartmann-6 without ``--quick``): trials TPE needs to reach
  random search's best-of-100, median over seeds. Both use the samplers fexp builds
  (``study_config.make_sampler``, reseeded per trial as fexp's workers do), in-process.
- ASHA vs no pruning on the learning curves of ``examples/tune_demo.py`` (numpy regression,
  loss depends on lr, width, act, epochs), same random configurations: the best final loss and
  the epochs spent, median over seeds; fexp's pruner config (``make_pruner``), in-process.
- fexp's overhead per trial (folder, claim, launch by fork, tell) over Optuna's own in-process
  ``study.optimize`` on the same trivial objective.
- Throughput of 4 local slots vs 1 on trials that sleep 1 s (``--fork``).
- 8 SLURM workers finishing a 64-trial study with pruning on the local test cluster.
"""

from __future__ import annotations

import math
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

from bench.common import Result

REPO = pathlib.Path(__file__).resolve().parent.parent
BRANIN_SPACE = {"x": (-5.0, 10.0), "y": (0.0, 15.0)}
HARTMANN_A = [
    [10, 3, 17, 3.5, 1.7, 8],
    [0.05, 10, 17, 0.1, 8, 14],
    [3, 3.5, 1.7, 10, 17, 8],
    [17, 8, 0.05, 10, 0.1, 14],
]
HARTMANN_P = [
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
    [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
    [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
]
HARTMANN_ALPHA = [1.0, 1.2, 3.0, 3.2]


def branin(p: dict[str, float]) -> float:
    x, y = p["x"], p["y"]
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    return (y - b * x**2 + c * x - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x) + 10


def hartmann6(p: dict[str, float]) -> float:
    x = [p[f"x{i}"] for i in range(6)]
    return -sum(
        alpha * math.exp(-sum(a * (xi - pp) ** 2 for a, xi, pp in zip(row, x, prow, strict=True)))
        for alpha, row, prow in zip(HARTMANN_ALPHA, HARTMANN_A, HARTMANN_P, strict=True)
    )


def _config(sampler: str, pruner: str = "none", seed: int = 0) -> object:
    from fexp._core import study_config

    return study_config.StudyConfig(
        "{}", (study_config.Objective("y", "minimize"),), sampler, pruner, seed
    )


def _space(bounds: dict[str, tuple[float, float]]) -> object:
    from fexp._core import search_space

    dims = tuple(search_space.Dimension(k, "float", lo, hi) for k, (lo, hi) in bounds.items())
    return search_space.SearchSpace(dims, {}, "")


def _search(
    fn: object, bounds: dict[str, tuple[float, float]], sampler: str, seed: int, n: int
) -> list[float]:
    """Best-so-far after each trial, asking as fexp's workers do (a fresh sampler per trial)."""
    import optuna

    from fexp._core import search_space, study_config

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config, space = _config(sampler, seed=seed), _space(bounds)
    study = optuna.create_study()
    dists = search_space.distributions(space)  # type: ignore[arg-type]
    best, curve = math.inf, []
    for number in range(n):
        study.sampler = study_config.make_sampler(config, space, number)  # type: ignore[arg-type]
        trial = study.ask(dists)
        value = fn(trial.params)  # type: ignore[operator]
        study.tell(trial, value)
        best = min(best, value)
        curve.append(best)
    return curve


def _tpe_vs_random(
    name: str, fn: object, bounds: dict[str, tuple[float, float]], seeds: int
) -> Result:
    needed = []
    for seed in range(seeds):
        target = _search(fn, bounds, "random", 1000 + seed, 100)[-1]
        tpe = _search(fn, bounds, "tpe", seed, 100)
        needed.append(next((i + 1 for i, v in enumerate(tpe) if v <= target), 101))
    return Result(
        f"tune: TPE trials to reach random's best-of-100 on {name} (median of {seeds})",
        statistics.median(needed),
        "trials",
        target="ratio <= 0.5",
        baseline="random search",
        baseline_value=100.0,
    )


# --------------------------------------------------------------------------- pruning


def _curves(lr: float, width: int, act: str, epochs: int) -> list[float]:
    """The validation losses of ``examples/tune_demo.py``'s regress, epoch by epoch."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, size=(256, 1))
    y = np.sin(x[:, 0]) + 0.1 * rng.normal(size=256)
    pre = x @ rng.normal(size=(1, width)) + rng.uniform(-3, 3, size=width)
    feats = (np.maximum(pre, 0.0) if act == "relu" else np.tanh(pre)) / np.sqrt(width)
    w, out = np.zeros(width), []
    for _ in range(epochs):
        for _ in range(10):
            w = w - lr * feats[:192].T @ (feats[:192] @ w - y[:192]) / 192
        out.append(min(float(np.mean((feats[192:] @ w - y[192:]) ** 2)), 1e6))
    return out


def _tune_curves(pruner: str, seed: int, trials: int, epochs: int) -> tuple[float, int]:
    """(best final loss among completed trials, epochs run) with fexp's pruner config."""
    import optuna

    from fexp._core import study_config

    config = _config("random", pruner, seed)
    study = optuna.create_study(
        pruner=study_config.make_pruner(config),  # type: ignore[arg-type]
        sampler=optuna.samplers.RandomSampler(seed=seed),
    )
    spent = 0
    dists = {
        "lr": optuna.distributions.FloatDistribution(1e-3, 1.0, log=True),
        "width": optuna.distributions.IntDistribution(4, 64),
        "act": optuna.distributions.CategoricalDistribution(("relu", "tanh")),
    }
    for _ in range(trials):
        trial = study.ask(dists)
        losses = _curves(trial.params["lr"], trial.params["width"], trial.params["act"], epochs)
        best = math.inf
        for epoch, loss in enumerate(losses):
            spent += 1
            best = min(best, loss)
            trial.report(loss, epoch)
            if trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                break
        else:
            study.tell(trial, best)
    return study.best_value, spent


def _asha(seeds: int, trials: int, epochs: int) -> list[Result]:
    ratios, fractions = [], []
    for seed in range(seeds):
        full_best, full_spent = _tune_curves("none", seed, trials, epochs)
        asha_best, asha_spent = _tune_curves("asha", seed, trials, epochs)
        ratios.append(asha_best / full_best)
        fractions.append(asha_spent / full_spent)
    label = f"{trials} random trials x {epochs} epochs, median of {seeds} seeds"
    return [
        Result(
            f"tune: ASHA best loss / no-pruning best ({label})",
            statistics.median(ratios),
            "x",
            target="value <= 1.02",
        ),
        Result(
            f"tune: ASHA epochs spent / no-pruning epochs ({label})",
            statistics.median(fractions),
            "x",
            target="value <= 0.4",
        ),
    ]


# --------------------------------------------------------------------------- overhead


TRIVIAL = textwrap.dedent(
    """
    import time
    import fexp

    @fexp.experiment
    def trivial(root: fexp.Root, x: float = 0.0, sleep: float = 0.0):
        time.sleep(sleep)
        root.message({"y": (x - 0.3) ** 2}, step=0)
    """
)


def _fexp_per_trial(folder: pathlib.Path, n: int, jobs: int, sleep: float) -> float:
    """Seconds per trial of ``ExperimentSet.tune(fork=True)`` in this process."""
    import fexp

    module = folder / "trivial_mod.py"
    module.write_text(TRIVIAL)
    xs = fexp.ExperimentSet(folder / f"set-{jobs}-{sleep}")
    start = time.perf_counter()
    xs.tune(
        "{x: uniform(0, 1), sleep: " + repr(sleep) + "}",
        objectives=["y:min"],
        trials=n,
        jobs=jobs,
        experiment=f"{module}:trivial",
        sampler="random",
        pruner="none",
        seed=0,
        fork=True,
    )
    return (time.perf_counter() - start) / n


def _optuna_per_trial(n: int) -> float:
    import optuna

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    start = time.perf_counter()
    study.optimize(lambda t: (t.suggest_float("x", 0, 1) - 0.3) ** 2, n_trials=n)
    return (time.perf_counter() - start) / n


def _run_fork_per_experiment(folder: pathlib.Path, n: int) -> float:
    """Seconds per experiment of link + ``run(fork=True)``: fexp's lifecycle without tuning."""
    import fexp

    xs = fexp.ExperimentSet.init(folder / "run-fork", f"{folder / 'trivial_mod.py'}:trivial")
    start = time.perf_counter()
    xs.link("{x: uniform(0, 1)}", samples=n, seed=0)
    xs.run(fork=True)
    return (time.perf_counter() - start) / n


def _overhead(folder: pathlib.Path, n: int) -> list[Result]:
    fexp_s = _fexp_per_trial(folder, n, jobs=1, sleep=0.0)
    optuna_s = _optuna_per_trial(n)
    run_s = _run_fork_per_experiment(folder, n)
    one = _fexp_per_trial(folder, 12, jobs=1, sleep=1.0)
    four = _fexp_per_trial(folder, 12, jobs=4, sleep=1.0)
    return [
        Result(
            f"tune: fexp overhead per trial over study.optimize ({n} trials, --fork)",
            (fexp_s - optuna_s) * 1000,
            "ms",
            target="value <= 50",
            baseline="study.optimize per trial",
            baseline_value=optuna_s * 1000,
        ),
        Result(
            f"tune: fexp tune --fork per trial ({n} trials)",
            fexp_s * 1000,
            "ms",
            baseline="link + fexp run --fork per experiment",
            baseline_value=run_s * 1000,
        ),
        Result(
            "tune: throughput of 4 local slots (12 trials sleeping 1 s, --fork)",
            1 / four,
            "trials/s",
            target="ratio >= 3.2",
            baseline="1 slot",
            baseline_value=1 / one,
        ),
    ]


# --------------------------------------------------------------------------- SLURM


def _slurm(folder: pathlib.Path) -> list[Result]:
    from tests import slurm_cluster

    reason = slurm_cluster.unavailable_reason()
    if reason:
        return [Result(f"tune: 8 SLURM workers: skipped ({reason})", 0.0, "trials")]
    module = folder / "slurm_mod.py"
    module.write_text(
        TRIVIAL.replace(
            'root.message({"y": (x - 0.3) ** 2}, step=0)',
            "for e in range(3):\n"
            '        root.message({"y": (x - 0.3) ** 2 + 1 / (e + 1)}'
            ", step=e)\n        if root.should_prune():\n"
            "            return",
        )
    )
    root = folder / "slurm-set"
    argv = [
        shutil.which("fexp") or "fexp",
        "tune",
        f"{module}:trivial",
        "-r",
        str(root),
        "{x: uniform(0, 1)}",
        "--objective",
        "y:min",
        "--trials",
        "64",
        "--sampler",
        "random",
        "--pruner",
        "median",
        "--slurm",
        "--workers",
        "8",
        "--wait",
    ]
    with slurm_cluster.running_cluster():
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, env=dict(os.environ))
        seconds = time.perf_counter() - start
    finished = sum(
        1
        for p in root.glob("trial=*/params.yml")
        if "_status: finished" in p.read_text() or "_status: pruned" in p.read_text()
    )
    return [
        Result(
            "tune: 8 SLURM workers, 64-trial study with pruning: trials finished",
            finished,
            "trials",
            target="value >= 64",
        ),
        Result(
            "tune: 8 SLURM workers, 64-trial study: submission to all finished "
            "(2-CPU node: 2 tasks at a time)",
            seconds,
            "s",
        ),
    ]


def run(quick: bool) -> list[Result]:
    try:
        import optuna  # noqa: F401
    except ImportError:
        return [Result("tune: skipped (optuna not installed; pip install 'fexp[tune]')", 0, "")]
    seeds = 10
    results = [_tpe_vs_random("Branin", branin, BRANIN_SPACE, seeds)]
    if not quick:
        bounds = {f"x{i}": (0.0, 1.0) for i in range(6)}
        results.append(_tpe_vs_random("Hartmann-6", hartmann6, bounds, seeds))
    results += _asha(seeds, 30 if quick else 60, 27)
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        os.environ["FEXP_HOME"] = str(folder / "fexp-home")  # keep the user's config clean
        sys.path.insert(0, str(folder))
        results += _overhead(folder, 40 if quick else 100)
        results += _slurm(folder)
    return results
