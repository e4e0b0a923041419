"""Bundles (``_bundle``): ``fexp export`` packs a set's selected experiments with a manifest
and the environment; ``fexp import`` unpacks one safely into a new set that runs there."""

from __future__ import annotations

import io
import json
import pathlib
import subprocess
import tarfile
from collections.abc import Callable

import pytest

from fexp import _bundle, _config, _errors, _yaml
from fexp._sets import bundle_members

Cli = Callable[..., subprocess.CompletedProcess[str]]

EXPERIMENT = '''
import fexp
from fexp import Root


@fexp.experiment
def greet(root: Root, who: str = "world", times: int = 1):  # @p who to greet
    """Greet and record the greeting's length."""
    for _ in range(times):
        print(f"hello {who}")
    root.message({"length": len(who) * times})
'''


def _snapshot(root: pathlib.Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def source(fexp_cli: Cli, tmp_path: pathlib.Path) -> pathlib.Path:
    """A set of three experiments (who = a, bb, ccc), made through the CLI."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "greet.py").write_text(EXPERIMENT)
    root = tmp_path / "source set"
    _ok(fexp_cli("init", f"{code / 'greet.py'}:greet", "-r", root))
    _ok(fexp_cli("link", "{who: a | bb | ccc}", "-r", root))
    return root


def _members(bundle: pathlib.Path) -> dict[str, bytes]:
    with tarfile.open(bundle) as tar:
        return {m.name: (tar.extractfile(m) or io.BytesIO()).read() for m in tar.getmembers()
                if m.isfile()}


def test_export_import_and_run_elsewhere(fexp_cli: Cli, source: pathlib.Path,
                                         tmp_path: pathlib.Path) -> None:
    before = _snapshot(source)
    bundle = tmp_path / "bundle.tar.gz"
    proc = _ok(fexp_cli("export", "who=[ab]*", "-o", bundle, "-r", source))
    assert "exported 2 experiment(s)" in proc.stdout
    assert "fexp import bundle.tar.gz DIR" in proc.stdout
    members = _members(bundle)
    assert sorted(members) == sorted([
        "manifest.json", "README.md", "environment/requirements.txt",
        "environment/info.json", "set/script.sh", "set/defaults.yml", "set/experiment.yml",
        "set/who=a/params.yml", "set/who=bb/params.yml"])
    manifest = json.loads(members["manifest.json"])
    assert manifest["experiments"] == ["who=a", "who=bb"]
    assert manifest["format"] == "fexp-bundle" and manifest["fexp"] and manifest["created"]
    assert "fexp import bundle.tar.gz DIR" in members["README.md"].decode()
    assert "--slurm" in members["README.md"].decode()
    assert json.loads(members["environment/info.json"])["python_version"].startswith("3.")
    assert b"==" in members["environment/requirements.txt"] or b" @ " in members[
        "environment/requirements.txt"]
    listed = _yaml.load(members["set/experiment.yml"].decode())
    assert list(listed["experiments"]) == ["who=a", "who=bb"]
    assert members["set/who=a/params.yml"] == (source / "who=a" / "params.yml").read_bytes()

    target = tmp_path / "elsewhere" / "copy"
    proc = _ok(fexp_cli("import", bundle, target))
    assert "imported 2 experiment(s)" in proc.stdout
    assert target.resolve() in [p.resolve() for p in _config.known_sets()]
    assert (target / "generated" / "bundle" / "manifest.json").is_file()
    assert (target / "generated" / "bundle" / "environment" / "requirements.txt").is_file()
    for name in ("who=a", "who=bb"):
        data = _yaml.read_mapping(target / name / "params.yml")
        assert data["_root"] == str(target.absolute()) and data["_name"] == name
    assert _yaml.read_mapping(target / "experiment.yml")["root"] == str(target.absolute())
    assert "fexp execute" in (target / "script.sh").read_text()
    _ok(fexp_cli("run", "*", "-r", target))
    for name, length in (("who=a", 1), ("who=bb", 2)):
        data = _yaml.read_mapping(target / name / "params.yml")
        assert data["_status"] == "finished" and data["_messages"]["length"] == length
        assert f"hello {name[4:]}" in (target / name / "out.txt").read_text()
    assert not (target / "who=ccc").exists()
    assert _snapshot(source) == before  # export and the run elsewhere left the source alone


def test_experiments_that_ran_are_registered_again(fexp_cli: Cli, source: pathlib.Path,
                                                   tmp_path: pathlib.Path) -> None:
    _ok(fexp_cli("run", "who=a", "-r", source))
    bundle = tmp_path / "b.tar.gz"
    proc = _ok(fexp_cli("export", "*", "-o", bundle, "-r", source))
    assert "1 of them had run already; the bundle registers them again" in proc.stdout
    members = _members(bundle)
    assert json.loads(members["manifest.json"])["statuses"]["who=a"] == "finished"
    data = _yaml.load(members["set/who=a/params.yml"].decode())
    assert data["_status"] == "registered" and data["_started"] is None
    assert "_attempts" not in data and not data["_messages"] and data["who"] == "a"
    assert "# who to greet" in members["set/who=a/params.yml"].decode()


def test_a_dirty_git_tree_ships_its_diff(fexp_cli: Cli, tmp_path: pathlib.Path) -> None:
    code = tmp_path / "repo"
    code.mkdir()
    (code / "greet.py").write_text(EXPERIMENT)
    git = ["git", "-C", str(code), "-c", "user.name=t", "-c", "user.email=t@t"]
    for args in (["init", "-q"], ["add", "greet.py"], ["commit", "-qm", "first"]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    root = tmp_path / "set"
    _ok(fexp_cli("init", f"{code / 'greet.py'}:greet", "-r", root))
    _ok(fexp_cli("link", "{times: 2}", "-r", root))
    (code / "greet.py").write_text(EXPERIMENT + "# a local change\n")
    bundle = tmp_path / "b.tar.gz"
    _ok(fexp_cli("export", "*", "-o", bundle, "-r", root))
    members = _members(bundle)
    info = json.loads(members["environment/info.json"])
    assert info["git"]["dirty"] is True and info["git"]["commit"]
    assert b"+# a local change" in members["environment/git.diff"]


def _tar(path: pathlib.Path, *members: tuple[tarfile.TarInfo, bytes]) -> pathlib.Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


def _hostile(tmp_path: pathlib.Path, *members: tuple[tarfile.TarInfo, bytes]) -> pathlib.Path:
    return _tar(tmp_path / "hostile.tar.gz", (_member("manifest.json"), b"{}"), *members)


def _text_file(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "x.tar.gz"
    path.write_text("hello, not a tar")
    return path


BAD_BUNDLES: dict[str, tuple[Callable[[pathlib.Path], pathlib.Path], str]] = {
    "missing": (lambda t: t / "nope.tar.gz", "no such file"),
    "not a tar": (_text_file, "not a readable tar archive"),
    "absolute": (lambda t: _hostile(t, (_member("/tmp/evil"), b"x")), "has an absolute path"),
    "dotdot": (lambda t: _hostile(t, (_member("set/../../evil"), b"x")),
               "points outside the bundle"),
    "symlink": (lambda t: _hostile(t, (_member("set/link", tarfile.SYMTYPE, "/etc"), b"")),
                "is a link"),
    "hardlink": (lambda t: _hostile(t, (_member("set/hard", tarfile.LNKTYPE, "manifest.json"),
                                        b"")), "is a link"),
    "device": (lambda t: _hostile(t, (_member("set/dev", tarfile.CHRTYPE), b"")),
               "is a device or special file"),
    "fifo": (lambda t: _hostile(t, (_member("set/fifo", tarfile.FIFOTYPE), b"")),
             "is a device or special file"),
    "stranger": (lambda t: _hostile(t, (_member("other.txt"), b"x")),
                 "is not part of an fexp bundle"),
    "no manifest": (lambda t: _tar(t / "plain.tar.gz", (_member("set/script.sh"), b"x")),
                    "no valid manifest.json"),
}


@pytest.mark.parametrize("case", sorted(BAD_BUNDLES))
def test_bad_bundles_exit_2_and_write_nothing(fexp_cli: Cli, tmp_path: pathlib.Path,
                                              case: str) -> None:
    make, message = BAD_BUNDLES[case]
    bundle = make(tmp_path)
    target = tmp_path / "out" / "target"
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = fexp_cli("import", bundle, target)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert message in proc.stderr and str(bundle) in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not list(tmp_path.rglob("evil")) and not (tmp_path / "out").exists()


def test_import_refuses_a_non_empty_target_and_bad_yaml(fexp_cli: Cli, source: pathlib.Path,
                                                         tmp_path: pathlib.Path) -> None:
    bundle = tmp_path / "b.tar.gz"
    _ok(fexp_cli("export", "*", "-o", bundle, "-r", source))
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    proc = fexp_cli("import", bundle, busy)
    assert proc.returncode == 2 and "is not an empty folder" in proc.stderr
    assert str(busy) in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p.name for p in busy.iterdir()) == ["keep.txt"]
    members = _members(bundle)
    members["set/who=a/params.yml"] = b"_status: [unclosed\n"
    broken = _tar(tmp_path / "broken.tar.gz",
                  *((_member(name), data) for name, data in members.items()))
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = fexp_cli("import", broken, empty)
    assert proc.returncode == 2 and "set/who=a/params.yml is not valid YAML" in proc.stderr
    assert list(empty.iterdir()) == []


def test_import_into_an_existing_empty_folder(source: pathlib.Path,
                                              tmp_path: pathlib.Path) -> None:
    from fexp import _expset

    bundle = tmp_path / "b.tar.gz"
    _bundle.export(_expset.ExperimentSet(source), "who=a", bundle)
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _bundle.import_bundle(bundle, empty)
    assert result.names == ["who=a"] and result.root == empty.absolute()
    assert (empty / "script.sh").stat().st_mode & 0o111
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".fexp-import-")]


def test_export_errors_exit_2(fexp_cli: Cli, source: pathlib.Path, tmp_path: pathlib.Path
                              ) -> None:
    cases = [
        (("export", "*", "-o", tmp_path / "no" / "b.tar.gz", "-r", source),
         "its folder does not exist"),
        (("export", "zzz*", "-o", tmp_path / "b.tar.gz", "-r", source),
         "no experiment in the set matches 'zzz*'"),
        (("export", "*", "-o", tmp_path / "b.tar.gz", "-r", tmp_path / "none"),
         "no experiment set here"),
    ]
    for args, message in cases:
        proc = fexp_cli(*args)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "b.tar.gz").exists()


def test_check_member_rejects_unsafe_names(tmp_path: pathlib.Path) -> None:
    for name in ("/abs", "a/../../b", "set\\..\\x", ""):
        with pytest.raises(_errors.ConfigError):
            bundle_members.check_member(tmp_path / "b", _member(name))
    assert str(bundle_members.check_member(tmp_path / "b", _member("./set/x/params.yml"))) == \
        "set/x/params.yml"
