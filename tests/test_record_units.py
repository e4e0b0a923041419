"""Issue 17, in-process: the pure comparison (``_core.record_diff``), reading git's files
without git, the package listing against ``importlib.metadata``, the snapshot caches, and the
GPU and CUDA records (no GPU here: a fake driver folder and a fake ``torch`` module)."""

from __future__ import annotations

import pathlib
import sys
import types
from importlib import metadata

import pytest

from fexp import _environment, _environment_code
from fexp._core import record_diff
from fexp._store import environment_files

from .test_meta import _git as git


def _committed(tmp_path: pathlib.Path, files: dict[str, str]) -> pathlib.Path:
    """A repository with ``files`` committed."""
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    for name, text in files.items():
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "one")
    return repo


def test_compare_names_every_kind_of_difference() -> None:
    a = record_diff.Record(
        "a",
        {"lr": 0.1, "x": 1},
        {"git": {"commit": "c1", "dirty": False}, "env": "e1"},
        {"host": "h1", "user": "u"},
        diff=None,
        packages={"numpy": "1.0", "old": "1"},
    )
    b = record_diff.Record(
        "b",
        {"lr": 0.2, "y": 2},
        {"git": {"commit": "c2", "dirty": True, "diff": "d"}, "env": "e2"},
        {"host": "h2", "user": "u"},
        diff="diff --git a/f.py b/f.py\n+1\n",
        packages={"numpy": "2.0", "new": "3"},
    )
    diff = record_diff.compare(a, b)
    assert [(c.key, c.a, c.b) for c in diff.params] == [
        ("lr", 0.1, 0.2),
        ("x", 1, record_diff.MISSING),
        ("y", record_diff.MISSING, 2),
    ]
    assert {c.key for c in diff.code} == {"commit", "dirty", "diff"}
    assert diff.patched == ["f.py"]
    assert diff.packages is not None
    assert diff.packages.changed == {"numpy": ("1.0", "2.0")}
    assert diff.packages.added == {"new": "3"} and diff.packages.removed == {"old": "1"}
    assert [c.key for c in diff.host] == ["host"]
    assert not record_diff.compare(a, a)


def test_patched_files_compares_each_file_section() -> None:
    one = "# header\ndiff --git a/x.py b/x.py\n+a\ndiff --git a/y.py b/y.py\n+b\n"
    two = "diff --git a/x.py b/x.py\n+a\ndiff --git a/y.py b/y.py\n+c\n"
    assert record_diff.patched_files(one, two) == ["y.py"]
    assert record_diff.patched_files(None, two) == ["x.py", "y.py"]


def test_environment_file_reader_refuses_unsafe_hashes(tmp_path: pathlib.Path) -> None:
    environment_files.write_environment(tmp_path, "0123456789abcdef", "# py\nnumpy==1\n")
    assert environment_files.read_environment(tmp_path, "0123456789abcdef") == "# py\nnumpy==1\n"
    for bad in ("../../etc/passwd", "/etc/passwd", "0123456789ABCDEF", 12, None, "abc"):
        assert environment_files.read_environment(tmp_path, bad) is None
    with pytest.raises(ValueError):
        environment_files.write_environment(tmp_path, "../x", "")


def test_installed_packages_agree_with_importlib_metadata() -> None:
    expected: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"].lower().replace("_", "-").replace(".", "-")
        expected.setdefault(name, dist.version)
    assert _environment.installed_packages() == expected


def test_package_cache_follows_an_install(tmp_path: pathlib.Path) -> None:
    site = tmp_path / "site-packages"
    site.mkdir()
    sys.path.append(str(site))
    try:
        before = _environment.environment_snapshot(tmp_path / "cache")
        (site / "brand_new-1.2.dist-info").mkdir()
        after = _environment.environment_snapshot(tmp_path / "cache")
    finally:
        sys.path.remove(str(site))
    assert "brand-new" not in before.packages and after.packages["brand-new"] == "1.2"
    assert before.hash != after.hash


