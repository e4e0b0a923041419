"""The run lifecycle: statuses, out.txt, error.txt, signals, and messages surviving SIGKILL."""

from __future__ import annotations

import os
import pathlib
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import fexp
from fexp import _messages, _yaml
from fexp._runner import Interrupted

CHILD = textwrap.dedent(
    """
    import sys, time
    import fexp

    @fexp.experiment
    def child(root: fexp.Root, mode: str = "sleep"):  # @p what to do
        root.on_interrupt(lambda status: (root.directory / "callback.txt").write_text(status))
        if mode == "sleep":
            print("ready", flush=True)
            time.sleep(60)
        elif mode == "spam":
            i = 0
            while True:
                root.message({"i": i, "loss": 1.0 / (i + 1)}, keep="min", leader="loss")
                print(f"ack {i}", flush=True)
                i += 1

    if __name__ == "__main__":
        exp = child(mode=sys.argv[2])
        exp.register(sys.argv[1], "exp")
        try:
            exp()
        except fexp.Interrupted as stop:
            sys.exit(128 + stop.signum)
    """
)


def _spawn(tmp_path: pathlib.Path, mode: str) -> subprocess.Popen[str]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    return subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "runs"), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _params(tmp_path: pathlib.Path) -> dict[str, object]:
    return _yaml.read_mapping(tmp_path / "runs" / "exp" / "params.yml")


def test_finished_run_records_status_output_and_timestamps(tmp_path: pathlib.Path) -> None:
    @fexp.experiment
    def hello(root: fexp.Root, who: str = "you") -> str:  # @p who to greet
        print(f"hello {who}")
        root.message({"n": 1})
        return who

    exp = hello(who="me").register(tmp_path, "h")
    assert exp() == "me"
    data = _yaml.read_mapping(tmp_path / "h" / "params.yml")
    assert data["_status"] == "finished"
    assert data["_started"] and data["_stopped"] and data["_created"]
    assert data["_messages"] == {"n": 1}
    assert data["_attempts"][0]["status"] == "finished"
    assert "hello me" in (tmp_path / "h" / "out.txt").read_text()
    assert data["_meta"]["pid"] == os.getpid()


def test_error_records_traceback_and_reraises(tmp_path: pathlib.Path) -> None:
    @fexp.experiment
    def broken(root: fexp.Root, x: int = 1) -> None:  # @p unused
        raise ValueError("boom at x")

    exp = broken().register(tmp_path, "b")
    with pytest.raises(ValueError, match="boom at x"):
        exp()
    data = _yaml.read_mapping(tmp_path / "b" / "params.yml")
    assert data["_status"] == "error"
    error = (tmp_path / "b" / "error.txt").read_text()
    assert "Traceback" in error and "ValueError: boom at x" in error
    assert data["_attempts"][-1]["error"] == "ValueError: boom at x"


def test_finished_experiment_is_never_silently_rerun(tmp_path: pathlib.Path) -> None:
    @fexp.experiment
    def once(root: fexp.Root, x: int = 1) -> None:  # @p unused
        root.message({"ran": 1})

    exp = once().register(tmp_path, "o")
    exp()
    with pytest.raises(fexp.ExperimentStateError, match="already finished"):
        exp()


@pytest.mark.parametrize(
    ("signum", "status"),
    [(signal.SIGINT, "stopped"), (signal.SIGTERM, "stopped"), (signal.SIGUSR1, "timeout")],
)
def test_signals_set_status_and_run_callbacks(
    tmp_path: pathlib.Path, signum: int, status: str
) -> None:
    with _spawn(tmp_path, "sleep") as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signum, err
    data = _params(tmp_path)
    assert data["_status"] == status
    assert data["_stopped"]
    assert (tmp_path / "runs" / "exp" / "callback.txt").read_text() == status
    assert "ready" in (tmp_path / "runs" / "exp" / "out.txt").read_text()


def test_acknowledged_messages_survive_sigkill(tmp_path: pathlib.Path) -> None:
    """20 trials: kill a child mid-stream; params.yml parses and no acknowledged message is lost."""
    rng = random.Random(1234)
    for trial in range(20):
        trial_dir = tmp_path / f"t{trial}"
        trial_dir.mkdir()
        with _spawn(trial_dir, "spam") as proc:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            assert first.startswith("ack"), first
            time.sleep(rng.uniform(0.0, 0.15))
            proc.kill()
            remaining = proc.stdout.read()  # through the same buffer readline() filled
            proc.wait(timeout=10)
        acks = [
            int(line.split()[1])
            for line in (first + remaining).splitlines()
            if line.startswith("ack ")
        ]
        data = _params(trial_dir)
        assert data["_status"] == "running"  # killed: no chance to record anything else
        records = _messages.read(trial_dir / "runs" / "exp" / "messages.jsonl")
        logged = [r["m"]["i"] for r in records]
        assert logged[: len(acks)] == acks, f"trial {trial}: lost an acknowledged message"
        assert _messages.replay(records)["i"] == logged[-1]


def test_interrupted_is_not_an_exception_users_catch_by_accident() -> None:
    assert not issubclass(Interrupted, Exception)
