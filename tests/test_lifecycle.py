"""The run lifecycle through the installed ``fexp``, with real processes and real signals:
claims (two concurrent runs), forwarded signals, lost owners and --resume, reset, live
``_messages`` in params.yml, and a full disk."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fexp import _yaml
from fexp._store import set_file

Cli = Callable[..., subprocess.CompletedProcess[str]]

WORK = textwrap.dedent(
    """
    import os, pathlib, time
    import fexp

    @fexp.experiment
    def work(root: fexp.Root, steps: int = 2, pause: float = 0.0, tag: str = "a",
             fail_once: str = "", blob: int = 0):  # @p
        folder = pathlib.Path(root.directory)
        with open(folder / "starts.txt", "a") as f:
            f.write(f"{os.getpid()}\\n")
        start = root.restore_checkpoint({"step": 0})["step"]
        print(f"start at {start}", flush=True)
        if fail_once and not os.path.exists(fail_once):
            open(fail_once, "w").close()
            raise RuntimeError("first attempt fails")
        for i in range(start, steps):
            root.message({"step": i, "pad": "x" * blob}, step=i)
            print(f"ack {i}", flush=True)
            root.save_checkpoint({"step": i + 1}, step=i + 1)
            time.sleep(pause)
    """
)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def _set(fexp_cli: Cli, root: pathlib.Path, sweep: str, code: str = WORK) -> str:
    module = root.parent / "work_module.py"
    module.write_text(code)
    ok(fexp_cli("init", f"{module}:work", "-r", root))
    ok(fexp_cli("link", sweep, "-r", root))
    return f"{module}:work"


def _params(root: pathlib.Path, name: str) -> dict[str, Any]:
    return _yaml.read_mapping(root / name / "params.yml")


def _statuses(root: pathlib.Path) -> dict[str, str]:
    names = set_file.read_names(root)  # experiment.yml with its journal
    return {n: str(_params(root, n)["_status"]) for n in names}


def _wait(predicate: Callable[[], bool], what: str, limit: float = 120) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _popen(*args: object, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "fexp", *(str(a) for a in args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _alive(pid: int) -> bool:
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _pid(root: pathlib.Path, name: str) -> int:
    """The pid of the latest run of ``name`` (the experiment writes it first thing)."""
    return int((root / name / "starts.txt").read_text().split()[-1])


@contextlib.contextmanager
def _reaping(root: pathlib.Path) -> Iterator[None]:
    """Kill whatever experiment of ``root`` is still alive when the test ends."""
    try:
        yield
    finally:
        for name in _statuses(root):
            with contextlib.suppress(OSError, ValueError, IndexError):
                os.kill(_pid(root, name), signal.SIGKILL)


@pytest.mark.parametrize("later", [False, True], ids=["same-moment", "second-starts-later"])
def test_two_concurrent_runs_run_each_experiment_once(
    fexp_cli: Cli, tmp_path: pathlib.Path, later: bool
) -> None:
    root = tmp_path / "set"
    _set(fexp_cli, root, "{tag: a | b | c | d | e | f, pause: 0.2}")
    first = _popen("run", "*", "-r", root)
    if later:
        _wait(lambda: "running" in _statuses(root).values(), "the first run to start one")
    second = _popen("run", "*", "-r", root)
    outs = [proc.communicate(timeout=300) for proc in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outs
    for name in _statuses(root):
        starts = (root / name / "starts.txt").read_text().split()
        assert len(starts) == 1, f"{name} ran {len(starts)} times"
    assert set(_statuses(root).values()) == {"finished"}


@pytest.mark.parametrize("mode", ["--progress", "--fork"])
def test_sigterm_to_fexp_run_stops_everything_and_reports(
    fexp_cli: Cli, tmp_path: pathlib.Path, mode: str
) -> None:
    root = tmp_path / "set"
    _set(fexp_cli, root, "{tag: a | b | c, steps: 100000, pause: 0.05}")
    runner = _popen("run", "*", "-r", root, "--jobs", "2", mode)
    with _reaping(root):

        def started() -> list[str]:
            return [
                n
                for n in _statuses(root)
                if (root / n / "out.txt").exists()
                and "start at" in (root / n / "out.txt").read_text()
            ]

        _wait(lambda: len(started()) == 2, "two running")
        owners = [_pid(root, n) for n in started()]
        runner.send_signal(signal.SIGTERM)
        out, err = runner.communicate(timeout=120)
        assert runner.returncode == 143, (out, err)
        assert "interrupted by SIGTERM" in out and "\nran 2: 2 stopped" in "\n" + out, out
        assert "Traceback" not in err
        assert sorted(_statuses(root).values()) == ["registered", "stopped", "stopped"]
        assert not [pid for pid in owners if _alive(pid)], "an experiment kept running"


def test_killed_run_shows_lost_and_resume_finishes_it(
    fexp_cli: Cli, tmp_path: pathlib.Path
) -> None:
    root = tmp_path / "set"
    _set(fexp_cli, root, "{steps: 40, pause: 0.1}")
    runner = _popen("run", "*", "-r", root, start_new_session=True)
    (name,) = _statuses(root)
    _wait(lambda: (root / name / "messages.jsonl").exists(), "the first step")
    _wait(lambda: "ack 3" in (root / name / "out.txt").read_text(), "a few steps")
    os.killpg(runner.pid, signal.SIGKILL)  # the runner and its experiment, like a node failure
    runner.communicate(timeout=60)
    pid = _pid(root, name)
    _wait(lambda: not _alive(pid), "the experiment to die")
    assert _params(root, name)["_status"] == "running"  # what it wrote before it died

    rows = json.loads(ok(fexp_cli("list", "-r", root, "--json")))
    assert [r["status"] for r in rows] == ["lost"]
    assert "lost" in ok(fexp_cli("list", "-r", root, "--status", "lost"))

    ok(fexp_cli("run", "*", "-r", root, "--resume"))
    assert _statuses(root) == {name: "finished"}
    starts = (root / name / "out.txt").read_text().split("start at ")
    assert int(starts[-1].split()[0]) >= 4, "the resumed run did not continue its checkpoint"
    steps = [
        json.loads(line)["step"]
        for line in (root / name / "messages.jsonl").read_text().splitlines()
    ]
    assert steps[-1] == 39


def test_execute_refuses_an_experiment_another_live_run_holds(
    fexp_cli: Cli, tmp_path: pathlib.Path
) -> None:
    root = tmp_path / "set"
    ref = _set(fexp_cli, root, "{steps: 100000, pause: 0.05}")
    runner = _popen("run", "*", "-r", root)
    (name,) = _statuses(root)
    with _reaping(root):
        _wait(lambda: _statuses(root)[name] == "running", "the run to start")
        second = fexp_cli("execute", ref, root / name / "params.yml")
        assert second.returncode == 2 and "not started a second time" in second.stderr
        assert "Traceback" not in second.stderr
        forced = ok(fexp_cli("run", "*", "-r", root, "--force"))
        assert "ran 0" in forced
        runner.send_signal(signal.SIGINT)
        out, _ = runner.communicate(timeout=120)
        assert runner.returncode == 130 and "interrupted by SIGINT" in out
    assert len((root / name / "starts.txt").read_text().split()) == 1


def test_reset_then_run_starts_from_scratch(fexp_cli: Cli, tmp_path: pathlib.Path) -> None:
    root = tmp_path / "set"
    _set(fexp_cli, root, "{steps: 3}")
    ok(fexp_cli("run", "*", "-r", root))
    ok(fexp_cli("note", "keep me", "steps=3", "-r", root))
    ok(fexp_cli("reset", "*", "-r", root))
    folder = root / "steps=3"
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == ["params.yml"]
    data = _params(root, "steps=3")
    assert data["_messages"] == {} and data["_notes"] == ["keep me"]
    ok(fexp_cli("run", "*", "-r", root))
    assert "start at 0" in (folder / "out.txt").read_text()
    steps = [
        json.loads(line)["step"] for line in (folder / "messages.jsonl").read_text().splitlines()
    ]
    assert steps == [0, 1, 2]
    ok(fexp_cli("reset", "*", "-r", root, "--keep-outputs"))
    assert (folder / "checkpoints").exists() and (folder / "messages.jsonl").exists()


def test_a_retry_that_finishes_removes_the_stale_error(
    fexp_cli: Cli, tmp_path: pathlib.Path
) -> None:
    root = tmp_path / "set"
    marker = tmp_path / "failed-once"
    _set(fexp_cli, root, f"{{fail_once: {json.dumps(str(marker))}}}")
    result = fexp_cli("run", "*", "-r", root, "--retries", "1")
    assert result.returncode == 0 and "first attempt fails" in result.stderr, result.stderr
    (name,) = _statuses(root)
    assert _statuses(root) == {name: "finished"} and marker.exists()
    assert not (root / name / "error.txt").exists()


def test_params_yml_messages_are_live_while_running(fexp_cli: Cli, tmp_path: pathlib.Path) -> None:
    root = tmp_path / "set"
    _set(fexp_cli, root, "{steps: 25, pause: 0.2}")
    runner = _popen("run", "*", "-r", root)
    (name,) = _statuses(root)
    seen: set[int] = set()
    with _reaping(root):
        while runner.poll() is None:
            with contextlib.suppress(Exception):
                data = _params(root, name)
                if data["_status"] == "running" and data["_messages"]:
                    seen.add(int(data["_messages"]["step"]))
            time.sleep(0.1)
    runner.communicate(timeout=60)
    assert runner.returncode == 0
    assert len(seen) >= 3, f"params.yml showed only steps {sorted(seen)} while running"
    assert _params(root, name)["_messages"]["step"] == 24


def test_registered_experiment_messages_reach_params_yml_and_from_yml_replays(
    tmp_path: pathlib.Path,
) -> None:
    code = WORK + textwrap.dedent(
        """
        import sys
        exp = work().register(sys.argv[1], "manual")
        exp.message({"score": 1.5})
        other = work().from_yml(exp.directory / "params.yml")
        print(other.messages)
        time.sleep(float(sys.argv[2]))
        """
    )
    script = tmp_path / "manual.py"
    script.write_text(code)
    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "runs"), "1.5"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "'score': 1.5" in out  # from_yml replays messages.jsonl
    # Still running (sleeping) when the refresh landed, without any run or close().
    data = _yaml.read_mapping(tmp_path / "runs" / "manual" / "params.yml")
    assert data["_messages"] == {"score": 1.5} and data["_status"] == "registered"
    quick = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "quick"), "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert quick.returncode == 0  # ended before the timer: written at exit
    data = _yaml.read_mapping(tmp_path / "quick" / "manual" / "params.yml")
    assert data["_messages"] == {"score": 1.5}


@pytest.fixture
def small_disk(tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    """A 512 KiB tmpfs (needs mount rights; skipped without)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_during_messages_ends_in_error_with_one_paragraph(
    fexp_cli: Cli, tmp_path: pathlib.Path, small_disk: pathlib.Path
) -> None:
    root = small_disk / "set"
    _set(fexp_cli, root, "{steps: 100000, blob: 1000}")
    (name,) = _statuses(root)
    result = fexp_cli("run", "*", "-r", root)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no space left" in result.stderr and str(small_disk) in result.stderr
    assert "Traceback" not in result.stderr
    assert _statuses(root) == {name: "error"}
    records = (root / name / "messages.jsonl").read_bytes()
    assert records.endswith(b"\n"), "a torn record was left"
    acked = [int(line.split()[1]) for line in result.stdout.splitlines() if line.startswith("ack ")]
    steps = [json.loads(line)["step"] for line in records.splitlines()]
    assert acked and steps[: len(acked)] == acked


