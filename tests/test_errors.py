"""Every user error: exit code 2, a clear one-paragraph message, no traceback, set unchanged."""

from __future__ import annotations

import hashlib
import pathlib
import subprocess
from collections.abc import Callable

import pytest

from fexp import _yaml

from .conftest import EXAMPLES

Cli = Callable[..., subprocess.CompletedProcess[str]]
HELLO = f"{EXAMPLES / 'hello_world.py'}:hello_world"


def snapshot(root: pathlib.Path) -> dict[str, str]:
    """Every file under ``root`` (but the lock file) with a hash of its bytes."""
    return {
        str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".fexp.lock"
    }


@pytest.fixture
def sweep_set(tmp_path: pathlib.Path) -> pathlib.Path:
    """A set with two registered experiments, built in-process (the CLI is what is tested)."""
    import fexp
    from fexp import _config

    root = tmp_path / "set"
    xs = fexp.ExperimentSet.init(root, HELLO)
    xs.link("{times: 1 | 2}")
    xs.find()  # settle the row index (link leaves its rows in the index's log) as a user's is
    with _config.editing() as config:
        config["experiments"] = {"hello": {"ref": HELLO, "description": "hello"}}
    (tmp_path / "cycle_a.yml").write_text("parent: cycle_b.yml\ntimes: 1\n")
    (tmp_path / "cycle_b.yml").write_text("parent: cycle_a.yml\n")
    (tmp_path / "unsafe.yml").write_text("times: !!python/object/apply:os.system ['touch pwned']\n")
    (tmp_path / "unknown.yml").write_text("timez: 3\n")
    (tmp_path / "defaults.yml").write_text("a: 1\n")
    return root


# (arguments with {root} and {tmp} placeholders, a regex the message must match)
CASES: list[tuple[list[str], str]] = [
    (["link", "{times: abc}", "-r", "{root}"], r"parameter 'times'.* expects int.*got 'abc'"),
    (["link", "{times: 1.5}", "-r", "{root}"], r"'times'.*expects int.*1\.5"),
    (["link", "{timez: 1}", "-r", "{root}"], r"unknown parameter 'timez'.*did you mean 'times'"),
    (["link", "{times: 1 | }", "-r", "{root}"], r"'times'.*expects int"),
    (["link", "{times: [1, 2}", "-r", "{root}"], r"SWEEP|sweep"),
    (
        ["link", "{times: !!python/object/apply:os.system [touch pwned]}", "-r", "{root}"],
        r"(unsafe|tag)",
    ),
    (["link", "{: 1}", "-r", "{root}"], r"(key|sweep)"),
    (["link", "{times: 1, times: 2}", "-r", "{root}"], r"(duplicate|twice|times)"),
    (["link", "just words", "-r", "{root}"], r"sweep"),
    (["link", "{times: 1}", "-n", "../escape", "-r", "{root}"], r"--name"),
    (["link", "{times: 1}", "-n", "a/b", "-r", "{root}"], r"--name"),
    (["link", "{times: 1}", "-n", "$(touch pwned)", "-r", "{root}"], r"--name"),
    (["link", "{times: 1}", "-n", "", "-r", "{root}"], r"--name"),
    (["link", "{times: 3}", "-x", "0", "-r", "{root}"], r"--repeats"),
    (["link", "-c", "{tmp}/missing.yml", "-r", "{root}"], r"missing\.yml"),
    (["link", "-c", "{tmp}/cycle_a.yml", "-r", "{root}"], r"(cycle|cyclic).*cycle_[ab]\.yml"),
    (["link", "-c", "{tmp}/unsafe.yml", "-r", "{root}"], r"unsafe\.yml"),
    (["link", "-c", "{tmp}/unknown.yml", "-r", "{root}"], r"unknown parameter 'timez'"),
    (["link", "{times: choice(1, 2)}", "-r", "{root}"], r"--samples"),
    (["link", "{times: choice(1, 2)}", "--samples", "0", "-r", "{root}"], r"--samples"),
    (["link", "{times: 1}", "-r", "{tmp}/nowhere"], r"no experiment set"),
    (["run", "-r", "{tmp}/nowhere"], r"no experiment set"),
    (["run", "nomatch*", "-r", "{root}"], r"no experiment .*matches 'nomatch\*'"),
    (["run", "*", "--jobs", "0", "-r", "{root}"], r"--jobs"),
    (["run", "*", "--retries", "-1", "-r", "{root}"], r"--retries"),
    (["run", "*", "--fork", "screen", "-dm", "bash", "-r", "{root}"], r"--fork"),
    (["reset", "*", "--status", "bogus", "-r", "{root}"], r"unknown status 'bogus'"),
    (["list", "-w", "times<<1", "-r", "{root}"], r"times<<1"),
    (["list", "-w", "times>", "-r", "{root}"], r"times>"),
    (["list", "-s", "bogus", "-r", "{root}"], r"status 'bogus'"),
    (["list", "-p", "[", "-r", "{root}"], r"-p"),
    (["list", "--csv", "--json", "-r", "{root}"], r"--csv"),
    (["list", "--show", "colour", "-r", "{root}"], r"--show"),
    (["list", "-r", "{tmp}/nowhere"], r"nowhere"),
    (["init", "nosuch", "-r", "{tmp}/new"], r"no experiment registered as 'nosuch'"),
    (["init", "nomodule_xyz:thing", "-r", "{tmp}/new"], r"module 'nomodule_xyz' not found"),
    (
        ["init", f"{EXAMPLES / 'hello_world.py'}:nothere", "-r", "{tmp}/new"],
        r"no attribute 'nothere'",
    ),
    (["init", HELLO, "-r", "{root}"], r"already exists"),
    (
        [
            "init",
            "--script",
            "{tmp}/missing.sh",
            "--defaults",
            "{tmp}/defaults.yml",
            "-r",
            "{tmp}/new",
        ],
        r"--script",
    ),
    (["init", "--script", "{tmp}/defaults.yml", "-r", "{tmp}/new"], r"--defaults"),
    (["config", "set", "bogus", "1"], r"unknown setting 'bogus'"),
    (["config", "set", "prompt", "maybe"], r"true or false"),
    (["experiments", "add", "not a ref"], r"module:attr"),
    (["experiments", "remove", "nosuch"], r"nosuch"),
    (["experiments", "show", "nosuch"], r"nosuch"),
    (["hello", "--times", "abc", "-r", "{tmp}/direct"], r"--times.*'times'.*expects int"),
    (["hello", "--times", "1", "-n", "../up", "-r", "{tmp}/direct"], r"--name"),
    (["rm", "{tmp}", "--yes"], r"not an experiment set"),
    (["execute", "nomodule_xyz:thing", "{root}/times=1/params.yml"], r"nomodule_xyz"),
]


