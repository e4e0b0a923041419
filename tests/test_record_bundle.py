"""Issue 17: ``fexp export --with-code`` ships the recorded source (git archive + diff) and
environment; ``fexp import`` unpacks it safely and the experiments re-run with the same
results, here in a fresh virtualenv with fexp installed from this checkout."""

from __future__ import annotations

import io
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable

import pytest

from fexp import _yaml

from .test_meta import _git as git
from .test_record import ok, refused

Cli = Callable[..., subprocess.CompletedProcess[str]]
CHECKOUT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLE = CHECKOUT / "examples" / "train_numpy.py"


@pytest.fixture
def trained(fexp_cli: Cli, tmp_path: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """A repo with the numpy example committed then edited (the edit changes the results),
    a set of two runs of it, and their bundle exported --with-code."""
    repo = tmp_path / "repo"
    (repo / "exp").mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / "exp" / "train_numpy.py").write_text(EXAMPLE.read_text())
    (repo / ".gitignore").write_text("runs/\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    source = (repo / "exp" / "train_numpy.py").read_text()
    edited = source.replace("y = np.sin(3 * x)", "y = np.sin(2 * x)  # edited")
    assert edited != source
    (repo / "exp" / "train_numpy.py").write_text(edited)
    root = repo / "runs" / "s"
    ok(fexp_cli("init", f"{repo / 'exp' / 'train_numpy.py'}:train_numpy", "-r", root))
    ok(fexp_cli("link", "{lr: 0.05 | 0.2, epochs: 6}", "-r", root))
    ok(fexp_cli("run", "-r", root))
    bundle = tmp_path / "bundle.tar.gz"
    ok(fexp_cli("export", "*", "-o", bundle, "-r", root, "--with-code"))
    return root, bundle


def _results(root: pathlib.Path) -> dict[str, tuple[object, str]]:
    found = {}
    for params in sorted(root.glob("*/params.yml")):
        data = _yaml.read_mapping(params)
        last = (params.parent / "out.txt").read_text().strip().splitlines()[-1]
        found[params.parent.name] = (data["_messages"], last)
    return found


@pytest.mark.slow  # a virtualenv and a build of fexp from this checkout
def test_imported_code_bundle_reruns_with_the_same_results_in_a_fresh_venv(
    trained: tuple[pathlib.Path, pathlib.Path], tmp_path: pathlib.Path
) -> None:
    root, bundle = trained
    expected = _results(root)
    assert len(expected) == 2 and all("final loss" in last for _, last in expected.values())
    shutil.move(root.parent.parent, tmp_path / "repo gone")  # the code exists only in the bundle
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", venv], check=True)
    pip = [venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", CHECKOUT]
    subprocess.run(pip, check=True, capture_output=True, timeout=600)
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    target = tmp_path / "elsewhere" / "set"

    def fexp(*args: object) -> subprocess.CompletedProcess[str]:
        argv = [str(venv / "bin" / "fexp"), *map(str, args)]
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)

    ok(fexp("import", bundle, target))
    unpacked = target / "generated" / "bundle" / "code" / "src" / "exp" / "train_numpy.py"
    assert "# edited" in unpacked.read_text()  # the diff was applied to the archive
    ok(fexp("run", "*", "-r", target))
    assert _results(target) == expected
    for params in target.glob("*/params.yml"):
        assert _yaml.read_mapping(params)["_meta"]["python"] == str(venv / "bin" / "python")


def _rewrite(bundle: pathlib.Path, out: pathlib.Path, change: Callable[[dict], None]) -> None:
    with tarfile.open(bundle) as tar:
        files = {m.name: (tar.extractfile(m) or io.BytesIO()).read() for m in tar.getmembers()}
    change(files)
    with tarfile.open(out, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _source_tar(entries: list[tuple[str, bytes | None, str | None]]) -> bytes:
    """A tar of (name, data, link target) entries: a file, or a symlink when data is None."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data, link in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.linkname = tarfile.SYMTYPE, link or ""
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_import_accepts_only_the_code_members_it_knows(
    fexp_cli: Cli, trained: tuple[pathlib.Path, pathlib.Path], tmp_path: pathlib.Path
) -> None:
    _, bundle = trained
    evil = tmp_path / "evil.tar.gz"
    _rewrite(bundle, evil, lambda files: files.update({"code/run_me.sh": b"echo pwned"}))
    refused(fexp_cli("import", evil, tmp_path / "new"), "code/run_me.sh")
    assert not (tmp_path / "new").exists()


def test_import_refuses_a_source_archive_escaping_the_set(
    fexp_cli: Cli, trained: tuple[pathlib.Path, pathlib.Path], tmp_path: pathlib.Path
) -> None:
    _, bundle = trained
    escaping = tmp_path / "escaping.tar.gz"
    source = _source_tar([("ok.py", b"x = 1\n", None), ("../../escaped.py", b"boom\n", None)])
    _rewrite(bundle, escaping, lambda files: files.update({"code/source.tar": source}))
    refused(fexp_cli("import", escaping, tmp_path / "new"), "escaped.py", "outside")
    assert not (tmp_path / "new").exists()
    assert not list(tmp_path.rglob("escaped.py"))


def test_import_skips_links_in_the_source_archive(
    fexp_cli: Cli, trained: tuple[pathlib.Path, pathlib.Path], tmp_path: pathlib.Path
) -> None:
    _, bundle = trained
    linked = tmp_path / "linked.tar.gz"
    with tarfile.open(bundle) as tar:
        real = (tar.extractfile("code/source.tar") or io.BytesIO()).read()
    with tarfile.open(fileobj=io.BytesIO(real)) as tar:
        entries = [
            (m.name, (tar.extractfile(m) or io.BytesIO()).read(), None)
            for m in tar.getmembers()
            if m.isfile()
        ]
    entries.append(("exp/passwd", None, "/etc/passwd"))
    source = _source_tar(entries)
    _rewrite(bundle, linked, lambda files: files.update({"code/source.tar": source}))
    ok(fexp_cli("import", linked, tmp_path / "new"))
    src = tmp_path / "new" / "generated" / "bundle" / "code" / "src"
    assert (src / "exp" / "train_numpy.py").is_file()
    assert not (src / "exp" / "passwd").exists() and not (src / "exp" / "passwd").is_symlink()


def test_with_code_needs_the_code_in_git(fexp_cli: Cli, tmp_path: pathlib.Path) -> None:
    code = tmp_path / "nogit"
    code.mkdir()
    shutil.copy(EXAMPLE, code / "train_numpy.py")
    root = tmp_path / "set"
    ok(fexp_cli("init", f"{code / 'train_numpy.py'}:train_numpy", "-r", root))
    ok(fexp_cli("link", "{lr: 0.1}", "-r", root))
    out = tmp_path / "b.tar.gz"
    refused(fexp_cli("export", "*", "-o", out, "-r", root, "--with-code"), "--with-code", "git")
    assert not out.exists()


def test_with_code_refuses_runs_of_different_code(
    fexp_cli: Cli, trained: tuple[pathlib.Path, pathlib.Path], tmp_path: pathlib.Path
) -> None:
    root, _ = trained
    repo = root.parent.parent
    git(repo, "commit", "-qam", "keep the edit")
    ok(fexp_cli("link", "{lr: 0.3, epochs: 2}", "-r", root))
    ok(fexp_cli("run", "lr=0.3*", "-r", root))
    out = tmp_path / "mixed.tar.gz"
    refused(fexp_cli("export", "*", "-o", out, "-r", root, "--with-code"), "2 different")
    ok(fexp_cli("export", "lr=0.3*", "-o", out, "-r", root, "--with-code"))


SIDE_EFFECT = """
import pathlib

import fexp
from fexp import Root

pathlib.Path(__file__).with_suffix(".imported").touch()  # shows when this module runs


@fexp.experiment
def marked(root: Root, a: int = 1):  # @p a number
    root.message({"a": a})
"""


def test_import_never_runs_the_bundled_code(fexp_cli: Cli, tmp_path: pathlib.Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "marked.py").write_text(SIDE_EFFECT)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    root = tmp_path / "set"
    ok(fexp_cli("init", f"{repo / 'marked.py'}:marked", "-r", root))
    ok(fexp_cli("link", "{a: 2}", "-r", root))
    bundle = tmp_path / "b.tar.gz"
    ok(fexp_cli("export", "*", "-o", bundle, "-r", root, "--with-code"))
    shutil.rmtree(repo)
    target = tmp_path / "imported"
    ok(fexp_cli("import", bundle, target))
    assert not list(target.rglob("*.imported"))
    ok(fexp_cli("run", "*", "-r", target))  # running it is what runs it
    assert len(list(target.rglob("*.imported"))) == 1


def test_import_refuses_git_internals_in_the_code(
    fexp_cli: Cli, trained: tuple[pathlib.Path, pathlib.Path], tmp_path: pathlib.Path
) -> None:
    """A .git folder (its config can name programs git runs) never comes out of a bundle."""
    _, bundle = trained
    config = b"[core]\n\tfsmonitor = touch /tmp/pwned\n"
    with_git = tmp_path / "with_git.tar.gz"
    source = _source_tar([("x.py", b"x = 1\n", None), (".git/config", config, None)])
    _rewrite(bundle, with_git, lambda files: files.update({"code/source.tar": source}))
    refused(fexp_cli("import", with_git, tmp_path / "a"), ".git")
    patching = tmp_path / "patching.tar.gz"
    patch = (
        b"diff --git a/.git/config b/.git/config\nnew file mode 100644\n--- /dev/null\n"
        b"+++ b/.git/config\n@@ -0,0 +1,2 @@\n+[core]\n+\tfsmonitor = touch /tmp/pwned\n"
    )
    _rewrite(bundle, patching, lambda files: files.update({"code/git.diff": patch}))
    refused(fexp_cli("import", patching, tmp_path / "b"), ".git")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
