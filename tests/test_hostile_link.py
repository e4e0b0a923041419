"""Interrupted links and a hostile environment (issue 11, items 5 and 7): a link killed midway
leaves nothing the next link renames ``..._1``; a read-only set, a full disk, a file as
FEXP_HOME, a broken global config each end in one paragraph (exit 2), nothing half-made.
"""

from __future__ import annotations

import os
import pathlib
import resource
import shutil
import signal
import subprocess
import time

import pytest

from .hostile_helpers import (
    Cli,
    init_args,
    make_set,
    ok,
    read_only,
    refused,
    run_fexp,
    snapshot,
)

SWEEP = "{lr: " + " | ".join(str((i + 1) / 4) for i in range(2000)) + "}"  # 0.5 is 2nd


def _entries(root: pathlib.Path) -> set[str]:
    return {p.name for p in root.iterdir() if p.is_dir()}


def _managed(fexp_cli: Cli, root: pathlib.Path) -> set[str]:
    import json

    return {r["name"] for r in json.loads(ok(fexp_cli("list", "-r", root, "--json")).stdout)}


def _interrupt_midway(root: pathlib.Path, signum: int) -> int:
    """Start ``fexp link`` of 2,000 configurations and send ``signum`` once it has written
    some of them (staged, or in the set); return its exit code."""
    exe = shutil.which("fexp")
    assert exe
    proc = subprocess.Popen(
        [exe, "link", SWEEP, "-r", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        written = sum(1 for p in root.rglob("params.yml")) - 3
        if written >= 50:
            proc.send_signal(signum)
            break
        time.sleep(0.005)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode != 0, "the link finished before the signal: nothing was tested"
    assert "Traceback" not in err, err
    return proc.returncode


@pytest.mark.parametrize(
    "signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=["SIGKILL", "SIGTERM", "SIGINT"]
)
def test_an_interrupted_link_leaves_no_orphan(
    fexp_cli: Cli, tmp_path: pathlib.Path, signum: int
) -> None:
    root = make_set(fexp_cli, tmp_path)
    code = _interrupt_midway(root, signum)
    if signum != signal.SIGKILL:  # rolled back at once
        assert code == 130
        assert _entries(root) == {"lr=0.1", "lr=0.2", "lr=0.3"}
    assert ok(fexp_cli("link", "{lr: 0.5}", "-r", root)).stdout.strip() == "linked 1: lr=0.5"
    assert _entries(root) == _managed(fexp_cli, root) == {"lr=0.1", "lr=0.2", "lr=0.3", "lr=0.5"}


def test_a_link_killed_after_moving_its_folders_is_undone(
    fexp_cli: Cli, tmp_path: pathlib.Path
) -> None:
    """The window between moving the staged folders in and writing experiment.yml."""
    root = make_set(fexp_cli, tmp_path)
    orphan = root / "lr=0.5"
    shutil.copytree(root / "lr=0.1", orphan)
    text = (orphan / "params.yml").read_text().replace("_name: lr=0.1", "_name: lr=0.5")
    (orphan / "params.yml").write_text(text)
    (root / ".fexp-link-journal.json").write_text('["lr=0.5"]')
    assert ok(fexp_cli("link", "{lr: 0.5}", "-r", root)).stdout.strip() == "linked 1: lr=0.5"
    assert not (root / ".fexp-link-journal.json").exists()
    assert _entries(root) == _managed(fexp_cli, root)


READ_ONLY = [
    ["link", "{lr: 0.7}", "-r", "{root}"],
    ["note", "x", "*", "-r", "{root}"],
    ["reset", "*", "-r", "{root}"],
    ["unlink", "*", "-r", "{root}"],
    ["relink", "-r", "{moved}"],
    ["run", "*", "-r", "{root}"],
    ["rm", "{root}", "-y"],
    ["export", "*", "-o", "{root}/b.tar.gz", "-r", "{root}"],
    ["init", "--script", "{tmp}/s.sh", "--defaults", "{tmp}/d.yml", "-r", "{root}/sub"],
]


@pytest.mark.parametrize("argv", READ_ONLY, ids=[a[0] for a in READ_ONLY])
def test_a_read_only_set_is_one_paragraph(
    fexp_cli: Cli, tmp_path: pathlib.Path, argv: list[str]
) -> None:
    root = make_set(fexp_cli, tmp_path)
    moved = tmp_path / "moved"
    if "{moved}" in argv:  # relink must re-root a moved set: it has to write
        root = root.rename(moved)
    args = [
        a.replace("{root}", str(root))
        .replace("{tmp}", str(tmp_path))
        .replace("{moved}", str(moved))
        for a in argv
    ]
    before = snapshot(tmp_path)
    with read_only(root):
        refused(fexp_cli(*args), "read-only")
    assert snapshot(tmp_path) == before


def _limited(limit: int) -> None:  # runs in the child before exec
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def _run_limited(args: list[object], limit: int) -> subprocess.CompletedProcess[str]:
    return run_fexp(*args, preexec_fn=lambda: _limited(limit))


def test_a_full_disk_during_link_rolls_back(fexp_cli: Cli, tmp_path: pathlib.Path) -> None:
    """Files may grow to 20 kB: each params.yml fits, experiment.yml of 2,000 does not."""
    root = make_set(fexp_cli, tmp_path)
    before = snapshot(tmp_path)
    refused(_run_limited(["link", SWEEP, "-r", root], 20_000), "stopped")
    assert snapshot(tmp_path) == before


def test_a_full_tmpfs_during_link_rolls_back(fexp_cli: Cli, tmp_path: pathlib.Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(disk)], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("mounting a small tmpfs needs root")
    try:
        root = make_set(fexp_cli, disk)
        before = snapshot(disk)
        refused(fexp_cli("link", SWEEP, "-r", root), "disk is full")
        assert snapshot(disk) == before
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_init_that_fails_midway_leaves_no_half_made_set(tmp_path: pathlib.Path) -> None:
    (tmp_path / "d.yml").write_text("lr: 0.1\n")
    (tmp_path / "s.sh").write_text("#!/bin/bash\n" + "# padding\n" * 5000)
    refused(_run_limited(init_args(tmp_path, tmp_path / "a" / "b"), 20_000), "stopped")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.yml", "s.sh"]


def test_fexp_home_that_is_a_file(
    fexp_cli: Cli, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "home").write_text("not a folder\n")
    (tmp_path / "d.yml").write_text("lr: 0.1\n")
    (tmp_path / "s.sh").write_text("#!/bin/bash\n")
    monkeypatch.setenv("FEXP_HOME", str(tmp_path / "home"))
    refused(fexp_cli(*init_args(tmp_path, tmp_path / "new")), "FEXP_HOME")
    assert not (tmp_path / "new").exists()
    refused(fexp_cli("experiments", "list"), "is not a folder")
    refused(fexp_cli("config", "show"), "is not a folder")


def test_help_works_with_a_wrong_typed_config(fexp_cli: Cli, clean_env: pathlib.Path) -> None:
    (clean_env / "config.yml").write_text("experiments: [1, 2]\nheader: 5\n")
    assert "Usage" in ok(fexp_cli("--help")).stdout
    refused(fexp_cli("experiments", "list"), "config.yml: key 'header' is a int")
