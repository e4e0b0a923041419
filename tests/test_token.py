"""Tokens (experimaestro's ``token(name, count)``): a counting semaphore across processes of one
machine, proven with real processes; a SIGKILLed holder frees its slot."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import fexp
from fexp import _layout, _token

ROOT = pathlib.Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not hasattr(_layout, "TOKENS_DIR"),
                                reason="needs patch 1 of docs/parity.md (_layout.TOKENS_DIR)")

# A holder process: wait for the start signal file, take a slot, log enter/exit, release.
HOLDER = textwrap.dedent(
    """
    import json, os, sys, time
    from fexp import _token
    name, count, log, start, hold = sys.argv[1:]
    while not os.path.exists(start):
        time.sleep(0.005)
    with _token.token(name, int(count), timeout=60):
        enter = time.time()
        time.sleep(float(hold))
        leave = time.time()
    with open(log, "a") as f:
        f.write(json.dumps([os.getpid(), enter, leave]) + "\\n")
    """
)


def _python(code: str, *args: object) -> subprocess.Popen[str]:
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals open at one instant."""
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals],
                    key=lambda e: (e[0], e[1]))  # At equal times a leave counts before an enter.
    best = open_now = 0
    for _, delta in events:
        open_now += delta
        best = max(best, open_now)
    return best


def test_max_overlap() -> None:
    assert max_overlap([(0, 1), (1, 2)]) == 1
    assert max_overlap([(0, 3), (1, 2), (1.5, 4)]) == 3


@pytest.mark.parametrize("count", [1, 2])
def test_never_more_than_count_holders_across_processes(tmp_path: pathlib.Path, count: int) -> None:
    log, start = tmp_path / "log.jsonl", tmp_path / "start"
    procs = [_python(HOLDER, "gpu", count, log, start, 0.25) for _ in range(6)]
    time.sleep(0.3)  # Let them all start up and wait on the start file.
    start.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    intervals = [(e, x) for _, e, x in map(json.loads, log.read_text().splitlines())]
    assert len(intervals) == 6
    assert max_overlap(intervals) == count  # Never more than count, and the capacity is used.
    assert _token.holders("gpu") == []


def test_a_sigkilled_holder_frees_its_slot(tmp_path: pathlib.Path) -> None:
    ready = tmp_path / "ready"
    code = textwrap.dedent(
        """
        import pathlib, sys, time
        from fexp import _token
        with _token.token("gpu", 1, label="victim"):
            pathlib.Path(sys.argv[1]).touch()
            time.sleep(120)
        """
    )
    victim = _python(code, ready)
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert victim.poll() is None, victim.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    holders = _token.holders("gpu")
    assert [(h.pid, h.label) for h in holders] == [(victim.pid, "victim")]
    claim = _token.Token("gpu", 1)
    assert claim.acquire(blocking=False) is False
    os.kill(victim.pid, signal.SIGKILL)
    victim.communicate(timeout=30)
    with _token.Token("gpu", 1, timeout=10) as claim:  # The kernel dropped the dead one's lock.
        assert claim.held and [h.pid for h in claim.holders()] == [os.getpid()]
    assert _token.holders("gpu") == []


def test_context_manager_threads_and_timeout() -> None:
    inside: list[int] = []
    most = [0]
    lock = threading.Lock()

    def work() -> None:
        with fexp.token("disk", 2):
            with lock:
                inside.append(1)
                most[0] = max(most[0], len(inside))
            time.sleep(0.05)
            with lock:
                inside.pop()

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 2
    with fexp.token("disk", 2), fexp.token("disk", 2):
        with pytest.raises(fexp.LockTimeout, match=r"2 slot\(s\) of token 'disk' stayed taken"):
            fexp.token("disk", 2, timeout=0.1).acquire()


def test_count_is_fixed_per_machine_until_resized() -> None:
    with fexp.token("gpu", 1):
        with pytest.raises(fexp.ConfigError, match="has 1 slot.*count=2") as info:
            fexp.token("gpu", 2).acquire()
        assert info.value.source == "argument count"
        with pytest.raises(fexp.ExperimentStateError, match="in use"):
            _token.Token("gpu", 1).resize(2)
    _token.Token("gpu", 1).resize(2)
    assert _token.known() == {"gpu": 2}
    with fexp.token("gpu", 2), fexp.token("gpu", 2):
        pass


def test_a_token_object_is_not_reentrant() -> None:
    claim = fexp.token("x")
    with claim:
        with pytest.raises(fexp.ExperimentStateError, match="already held"):
            claim.acquire()
    claim.release()  # Releasing twice is harmless.


@pytest.mark.parametrize(
    ("name", "count", "match"),
    [("../etc", 1, "invalid experiment name"), ("gpu", 0, "count must be"),
     ("gpu", True, "count must be"), ("", 1, "empty")],
)
def test_bad_names_and_counts(name: str, count: int, match: str) -> None:
    with pytest.raises(fexp.ConfigError, match=match):
        fexp.token(name, count)


def test_parse_and_render_token_lists() -> None:
    assert _token.parse_tokens("gpu:2, license,") == {"gpu": 2, "license": 1}
    assert _token.render_tokens({"b": 1, "a": 3}) == "a:3,b:1"
    with pytest.raises(fexp.ConfigError) as info:
        _token.parse_tokens("gpu:x, ../a")
    text = str(info.value)
    assert "'gpu:x'" in text and "'../a'" in text  # Every problem at once.


def test_declared_tokens_and_holding() -> None:
    class Plain:
        _tokens = {"gpu": 1}

    assert _token.declared(Plain, {"FEXP_TOKENS": "disk:2"}) == {"gpu": 1, "disk": 2}
    assert _token.declared(object, {}) == {}
    waited: list[int] = []
    first = fexp.token("disk", 2)
    first.acquire()

    def release_later() -> None:
        time.sleep(0.2)
        first.release()

    threading.Thread(target=release_later).start()
    with fexp.token("disk", 2), _token.holding({"disk": 2, "gpu": 1},
                                                on_wait=lambda: waited.append(1)) as held:
        assert [t.name for t in held] == ["disk", "gpu"]  # Name order: no deadlocks.
        assert [h.slot for h in _token.holders("disk")] == [0, 1]
    assert waited == [1]  # Called once, although it had to wait.
    assert _token.holders("disk") == [] and _token.holders("gpu") == []


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    code = "import sys, fexp._cli_parity, fexp._cli as c; sys.argv[0] = 'fexp'; c.main()"
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_cli_token_runs_a_command_holding_a_slot_and_tokens_lists_it() -> None:
    # The command run under the token runs `fexp tokens` and prints what it said.
    probe = ("import subprocess, sys; "
             "print(subprocess.run(sys.argv[1:], capture_output=True, text=True).stdout)")
    tokens = "import fexp._cli_parity, fexp._cli as c; c.main(['tokens'])"
    inner = _cli("token", "gpu", "-c", "1", "--", sys.executable, "-c", probe,
                 sys.executable, "-c", tokens)
    assert inner.returncode == 0, inner.stderr
    assert "gpu\t1/1 held" in inner.stdout and "slot 0" in inner.stdout
    assert _cli("tokens").stdout.startswith("gpu\t0/1 held")
    failing = _cli("token", "gpu", "--", sys.executable, "-c", "raise SystemExit(3)")
    assert failing.returncode == 3
    assert _cli("token", "gpu", "--count", "2").stdout == "token gpu: 2 slot(s)\n"
    assert _token.known() == {"gpu": 2}
    missing = _cli("token", "gpu")
    assert missing.returncode == 2 and "--count N" in missing.stderr