def test_full_disk_in_execute_and_link_is_one_paragraph_exit_2(
    fexp_cli: Cli, tmp_path: pathlib.Path, small_disk: pathlib.Path
) -> None:
    root = small_disk / "set"
    ref = _set(fexp_cli, root, "{steps: 100000, blob: 1000}")
    (name,) = _statuses(root)
    result = fexp_cli("execute", ref, root / name / "params.yml")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "no space left" in result.stderr
    assert str(small_disk) in result.stderr
    assert _statuses(root) == {name: "error"}
    sweep = "{tag: " + " | ".join(f"t{i}" for i in range(2000)) + "}"
    linked = fexp_cli("link", sweep, "-r", root)
    assert linked.returncode == 2, linked.stdout + linked.stderr
    assert "Traceback" not in linked.stderr and str(small_disk) in linked.stderr


def test_message_never_acknowledges_a_torn_record(tmp_path: pathlib.Path) -> None:
    """RLIMIT_FSIZE cuts a write short mid-record, as a nearly full disk does."""
    import resource

    code = WORK + textwrap.dedent(
        """
        import sys
        exp = work().register(sys.argv[1], "capped")
        i = 0
        try:
            while True:
                exp.message({"step": i, "pad": "y" * 700}, step=i)
                print(f"ack {i}", flush=True)
                i += 1
        except OSError as exc:
            print(f"raised {exc.errno}", flush=True)
        """
    )
    script = tmp_path / "capped.py"
    script.write_text(code)

    def cap() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=cap,
    ).stdout
    assert "raised" in out
    acked = [int(line.split()[1]) for line in out.splitlines() if line.startswith("ack ")]
    log = (tmp_path / "runs" / "capped" / "messages.jsonl").read_bytes()
    assert log.endswith(b"\n"), "a torn record was left"
    steps = [json.loads(line)["step"] for line in log.splitlines()]
    assert steps == acked


def test_an_owner_on_another_host_is_lost_once_its_heartbeat_stops(
    fexp_cli: Cli, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fexp._store import params_file

    root = tmp_path / "set"
    _set(fexp_cli, root, "{steps: 1}")
    (name,) = _statuses(root)
    away = {"host": "node-17", "boot": "x", "pid": 4242, "claim": "c", "since": time.time()}
    params_file.update(root / name, lambda data: data.update(_status="running", _owner=away))
    (root / name / ".fexp-heartbeat").touch()
    assert json.loads(ok(fexp_cli("list", "-r", root, "--json")))[0]["status"] == "running"
    os.utime(root / name / ".fexp-heartbeat", (time.time() - 700, time.time() - 700))
    away["since"] = time.time() - 700
    params_file.update(root / name, lambda data: data.update(_owner=away))
    assert json.loads(ok(fexp_cli("list", "-r", root, "--json")))[0]["status"] == "lost"
    monkeypatch.setenv("FEXP_HEARTBEAT_TIMEOUT", "3600")  # the timeout is configurable
    assert json.loads(ok(fexp_cli("list", "-r", root, "--json")))[0]["status"] == "running"