def test_git_state_read_from_files_matches_git(tmp_path: pathlib.Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    assert _environment_code.head_state(repo / ".git", repo / ".git") == ("main", None)
    (repo / "f.py").write_text("x = 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "one")
    git(repo, "remote", "add", "up", "https://example.org/up.git")
    git(repo, "remote", "add", "origin", "git@example.org:o.git")
    commit = git(repo, "rev-parse", "HEAD").strip()
    dot = repo / ".git"
    assert _environment_code.head_state(dot, dot) == ("main", commit)
    assert _environment_code.config_remote(dot) == "git@example.org:o.git"
    git(repo, "pack-refs", "--all")
    assert not (dot / "refs" / "heads" / "main").exists()
    assert _environment_code.head_state(dot, dot) == ("main", commit)
    git(repo, "checkout", "-q", "--detach")
    assert _environment_code.head_state(dot, dot) == (None, commit)
    worktree = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "side", str(worktree))
    dirs = _environment_code.git_dirs(worktree / "f.py")
    assert dirs is not None and dirs[0] == worktree and dirs[2] == dot.resolve()
    assert _environment_code.head_state(dirs[1], dirs[2]) == ("side", commit)
    snapshot = _environment_code.code_snapshot(worktree / "f.py")
    assert snapshot is not None and snapshot.branch == "side" and not snapshot.dirty


def test_a_file_changed_while_git_runs_is_not_cached(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _committed(tmp_path, {"f.py": "x = 1\n"})
    cache = tmp_path / "cache"
    (repo / "f.py").write_text("x = 2\n")  # just now: racy, git may not have seen it
    monkeypatch.setattr(_environment_code, "_RACY_NS", 10**12)
    assert _environment_code.code_snapshot(repo / "f.py", cache) is not None
    assert not cache.exists()
    monkeypatch.setattr(_environment_code, "_RACY_NS", 0)
    assert _environment_code.code_snapshot(repo / "f.py", cache) is not None
    assert len(list(cache.iterdir())) == 1


def test_visible_gpus_from_a_fake_driver_folder(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No GPU on this machine: a folder laid out like /proc/driver/nvidia stands in for it."""
    for index, model in enumerate(["NVIDIA A100-SXM4-40GB", "NVIDIA T4"]):
        folder = tmp_path / "gpus" / f"0000:0{index}:00.0"
        folder.mkdir(parents=True)
        (folder / "information").write_text(f"Model: \t {model}\nIRQ: 1\n")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert _environment.visible_gpus(tmp_path) == ["NVIDIA A100-SXM4-40GB", "NVIDIA T4"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert _environment.visible_gpus(tmp_path) == ["NVIDIA T4"]
    assert _environment.visible_gpus(tmp_path / "absent") == []


def test_cuda_version_only_from_an_imported_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fake ``torch`` module (no CUDA build here) says which CUDA it was built with."""
    text = "# python\nnumpy==2.0\ntorch==2.3.0+cu121\n"
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert _environment.accelerator_versions(text) == {"numpy": "2.0", "torch": "2.3.0+cu121"}
    fake = types.ModuleType("torch")
    fake.version = types.SimpleNamespace(cuda="12.1")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", fake)
    assert _environment.accelerator_versions(text)["cuda"] == "12.1"


def test_an_edit_only_asks_git_for_the_diff(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lists of files are cached apart from the diff: after an edit that adds or removes
    no file, one git process (the diff, still without the force-added ignored file)."""
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / ".gitignore").write_text("*.log\n")
    (repo / "f.py").write_text("x = 1\n")
    (repo / "forced.log").write_text("a\n")
    git(repo, "add", "-A")
    git(repo, "add", "-f", "forced.log")
    git(repo, "commit", "-qm", "one")
    monkeypatch.setattr(_environment_code, "_RACY_NS", -(10**12))  # cache despite fresh edits
    asked: list[list[str]] = []
    real = _environment_code._meta.run_git_commands

    def counting(folder: str, commands: dict[str, list[str]]) -> object:
        asked.append(sorted(commands))
        return real(folder, commands)

    monkeypatch.setattr(_environment_code._meta, "run_git_commands", counting)
    cache = tmp_path / "cache"
    first = _environment_code.code_snapshot(repo / "f.py", cache)
    assert first is not None and not first.dirty and asked == [["diff", "files", "ignored"]]
    (repo / "f.py").write_text("x = 2\n")
    (repo / "forced.log").write_text("secret\n")
    second = _environment_code.code_snapshot(repo / "f.py", cache)
    assert asked[1:] == [["diff"]]
    assert second is not None and second.dirty
    assert b"+x = 2" in second.diff and b"secret" not in second.diff
    assert _environment_code.code_snapshot(repo / "f.py", cache) == second
    assert len(asked) == 2  # unchanged tree: no git at all


def test_a_large_tree_asks_git_for_the_diff_instead_of_a_stat_per_file(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _committed(tmp_path, dict.fromkeys(("a.py", "b.py", "c.py"), "x = 1\n"))
    monkeypatch.setattr(_environment_code, "_RACY_NS", -(10**12))
    monkeypatch.setattr(_environment_code, "STAT_LIMIT", 2)  # "large": more than 2 files
    cache = tmp_path / "cache"
    assert _environment_code.code_snapshot(repo / "a.py", cache) is not None
    (repo / "b.py").write_text("x = 2\n")  # not detectable without a stat: git is asked
    edited = _environment_code.code_snapshot(repo / "a.py", cache)
    assert edited is not None and b"+x = 2" in edited.diff
