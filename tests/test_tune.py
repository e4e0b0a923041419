"""``fexp tune``: real Optuna, real worker processes, the installed ``fexp`` in a subprocess.

The search space and the Pareto rule are tested as pure functions; everything else through
the command a user runs: SIGKILL of every worker then continuing, concurrent workers,
pruning, multi-objective fronts, and each user error (exit 2, one paragraph, nothing written).
"""

from __future__ import annotations

import collections
import importlib.util
import json
import os
import pathlib
import shutil
import signal
import subprocess
import textwrap
import time
from collections.abc import Callable
from typing import Any

import pytest

from fexp import _errors, _params, _yaml
from fexp._core import search_space, study_config

optuna = pytest.importorskip("optuna")

Cli = Callable[..., subprocess.CompletedProcess[str]]

OBJECTIVES = textwrap.dedent(
    '''
    import os
    import time

    import fexp


    def _log(path, text):
        if path:
            with open(path, "a") as handle:
                handle.write(text + "\\n")


    @fexp.experiment
    def curve(root: fexp.Root, lr: float = 0.1, width: int = 1, act: str = "relu",
              epochs: int = 4, sleep: float = 0.0, trace: str = ""):
        """A learning curve whose level depends on lr, width and act."""
        first = root.restore_checkpoint({"epoch": 0})["epoch"]
        _log(trace, f"start {root.name} {first}")
        level = (lr - 0.3) ** 2 + 0.1 * abs(width - 2) + (0.05 if act == "tanh" else 0.0)
        for epoch in range(first, epochs):
            time.sleep(sleep)
            root.message({"loss": level + 1.0 / (epoch + 1), "acc": 1.0 - lr}, step=epoch)
            root.save_checkpoint({"epoch": epoch + 1}, step=epoch)
            if root.should_prune():
                _log(trace, f"pruned {root.name} {epoch}")
                return
        _log(trace, f"done {root.name}")


    @fexp.experiment
    def silent(root: fexp.Root, lr: float = 0.1):
        root.message({"loss": lr, "accuracy": 1 - lr})
    '''
)
SPACE = "{lr: loguniform(0.01, 1), width: int(1, 4), act: relu | tanh}"


