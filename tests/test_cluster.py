"""Experiment sets on SLURM (``_cluster``): submit bookkeeping on the fake launcher, refresh
and cancel, the retry loop, and end to end through the installed ``fexp`` on the real local
cluster (``@pytest.mark.slurm``): arrays, one job each, requeue after a time limit, cancel,
retries and hostile values."""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from fexp import _cluster, _config, _errors, _expset, _layout, _runner, _yaml
from fexp._launchers import base, fake, slurm
from tests import slurm_cluster
from tests.conftest import installed_fexp

Cli = Callable[..., subprocess.CompletedProcess[str]]

EXPERIMENT = '''
import pathlib, time
import fexp
from fexp import Root


@fexp.experiment
def work(
    root: Root,
    steps: int = 3,          # @p loop steps
    delay: float = 0.0,      # @p seconds per step on a fresh start (none after a restore)
    fail_times: int = 0,     # @p fail while counter.txt has fewer lines than this
    text: str = "plain",     # @p printed as is
):
    """Sum squares slowly, checkpointing every step; resume from the last checkpoint."""
    counter = root.directory / "counter.txt"
    if fail_times:
        lines = counter.read_text().splitlines() if counter.exists() else []
        if len(lines) < fail_times:
            counter.write_text("".join(f"{line}\\n" for line in lines) + "fail\\n")
            raise RuntimeError(f"planned failure {len(lines) + 1}")
    print(f"text=[{text}]")
    state = root.restore_checkpoint({"step": 0, "total": 0})
    resumed = state["step"] > 0
    if resumed:
        print(f"resumed at step {state['step']}")

    def on_interrupt(status):
        (root.directory / "interrupted.txt").open("a").write(status + "\\n")
        root.save_checkpoint(dict(state), state["step"], overwrite=True)

    root.on_interrupt(on_interrupt)
    for step in range(state["step"], steps):
        time.sleep(0.0 if resumed else delay)
        state = {"step": step + 1, "total": state["total"] + step * step}
        root.save_checkpoint(state, step + 1)
    root.message({"total": state["total"], "resumed": resumed})
'''


def _write_experiment(tmp_path: pathlib.Path) -> str:
    path = tmp_path / "exp.py"
    path.write_text(EXPERIMENT)
    return f"{path}:work"


def _make_set(tmp_path: pathlib.Path, sweep: str, name: str = "set") -> _expset.ExperimentSet:
    xs = _expset.ExperimentSet.init(tmp_path / name, _write_experiment(tmp_path))
    xs.link(sweep)
    return xs


def _params(xs: _expset.ExperimentSet, name: str) -> dict[str, Any]:
    return _yaml.read_mapping(xs.root / name / _layout.PARAMS_FILE)


