"""Tests for fexp._meta: git, versions, host/SLURM metadata, get_meta groups, timestamps."""

from __future__ import annotations

import datetime
import os
import pathlib
import platform
import re
import subprocess
import sys
import types
from typing import Any

import pytest

from fexp import _meta


@pytest.fixture
def git_env(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    """Isolate git from the user's config and stop it from finding repos above tmp_path."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent.resolve()))
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name, raising=False)


def _git(repo: pathlib.Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Ada", "-c", "user.email=ada@example.org", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: pathlib.Path, git_env: None) -> pathlib.Path:
    path = tmp_path / "my repo"
    path.mkdir()
    _git(path, "init", "-q", "-b", "main")
    (path / "train.py").write_text("x = 1\n")
    (path / "sub").mkdir()
    _git(path, "add", "train.py")
    _git(path, "commit", "-q", "-m", "first")
    return path


# --------------------------------------------------------------------------- git


def _info(path: pathlib.Path, *, refresh: bool = True) -> dict[str, Any]:
    info = _meta.git_info(path, refresh=refresh)
    assert info is not None
    return info


def test_git_info_clean_repo(repo: pathlib.Path) -> None:
    info = _meta.git_info(repo)
    assert info == {
        "repo": str(repo.resolve()),
        "branch": "main",
        "remote": None,
        "commit": _git(repo, "rev-parse", "HEAD"),
        "dirty": False,
    }


def test_git_info_from_a_subfolder_or_a_file(repo: pathlib.Path) -> None:
    for where in (repo / "sub", repo / "train.py"):
        info = _meta.git_info(where)
        assert info is not None
        assert info["repo"] == str(repo.resolve())


def test_git_info_dirty_after_editing_a_tracked_file(repo: pathlib.Path) -> None:
    assert _info(repo)["dirty"] is False
    (repo / "untracked.txt").write_text("new")
    assert _info(repo)["dirty"] is False
    (repo / "train.py").write_text("x = 2\n")
    assert _info(repo, refresh=False)["dirty"] is False, "cached within the process"
    assert _info(repo)["dirty"] is True


def test_git_info_branch_and_detached_head(repo: pathlib.Path) -> None:
    _git(repo, "checkout", "-q", "-b", "feature/x")
    assert _info(repo)["branch"] == "feature/x"
    _git(repo, "checkout", "-q", "--detach")
    info = _meta.git_info(repo, refresh=True)
    assert info is not None
    assert info["branch"] is None
    assert info["commit"] == _git(repo, "rev-parse", "HEAD")


def test_git_info_remote_prefers_origin(repo: pathlib.Path) -> None:
    _git(repo, "remote", "add", "upstream", "https://example.org/up.git")
    assert _info(repo)["remote"] == "https://example.org/up.git"
    _git(repo, "remote", "add", "origin", "git@example.org:ada/repo.git")
    assert _info(repo)["remote"] == "git@example.org:ada/repo.git"


def test_git_info_before_the_first_commit(tmp_path: pathlib.Path, git_env: None) -> None:
    _git(tmp_path, "init", "-q", "-b", "main")
    assert _meta.git_info(tmp_path) == {
        "repo": str(tmp_path.resolve()),
        "branch": "main",
        "remote": None,
        "commit": None,
        "dirty": False,
    }


def test_git_info_outside_a_repo(tmp_path: pathlib.Path, git_env: None) -> None:
    assert _meta.git_info(tmp_path) is None
    assert _meta.git_info(tmp_path / "missing" / "file.py") is None


def test_git_info_without_git(
    repo: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert _meta.git_info(repo, refresh=True) is None


def test_git_info_returns_copies(repo: pathlib.Path) -> None:
    info = _meta.git_info(repo)
    assert info is not None
    info["dirty"] = "changed"
    assert _info(repo, refresh=False)["dirty"] is False


def test_parse_git_status() -> None:
    text = "# branch.oid (initial)\n# branch.head (detached)\n"
    assert _meta.parse_git_status(text) == {"branch": None, "commit": None, "dirty": False}
    text = "# branch.oid abc\n# branch.head dev\n# branch.upstream origin/dev\n1 .M N... x\n"
    assert _meta.parse_git_status(text) == {"branch": "dev", "commit": "abc", "dirty": True}


def test_parse_git_remotes() -> None:
    assert _meta.parse_git_remotes("") is None
    assert _meta.parse_git_remotes("remote.b.url B\nremote.a.url A\n") == "B"
    assert _meta.parse_git_remotes("remote.b.url B\nremote.origin.url O\n") == "O"


# --------------------------------------------------------------------------- versions


def test_version_info_function_with_git(repo: pathlib.Path) -> None:
    info = _meta.version_info(module="train", function="train", path=repo / "train.py")
    assert list(info) == ["module", "function", "python", "fexp", "git"]
    assert info["python"] == platform.python_version()
    assert isinstance(info["fexp"], str) and info["fexp"]
    assert info["git"]["repo"] == str(repo.resolve())


def test_version_info_class_outside_git(tmp_path: pathlib.Path, git_env: None) -> None:
    info = _meta.version_info(module="m", cls="HelloWorld", path=tmp_path)
    assert list(info) == ["module", "class", "python", "fexp"]
    assert info["class"] == "HelloWorld"


def test_version_info_finds_the_module_file(
    repo: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = types.ModuleType("fexp_test_train")
    module.__file__ = str(repo / "train.py")
    monkeypatch.setitem(sys.modules, "fexp_test_train", module)
    info = _meta.version_info(module="fexp_test_train", function="train")
    assert info["git"]["commit"] == _git(repo, "rev-parse", "HEAD")


def test_version_info_rejects_function_and_class() -> None:
    with pytest.raises(ValueError, match="either"):
        _meta.version_info(module="m", function="f", cls="C")


def test_fexp_version_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    def missing(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    _meta.fexp_version.cache_clear()
    try:
        assert _meta.fexp_version() == "0+unknown"
    finally:
        _meta.fexp_version.cache_clear()


# --------------------------------------------------------------------------- run_meta, slurm


def test_run_meta_outside_slurm() -> None:
    meta = _meta.run_meta()
    assert list(meta) == ["host", "user", "platform", "pid", "python"]
    assert meta["pid"] == os.getpid()
    assert meta["python"] == sys.executable


def test_run_meta_under_slurm(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "SLURM_JOB_ID": "1235",
        "SLURM_ARRAY_JOB_ID": "1234",
        "SLURM_ARRAY_TASK_ID": "1",
        "SLURMD_NODENAME": "node01",
        "SLURM_RESTART_COUNT": "2",
        "SLURM_JOB_PARTITION": "gpu",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert _meta.run_meta()["slurm"] == {
        "job_id": "1235",
        "array_job_id": "1234",
        "array_task_id": 1,
        "partition": "gpu",
        "node": "node01",
        "restart_count": 2,
    }


def test_slurm_info_needs_a_job_id() -> None:
    assert _meta.slurm_info({"SLURMD_NODENAME": "n", "SLURM_CONF": "/etc/slurm.conf"}) == {}
    assert _meta.slurm_info({"SLURM_JOB_ID": "7", "SLURM_ARRAY_TASK_ID": "x"}) == {
        "job_id": "7",
        "array_task_id": "x",
    }


# --------------------------------------------------------------------------- get_meta


def test_get_meta_groups_present_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)  # no nvidia-smi
    assert _meta.get_meta() == {}
    groups = ["platform", "cpu", "memory", "disk", "slurm", "conda", "network", "gpu", "environ"]
    for group in groups:
        assert list(_meta.get_meta(**{group: True})) == [group]
    everything = _meta.get_meta(**dict.fromkeys(groups, True))
    assert list(everything) == groups
    assert everything["gpu"] == []
    assert everything["slurm"] == {}
    assert everything["cpu"]["logical"] >= 1
    assert everything["memory"]["total"] > 0
    assert everything["disk"]["total"] > 0
    assert everything["platform"]["python"] == platform.python_version()


def test_get_meta_conda_and_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONDA_DEFAULT_ENV", "ml")
    monkeypatch.setenv("CONDA_PREFIX", "/opt/conda/envs/ml")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    monkeypatch.setenv("MY_API_KEY", "k")
    monkeypatch.setenv("db_password", "p")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("FEXP_PLAIN", "visible")
    meta = _meta.get_meta(conda=True, environ=True)
    assert meta["conda"]["default_env"] == "ml"
    assert meta["conda"]["prefix"] == "/opt/conda/envs/ml"
    environ = meta["environ"]
    for name in ("GITHUB_TOKEN", "MY_API_KEY", "db_password", "AWS_SECRET_ACCESS_KEY"):
        assert environ[name] == _meta.REDACTED
    assert environ["FEXP_PLAIN"] == "visible"
    assert list(environ) == sorted(environ)
    assert "ghp_secret" not in repr(meta)


NVIDIA_SMI_SAMPLE = """\
0, Tesla V100-SXM2-16GB, GPU-6f1a2b3c-0000-1111-2222-333344445555, 16160, 3, 0
1, NVIDIA GeForce RTX 3090, Ti, GPU-aaaaaaaa-0000-1111-2222-333344445555, 24576, [N/A], 87

garbage line
"""


def test_parse_nvidia_smi() -> None:
    """There is no GPU on the test machines: the parser runs on captured sample output."""
    gpus = _meta.parse_nvidia_smi(NVIDIA_SMI_SAMPLE)
    assert gpus == [
        {
            "index": 0,
            "name": "Tesla V100-SXM2-16GB",
            "uuid": "GPU-6f1a2b3c-0000-1111-2222-333344445555",
            "memory_total": 16160,
            "memory_used": 3,
            "utilization_gpu": 0,
        },
        {
            "index": 1,
            "name": "NVIDIA GeForce RTX 3090, Ti",
            "uuid": "GPU-aaaaaaaa-0000-1111-2222-333344445555",
            "memory_total": 24576,
            "memory_used": None,
            "utilization_gpu": 87,
        },
    ]
    assert _meta.parse_nvidia_smi("") == []


def test_gpu_info_with_a_fake_nvidia_smi(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No GPU here: a fake ``nvidia-smi`` on PATH checks the query and prints a sample."""
    fake = tmp_path / "nvidia-smi"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$*" in *--query-gpu=index,name,uuid,*--format=csv,noheader,nounits*) ;;'
        " *) exit 9;; esac\n"
        "echo '0, Tesla T4, GPU-1, 15360, 1, 5'\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert _meta.gpu_info() == [
        {
            "index": 0,
            "name": "Tesla T4",
            "uuid": "GPU-1",
            "memory_total": 15360,
            "memory_used": 1,
            "utilization_gpu": 5,
        }
    ]
    fake.write_text("#!/bin/sh\nexit 1\n")
    assert _meta.gpu_info() == []


# --------------------------------------------------------------------------- now_iso


def test_now_iso_has_seconds_and_timezone() -> None:
    text = _meta.now_iso()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", text)
    parsed = datetime.datetime.fromisoformat(text)
    assert parsed.tzinfo is not None
    assert abs((datetime.datetime.now(datetime.timezone.utc) - parsed).total_seconds()) < 5


def test_now_iso_follows_time_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    with monkeypatch.context() as patch:
        patch.setenv("TZ", "UTC")
        time.tzset()
        patch.setattr(_meta.time, "time", lambda: 1714560000.25)
        text = _meta.now_iso()
    time.tzset()
    assert text == "2024-05-01T10:40:00+00:00"
