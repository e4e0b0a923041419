"""Helpers of the hostile-input tests: a small script-only set made through the CLI, bundles
rewritten member by member, snapshots of a whole folder tree, a read-only mount."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pathlib
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterator

import pytest

Cli = Callable[..., subprocess.CompletedProcess[str]]

# The script marks each run in its experiment's folder, so a test can see what ran.
SCRIPT = '#!/bin/bash\nset -eu\ntouch "$(dirname "$1")/ran"\n'
DEFAULTS = "lr: 0.1  # float; the learning rate\nepochs: 1  # int; passes\n"
# 9 levels of 10 aliases each: a "billion laughs" of a few hundred bytes.
LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
)


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, proc.stderr
    return proc


def refused(proc: subprocess.CompletedProcess[str], fragment: str = "") -> str:
    """Assert a clean refusal: exit 2, a short message (<= 5 lines), no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-500:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-2000:]
    assert len(proc.stderr.splitlines()) <= 5, proc.stderr[:2000]
    assert len(proc.stderr) <= 1000, proc.stderr[:2000]
    assert fragment in proc.stderr, proc.stderr
    return proc.stderr


def snapshot(root: pathlib.Path) -> dict[str, str]:
    """Every entry under ``root`` (links as their target, files as a hash), lock files aside."""
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = pathlib.Path(dirpath) / name
            key = str(path.relative_to(root))
            if name == ".fexp.lock" or (name.startswith(".") and name.endswith(".json")):
                continue  # the lock, and caches (JSON twins, the row index) readers refresh
            if path.is_symlink():
                found[key] = "-> " + os.readlink(path)
            elif path.is_file():
                found[key] = hashlib.sha1(path.read_bytes()).hexdigest()
            else:
                found[key] = "dir"
    return found


def make_set(
    fexp_cli: Cli, where: pathlib.Path, sweep: str = "{lr: 0.1 | 0.2 | 0.3}"
) -> pathlib.Path:
    """A script-only set of three registered experiments (lr=0.1, lr=0.2, lr=0.3)."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "s.sh").write_text(SCRIPT)
    (where / "d.yml").write_text(DEFAULTS)
    root = where / "set"
    ok(fexp_cli("init", "--script", where / "s.sh", "--defaults", where / "d.yml", "-r", root))
    if sweep:
        ok(fexp_cli("link", sweep, "-r", root))
    return root


def run_fexp(
    *args: object,
    env: dict[str, str] | None = None,
    cwd: pathlib.Path | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``fexp`` (FEXP_HOME from ``env`` when given)."""
    exe = shutil.which("fexp")
    assert exe, "the fexp console script is not installed"
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, preexec_fn=preexec_fn,
                          timeout=600)  # fmt: skip


def init_args(where: pathlib.Path, root: pathlib.Path) -> list[object]:
    """``fexp init`` of a script-only set from ``where``'s s.sh and d.yml into ``root``."""
    return ["init", "--script", where / "s.sh", "--defaults", where / "d.yml", "-r", root]


def members(bundle: pathlib.Path) -> dict[str, bytes]:
    with tarfile.open(bundle) as tar:
        return {
            m.name: (tar.extractfile(m) or io.BytesIO()).read()
            for m in tar.getmembers()
            if m.isfile()
        }


def write_bundle(path: pathlib.Path, files: dict[str, bytes]) -> pathlib.Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@contextlib.contextmanager
def read_only(path: pathlib.Path) -> Iterator[None]:
    """Make ``path`` read-only: a read-only bind mount as root (root ignores modes), else
    chmod. Skips the test when neither is possible."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [path, *path.rglob("*")] if not p.is_symlink()}
        for p in modes:
            p.chmod(modes[p] & ~0o222)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    mount = shutil.which("mount")
    if mount is None:
        pytest.skip("no mount command to make a read-only folder as root")
    done = subprocess.run([mount, "--bind", str(path), str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot bind-mount as root here: {done.stderr.decode()[:200]}")
    try:
        remount = subprocess.run([mount, "-o", "remount,bind,ro", str(path)], capture_output=True)
        if remount.returncode != 0:
            pytest.skip("cannot remount read-only here")
        yield
    finally:
        subprocess.run(["umount", str(path)], capture_output=True)
