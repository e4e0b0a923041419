"""The installed ``fexp`` console script, driven in subprocesses through the whole cycle."""

from __future__ import annotations

import csv
import io
import json
import pathlib
import subprocess
import sys
from collections.abc import Callable

from fexp import _yaml

from .conftest import EXAMPLES

Cli = Callable[..., subprocess.CompletedProcess[str]]
HELLO = f"{EXAMPLES / 'hello_world.py'}:hello_world"


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def test_whole_cycle(fexp_cli: Cli, tmp_path: pathlib.Path) -> None:
    root = tmp_path / "sweep"
    assert "registered hello" in ok(fexp_cli("experiments", "add", HELLO, "hello"))
    assert "hello" in ok(fexp_cli("experiments", "list"))
    shown = ok(fexp_cli("experiments", "show", "hello"))
    assert "greeting (str) = Hello  # the word to start with" in shown
    assert "hello" in ok(fexp_cli("--help"))
    assert "--greeting" in ok(fexp_cli("hello", "--help"))

    ok(fexp_cli("init", "hello", "-r", root, "--purpose", "a test sweep"))
    linked = ok(fexp_cli("link", "{greeting: Hi | Yo, times: 1 | 2}", "-r", root))
    assert linked.startswith("linked 4")
    assert ok(fexp_cli("run", "-r", root)).splitlines()[-1] == "ran 4: 4 finished"

    rows = json.loads(ok(fexp_cli("list", "-r", root, "--json")))
    assert sorted(r["name"] for r in rows) == [
        "greeting=Hi__times=1",
        "greeting=Hi__times=2",
        "greeting=Yo__times=1",
        "greeting=Yo__times=2",
    ]
    assert {r["status"] for r in rows} == {"finished"}
    assert {r["messages"]["length"] for r in rows} == {9}

    table = list(
        csv.reader(io.StringIO(ok(fexp_cli("list", "-r", root, "--csv", "-w", "times>1"))))
    )
    assert table[0] == ["name", "status", "created", "greeting", "length"]
    assert [r[0] for r in table[1:]] == ["greeting=Hi__times=2", "greeting=Yo__times=2"]

    ok(fexp_cli("reset", "greeting=Hi*", "-r", root))
    statuses = {
        r["name"]: r["status"] for r in json.loads(ok(fexp_cli("list", "-r", root, "--json")))
    }
    assert statuses["greeting=Hi__times=1"] == "registered"
    assert statuses["greeting=Yo__times=1"] == "finished"

    ok(fexp_cli("note", "looks good", "greeting=Yo*", "-r", root))
    data = _yaml.read_mapping(root / "greeting=Yo__times=1" / "params.yml")
    assert data["_notes"] == ["looks good"]

    ok(fexp_cli("unlink", "greeting=Yo*", "-r", root))
    assert len(json.loads(ok(fexp_cli("list", "-r", root, "--json")))) == 2
    assert (root / "greeting=Yo__times=1").exists()
    assert ok(fexp_cli("clean", "-r", root, "--yes")).strip() == "deleted 2"
    assert not (root / "greeting=Yo__times=1").exists()
    ok(fexp_cli("relink", "-r", root))

    ok(fexp_cli("experiments", "remove", "hello"))
    assert "hello" not in ok(fexp_cli("experiments", "list"))


def test_run_registered_experiment_directly(fexp_cli: Cli, tmp_path: pathlib.Path) -> None:
    ok(fexp_cli("experiments", "add", HELLO, "hello"))
    out = ok(fexp_cli("hello", "--greeting", "Hey", "-r", tmp_path, "-n", "one"))
    assert "Hey World!" in out
    data = _yaml.read_mapping(tmp_path / "one" / "params.yml")
    assert data["_status"] == "finished" and data["greeting"] == "Hey"


def test_execute_and_script_sh(fexp_cli: Cli, tmp_path: pathlib.Path) -> None:
    ok(fexp_cli("init", HELLO, "-r", tmp_path))
    ok(fexp_cli("link", "{to: Bob}", "-r", tmp_path))
    result = subprocess.run(
        [str(tmp_path / "script.sh"), str(tmp_path / "to=Bob" / "params.yml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Hello Bob!" in result.stdout
    # A finished experiment is not silently re-run.
    again = fexp_cli("execute", HELLO, tmp_path / "to=Bob" / "params.yml")
    assert again.returncode == 2 and "already finished" in again.stderr


def test_script_only_set_and_parallel_jobs(fexp_cli: Cli, tmp_path: pathlib.Path) -> None:
    script = tmp_path / "job.sh"
    script.write_text(
        '#!/usr/bin/env bash\nset -eu\ngrep -q "fail: true" "$1" && exit 3\n'
        'echo "ran $1" > "$(dirname "$1")/ran.txt"\n'
    )
    defaults = tmp_path / "defaults.yml"
    defaults.write_text("n: 1\nfail: false\n")
    root = tmp_path / "set"
    ok(fexp_cli("init", "--script", script, "--defaults", defaults, "-r", root))
    ok(fexp_cli("link", "{n: 1 | 2 | 3, fail: false}", "-r", root))
    ok(fexp_cli("link", "{n: 4, fail: true}", "-r", root))
    result = fexp_cli("run", "*", "-r", root, "--jobs", "2")
    assert result.returncode == 1  # one experiment failed
    assert "3 finished" in result.stdout and "1 error" in result.stdout
    assert (root / "n=1__fail=false" / "ran.txt").exists()


def test_python_m_fexp_and_help_of_generated_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fexp", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "link" in result.stdout
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "hello_world.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    for option in (
        "--greeting",
        "--times",
        "--root",
        "--name",
        "--execute",
        "--to-root",
        "--debug",
        "--defaults",
        "--purpose",
    ):
        assert option in result.stdout
    assert "[default: Hello]" in result.stdout


def test_generated_cli_debug_and_to_root(tmp_path: pathlib.Path) -> None:
    script = str(EXAMPLES / "hello_world.py")
    result = subprocess.run(
        [sys.executable, script, "--debug", "--to", "Debug"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "Hello Debug!" in result.stdout
    result = subprocess.run(
        [sys.executable, script, "--to-root", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert (tmp_path / "r" / "script.sh").exists() and (tmp_path / "r" / "defaults.yml").exists()
