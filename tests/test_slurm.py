"""SLURM launcher: pure builders and parsers, the batch script run by bash, the fake launcher,
and end-to-end tests on the real local cluster (``@pytest.mark.slurm``)."""

from __future__ import annotations

import os
import pathlib
import shlex
import signal
import subprocess
import sys
import time

import pytest

from fexp import _errors
from fexp._launchers import base, fake, slurm
from tests import slurm_cluster

HOSTILE = "we ird 'q' \"dq\" ; rm -rf x $(touch pwned) `touch pwned2` & #c 100%"


def _jobs(folder: pathlib.Path, n: int, script: pathlib.Path | None = None,
          workdir: pathlib.Path | None = None) -> list[base.Job]:
    script = script or folder / "script.sh"
    jobs = []
    for i in range(n):
        (folder / f"exp {i}").mkdir(parents=True, exist_ok=True)
        jobs.append(base.Job(f"exp {i}", folder / f"exp {i}" / "params.yml", script,
                             workdir or folder))
    return jobs


def _write_script(path: pathlib.Path, text: str) -> pathlib.Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def _directive_values(script: str) -> dict[str, str]:
    """The #SBATCH lines as sbatch would read them (shell-style words)."""
    values = {}
    for line in script.splitlines():
        if line.startswith("#SBATCH --"):
            (word,) = shlex.split(line[len("#SBATCH "):])
            name, _, value = word[2:].partition("=")
            values[name] = value
    return values


# --------------------------------------------------------------------------- options


def test_check_options_reports_every_bad_option_by_name() -> None:
    options = slurm.SlurmOptions(time="1:00\n#SBATCH --x", partition="a\\b", cpus=0,
                                 max_parallel=True, gpus=-1, grace_seconds=-5,
                                 header_lines=("ok", "bad\nline"), extra_args=("--array=1-3",))
    with pytest.raises(_errors.ConfigError) as info:
        slurm.check_options(options)
    text = str(info.value)
    for fragment in ("--time '1:00\\n#SBATCH --x' contains a line break",
                     "--partition 'a\\\\b' contains a backslash", "--cpus must be an integer >= 1",
                     "--max-parallel must be", "--gpus must be an integer >= 0",
                     "grace seconds must be", "header line 'bad\\nline'",
                     "--sbatch-arg '--array=1-3' is managed by fexp"):
        assert fragment in text


@pytest.mark.parametrize("value", ["90", "1:30", "1:30:00", "2-12", "2-12:30", "2-12:30:00",
                                   "UNLIMITED"])
def test_check_options_accepts_slurm_times(value: str) -> None:
    slurm.check_options(slurm.SlurmOptions(time=value))


def test_check_options_rejects_a_malformed_time() -> None:
    with pytest.raises(_errors.ConfigError, match="--time '1 hour' is not a SLURM time"):
        slurm.check_options(slurm.SlurmOptions(time="1 hour"))


def test_check_options_rejects_an_empty_value() -> None:
    with pytest.raises(_errors.ConfigError, match="--account is empty"):
        slurm.check_options(slurm.SlurmOptions(account=""))


# --------------------------------------------------------------------------- rendering