def _snapshot(root: pathlib.Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _submit(xs: _expset.ExperimentSet, scheduler: base.Launcher, *,
            mode: _cluster.Mode = "submit", array: bool = True, force: bool = False,
            retries: int = 0, stop_on_failure: bool = False, launcher: Iterable[str] = (),
            options: slurm.SlurmOptions | None = None) -> _cluster.ClusterResult:
    return _cluster.submit(xs, "*", launcher=list(launcher),
                           options=options or slurm.SlurmOptions(), array=array, mode=mode,
                           force=force, retries=retries, stop_on_failure=stop_on_failure,
                           scheduler=scheduler)


# --------------------------------------------------------------------------- options


def test_options_from_cli_takes_sbatch_header_lines_from_the_config() -> None:
    with _config.editing() as config:
        config["header"] = ["#SBATCH --constraint=a100", "module load cuda", "#SBATCH -q x"]
    options = _cluster.options_from_cli(
        time="1:00:00", gpus="2", cpus=4, mem="8G", partition="gpu", account=None, qos=None,
        max_parallel=3, extra_args=["--exclusive"], grace=60, requeue=False)
    assert options == slurm.SlurmOptions(
        time="1:00:00", gpus=2, cpus=4, mem="8G", partition="gpu", max_parallel=3,
        grace_seconds=60, requeue=False, extra_args=("--exclusive",),
        header_lines=("#SBATCH --constraint=a100", "#SBATCH -q x"))
    typed = _cluster.options_from_cli(
        time=None, gpus="a100:2", cpus=None, mem=None, partition=None, account=None, qos=None,
        max_parallel=None, extra_args=[], grace=120, requeue=True)
    assert typed.gpus == "a100:2"


def test_options_from_cli_reports_every_bad_option() -> None:
    with pytest.raises(_errors.ConfigError) as info:
        _cluster.options_from_cli(
            time="soon", gpus=None, cpus=0, mem=None, partition="a\nb", account=None, qos=None,
            max_parallel=None, extra_args=["--array=1-2"], grace=-1, requeue=True)
    text = str(info.value)
    for fragment in ("--time 'soon'", "--cpus must be", "--partition 'a\\nb'",
                     "'--array=1-2' is managed by fexp", "grace seconds must be"):
        assert fragment in text


# --------------------------------------------------------------------------- submit (fake)


def test_submit_records_queued_and_slurm_ids(tmp_path: pathlib.Path) -> None:
    xs = _make_set(tmp_path, "{steps: 1 | 2 | 3}")
    xs.reset("steps=3", "finished")
    scheduler = fake.FakeLauncher()
    result = _submit(xs, scheduler)
    assert not result.failed and [s.key for s in result.submitted] == ["1000_0", "1000_1"]
    assert result.skipped == ["steps=3"]
    for index, name in enumerate(["steps=1", "steps=2"]):
        data = _params(xs, name)
        assert data["_status"] == "queued"
        slurm_info = data["_slurm"]
        assert slurm_info["job_id"] == f"1000_{index}" and slurm_info["array_job_id"] == "1000"
        assert slurm_info["array_task_id"] == index and slurm_info["state"] == "PENDING"
        assert slurm_info["submitted"] and slurm_info["log"].endswith(f"slurm-1000_{index}.out")
        assert data["steps"] == index + 1  # parameters and their comments survive
        assert "# loop steps" in (xs.root / name / "params.yml").read_text()
    assert _params(xs, "steps=3")["_status"] == "finished"
    (folder,) = (xs.root / "generated" / "slurm").iterdir()
    assert result.folder == folder
    assert (folder / "array_0.manifest").read_text().splitlines() == [
        str(xs.root / n / "params.yml") for n in ("steps=1", "steps=2")]
    assert f"script={xs.root}/script.sh" in (folder / "array_0.sbatch").read_text()
    text = result.render()
    assert "submitted 2 experiment(s) to SLURM as 1 job array: 1000" in text
    assert "skipped 1 not registered (--force submits them)" in text


def test_submit_one_job_each_passes_sbatch_args(tmp_path: pathlib.Path) -> None:
    xs = _make_set(tmp_path, "{steps: 1 | 2}")
    scheduler = fake.FakeLauncher(array=False)
    result = _submit(xs, scheduler, array=False, launcher=["sbatch", "--time", "5", "-p", "x"])
    assert [s.key for s in result.submitted] == ["1000", "1001"]
    assert "_slurm" in _params(xs, "steps=1") and "array_task_id" not in _params(
        xs, "steps=1")["_slurm"]
    assert len(scheduler.submit_calls) == 2  # one sbatch call per experiment
    dry = _submit(_make_set(tmp_path, "{steps: 1 | 2}", "dry"), fake.FakeLauncher(array=False),
                  array=False, mode="dry-run", launcher=["sbatch", "--time", "5"])
    assert "$ sbatch --parsable --time 5 --hold" in dry.details
    assert dry.details.count("$ sbatch") == 2


def test_stop_on_failure_submits_nothing_after_a_failed_sbatch(tmp_path: pathlib.Path) -> None:
    xs = _make_set(tmp_path, "{steps: 1 | 2 | 3}")
    refused = _errors.ConfigError("sbatch: error: Batch job submission failed")
    stopped = _submit(xs, fake.FakeLauncher(array=False, fail_at=1, error=refused),
                      array=False, launcher=["sbatch"], stop_on_failure=True)
    assert [s.name for s in stopped.submitted] == ["steps=1"]
    assert stopped.failed and stopped.left_out == ["steps=3"]
    assert "FAILED: could not submit steps=2: sbatch: error: Batch job submission failed" in \
        stopped.render()
    assert [_params(xs, n)["_status"] for n in ("steps=1", "steps=2", "steps=3")] == [
        "queued", "registered", "registered"]
    other = _make_set(tmp_path, "{steps: 1 | 2 | 3}", "other")
    going_on = _submit(other, fake.FakeLauncher(array=False, fail_at=1, error=refused),
                       array=False, launcher=["sbatch"])
    assert [s.name for s in going_on.submitted] == ["steps=1", "steps=3"]
    assert going_on.failed and not going_on.left_out
    with pytest.raises(RuntimeError):  # anything but a user error is a bug, not a failure
        _submit(_make_set(tmp_path, "{steps: 1}", "bug"), fake.FakeLauncher(fail_at=0))


def test_jobs_that_cannot_be_recorded_are_cancelled(tmp_path: pathlib.Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    xs = _make_set(tmp_path, "{steps: 1 | 2 | 3}")
    scheduler = fake.FakeLauncher(array=False)
    real_record = _cluster._record_submitted

    def record(xs_: Any, plan: Any, subs: Any, *rest: Any) -> None:
        if subs[0].name == "steps=2":
            raise _errors.LockTimeout("held for more than 60 s", source="set/.fexp.lock")
        real_record(xs_, plan, subs, *rest)

    monkeypatch.setattr(_cluster, "_record_submitted", record)
    result = _submit(xs, scheduler, array=False, launcher=["sbatch"])
    assert [s.name for s in result.submitted] == ["steps=1"]
    assert scheduler.cancelled == ["1001"] and result.left_out == ["steps=3"]
    assert "could not record steps=2 (set/.fexp.lock: held for more than 60 s); their jobs " \
        "were cancelled" in result.render()
    assert [_params(xs, n)["_status"] for n in ("steps=1", "steps=2", "steps=3")] == [
        "queued", "registered", "registered"]


def test_force_resubmits_ended_jobs_but_never_a_live_one(tmp_path: pathlib.Path) -> None:
    xs = _make_set(tmp_path, "{steps: 1 | 2 | 3 | 4}")
    scheduler = fake.FakeLauncher()
    _submit(xs, scheduler)
    scheduler.set_state("1000_0", "running")
    scheduler.set_state("1000_1", "error")  # died before fexp could record it
    xs.reset("steps=3", "finished")
    xs.reset("steps=4", "running")
    result = _submit(xs, scheduler, force=True)
    assert [s.name for s in result.submitted] == ["steps=2", "steps=3"]
    assert sorted(result.busy) == ["steps=1", "steps=4"]
    assert _params(xs, "steps=3")["_status"] == "queued"
    assert _params(xs, "steps=3")["_started"] is None
    assert _params(xs, "steps=2")["_slurm"]["job_id"] == "1001_0"
    assert "`fexp cancel` them first" in result.render()


def test_dry_run_changes_nothing(tmp_path: pathlib.Path) -> None:
    xs = _make_set(tmp_path, "{steps: 1 | 2}")
    before = _snapshot(xs.root)
    scheduler = fake.FakeLauncher()
    result = _submit(xs, scheduler, mode="dry-run", retries=2)
    assert _snapshot(xs.root) == before and not scheduler.submit_calls
    assert "$ sbatch --parsable --array=0-1 --hold " in result.details
    assert "retry 2" in result.details and "#SBATCH --signal=B:USR1@120" in result.details
    assert str(xs.root / "steps=2" / "params.yml") in result.details


def test_generate_writes_scripts_only_under_generated(tmp_path: pathlib.Path) -> None:
    xs = _make_set(tmp_path, "{steps: 1 | 2}")
    before = _snapshot(xs.root)
    scheduler = fake.FakeLauncher()
    result = _submit(xs, scheduler, mode="generate")
    after = _snapshot(xs.root)
    new = sorted(set(after) - set(before))
    assert {k: v for k, v in after.items() if k in before} == before
    assert all(n.startswith("generated/slurm/") for n in new)
    assert [pathlib.Path(n).name for n in new] == ["array_0.manifest", "array_0.sbatch"]
    assert not scheduler.submit_calls
    assert "Submit them yourself with:\n  sbatch --array=0-1 " in result.render()
    assert "--hold" not in result.render()


def test_local_dry_run_prints_the_commands(tmp_path: pathlib.Path) -> None:
    xs = _make_set(tmp_path, "{steps: 1 | 2}")
    result = _cluster.submit(xs, "*", launcher=["bash"], options=slurm.SlurmOptions(),
                             array=False, mode="dry-run", force=False, retries=0,
                             stop_on_failure=False)
    assert f"$ bash {xs.root}/script.sh {xs.root}/steps=1/params.yml" in result.render()
    with pytest.raises(_errors.ConfigError, match="--generate needs a SLURM launcher"):
        _cluster.submit(xs, "*", launcher=["bash"], options=slurm.SlurmOptions(), array=False,
                        mode="generate", force=False, retries=0, stop_on_failure=False)


def test_submit_errors(tmp_path: pathlib.Path) -> None:
    xs = _make_set(tmp_path, "{steps: 1}")
    with pytest.raises(_errors.ConfigError, match="no experiment in the set matches 'nope'"):
        _cluster.submit(xs, "nope", launcher=[], options=slurm.SlurmOptions(), array=True,
                        mode="submit", force=False, retries=0, stop_on_failure=False,
                        scheduler=fake.FakeLauncher())
    with pytest.raises(_errors.ConfigError, match="--retries cannot be negative"):
        _submit(xs, fake.FakeLauncher(), retries=-1)
    with pytest.raises(_errors.ConfigError, match="'--wrap=x' is managed by fexp"):
        _submit(xs, fake.FakeLauncher(), array=False, launcher=["sbatch", "--wrap=x"])


def test_without_slurm_submit_fails_clearly_and_writes_nothing(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    xs = _make_set(tmp_path, "{steps: 1}")
    before = _snapshot(xs.root)

    def missing(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError(argv[0])

    monkeypatch.setattr(subprocess, "run", missing)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(_errors.ConfigError, match="sbatch not found: SLURM's commands"):
        _cluster.submit(xs, "*", launcher=[], options=slurm.SlurmOptions(), array=True,
                        mode="submit", force=False, retries=0, stop_on_failure=False)
    with pytest.raises(_errors.ConfigError, match="sbatch not found"):
        _cluster.submit(xs, "*", launcher=["sbatch"], options=slurm.SlurmOptions(),
                        array=False, mode="submit", force=False, retries=0,
                        stop_on_failure=False)
    assert _snapshot(xs.root) == before and not (xs.root / "generated").exists()


def test_a_path_sbatch_cannot_take_leaves_nothing(tmp_path: pathlib.Path) -> None:
    (tmp_path / "back\\slash").mkdir()
    xs = _make_set(tmp_path / "back\\slash", "{steps: 1}")
    before = _snapshot(xs.root)
    with pytest.raises(_errors.ConfigError, match="#SBATCH lines cannot hold backslashes"):
        _submit(xs, fake.FakeLauncher())
    assert _snapshot(xs.root) == before and not (xs.root / "generated").exists()


# --------------------------------------------------------------------------- refresh


def _row(status: str, job_id: str | None, ran_in: str | None = None) -> dict[str, Any]:
    """A row as ``fexp list`` reads it; ``ran_in`` is the job the runner recorded in _meta."""
    slurm_info = None if job_id is None else {"job_id": job_id, "state": "PENDING"}
    meta: dict[str, Any] = {}
    if ran_in is not None:
        array_id, _, task = ran_in.partition("_")
        meta["slurm"] = {"job_id": "99", "array_job_id": array_id, "array_task_id": int(task)} \
            if task else {"job_id": ran_in}
    return {"name": f"{status}-{job_id}", "status": status, "slurm": slurm_info, "meta": meta}


def test_refresh_asks_once_and_shows_scheduler_states() -> None:
    scheduler = fake.FakeLauncher()
    scheduler.set_state("7_0", "running")
    scheduler.set_state("7_1", "stopped")   # cancelled before it ever started
    scheduler.set_state("8", "queued", reason="BeginTime")
    rows = [_row("queued", "7_0"), _row("queued", "7_1"), _row("requeued", "8", "8"),
            _row("finished", "9"), _row("registered", None), _row("queued", "10"),
            _row("running", "11"), _row("running", "7_2", "7_3")]
    before = [dict(r) for r in rows]
    out = _cluster.refresh(rows, scheduler)
    assert scheduler.states_calls == [("7_0", "7_1", "8", "10")]
    assert [(r["status"], (r["slurm"] or {}).get("state")) for r in out] == [
        ("queued", "RUNNING"), ("stopped", "CANCELLED"), ("requeued", "PENDING"),
        ("finished", "COMPLETED"), ("registered", None), ("queued", "UNKNOWN"),
        # Running, but not in the job _slurm names (run locally after a reset): not asked.
        ("running", "PENDING"), ("running", "PENDING")]
    assert rows == before  # rows are copied, never changed in place


def test_refresh_is_one_squeue_call(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def fake_run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        calls.append(list(argv))
        out = "5_0|RUNNING|None\n5_[1-2]|PENDING|Priority\n6|COMPLETED|None\n"
        return subprocess.CompletedProcess(argv, 0, out, "")

    monkeypatch.setattr(subprocess, "run", fake_run)
    rows = [_row("queued", f"5_{i}") for i in range(3)] + [_row("running", "6", "6")]
    out = _cluster.refresh(rows)
    assert len(calls) == 1 and calls[0][0] == "squeue" and calls[0][-1] == "5,6"
    assert [r["slurm"]["state"] for r in out] == ["RUNNING", "PENDING", "PENDING", "COMPLETED"]
    assert out[3]["status"] == "finished"


def test_refresh_without_slurm_keeps_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError(argv[0])

    monkeypatch.setattr(subprocess, "run", missing)
    rows = [_row("queued", "5_0")]
    assert _cluster.refresh(rows) == rows


# --------------------------------------------------------------------------- cancel


def test_cancel_is_one_scancel_and_records_stopped(tmp_path: pathlib.Path) -> None:
    xs = _make_set(tmp_path, "{steps: 1 | 2 | 3 | 4}")
    scheduler = fake.FakeLauncher()
    _submit(xs, scheduler)
    xs.reset("steps=4", "finished")
    names = _cluster.cancel(xs, "*", scheduler)
    assert names == ["steps=1", "steps=2", "steps=3"]
    assert scheduler.cancel_calls == [("1000_0", "1000_1", "1000_2")]
    for name in names:
        data = _params(xs, name)
        assert data["_status"] == "stopped" and data["_stopped"]
        assert data["_slurm"]["state"] == "CANCELLED"
    assert _params(xs, "steps=4")["_status"] == "finished"
    assert _cluster.cancel(xs, "*", scheduler) == []  # nothing queued any more


class _RacingLauncher(fake.FakeLauncher):
    """While scancel runs, one job's runner records stopped and another's finished."""

    def __init__(self, xs: _expset.ExperimentSet) -> None:
        super().__init__()
        self.xs = xs

    def cancel(self, ids: Iterable[str]) -> None:
        super().cancel(ids)
        self.xs.reset("steps=1", "stopped")
        self.xs.reset("steps=2", "finished")


def test_cancel_is_safe_in_either_order_with_the_runner(tmp_path: pathlib.Path) -> None:
    xs = _make_set(tmp_path, "{steps: 1 | 2}")
    scheduler = _RacingLauncher(xs)
    _submit(xs, scheduler)
    _cluster.cancel(xs, "*", scheduler)
    assert _params(xs, "steps=1")["_status"] == "stopped"
    assert _params(xs, "steps=2")["_status"] == "finished"


# --------------------------------------------------------------------------- runner, retries


def test_retry_loop_reruns_an_erring_experiment(tmp_path: pathlib.Path) -> None:
    xs = _make_set(tmp_path, "{fail_times: 2}")
    params = xs.root / "fail_times=2" / "params.yml"
    proc = subprocess.run([sys.executable, "-m", "fexp._cluster", "retry", "2",
                           str(xs.paths.script), str(params)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("ended in error; running it again") == 2
    data = _yaml.read_mapping(params)
    assert data["_status"] == "finished"
    assert [a["status"] for a in data["_attempts"]] == ["error", "error", "finished"]
    assert "planned failure 2" in data["_attempts"][1]["error"]
    out = subprocess.run([sys.executable, "-m", "fexp._cluster", "retry", "0",
                          str(xs.paths.script), str(params)], capture_output=True, text=True)
    assert out.returncode == 2 and "already finished" in out.stderr  # never silently re-run
    assert subprocess.run([sys.executable, "-m", "fexp._cluster"],
                          capture_output=True).returncode == 2


def _terminate_self() -> None:
    """An experiment body that gets SIGTERM (as from SLURM) and would run on otherwise."""
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)


@pytest.mark.parametrize(("info", "status", "requeues"), [
    ({"JobState": "COMPLETING", "Restarts": "0", "PreemptTime": "2026-01-01T00:00:00"},
     "preempted", None),  # PreemptMode=CANCEL: SLURM set a PreemptTime
    ({"JobState": "COMPLETING", "Restarts": "1", "PreemptTime": "None"},
     "requeued", 1),  # PreemptMode=REQUEUE: SLURM counts the restart it is about to make
    ({"JobState": "COMPLETING", "Restarts": "0", "PreemptTime": "None"}, "stopped", None),
    ({"JobState": "NODE_FAIL", "Restarts": "0"}, "running", None),  # lost: nothing recorded
    ({}, "stopped", None),  # scontrol did not answer
])
def test_sigterm_under_slurm_is_told_apart_by_scontrol(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, info: dict[str, str],
        status: str, requeues: int | None) -> None:
    # Real SLURM at SIGTERM time (Slurm 22.05, tests/slurm_cluster.py) is exercised end to end
    # below; this pins the decision on each answer scontrol gives.
    xs = _make_set(tmp_path, "{steps: 2}")
    cls = xs.experiment_class()
    assert cls is not None
    exp = cls.from_params_file(xs.root / "steps=2" / "params.yml")
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv("FEXP_REQUEUE", "0")
    monkeypatch.setattr(_runner, "slurm_job_info", lambda: info)
    exp.execute = _terminate_self  # type: ignore[method-assign]
    with pytest.raises(_runner.Interrupted):
        exp()
    data = _params(xs, "steps=2")
    assert data["_status"] == status and data.get("_requeues") == requeues
    if status != "running":
        assert data["_attempts"][-1]["status"] == ("preempted" if requeues else status)


def test_a_requeue_nobody_recorded_is_counted_at_the_next_start(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # SLURM requeued the job (a preemption whose process was killed before it could record
    # it): the next run sees SLURM_RESTART_COUNT above what params.yml knows.
    xs = _make_set(tmp_path, "{steps: 2}")
    cls = xs.experiment_class()
    assert cls is not None
    exp = cls.from_params_file(xs.root / "steps=2" / "params.yml")
    exp.extra.update(_slurm={"job_id": "42", "restarts": 1}, _requeues=1,
                     _attempts=[{"attempt": 1, "status": "preempted"},
                                {"attempt": 2, "status": "stopped"}])
    exp.save()
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "2")
    exp.execute = lambda: None  # type: ignore[method-assign]
    exp()
    data = _params(xs, "steps=2")
    assert data["_requeues"] == 2 and data["_slurm"] == {"job_id": "42", "restarts": 2}
    assert [a["status"] for a in data["_attempts"]] == ["preempted", "preempted", "finished"]
    xs.reset("steps=2")  # a rerun in the same job counts nothing again
    exp = cls.from_params_file(xs.root / "steps=2" / "params.yml")
    exp.execute = lambda: None  # type: ignore[method-assign]
    exp()
    assert _params(xs, "steps=2")["_requeues"] == 2


# --------------------------------------------------------------------------- CLI (no cluster)


def _cli_set(fexp_cli: Cli, tmp_path: pathlib.Path, sweep: str, name: str = "set"
             ) -> pathlib.Path:
    root = tmp_path / name
    for args in (("init", _write_experiment(tmp_path), "-r", root), ("link", sweep, "-r", root)):
        proc = fexp_cli(*args)
        assert proc.returncode == 0, proc.stderr
    return root


def test_cli_dry_run_prints_argv_and_script_and_changes_nothing(
        fexp_cli: Cli, tmp_path: pathlib.Path) -> None:
    root = _cli_set(fexp_cli, tmp_path, "{steps: 1 | 2}")
    before = _snapshot(root)
    proc = fexp_cli("run", "*", "-r", root, "--slurm", "--dry-run", "--time", "10",
                    "--max-parallel", "1")
    assert proc.returncode == 0, proc.stderr
    assert "$ sbatch --parsable --array=0-1%1 --hold " in proc.stdout
    assert "#SBATCH --time=10" in proc.stdout and "#!/usr/bin/env bash" in proc.stdout
    assert _snapshot(root) == before
    proc = fexp_cli("run", "*", "-r", root, "--generate", "sbatch", "--time", "5")
    assert proc.returncode == 0, proc.stderr
    new = set(_snapshot(root)) - set(before)
    assert sorted(pathlib.Path(n).name for n in new) == ["job_0.sbatch", "job_1.sbatch"]
    assert all(n.startswith("generated/slurm/") for n in new)
    assert "sbatch --time=5" not in proc.stdout and "#SBATCH --time=5" in (
        root / sorted(new)[0]).read_text()


def test_cli_bad_slurm_option_exits_2(fexp_cli: Cli, tmp_path: pathlib.Path) -> None:
    root = _cli_set(fexp_cli, tmp_path, "{steps: 1}")
    before = _snapshot(root)
    proc = fexp_cli("run", "*", "-r", root, "--slurm", "--time", "soon", "--cpus", "0")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--time 'soon' is not a SLURM time" in proc.stderr and "--cpus must be" in proc.stderr
    assert _snapshot(root) == before


# --------------------------------------------------------------------------- real cluster


def _wait_statuses(root: pathlib.Path, wanted: Iterable[str], timeout: float,
                   names: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    wanted = set(wanted)
    deadline = time.monotonic() + timeout
    data: dict[str, dict[str, Any]] = {}
    folders = [root / n for n in names] if names else [p.parent for p in root.glob("*/params.yml")]
    while time.monotonic() < deadline:
        data = {f.name: _yaml.read_mapping(f / "params.yml") for f in folders}
        if all(d.get("_status") in wanted for d in data.values()):
            return data
        time.sleep(0.3)
    summary = {n: d.get("_status") for n, d in data.items()}
    logs = "\n".join(p.read_text() for p in root.glob("generated/slurm/*/logs/*.err"))
    raise AssertionError(f"statuses {summary} not all in {sorted(wanted)} after {timeout} s\n"
                         f"{logs[-3000:]}")


@pytest.mark.slurm
def test_a_sweep_runs_as_one_array(fexp_cli: Cli, tmp_path: pathlib.Path) -> None:
    root = _cli_set(fexp_cli, tmp_path, "{steps: 1 | 2 | 3, text: a | b}")
    proc = fexp_cli("run", "*", "-r", root, "--slurm")
    assert proc.returncode == 0, proc.stderr
    assert "submitted 6 experiment(s) to SLURM as 1 job array" in proc.stdout
    listing = fexp_cli("list", "-r", root)
    assert listing.returncode == 0, listing.stderr
    data = _wait_statuses(root, ["finished"], 60)
    assert len({d["_slurm"]["array_job_id"] for d in data.values()}) == 1
    assert sorted(d["_slurm"]["array_task_id"] for d in data.values()) == list(range(6))
    for name, d in data.items():
        assert d["_meta"]["slurm"]["array_job_id"] == d["_slurm"]["array_job_id"]
        assert f"text=[{d['text']}]" in (root / name / "out.txt").read_text()
        assert d["_messages"]["total"] == sum(i * i for i in range(d["steps"]))
    job = next(iter(data.values()))["_slurm"]["array_job_id"]
    listing = fexp_cli("list", "-r", root, "--json")
    assert f'"array_job_id": "{job}"' in listing.stdout and "COMPLETED" in listing.stdout


@pytest.mark.slurm
def test_sbatch_launcher_submits_one_job_each(fexp_cli: Cli, tmp_path: pathlib.Path) -> None:
    root = _cli_set(fexp_cli, tmp_path, "{steps: 1 | 2}")
    proc = fexp_cli("run", "*", "-r", root, "sbatch", "--time", "5", "--job-name=mine")
    assert proc.returncode == 0, proc.stderr
    assert "as 2 jobs" in proc.stdout
    data = _wait_statuses(root, ["finished"], 60)
    ids = [d["_slurm"]["job_id"] for d in data.values()]
    assert len(set(ids)) == 2 and all("_" not in i for i in ids)
    info = slurm_cluster.job_info(ids[0])
    assert info["TimeLimit"] == "00:05:00" and info["JobName"] == "mine"


@pytest.mark.slurm
def test_time_limit_checkpoints_requeues_and_resumes(fexp_cli: Cli, tmp_path: pathlib.Path
                                                     ) -> None:
    # slurmctld checks limits on a 30 s tick and sends USR1 at the first tick where
    # now >= end - grace - 30: with --time 2 --grace 70 that is 20-50 s after the start, so
    # never while the payload is still starting, and well before the TIMEOUT kill.
    root = _cli_set(fexp_cli, tmp_path, "{steps: 60, delay: 1.0 | 0.0}")
    proc = fexp_cli("run", "*", "-r", root, "--slurm", "--time", "2", "--grace", "70")
    assert proc.returncode == 0, proc.stderr
    slow, quick = "steps=60__delay=1.0", "steps=60__delay=0.0"
    data = _wait_statuses(root, ["finished"], 85)
    interrupted, plain = data[slow], data[quick]
    assert interrupted["_messages"]["total"] == plain["_messages"]["total"] == sum(
        i * i for i in range(60))
    assert interrupted["_requeues"] >= 1 and interrupted["_messages"]["resumed"] is True
    statuses = [a["status"] for a in interrupted["_attempts"]]
    assert statuses[0] == "timeout" and statuses[-1] == "finished"
    assert (root / slow / "interrupted.txt").read_text().startswith("timeout")
    assert "resumed at step" in (root / slow / "out.txt").read_text()
    assert plain["_messages"]["resumed"] is False and "_requeues" not in plain
    info = slurm_cluster.job_info(interrupted["_slurm"]["job_id"])
    assert int(info["Restarts"]) >= 1


@pytest.mark.slurm
def test_cancel_records_stopped(fexp_cli: Cli, tmp_path: pathlib.Path) -> None:
    root = _cli_set(fexp_cli, tmp_path, "{steps: 60, delay: 1.0}")
    later = _cli_set(fexp_cli, tmp_path, "{steps: 1}", "later")
    assert fexp_cli("run", "*", "-r", root, "--slurm").returncode == 0
    assert fexp_cli("run", "*", "-r", later, "--slurm",
                    "--sbatch-arg=--begin=now+600").returncode == 0
    _wait_statuses(root, ["running"], 30)
    listing = fexp_cli("list", "-r", later)
    assert "PENDING" in listing.stdout and "queued" in listing.stdout
    for folder in (root, later):
        proc = fexp_cli("cancel", "*", "-r", folder)
        assert proc.returncode == 0, proc.stderr
        assert "cancelled 1" in proc.stdout
    # A cancelled array with no task left is known to SLURM by its bare array job id.
    (data,) = _wait_statuses(later, ["stopped"], 5).values()
    slurm_cluster.wait_for_state(data["_slurm"]["array_job_id"], "CANCELLED", timeout=20)
    (data,) = _wait_statuses(root, ["stopped"], 5).values()
    slurm_cluster.wait_for_state(data["_slurm"]["array_job_id"], "CANCELLED", timeout=20)
    time.sleep(1)  # the runner records its own stopped when TERM arrives
    (data,) = _wait_statuses(root, ["stopped"], 5).values()
    assert data["_attempts"][-1]["status"] == "stopped"
    assert "nothing to cancel" in fexp_cli("cancel", "*", "-r", root).stdout


@pytest.mark.slurm
def test_retries_rerun_a_failing_experiment(fexp_cli: Cli, tmp_path: pathlib.Path) -> None:
    root = _cli_set(fexp_cli, tmp_path, "{fail_times: 2}")
    proc = fexp_cli("run", "*", "-r", root, "--slurm", "--retries", "2")
    assert proc.returncode == 0, proc.stderr
    (data,) = _wait_statuses(root, ["finished"], 60).values()  # error between attempts
    assert [a["status"] for a in data["_attempts"]] == ["error", "error", "finished"]
    assert (root / "fail_times=2" / "counter.txt").read_text() == "fail\nfail\n"


@pytest.mark.slurm
def test_hostile_values_are_inert_in_an_array(fexp_cli: Cli, tmp_path: pathlib.Path) -> None:
    values = ["$(touch pwned)", "it's \"q\"; touch pwned2 `touch pwned3`", "a b  c",
              "x & y > z"]
    sweep = "{text: " + " | ".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
                                   for v in values) + "}"
    root = _cli_set(fexp_cli, tmp_path, sweep)
    proc = fexp_cli("run", "*", "-r", root, "--slurm", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = _wait_statuses(root, ["finished"], 60)
    assert sorted(d["text"] for d in data.values()) == sorted(values)
    for name, d in data.items():
        assert f"text=[{d['text']}]" in (root / name / "out.txt").read_text()
    assert not list(tmp_path.rglob("pwned*")) and not list(pathlib.Path("/").glob("pwned*"))
    assert not (root / "z").exists()


@pytest.mark.slurm
@pytest.mark.parametrize("launcher", [("--slurm",), ("sbatch", "--time", "5")])
def test_two_concurrent_slurm_submissions_submit_each_experiment_once(
        fexp_cli: Cli, tmp_path: pathlib.Path, launcher: tuple[str, ...]) -> None:
    """A second `fexp run '*' --slurm` (or sbatch) on one set while the first is still
    submitting (its sbatch is slow, as on a busy controller): every experiment is claimed by
    exactly one of them, submitted once and run once."""
    root = _cli_set(fexp_cli, tmp_path, "{steps: 1 | 2 | 3 | 4 | 5 | 6}")
    slow = tmp_path / "slow-bin"
    slow.mkdir()
    real = shutil.which("sbatch")
    assert real
    (slow / "sbatch").write_text(f"#!/bin/sh\nsleep 2\nexec {real} \"$@\"\n")
    (slow / "sbatch").chmod(0o755)
    env = {**os.environ, "PATH": f"{slow}{os.pathsep}{os.environ['PATH']}"}
    argv = [installed_fexp(), "run", "*", "-r", str(root), *launcher]
    procs = []
    for _ in range(2):
        procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, env=env))
        time.sleep(1.0)  # the first is inside its slow sbatch when the second starts
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    submitted = [re.search(r"submitted (\d+) experiment", out) for out, _ in outs]
    assert sum(int(m.group(1)) for m in submitted if m) == 6, [o for out in outs for o in out]
    data = _wait_statuses(root, ["finished"], 90)
    assert len(data) == 6
    for name, d in data.items():
        assert [a["status"] for a in d["_attempts"]] == ["finished"], (name, d["_attempts"])
        assert (root / name / "out.txt").read_text().count("text=[") == 1
