"""Issue 17: every run records its code (git.diff), environment (environments/<hash>.txt) and
command; ``fexp show``, ``fexp diff`` and ``fexp rerun`` use the record. Through the installed
``fexp`` in subprocesses, in real temporary git repositories."""

from __future__ import annotations

import hashlib
import os
import pathlib
import subprocess
from collections.abc import Callable

import pytest

from fexp import _yaml

from .test_meta import _git as git

Cli = Callable[..., subprocess.CompletedProcess[str]]

EXPERIMENT = '''
import fexp
from fexp import Root


@fexp.experiment
def probe(root: Root, a: int = 1, b: float = 0.5):  # @p a number
    """Message a and b."""
    root.message({"a": a, "b": b})
    print(f"final a={a}")
'''


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def refused(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in proc.stderr, proc.stderr
    return proc.stderr


@pytest.fixture
def repo(tmp_path: pathlib.Path) -> pathlib.Path:
    """A git repository holding probe.py and lib.py (committed), runs/ ignored."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "probe.py").write_text(EXPERIMENT)
    (repo / "lib.py").write_text("VALUE = 1\n")
    (repo / ".gitignore").write_text("runs/\nsecrets.py\n*.log\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    return repo


@pytest.fixture
def sweep(fexp_cli: Cli, repo: pathlib.Path) -> pathlib.Path:
    root = repo / "runs" / "s"
    ok(fexp_cli("init", f"{repo / 'probe.py'}:probe", "-r", root))
    ok(fexp_cli("link", "{a: 1 | 2}", "-r", root))
    return root


def params(folder: pathlib.Path) -> dict:
    return _yaml.read_mapping(folder / "params.yml")


def test_dirty_run_records_diff_environment_and_command(
    fexp_cli: Cli, repo: pathlib.Path, sweep: pathlib.Path
) -> None:
    (repo / "lib.py").write_text("VALUE = 2  # edited\n")
    (repo / "new_module.py").write_text("X = 1\n")  # untracked source: listed, not diffed
    (repo / "secrets.py").write_text("TOKEN = 'hunter2'\n")  # ignored: never recorded
    (repo / "notes.log").write_text("ignored too\n")
    (repo / "forced.log").write_text("old\n")
    git(repo, "add", "-f", "forced.log")
    git(repo, "commit", "-qm", "force-add an ignored file")
    (repo / "forced.log").write_text("tracked but ignored: hunter2\n")
    ok(fexp_cli("run", "a=1", "-r", sweep, cwd=repo))
    folder = sweep / "a=1"
    diff = (folder / "git.diff").read_bytes()
    assert b"+VALUE = 2  # edited" in diff and b"diff --git a/lib.py b/lib.py" in diff
    assert b"#   new_module.py" in diff
    assert b"hunter2" not in diff and b"secrets.py" not in diff and b"notes.log" not in diff
    data = params(folder)
    version, meta = data["_version"], data["_meta"]
    assert version["git"]["dirty"] is True
    assert version["git"]["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert version["git"]["diff"] == hashlib.sha256(diff).hexdigest()[:16]
    env_file = sweep / "environments" / f"{version['env']}.txt"
    packages = env_file.read_text().splitlines()
    assert hashlib.sha256(env_file.read_bytes()).hexdigest()[:16] == version["env"]
    assert any(line.startswith("fexp==") for line in packages)
    assert any(line.startswith("numpy==") for line in packages)
    assert version["numpy"] == next(p for p in packages if p.startswith("numpy=="))[7:]
    assert "execute" in meta["command"] and str(folder / "params.yml") in meta["command"]
    assert meta["cwd"] == str(repo)
    assert "env" not in meta
    assert "hunter2" not in (folder / "params.yml").read_text()


def test_git_apply_accepts_the_recorded_diff(
    fexp_cli: Cli, repo: pathlib.Path, sweep: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    (repo / "lib.py").write_text("VALUE = 3\n")
    (repo / "extra.py").write_text("Y = 1\n")
    ok(fexp_cli("run", "a=1", "-r", sweep))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    git(clone, "apply", str(sweep / "a=1" / "git.diff"))
    assert (clone / "lib.py").read_text() == "VALUE = 3\n"


def test_clean_tree_writes_no_diff_and_drops_an_old_one(
    fexp_cli: Cli, repo: pathlib.Path, sweep: pathlib.Path
) -> None:
    (repo / "lib.py").write_text("VALUE = 2\n")
    ok(fexp_cli("run", "a=1", "-r", sweep))
    assert (sweep / "a=1" / "git.diff").exists()
    git(repo, "commit", "-qam", "two")
    ok(fexp_cli("reset", "a=1", "-r", sweep))
    ok(fexp_cli("run", "a=1", "-r", sweep))
    assert not (sweep / "a=1" / "git.diff").exists()
    git_record = params(sweep / "a=1")["_version"]["git"]
    assert git_record["dirty"] is False and "diff" not in git_record


def test_cache_follows_edits_between_runs_of_a_sweep(
    fexp_cli: Cli, repo: pathlib.Path, sweep: pathlib.Path
) -> None:
    """The snapshot is cached by the tree's identity: an edit, even of the same size and in
    a file that was clean, or a new untracked file, shows in the next run."""
    (repo / "lib.py").write_text("VALUE = 2\n")
    ok(fexp_cli("run", "a=1", "-r", sweep, "--fork"))
    first = (sweep / "a=1" / "git.diff").read_text()
    assert "VALUE = 2" in first
    (repo / "lib.py").write_text("VALUE = 7\n")  # same size as before
    (repo / "probe.py").write_text(EXPERIMENT + "\n# edited\n")  # was clean
    (repo / "later.py").write_text("Z = 1\n")
    ok(fexp_cli("run", "a=2", "-r", sweep, "--fork"))
    second = (sweep / "a=2" / "git.diff").read_text()
    assert "VALUE = 7" in second and "+# edited" in second and "#   later.py" in second
    assert params(sweep / "a=1")["_version"]["env"] == params(sweep / "a=2")["_version"]["env"]
    assert len(list((sweep / "environments").iterdir())) == 1


def test_record_env_names_the_only_variables_recorded(
    fexp_cli: Cli, sweep: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(fexp_cli("config", "set", "record_env", "[FEXP_T_SHOWN, FEXP_T_UNSET]"))
    monkeypatch.setenv("FEXP_T_SHOWN", "visible")
    monkeypatch.setenv("FEXP_T_HIDDEN", "s3cret-value")
    ok(fexp_cli("run", "a=1", "-r", sweep))
    assert params(sweep / "a=1")["_meta"]["env"] == {"FEXP_T_SHOWN": "visible"}
    for path in sweep.rglob("*"):
        if path.is_file():
            assert b"s3cret-value" not in path.read_bytes(), path
    refused(fexp_cli("config", "set", "record_env", "[ok, 'not a name']"), "record_env")


def test_show_prints_the_whole_record(
    fexp_cli: Cli, repo: pathlib.Path, sweep: pathlib.Path
) -> None:
    (repo / "lib.py").write_text("VALUE = 2\n")
    ok(fexp_cli("run", "a=2", "-r", sweep))
    out = ok(fexp_cli("show", "a=2", "-r", sweep)).stdout
    env = params(sweep / "a=2")["_version"]["env"]
    for expected in (
        "a=2  (finished)",
        "parameters:",
        "  a: 2",
        "timeline:",
        "attempt 1",
        "versions:",
        str(sweep / "a=2" / "git.diff"),
        "lib.py",
        str(sweep / "environments" / f"{env}.txt"),
        "command ",
        "execute",
        "cwd ",
        "messages:",
    ):
        assert expected in out, (expected, out)
    same = ok(fexp_cli("show", str(sweep / "a=2"))).stdout  # a folder works from anywhere
    assert same == out
    refused(fexp_cli("show", "a=3", "-r", sweep), "argument EXP", "a=3")


def test_diff_names_params_code_packages_and_host(
    fexp_cli: Cli, repo: pathlib.Path, sweep: pathlib.Path
) -> None:
    ok(fexp_cli("run", "a=1", "-r", sweep))
    (repo / "lib.py").write_text("VALUE = 2\n")
    ok(fexp_cli("run", "a=2", "-r", sweep))
    # B's environment as another machine would have recorded it (numpy changed, one added).
    env_b = params(sweep / "a=2")["_version"]["env"]
    lines = (sweep / "environments" / f"{env_b}.txt").read_text().splitlines()
    numpy = next(line for line in lines if line.startswith("numpy=="))
    other = [("numpy==0.0.1" if line == numpy else line) for line in lines] + ["zzz-extra==9"]
    text = "\n".join(other) + "\n"
    other_hash = hashlib.sha256(text.encode()).hexdigest()[:16]
    (sweep / "environments" / f"{other_hash}.txt").write_text(text)
    path = sweep / "a=2" / "params.yml"
    path.write_text(path.read_text().replace(env_b, other_hash).replace("host: ", "host: other-"))
    out = ok(fexp_cli("diff", "a=1", "a=2", "-r", sweep)).stdout
    assert "  a: 1 -> 2" in out
    assert "  dirty: False -> True" in out and "changes differ in: lib.py" in out
    assert f"changed  numpy {numpy[7:]} -> 0.0.1" in out and "added    zzz-extra 9" in out
    assert "host:" in out and "-> other-" in out
    same = ok(fexp_cli("diff", "a=1", "a=1", "-r", sweep)).stdout
    assert "recorded the same" in same


def test_show_and_diff_never_follow_an_unsafe_environment_hash(
    fexp_cli: Cli, sweep: pathlib.Path
) -> None:
    ok(fexp_cli("run", "a=1", "-r", sweep))
    path = sweep / "a=1" / "params.yml"
    env = params(sweep / "a=1")["_version"]["env"]
    path.write_text(path.read_text().replace(f'env: "{env}"', 'env: "../../../etc/passwd"'))
    out = ok(fexp_cli("show", "a=1", "-r", sweep)).stdout
    assert "no environment file in the set" in out and "root:" not in out


def test_rerun_registers_same_or_changed_params_and_warns_about_drift(
    fexp_cli: Cli, repo: pathlib.Path, sweep: pathlib.Path
) -> None:
    ok(fexp_cli("run", "a=2", "-r", sweep))
    same = ok(fexp_cli("rerun", "a=2", "-r", sweep))
    assert "warning" not in same.stderr
    assert "registered a=2_1" in same.stdout
    assert params(sweep / "a=2_1")["a"] == 2
    assert params(sweep / "a=2_1")["_purpose"] == "rerun of a=2"
    changed = ok(fexp_cli("rerun", "a=2", "-r", sweep, "--b", "0.25"))
    (new,) = [n for n in os.listdir(sweep) if "b=0.25" in n]
    assert f"registered {new}" in changed.stdout and params(sweep / new)["a"] == 2
    assert params(sweep / new)["b"] == 0.25
    # The code moves on, and the recorded environment was another one.
    (repo / "lib.py").write_text("VALUE = 5\n")
    git(repo, "commit", "-qam", "move on")
    env = params(sweep / "a=2")["_version"]["env"]
    text = (sweep / "environments" / f"{env}.txt").read_text() + "gone-package==1.0\n"
    other = hashlib.sha256(text.encode()).hexdigest()[:16]
    (sweep / "environments" / f"{other}.txt").write_text(text)
    path = sweep / "a=2" / "params.yml"
    path.write_text(path.read_text().replace(env, other))
    warned = ok(fexp_cli("rerun", "a=2", "-r", sweep, "-n", "again"))
    assert "warning: the code differs from a=2's: commit" in warned.stderr
    assert "warning: the environment of this interpreter differs from a=2's: " in warned.stderr
    assert "removed gone-package 1.0" in warned.stderr
    assert (sweep / "again" / "params.yml").exists()
    refused(fexp_cli("rerun", "a=2", "-r", sweep, "--c", "1"), "'c'")
    refused(fexp_cli("rerun", "a=2", "-r", sweep, "--a", "x"), "a")
    refused(fexp_cli("rerun", "a=2", "-r", sweep, "--a"), "--a needs a value")
    assert sorted(os.listdir(sweep)).count("a=2_2") == 0  # nothing half-registered