def test_array_script_quotes_hostile_values(tmp_path: pathlib.Path) -> None:
    folder = tmp_path / HOSTILE
    jobs = _jobs(folder, 2)
    options = slurm.SlurmOptions(time="1:00:00", gpus="a100:2", cpus=4, mem="4G",
                                 partition=HOSTILE, account="acc $(x)", qos="q;q",
                                 job_name=HOSTILE, grace_seconds=90,
                                 header_lines=("#SBATCH --constraint=a100", "module load cuda"))
    text = slurm.render_array_script(jobs, options, folder / "m.manifest", folder / "logs")
    assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0
    values = _directive_values(text)
    escaped = str(folder).replace("%", "%%")
    assert values == {
        "constraint": "a100", "job-name": HOSTILE, "chdir": str(folder),
        "output": f"{escaped}/logs/slurm-%A_%a.out", "error": f"{escaped}/logs/slurm-%A_%a.err",
        "time": "1:00:00", "gpus": "a100:2", "cpus-per-task": "4", "mem": "4G",
        "partition": HOSTILE, "account": "acc $(x)", "qos": "q;q",
        "signal": "B:USR1@90", "requeue": "", "open-mode": "append"}
    lines = text.splitlines()
    # The user's #SBATCH defaults come first (fexp's options override them); their commands
    # come after the last directive, where sbatch has stopped reading #SBATCH lines.
    assert lines.index("#SBATCH --constraint=a100") < lines.index("#SBATCH --time=1:00:00")
    assert lines.index("module load cuda") > lines.index("#SBATCH --open-mode=append")
    assert f"script={shlex.quote(str(folder / 'script.sh'))}" in lines


def test_array_script_runs_the_payload_on_its_manifest_line(tmp_path: pathlib.Path) -> None:
    folder = tmp_path / HOSTILE
    payload = "#!/usr/bin/env bash\nprintf '%s' \"$1\" > \"$(dirname \"$1\")/seen\"\nexit 3\n"
    jobs = _jobs(folder, 3, _write_script(tmp_path / "pay load.sh", payload))
    plan = slurm.plan_submission(jobs, slurm.SlurmOptions(), folder / "gen")
    slurm.write_plan(plan)
    (batch,) = plan.batches
    env = {**os.environ, "SLURM_ARRAY_TASK_ID": "1"}
    proc = subprocess.run(["bash", str(batch.script_path)], env=env, cwd=tmp_path)
    assert proc.returncode == 3  # the payload's exit code
    assert (folder / "exp 1" / "seen").read_text() == str(jobs[1].params_path)
    assert not (folder / "exp 0" / "seen").exists()
    assert not list(tmp_path.rglob("pwned*"))