@pytest.mark.parametrize(("args", "pattern"), CASES, ids=[" ".join(c[0][:3]) for c in CASES])
def test_user_error(
    fexp_cli: Cli, sweep_set: pathlib.Path, tmp_path: pathlib.Path, args: list[str], pattern: str
) -> None:
    import re

    before = snapshot(sweep_set)
    filled = [a.replace("{root}", str(sweep_set)).replace("{tmp}", str(tmp_path)) for a in args]
    result = fexp_cli(*filled, cwd=tmp_path)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert re.search(pattern, result.stderr, re.S), result.stderr
    assert snapshot(sweep_set) == before
    assert not (tmp_path / "pwned").exists()
    assert not (tmp_path / "new").exists() or not any((tmp_path / "new").iterdir())
    assert not (tmp_path / "escape").exists()


def test_unsafe_tag_in_params_yml_is_refused_without_executing(
    fexp_cli: Cli, sweep_set: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    params = sweep_set / "times=1" / "params.yml"
    params.write_text(
        params.read_text() + "evil: !!python/object/apply:os.system ['touch pwned']\n"
    )
    result = fexp_cli("execute", HELLO, params, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "params.yml" in result.stderr and "unsafe" in result.stderr
    assert not (tmp_path / "pwned").exists()


def test_corrupt_experiment_yml_is_a_clear_error(fexp_cli: Cli, sweep_set: pathlib.Path) -> None:
    (sweep_set / "experiment.yml").write_text("experiments: [unclosed\n")
    before = snapshot(sweep_set)
    for args in (["link", "{times: 5}"], ["run"], ["unlink", "*"], ["reset", "*"]):
        result = fexp_cli(*args, "-r", sweep_set)
        assert result.returncode == 2, (args, result.stderr)
        assert "experiment.yml" in result.stderr and "Traceback" not in result.stderr
    assert snapshot(sweep_set) == before


def test_corrupt_params_yml_is_one_corrupt_row(fexp_cli: Cli, sweep_set: pathlib.Path) -> None:
    import json

    (sweep_set / "times=2" / "params.yml").write_text("_status: [broken\n")
    result = fexp_cli("list", "-r", sweep_set, "--json")
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["times=2"]["status"] == "corrupt"
    assert "params.yml" in rows["times=2"]["error"]
    assert rows["times=1"]["status"] == "registered"


HOSTILE = [
    "$(touch pwned)",
    "`touch pwned`",
    "; touch pwned",
    "a'b\"c",
    "../../escape",
    "line\nbreak",
    "-rf",
    ".hidden",
    "| cat",
    "& touch pwned &",
]


def test_hostile_values_are_inert(fexp_cli: Cli, tmp_path: pathlib.Path) -> None:
    """Hostile strings become literal parameter values and safe folder names; nothing runs."""
    root = tmp_path / "hostile"
    assert fexp_cli("init", HELLO, "-r", root).returncode == 0
    for value in HOSTILE:
        quoted = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        result = fexp_cli("link", f'{{to: "{quoted}"}}', "-r", root, cwd=tmp_path)
        assert result.returncode == 0, (value, result.stderr)
    result = fexp_cli("run", "-r", root, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "pwned").exists() and not (root / "pwned").exists()
    # Experiment folders only: the set also keeps its recorded environments/ beside them.
    folders = [p for p in root.iterdir() if (p / "params.yml").exists()]
    assert len(folders) == len(HOSTILE)
    seen = set()
    for folder in folders:
        assert folder.resolve().parent == root.resolve()
        data = _yaml.read_mapping(folder / "params.yml")
        assert data["_status"] == "finished"
        seen.add(data["to"])
        assert f"Hello {data['to']}!" in (folder / "out.txt").read_text()
    assert seen == set(HOSTILE)


def test_resume_changes_nothing_when_the_request_is_wrong(
    fexp_cli: Cli, sweep_set: pathlib.Path
) -> None:
    """`--resume` re-registers interrupted experiments only after every option was checked."""
    assert fexp_cli("reset", "times=1", "--status", "stopped", "-r", sweep_set).returncode == 0
    before = snapshot(sweep_set)
    for args in (["--jobs", "0"], ["--retries", "-1"], ["--fork", "screen", "-dm", "bash"],
                 ["--fork", "--slurm"], ["--slurm", "--time", "bad\ntime"]):
        result = fexp_cli("run", "*", "--resume", *args, "-r", sweep_set)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert snapshot(sweep_set) == before, args
    assert _yaml.read_mapping(sweep_set / "times=1" / "params.yml")["_status"] == "stopped"