@pytest.fixture
def objs(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "objs.py"
    path.write_text(OBJECTIVES)
    return path


def load_study(root: pathlib.Path) -> Any:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    backend = JournalFileBackend(str(root / "tune" / "journal.log"))
    return optuna.load_study(study_name="fexp", storage=JournalStorage(backend))


def params(root: pathlib.Path, name: str) -> dict[str, Any]:
    return _yaml.read_mapping(root / name / "params.yml")


def log_lines(path: pathlib.Path, word: str) -> collections.Counter[str]:
    lines = path.read_text().splitlines() if path.exists() else []
    return collections.Counter(line.split()[1] for line in lines if line.split()[0] == word)


def start(fexp_cli: Cli, ref: str, root: pathlib.Path, *args: object) -> Any:
    """``fexp tune REF -r ROOT ARGS...`` through the installed command."""
    return fexp_cli("tune", ref, "-r", root, *args)


def states(study: Any) -> collections.Counter[str]:
    return collections.Counter(t.state.name for t in study.get_trials())


# --------------------------------------------------------------------------- pure parts


def test_space_translates_the_random_search_grammar() -> None:
    specs = {
        "lr": _params.ParamSpec("lr", float, 0.1),
        "layers": _params.ParamSpec("layers", int, 1),
        "act": _params.ParamSpec("act", str, "relu"),
        "sizes": _params.ParamSpec("sizes", list[int], [64]),
        "seed": _params.ParamSpec("seed", int, 0),
    }
    space = search_space.parse_space(
        "{lr: loguniform(1e-5, 1e-1), layers: int(1, 4), act: relu | tanh, "
        "sizes: [64] | [64, 64], seed: 3}",
        specs,
    )
    dists = search_space.distributions(space)
    assert dists["lr"] == optuna.distributions.FloatDistribution(1e-5, 1e-1, log=True)
    assert dists["layers"] == optuna.distributions.IntDistribution(1, 4)
    assert dists["act"] == optuna.distributions.CategoricalDistribution(("relu", "tanh"))
    assert dists["sizes"] == optuna.distributions.CategoricalDistribution((0, 1))  # by index
    assert space.fixed == {"seed": 3}
    point = search_space.point_from_trial(
        space, {"lr": 0.01, "layers": 2, "act": "tanh", "sizes": 1}
    )
    assert point == {"seed": 3, "lr": 0.01, "layers": 2, "act": "tanh", "sizes": [64, 64]}


def test_space_refuses_a_distribution_of_the_wrong_type() -> None:
    specs = {
        "layers": _params.ParamSpec("layers", int, 1),
        "act": _params.ParamSpec("act", str, "a"),
    }
    with pytest.raises(_errors.SweepError) as caught:
        search_space.parse_space("{layers: uniform(1, 4), act: loguniform(1, 2)}", specs)
    assert "parameter 'layers' is int" in caught.value.detail
    assert "use int(a, b)" in caught.value.detail
    assert "parameter 'act' is str" in caught.value.detail


def test_space_names_an_unknown_parameter_with_did_you_mean() -> None:
    specs = {"lr": _params.ParamSpec("lr", float, 0.1)}
    with pytest.raises(_errors.ParamError) as caught:
        search_space.parse_space("{lrr: uniform(0, 1)}", specs)
    assert caught.value.suggestion == "lr"


def test_grid_refuses_continuous_ranges_and_enumerates_the_rest() -> None:
    specs = {"lr": _params.ParamSpec("lr", float, 0.1), "n": _params.ParamSpec("n", int, 1)}
    with pytest.raises(_errors.SweepError, match="--sampler grid needs finite values"):
        search_space.grid(search_space.parse_space("{lr: uniform(0, 1), n: 1 | 2}", specs))
    space = search_space.parse_space("{lr: 0.1 | 0.2, n: int(1, 3)}", specs)
    assert search_space.grid(space) == {"lr": [0.1, 0.2], "n": [1, 2, 3]}


def test_pareto_front_keeps_ties_and_respects_directions() -> None:
    points = [(1.0, 1.0), (2.0, 3.0), (1.0, 1.0), (3.0, 0.0)]
    assert study_config.pareto_front(points, ["minimize", "maximize"]) == [0, 1, 2]
    assert study_config.pareto_front(points, ["minimize", "minimize"]) == [0, 2, 3]


# --------------------------------------------------------------------------- studies


def test_a_study_runs_every_trial_as_an_experiment_folder(
    fexp_cli: Cli, objs: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    root = tmp_path / "study"
    result = start(
        fexp_cli,
        f"{objs}:curve",
        root,
        SPACE,
        *"--objective loss:min --trials 6 --jobs 2 --seed 0 --pruner none".split(),
    )
    assert result.returncode == 0, result.stderr
    study = load_study(root)
    assert states(study) == {"COMPLETE": 6}
    for trial in study.get_trials():
        data = params(root, f"trial={trial.number:04d}")
        assert data["_tune"]["trial"] == trial.number and data["_tune"]["state"] == "complete"
        assert data["_status"] == "finished"
        assert data["lr"] == trial.params["lr"] and data["width"] == trial.params["width"]
        assert data["_messages"]["loss"] == trial.value
    assert "best: trial=" in result.stdout

    more = fexp_cli("tune", "-r", root, "--trials", 2, "--jobs", 2)
    assert more.returncode == 0, more.stderr
    assert states(load_study(root)) == {"COMPLETE": 8}
    rows = json.loads(fexp_cli("list", "-r", root, "--json").stdout)
    assert sorted(r["name"] for r in rows) == [f"trial={n:04d}" for n in range(8)]


def test_grid_sampler_runs_each_point_once_and_stops_at_the_grid_size(
    fexp_cli: Cli, objs: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    root = tmp_path / "study"
    result = start(
        fexp_cli,
        f"{objs}:curve",
        root,
        "{lr: 0.1 | 0.2, width: int(1, 2), epochs: 1}",
        *"--objective loss:min --trials 10 --sampler grid --jobs 2 --fork".split(),
    )
    assert result.returncode == 0, result.stderr
    trials = load_study(root).get_trials()
    assert sorted((t.params["lr"], t.params["width"]) for t in trials) == [
        (0.1, 1),
        (0.1, 2),
        (0.2, 1),
        (0.2, 2),
    ]
    assert "study: 4/10 trial(s) 4 complete" in result.stdout


@pytest.mark.parametrize(
    "options",
    [
        "--sampler tpe --pruner hyperband",
        "--sampler cmaes --pruner asha",
        "--sampler qmc --pruner median",
        "--sampler nsga2 --pruner none",
        "--sampler random --pruner asha",
    ],
)
def test_every_sampler_and_pruner_runs_a_study(
    fexp_cli: Cli, objs: pathlib.Path, tmp_path: pathlib.Path, options: str
) -> None:
    root = tmp_path / "study"
    result = start(
        fexp_cli,
        f"{objs}:curve",
        root,
        "{lr: uniform(0.01, 1), width: int(1, 4), epochs: 3}",
        *f"--objective loss:min --trials 6 --jobs 2 --fork --seed 0 {options}".split(),
    )
    if "cmaes" in options and importlib.util.find_spec("cmaes") is None:
        assert_user_error(result, "--sampler cmaes needs the 'cmaes' package", "fexp[tune]")
        assert not root.exists()
        return
    assert result.returncode == 0, result.stderr
    counted = states(load_study(root))
    assert counted["COMPLETE"] + counted["PRUNED"] == 6, counted


@pytest.mark.parametrize("kill", ["process-group", "worker-only"])
def test_a_study_continues_after_sigkill_of_every_worker(
    objs: pathlib.Path, tmp_path: pathlib.Path, kill: str
) -> None:
    """No trial lost, none run to the end twice, interrupted trials resumed under their own
    numbers. ``process-group`` kills the trials too (a lost node); ``worker-only`` kills the
    worker alone, whose trials then get SIGTERM from the kernel (they record ``stopped``)."""
    root, log = tmp_path / "study", tmp_path / "runs.log"
    argv = [
        shutil.which("fexp"),
        "tune",
        f"{objs}:curve",
        "-r",
        str(root),
        "{lr: uniform(0.01, 1), width: int(1, 4), sleep: 0.3, trace: " + f"'{log}'" + "}",
        *"--objective loss:min --trials 10 --jobs 3 --pruner none".split(),
    ]
    workers = [
        subprocess.Popen(
            argv, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    ]
    joiner_argv = [shutil.which("fexp"), "tune", "-r", str(root), "--worker", "--jobs", "2"]
    deadline = time.monotonic() + 120
    while not (root / "tune" / "tune.yml").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    workers.append(
        subprocess.Popen(
            joiner_argv,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    while sum(log_lines(log, "done").values()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    while len(log_lines(log, "start")) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    for proc in workers:
        if kill == "process-group":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    interrupted = set(log_lines(log, "start")) - set(log_lines(log, "done"))
    assert interrupted, "the kill came too late to interrupt a trial"
    time.sleep(0.5)  # let orphaned trials (worker-only) record their status

    again = subprocess.run(
        [shutil.which("fexp"), "tune", "-r", str(root), "--jobs", "3"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert "resumed after an interruption" in again.stdout

    study = load_study(root)
    assert [t.number for t in study.get_trials()] == list(range(10))
    assert states(study) == {"COMPLETE": 10}
    names = sorted(p.name for p in root.iterdir() if (p / "params.yml").exists())
    assert names == [f"trial={n:04d}" for n in range(10)]
    done, started = log_lines(log, "done"), log_lines(log, "start")
    assert set(done) == set(names)  # every trial's run reached its end
    # A trial killed after its function returned but before fexp recorded `finished` (a
    # window no one can close: nothing survives SIGKILL) is run again, in full; no other.
    again_done = [n for n in names if done[n] > 1]
    assert all(done[n] == started[n] == 2 for n in again_done), (done, started)
    for name in interrupted:
        assert params(root, name)["_status"] == "finished"
        assert log_lines(log, "start")[name] == 2  # resumed in its own folder


def test_concurrent_workers_never_evaluate_the_same_trial_twice(
    objs: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    root, log = tmp_path / "study", tmp_path / "runs.log"
    first = [
        shutil.which("fexp"),
        "tune",
        f"{objs}:curve",
        "-r",
        str(root),
        "{lr: uniform(0.01, 1), width: int(1, 4), sleep: 0.2, epochs: 2, trace: "
        + f"'{log}'"
        + "}",
        *"--objective loss:min --trials 16 --jobs 2 --pruner none --sampler random".split(),
    ]
    procs = [subprocess.Popen(first, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    deadline = time.monotonic() + 120
    while not (root / "tune" / "tune.yml").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    join = [shutil.which("fexp"), "tune", "-r", str(root), "--worker", "--jobs", "2"]
    procs += [
        subprocess.Popen(join, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    study = load_study(root)
    assert states(study) == {"COMPLETE": 16}
    started = log_lines(log, "start")
    assert len(started) == 16 and set(started.values()) == {1}
    owners = {params(root, f"trial={n:04d}")["_tune"]["worker"] for n in range(16)}
    assert len(owners) >= 2, "the joining workers took no trial"


def test_pruned_trials_stop_early_and_are_recorded(
    fexp_cli: Cli, objs: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    root, log = tmp_path / "study", tmp_path / "runs.log"
    result = start(
        fexp_cli,
        f"{objs}:curve",
        root,
        "{lr: uniform(0.01, 1), epochs: 8, trace: " + f"'{log}'" + "}",
        *"--objective loss:min --trials 14 --seed 1 --sampler random --pruner median".split(),
    )
    assert result.returncode == 0, result.stderr
    study = load_study(root)
    pruned = [t for t in study.get_trials() if t.state.name == "PRUNED"]
    assert pruned, states(study)
    for trial in pruned:
        name = f"trial={trial.number:04d}"
        data = params(root, name)
        assert data["_status"] == "pruned" and data["_tune"]["state"] == "pruned"
        step = data["_tune"]["pruned_at"]
        assert step < 7 and max(trial.intermediate_values) == step
        history = (root / name / "messages.jsonl").read_text().splitlines()
        assert len(history) == step + 1  # it stopped at the step it was pruned
    assert sum(log_lines(log, "pruned").values()) == len(pruned)
    listed = json.loads(fexp_cli("list", "-r", root, "-s", "pruned", "--json").stdout)
    assert sorted(r["name"] for r in listed) == sorted(f"trial={t.number:04d}" for t in pruned)


def test_the_pareto_front_equals_optunas_best_trials(
    fexp_cli: Cli, objs: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    root = tmp_path / "study"
    result = start(
        fexp_cli,
        f"{objs}:curve",
        root,
        "{lr: uniform(0.01, 1), width: int(1, 4), epochs: 1}",
        *"--objective loss:min --objective acc:max --trials 14 --jobs 2 --seed 3".split(),
    )
    assert result.returncode == 0, result.stderr
    assert "Pareto front: trial=" in result.stdout
    listed = json.loads(fexp_cli("list", "-r", root, "--pareto", "--json").stdout)
    best = load_study(root).best_trials
    assert len(best) >= 2
    assert sorted(r["name"] for r in listed) == sorted(f"trial={t.number:04d}" for t in best)


def test_monitor_pruner_hook_stops_the_loops(tmp_path: pathlib.Path, fexp_cli: Cli) -> None:
    path = tmp_path / "mon.py"
    path.write_text(
        textwrap.dedent(
            """
        import fexp
        from fexp.monitor import Monitor, Pruner

        @fexp.experiment
        def fit(root: fexp.Root, lr: float = 0.1, epochs: int = 8):
            m = Monitor(msg="loss@1e", hooks=[Pruner("@1e")])
            for epoch in m(range(epochs)):
                for batch in m(range(2)):
                    loss = abs(lr - 0.3) + 1.0 / (epoch + 1)
        """
        )
    )
    root = tmp_path / "study"
    result = fexp_cli(
        "tune",
        f"{path}:fit",
        "-r",
        root,
        "{lr: uniform(0, 1)}",
        *"--objective loss:min --trials 12 --seed 2 --sampler random".split(),
    )
    assert result.returncode == 0, result.stderr
    pruned = [t for t in load_study(root).get_trials() if t.state.name == "PRUNED"]
    assert pruned
    for trial in pruned:
        data = params(root, f"trial={trial.number:04d}")
        assert data["_status"] == "pruned"
        lines = (root / f"trial={trial.number:04d}" / "messages.jsonl").read_text().splitlines()
        assert len(lines) < 8


def test_experiment_set_tune_from_python(objs: pathlib.Path, tmp_path: pathlib.Path) -> None:
    import fexp

    xs = fexp.ExperimentSet(tmp_path / "py")
    result = xs.tune(
        "{lr: uniform(0.01, 1), epochs: 2}",
        objectives=["loss:min"],
        trials=4,
        jobs=2,
        experiment=f"{objs}:curve",
        pruner="none",
        seed=0,
    )
    assert dict(result.summary.states) == {"complete": 4}
    assert (
        result.study.best_trial.params["lr"]
        == params(xs.root, f"trial={result.study.best_trial.number:04d}")["lr"]
    )


@pytest.mark.slurm
def test_eight_slurm_workers_finish_a_64_trial_study_with_pruning(
    fexp_cli: Cli, objs: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    root = tmp_path / "study"
    result = start(
        fexp_cli,
        f"{objs}:curve",
        root,
        "{lr: uniform(0.01, 1), epochs: 4}",
        *"--objective loss:min --trials 64 --sampler random --seed 0 --pruner median".split(),
        *"--slurm --workers 8 --wait".split(),
    )
    assert result.returncode == 0, result.stderr
    assert "with 8 tune worker(s)" in result.stdout
    study = load_study(root)
    assert [t.number for t in study.get_trials()] == list(range(64))
    counted = states(study)
    assert counted["COMPLETE"] + counted["PRUNED"] == 64 and counted["PRUNED"] > 0, counted
    scripts = list((root / "tune" / "submissions").glob("*/*.sbatch"))
    assert len(scripts) == 1 and "#SBATCH --job-name=fexp-tune" in scripts[0].read_text()
    for n in range(64):
        data = params(root, f"trial={n:04d}")
        assert data["_status"] in ("finished", "pruned") and data["_tune"]["trial"] == n


@pytest.mark.slurm
def test_a_requeued_slurm_worker_resumes_its_trial_from_the_checkpoint(
    fexp_cli: Cli, objs: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """Preemption as SLURM does it (``scontrol requeue``): the worker and its trial get
    SIGTERM, the task restarts, and the trial resumes as the same trial from its checkpoint."""
    root, log = tmp_path / "study", tmp_path / "runs.log"
    result = start(
        fexp_cli,
        f"{objs}:curve",
        root,
        "{lr: uniform(0.01, 1), epochs: 6, sleep: 1.0, trace: " + f"'{log}'" + "}",
        *"--objective loss:min --trials 2 --pruner none --slurm --workers 1".split(),
    )
    assert result.returncode == 0, result.stderr
    job = result.stdout.split("SLURM array ")[1].split()[0]
    messages = root / "trial=0000" / "messages.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (
        not messages.exists() or len(messages.read_text().splitlines()) < 2
    ):
        time.sleep(0.2)
    subprocess.run(["scontrol", "requeue", f"{job}_0"], check=True, capture_output=True)
    while time.monotonic() < deadline and states(load_study(root)).get("COMPLETE", 0) < 2:
        time.sleep(0.5)
    study = load_study(root)
    assert [t.number for t in study.get_trials()] == [0, 1]
    assert states(study) == {"COMPLETE": 2}
    starts = [line.split() for line in log.read_text().splitlines() if line.startswith("start")]
    resumed_at = [int(epoch) for _, name, epoch in starts if name == "trial=0000"]
    assert resumed_at[0] == 0 and len(resumed_at) == 2 and resumed_at[1] >= 2, starts
    data = params(root, "trial=0000")
    assert data["_status"] == "finished" and len(data["_attempts"]) == 2


# --------------------------------------------------------------------------- user errors


def assert_user_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_an_objective_never_messaged_is_named_after_the_first_trial(
    fexp_cli: Cli, objs: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    root = tmp_path / "study"
    result = start(
        fexp_cli,
        f"{objs}:silent",
        root,
        "{lr: uniform(0, 1)}",
        *"--objective val_loss:min --trials 5".split(),
    )
    assert_user_error(result, "'val_loss'", "'accuracy', 'loss'", "trial=0000")
    assert states(load_study(root)) == {"FAIL": 1}


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["{epochs: uniform(1, 5)}"], ["uniform() draws floats", "'epochs' is int"]),
        (["{lrr: uniform(0, 1)}"], ["'lrr'", "did you mean 'lr'"]),
        (["{lr: uniform(0, 1)}", "--sampler", "grid"], ["--sampler grid", "'lr'"]),
        (["{lr: 0.1 | 0.2}", "--sampler", "tpee"], ["'tpee'", "did you mean 'tpe'"]),
        (
            ["{lr: 0.1 | 0.2}", "--objective", "acc:max", "--pruner", "asha"],
            ["--pruner asha needs a single objective"],
        ),
    ],
)
def test_bad_requests_exit_2_and_write_nothing(
    fexp_cli: Cli, objs: pathlib.Path, tmp_path: pathlib.Path, argv: list[str], needles: list[str]
) -> None:
    root = tmp_path / "study"
    result = fexp_cli(
        "tune", f"{objs}:curve", "-r", root, *argv, "--objective", "loss:min", "--trials", 2
    )
    assert_user_error(result, *needles)
    assert not root.exists()


def test_a_study_space_cannot_change(
    fexp_cli: Cli, objs: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    root = tmp_path / "study"
    assert (
        start(
            fexp_cli,
            f"{objs}:curve",
            root,
            "{lr: uniform(0, 1), epochs: 1}",
            *"--objective loss:min --trials 1".split(),
        ).returncode
        == 0
    )
    result = fexp_cli("tune", "-r", root, "{lr: uniform(0, 2)}", "--trials", 1)
    assert_user_error(result, "cannot change", "uniform(0, 2)")


def test_missing_optuna_names_the_extra(
    fexp_cli: Cli, objs: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Optuna is installed here, so a package on PYTHONPATH shadows it with one that fails
    to import, as a missing Optuna does."""
    shadow = tmp_path / "shadow" / "optuna"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named optuna')\n")
    monkeypatch.setenv("PYTHONPATH", str(shadow.parent))
    root = tmp_path / "study"
    result = start(
        fexp_cli,
        f"{objs}:curve",
        root,
        "{lr: uniform(0, 1)}",
        *"--objective loss:min --trials 1".split(),
    )
    assert_user_error(result, "fexp[tune]")
    assert not root.exists()


def test_pareto_needs_a_tuned_set(
    fexp_cli: Cli, objs: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    assert fexp_cli("init", f"{objs}:curve", "-r", tmp_path / "plain").returncode == 0
    result = fexp_cli("list", "-r", tmp_path / "plain", "--pareto")
    assert_user_error(result, "--pareto needs a set made by fexp tune")


def test_continuing_accepts_the_experiment_name_again(
    fexp_cli: Cli, objs: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    root = tmp_path / "study"
    space = "{lr: uniform(0, 1), epochs: 1}"
    first = start(
        fexp_cli, f"{objs}:curve", root, space, *"--objective loss:min --trials 1".split()
    )
    assert first.returncode == 0, first.stderr
    again = fexp_cli("tune", f"{objs}:curve", "-r", root, "--trials", 1)
    assert again.returncode == 0, again.stderr
    assert "study: 2/2 trial(s) 2 complete" in again.stdout