def test_array_script_fails_clearly_past_the_manifest(tmp_path: pathlib.Path) -> None:
    jobs = _jobs(tmp_path, 1)
    plan = slurm.plan_submission(jobs, slurm.SlurmOptions(), tmp_path / "gen")
    slurm.write_plan(plan)
    env = {**os.environ, "SLURM_ARRAY_TASK_ID": "5"}
    proc = subprocess.run(["bash", str(plan.batches[0].script_path)], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "has no line 6" in proc.stderr
    env.pop("SLURM_ARRAY_TASK_ID")
    proc = subprocess.run(["bash", str(plan.batches[0].script_path)], env=env,
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "sbatch --array" in proc.stderr


SIGNAL_PAYLOAD = f"""#!{sys.executable}
import os, pathlib, signal, sys, time
out = pathlib.Path(sys.argv[1]).parent
def handler(signum, frame):
    (out / signal.Signals(signum).name).write_text("got it")
    sys.exit(7)
signal.signal(signal.SIGUSR1, handler)
signal.signal(signal.SIGTERM, handler)
(out / "started").write_text(str(os.getpid()))
time.sleep(30)
"""


@pytest.mark.parametrize("sig", [signal.SIGUSR1, signal.SIGTERM])
def test_job_script_forwards_signals_to_the_payload(tmp_path: pathlib.Path, sig: int) -> None:
    (job,) = _jobs(tmp_path / HOSTILE, 1, _write_script(tmp_path / "payload.py", SIGNAL_PAYLOAD))
    text = slurm.render_job_script(job, slurm.SlurmOptions())
    script = _write_script(tmp_path / "job.sbatch", text)
    shell = subprocess.Popen(["bash", str(script)])
    started = job.params_path.parent / "started"
    deadline = time.monotonic() + 10
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.1)
    start = time.monotonic()
    shell.send_signal(sig)  # only the batch shell, as --signal=B: does
    assert shell.wait(10) == 7
    assert time.monotonic() - start < 5  # forwarded at once, not after the 30 s sleep
    assert (job.params_path.parent / signal.Signals(sig).name).read_text() == "got it"


def test_job_script(tmp_path: pathlib.Path) -> None:
    (job,) = _jobs(tmp_path, 1)
    options = slurm.SlurmOptions(requeue=False, grace_seconds=30)
    text = slurm.render_job_script(job, options)
    values = _directive_values(text)
    assert values["job-name"] == "exp 0"
    assert values["output"] == f"{tmp_path}/exp 0/slurm-%j.out"
    assert values["signal"] == "B:USR1@30" and "no-requeue" in values
    assert "export FEXP_REQUEUE=0" in text
    assert f"params={shlex.quote(str(job.params_path))}" in text
    logs = tmp_path / "logs"
    assert _directive_values(slurm.render_job_script(job, options, logs))["error"] == \
        f"{logs}/slurm-%j.err"


def test_paths_with_line_breaks_are_rejected(weird_path: pathlib.Path) -> None:
    jobs = [base.Job("odd", weird_path / "params.yml", weird_path / "s.sh", weird_path.parent)]
    with pytest.raises(_errors.ConfigError, match="params path of experiment 'odd'"):
        slurm.render_manifest(jobs)
    with pytest.raises(_errors.ConfigError, match="line break"):
        slurm.plan_submission(jobs, slurm.SlurmOptions(), weird_path.parent / "gen")


def test_backslash_in_a_workdir_is_rejected(tmp_path: pathlib.Path) -> None:
    job = base.Job("x", tmp_path / "a\\b" / "params.yml", tmp_path / "s.sh", tmp_path / "a\\b")
    with pytest.raises(_errors.ConfigError, match="workdir of experiment 'x'.*backslash"):
        slurm.render_job_script(job, slurm.SlurmOptions())


def test_sbatch_argv() -> None:
    options = slurm.SlurmOptions(max_parallel=4, extra_args=("--hold", "--constraint=a b"))
    script = pathlib.Path("/x y/a.sbatch")
    assert slurm.sbatch_argv(script, options, slurm.array_spec(10)) == [
        "sbatch", "--parsable", "--array=0-9%4", "--hold", "--constraint=a b", "/x y/a.sbatch"]
    assert slurm.sbatch_argv(script, slurm.SlurmOptions()) == [
        "sbatch", "--parsable", "/x y/a.sbatch"]


@pytest.mark.parametrize(("n", "size", "expected"), [
    (0, 3, []), (1, 3, [range(1)]), (3, 3, [range(3)]),
    (7, 3, [range(3), range(3, 6), range(6, 7)]), (2001, 1001, [range(1001),
                                                                   range(1001, 2001)]),
])
def test_split_array(n: int, size: int, expected: list[range]) -> None:
    assert slurm.split_array(n, size) == expected


def test_plan_groups_by_script_splits_and_keeps_order(tmp_path: pathlib.Path) -> None:
    a, b = tmp_path / "a.sh", tmp_path / "b.sh"
    jobs = [*_jobs(tmp_path, 3, a), *_jobs(tmp_path / "other", 2, b),
            *_jobs(tmp_path / "x", 1, a, tmp_path)]
    plan = slurm.plan_submission(jobs, slurm.SlurmOptions(), tmp_path / "gen", max_array_size=2)
    # Job 5 shares job 0's script and workdir, so it joins that array (split at 2 tasks).
    assert [b.indices for b in plan.batches] == [(0, 1), (2, 5), (3, 4)]
    assert [b.argv[2] for b in plan.batches] == ["--array=0-1"] * 3
    assert plan.batches[1].manifest_text == f"{jobs[2].params_path}\n{jobs[5].params_path}\n"
    single = slurm.plan_submission(jobs[:1], slurm.SlurmOptions(), tmp_path / "gen")
    assert single.batches[0].argv[2] == "--array=0-0"
    assert [p.name for p, _ in plan.files()][:2] == ["array_0.manifest", "array_1.manifest"]


def test_dry_run_touches_nothing(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no scontrol: falls back to 1001
    launcher = slurm.SlurmLauncher(tmp_path / "gen", slurm.SlurmOptions(time="5"), array=False)
    plan = launcher.dry_run(_jobs(tmp_path, 2))
    assert [b.argv for b in plan.batches] == [
        ("sbatch", "--parsable", str(tmp_path / "gen" / f"job_{i}.sbatch")) for i in range(2)]
    assert "#SBATCH --time=5" in plan.batches[0].script_text
    assert not (tmp_path / "gen").exists()
    assert slurm.SlurmLauncher(tmp_path / "gen").dry_run(_jobs(tmp_path, 2)).batches


# --------------------------------------------------------------------------- parsing

SQUEUE_SAMPLE = """\
1|CANCELLED|JobHeldUser
4_[2-3]|PENDING|Resources
3_[0-9%3]|PENDING|JobHeldUser
4_0|RUNNING|None
4_1|COMPLETING|None
7|COMPLETED|None
"""

SCONTROL_SAMPLE = (
    "JobId=3 ArrayJobId=3 ArrayTaskId=0-2%3 ArrayTaskThrottle=3 JobName=wrap UserId=root(0) "
    "JobState=PENDING Reason=JobHeldUser Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 "
    "ExitCode=0:0 TRES=cpu=1,mem=24105M,node=1\n"
    "JobId=9 JobName=it's a #name; $(x) \"dq\" UserId=root(0) JobState=COMPLETED Reason=None "
    "Restarts=1 ExitCode=0:0 ReqB:S:C:T=0:0:*:* Socks/Node=* Command=/tmp/t 1.sh "
    "WorkDir=/tmp/scratch/w d 'q' Comment=a\\b  StdErr=/tmp/o%_1.out Power=\n"
    "JobId=12 ArrayJobId=11 ArrayTaskId=1 JobName=x JobState=TIMEOUT Reason=TimeLimit "
    "Restarts=2 ExitCode=0:15\n"
    "JobId=20 ArrayJobId=20 ArrayTaskId=4294967294 JobName=x JobState=CANCELLED Reason=None\n"
)


def test_parse_squeue_expands_pending_ranges() -> None:
    states = slurm.parse_squeue(SQUEUE_SAMPLE)
    assert sorted(states) == sorted(["1", "4_2", "4_3", "4_0", "4_1", "7",
                                     *(f"3_{i}" for i in range(10))])
    assert states["3_9"] == base.JobState("PENDING", "queued", "JobHeldUser")
    assert states["4_1"].status == "running" and states["4_1"].reason is None
    assert states["1"].status == "stopped" and states["7"].status == "finished"
    assert states["7"].done and not states["4_0"].done


def test_states_of_a_cancelled_pending_array(tmp_path: pathlib.Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # Once all its pending tasks are cancelled, squeue lists the array by its bare id.
    commands = FakeCommands({"squeue": (0, "5|CANCELLED|JobHeldUser\n6_0|COMPLETED|None\n", "")})
    monkeypatch.setattr(subprocess, "run", commands)
    states = slurm.SlurmLauncher(tmp_path).states(["5_0", "5_1", "6_0"])
    assert [s.status for s in states.values()] == ["stopped", "stopped", "finished"]
    assert len(commands.calls) == 1


def test_parse_scontrol_show_job() -> None:
    records = slurm.parse_scontrol_show_job(SCONTROL_SAMPLE + "\n  \nnoise\n")
    assert len(records) == 4
    assert records[1]["JobName"] == "it's a #name; $(x) \"dq\""
    assert records[1]["WorkDir"] == "/tmp/scratch/w d 'q'"
    assert records[1]["Command"] == "/tmp/t 1.sh" and records[1]["Power"] == ""
    assert records[1]["TRES" if "TRES" in records[1] else "Socks/Node"] == "*"
    assert records[0]["TRES"] == "cpu=1,mem=24105M,node=1"
    states = slurm.states_from_scontrol(records)
    assert sorted(states) == ["11_1", "20", "3_0", "3_1", "3_2", "9"]
    assert states["9"] == base.JobState("COMPLETED", "finished", None, 1, "0:0")
    assert states["11_1"] == base.JobState("TIMEOUT", "timeout", "TimeLimit", 2, "0:15")


@pytest.mark.parametrize(("spec", "expected"), [
    ("5", [5]), ("0-3", [0, 1, 2, 3]), ("1,3-4%2", [1, 3, 4]), ("0-6:3", [0, 3, 6]), ("x", []),
])
def test_expand_indices(spec: str, expected: list[int]) -> None:
    assert slurm.expand_indices(spec) == expected


@pytest.mark.parametrize(("state", "status"), [
    ("PENDING", "queued"), ("RUNNING", "running"), ("COMPLETED", "finished"),
    ("FAILED", "error"), ("CANCELLED by 0", "stopped"), ("TIMEOUT", "timeout"),
    ("PREEMPTED", "preempted"), ("REQUEUED", "requeued"), ("OUT_OF_MEMORY", "error"),
    ("WHATEVER", "unknown"), ("", "unknown"),
])
def test_status_from_slurm(state: str, status: str) -> None:
    assert slurm.status_from_slurm(state) == status


def test_parse_sbatch_output() -> None:
    assert slurm.parse_sbatch_output("123\n") == ("123", None)
    assert slurm.parse_sbatch_output("456;cluster2\n") == ("456", "cluster2")
    with pytest.raises(_errors.ConfigError, match="sbatch printed no job id"):
        slurm.parse_sbatch_output("sbatch: error: nope\n")


def test_parse_max_array_size() -> None:
    assert slurm.parse_max_array_size("MailProg = /bin/true\nMaxArraySize            = 77\n") == 77
    assert slurm.parse_max_array_size("") == slurm.DEFAULT_MAX_ARRAY_SIZE


# --------------------------------------------------------------------------- the shell, faked


class FakeCommands:
    """Stands in for subprocess.run inside slurm.py: answers by command, records calls."""

    def __init__(self, answers: dict[str, tuple[int, str, str]]) -> None:
        self.answers = answers
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        self.calls.append(argv)
        code, out, err = self.answers[argv[0]]
        if argv[0] == "sbatch":
            self.answers["sbatch"] = (code, str(int(out) + 1), err)
        return subprocess.CompletedProcess(argv, code, out, err)


def test_submit_returns_submissions_in_job_order(tmp_path: pathlib.Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    commands = FakeCommands({"sbatch": (0, "100", "")})
    monkeypatch.setattr(subprocess, "run", commands)
    a, b = tmp_path / "a.sh", tmp_path / "b.sh"
    jobs = [*_jobs(tmp_path / "1", 2, a, tmp_path), *_jobs(tmp_path / "2", 1, b, tmp_path),
            *_jobs(tmp_path / "3", 1, a, tmp_path)]
    launcher = slurm.SlurmLauncher(tmp_path / "gen", max_array_size=5)
    subs = launcher.submit(jobs)
    assert [s.key for s in subs] == ["100_0", "100_1", "101_0", "100_2"]
    assert [c[0] for c in commands.calls] == ["sbatch", "sbatch"]
    assert (tmp_path / "gen" / "array_0.manifest").read_text().count("\n") == 3
    assert (tmp_path / "gen" / "logs").is_dir()


def test_submit_failure_reports_what_went_through(tmp_path: pathlib.Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    commands = FakeCommands({"sbatch": (0, "100", "")})
    original = commands.__call__

    def second_fails(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        if len(commands.calls) == 1:
            commands.calls.append(argv)
            return subprocess.CompletedProcess(argv, 1, "", "sbatch: error: Invalid account")
        return original(argv, **kwargs)

    monkeypatch.setattr(subprocess, "run", second_fails)
    launcher = slurm.SlurmLauncher(tmp_path / "gen", array=False)
    with pytest.raises(slurm.SubmitError, match="Invalid account") as info:
        launcher.submit(_jobs(tmp_path, 3))
    assert [s.key for s in info.value.submitted] == ["100"]
    assert isinstance(info.value, _errors.ConfigError)


def test_states_asks_squeue_once_then_scontrol_for_the_rest(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commands = FakeCommands({"squeue": (0, SQUEUE_SAMPLE, ""),
                             "scontrol": (0, SCONTROL_SAMPLE, "")})
    monkeypatch.setattr(subprocess, "run", commands)
    launcher = slurm.SlurmLauncher(tmp_path)
    states = launcher.states(["4_3", "7", "3_5", "4_3"])
    assert {k: s.status for k, s in states.items()} == {"4_3": "queued", "7": "finished",
                                                       "3_5": "queued"}
    assert commands.calls == [["squeue", "-h", "-t", "all", "-o", "%i|%T|%r", "-j", "4,7,3"]]
    states = launcher.states(["9", "11_1", "404", "20_3"])
    assert [states[k].status for k in ("9", "11_1", "404", "20_3")] == [
        "finished", "timeout", "unknown", "stopped"]
    assert [c[0] for c in commands.calls[1:]] == ["squeue", "scontrol"]


def test_states_tolerates_unknown_ids_and_reports_other_failures(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commands = FakeCommands({"squeue": (1, "", "slurm_load_jobs error: Invalid job id specified"),
                             "scontrol": (1, "", "Invalid job id")})
    monkeypatch.setattr(subprocess, "run", commands)
    launcher = slurm.SlurmLauncher(tmp_path)
    assert launcher.states(["5"])["5"].status == "unknown"
    commands.answers["squeue"] = (1, "", "Unable to contact slurm controller")
    with pytest.raises(_errors.ConfigError, match="squeue failed: Unable to contact"):
        launcher.states(["5"])


def test_missing_slurm_is_a_config_error(tmp_path: pathlib.Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(_errors.ConfigError, match="sbatch not found"):
        slurm.SlurmLauncher(tmp_path / "gen", max_array_size=3).submit(_jobs(tmp_path, 1))
    with pytest.raises(_errors.ConfigError, match="scontrol not found"):
        slurm.max_array_size()


def test_cancel_is_one_scancel(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commands = FakeCommands({"scancel": (0, "", "")})
    monkeypatch.setattr(subprocess, "run", commands)
    slurm.SlurmLauncher(tmp_path).cancel(["1_2", "3", "1_2"])
    slurm.SlurmLauncher(tmp_path).cancel([])
    assert commands.calls == [["scancel", "--quiet", "1_2", "3"]]


# --------------------------------------------------------------------------- fake launcher


def test_fake_launcher_records_and_reports(tmp_path: pathlib.Path) -> None:
    launcher = fake.FakeLauncher()
    subs = launcher.submit(_jobs(tmp_path, 2))
    assert [s.key for s in subs] == ["1000_0", "1000_1"]
    launcher.set_state("1000_1", "running")
    states = launcher.states(["1000_0", "1000_1", "nope"])
    assert [s.status for s in states.values()] == ["queued", "running", "unknown"]
    assert states["1000_1"].state == "RUNNING"
    launcher.cancel(["1000_0"])
    assert launcher.states(["1000_0"])["1000_0"] == base.JobState("CANCELLED", "stopped")
    assert launcher.states_calls == [("1000_0", "1000_1", "nope"), ("1000_0",)]
    single = fake.FakeLauncher(array=False, fail_at=1)
    assert [s.key for s in single.submit(_jobs(tmp_path, 2))] == ["1000", "1001"]
    with pytest.raises(RuntimeError):
        single.submit(_jobs(tmp_path, 1))
    single.set_all("finished")
    assert all(s.done for s in single.states(["1000", "1001"]).values())


# --------------------------------------------------------------------------- real cluster

WRITE_PARAMS = "#!/usr/bin/env bash\nprintf '%s' \"$1\" > \"$(dirname \"$1\")/seen\"\n"


@pytest.mark.slurm
def test_wrap_job_completes(tmp_path: pathlib.Path) -> None:
    out = subprocess.run(["sbatch", "--parsable", "-o", str(tmp_path / "o.txt"), "--wrap",
                          "echo hi"], capture_output=True, text=True, check=True).stdout
    job_id, _ = slurm.parse_sbatch_output(out)
    info = slurm_cluster.wait_for_state(job_id, "COMPLETED", timeout=20)
    assert info["ExitCode"] == "0:0"
    assert (tmp_path / "o.txt").read_text() == "hi\n"


@pytest.mark.slurm
def test_array_runs_every_experiment(tmp_path: pathlib.Path) -> None:
    folder = tmp_path / HOSTILE
    jobs = _jobs(folder, 4, _write_script(tmp_path / "pay load.sh", WRITE_PARAMS))
    launcher = slurm.SlurmLauncher(folder / "gen", slurm.SlurmOptions(job_name=HOSTILE))
    subs = launcher.submit(jobs)
    assert len({s.job_id for s in subs}) == 1 and [s.array_index for s in subs] == [0, 1, 2, 3]
    for sub in subs:
        info = slurm_cluster.wait_for_state(sub.key, "COMPLETED", timeout=20)
        assert info["JobName"] == HOSTILE and info["WorkDir"] == str(folder)
    for job in jobs:
        assert (job.params_path.parent / "seen").read_text() == str(job.params_path)
    logs = sorted(p.name for p in (folder / "gen" / "logs").iterdir())
    assert logs == sorted(f"slurm-{subs[0].job_id}_{i}.{ext}" for i in range(4)
                          for ext in ("out", "err"))
    assert not list(tmp_path.rglob("pwned*"))


REQUEUE_PAYLOAD = f"""#!{sys.executable}
import os, pathlib, signal, subprocess, sys, time
out = pathlib.Path(sys.argv[1]).parent
restarts = os.environ.get("SLURM_RESTART_COUNT")
if restarts:
    (out / "second_run").write_text(restarts)
    sys.exit(0)
got = []
signal.signal(signal.SIGUSR1, lambda signum, frame: got.append(time.time()))
(out / "started").write_text(str(time.time()))
deadline = time.time() + 50
while not got and time.time() < deadline:
    time.sleep(0.1)
(out / "usr1").write_text(repr(got))
proc = subprocess.run(["scontrol", "requeue", os.environ["SLURM_JOB_ID"]],
                      capture_output=True, text=True)
(out / "requeue").write_text(f"{{proc.returncode}} {{proc.stderr}}")
sys.exit(0)
"""


@pytest.mark.slurm
def test_usr1_reaches_the_payload_which_requeues_itself(tmp_path: pathlib.Path) -> None:
    (job,) = _jobs(tmp_path, 1, _write_script(tmp_path / "payload.py", REQUEUE_PAYLOAD))
    options = slurm.SlurmOptions(time="1", grace_seconds=50)
    launcher = slurm.SlurmLauncher(tmp_path / "gen", options, array=False)
    (sub,) = launcher.submit([job])
    evidence = job.params_path.parent
    try:
        # slurmctld checks time limits on a 30 s tick: USR1 comes at the first tick.
        info = slurm_cluster.wait_for_state(sub.key, "COMPLETED", timeout=60)
        assert (evidence / "usr1").read_text() != "[]", "no USR1 reached the payload"
        assert (evidence / "requeue").read_text() == "0 "
        assert (evidence / "second_run").read_text() == "1"
        assert info["Restarts"] == "1"
        log = (tmp_path / "gen" / "logs" / f"slurm-{sub.job_id}.err")
        assert log.exists()  # --open-mode=append kept one log across both runs
    finally:
        launcher.cancel([sub.key])


TERM_PAYLOAD = f"""#!{sys.executable}
import pathlib, signal, sys, time
out = pathlib.Path(sys.argv[1]).parent
def handler(signum, frame):
    (out / "term").write_text("TERM")
    sys.exit(0)
signal.signal(signal.SIGTERM, handler)
(out / "started").write_text("yes")
time.sleep(60)
"""


@pytest.mark.slurm
def test_scancel_delivers_term_to_the_payload(tmp_path: pathlib.Path) -> None:
    (job,) = _jobs(tmp_path, 1, _write_script(tmp_path / "payload.py", TERM_PAYLOAD))
    launcher = slurm.SlurmLauncher(tmp_path / "gen", array=False)
    (sub,) = launcher.submit([job])
    slurm_cluster.wait_for_state(sub.key, "RUNNING", timeout=20)
    started = job.params_path.parent / "started"
    deadline = time.monotonic() + 10
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    launcher.cancel([sub.key])
    slurm_cluster.wait_for_state(sub.key, "CANCELLED", timeout=20)
    deadline = time.monotonic() + 5
    while not (job.params_path.parent / "term").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (job.params_path.parent / "term").read_text() == "TERM"


@pytest.mark.slurm
def test_states_uses_one_squeue_call(tmp_path: pathlib.Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    script = _write_script(tmp_path / "p.sh", WRITE_PARAMS)
    done = slurm.SlurmLauncher(tmp_path / "g1").submit(_jobs(tmp_path / "a", 3, script))
    single = slurm.SlurmLauncher(tmp_path / "g2", array=False).submit(
        _jobs(tmp_path / "b", 1, script))
    held = slurm.SlurmLauncher(tmp_path / "g3", slurm.SlurmOptions(extra_args=("--hold",))
                               ).submit(_jobs(tmp_path / "c", 2, script))
    for sub in [*done, *single]:
        slurm_cluster.wait_for_state(sub.key, "COMPLETED", timeout=20)
    calls: list[list[str]] = []
    real_run = subprocess.run

    def counting(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        return real_run(argv, **kwargs)  # type: ignore[call-overload, no-any-return]

    monkeypatch.setattr(subprocess, "run", counting)
    launcher = slurm.SlurmLauncher(tmp_path)
    keys = [s.key for s in [*done, *single, *held]]
    states = launcher.states(keys)
    assert len(calls) == 1 and calls[0][0] == "squeue"
    assert [states[k].status for k in keys] == ["finished"] * 4 + ["queued"] * 2
    assert states[held[0].key].reason == "JobHeldUser"
    launcher.cancel([s.key for s in held])
    assert slurm.SlurmLauncher(tmp_path).states([held[1].key])[held[1].key].status == "stopped"


@pytest.mark.slurm
def test_large_selections_are_split_into_several_arrays(tmp_path: pathlib.Path) -> None:
    assert slurm.max_array_size() == slurm_cluster.MAX_ARRAY_SIZE
    jobs = _jobs(tmp_path, 5, _write_script(tmp_path / "p.sh", WRITE_PARAMS))
    subs = slurm.SlurmLauncher(tmp_path / "gen", max_array_size=2).submit(jobs)
    assert len({s.job_id for s in subs}) == 3
    assert [s.array_index for s in subs] == [0, 1, 0, 1, 0]
    for sub in subs:
        slurm_cluster.wait_for_state(sub.key, "COMPLETED", timeout=20)
    for job in jobs:
        assert (job.params_path.parent / "seen").read_text() == str(job.params_path)
