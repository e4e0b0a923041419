"""Atomic writes (no temp file left, old content kept on failure) and the inter-process lock."""

from __future__ import annotations

import os
import pathlib
import stat
import subprocess
import sys
import textwrap

import pytest

from fexp import _atomic, _errors


def _mode(path: pathlib.Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ----------------------------------------------------------------------------- atomic_write


def test_atomic_write_creates_and_replaces(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "params.yml"
    _atomic.atomic_write(path, "lr: 0.1\n")
    assert path.read_text(encoding="utf-8") == "lr: 0.1\n"
    _atomic.atomic_write(path, "lr: 0.2\n")
    assert path.read_text(encoding="utf-8") == "lr: 0.2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yml"]


def test_atomic_write_text_is_utf8_and_bytes_are_verbatim(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "notes.txt"
    _atomic.atomic_write(path, "café ✓\n")
    assert path.read_bytes() == "café ✓\n".encode()
    _atomic.atomic_write(path, b"\x00\xff raw")
    assert path.read_bytes() == b"\x00\xff raw"


def test_atomic_write_modes(tmp_path: pathlib.Path) -> None:
    script = tmp_path / "script.sh"
    _atomic.atomic_write(script, "#!/bin/bash\n", mode=0o755)
    assert _mode(script) == 0o755
    assert os.access(script, os.X_OK)
    params = tmp_path / "params.yml"
    _atomic.atomic_write(params, "a: 1\n")
    assert _mode(params) == 0o644
    # Replacing keeps nothing of the old file's mode: the new mode is the one asked for.
    _atomic.atomic_write(script, "#!/bin/bash\necho\n")
    assert _mode(script) == 0o644


def test_atomic_write_into_a_weird_folder(tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "we ird 'q' \"dq\" ; rm -rf x $(echo pwn)\nline"
    folder.mkdir()
    path = folder / "a b;c.yml"
    _atomic.atomic_write(path, "x: 1\n")
    assert path.read_text(encoding="utf-8") == "x: 1\n"
    assert [p.name for p in folder.iterdir()] == ["a b;c.yml"]


@pytest.mark.parametrize("durable", [True, False])
def test_durable_controls_the_fsync(
    durable: bool, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        calls.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    path = tmp_path / "experiment.yml"
    _atomic.atomic_write(path, "a: 1\n", durable=durable)
    assert path.read_text(encoding="utf-8") == "a: 1\n"
    assert len(calls) == (1 if durable else 0)
    assert [p.name for p in tmp_path.iterdir()] == ["experiment.yml"]


def test_failed_rename_leaves_old_content_and_no_temp_file(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "params.yml"
    path.write_text("old: 1\n", encoding="utf-8")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space left"):
        _atomic.atomic_write(path, "new: 2\n")
    assert path.read_text(encoding="utf-8") == "old: 1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["params.yml"]


def test_failed_write_leaves_no_temp_file(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "params.yml"

    def broken_fsync(fd: int) -> None:
        raise KeyboardInterrupt  # even a BaseException cleans up

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(KeyboardInterrupt):
        _atomic.atomic_write(path, "new: 2\n")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_into_a_missing_folder_raises(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError):
        _atomic.atomic_write(tmp_path / "missing" / "params.yml", "a: 1\n")
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- locked

# A child that takes the lock, says so, and holds it until its stdin is closed.
_HOLDER = textwrap.dedent(
    """
    import pathlib, sys
    from fexp import _atomic
    with _atomic.locked(pathlib.Path(sys.argv[1])):
        print("held", flush=True)
        sys.stdin.read()
    """
)

# A child that tries the lock briefly and prints the error text.
_TRIER = textwrap.dedent(
    """
    import pathlib, sys
    from fexp import _atomic, _errors
    try:
        with _atomic.locked(pathlib.Path(sys.argv[1]), timeout=0.2):
            print("acquired")
    except _errors.LockTimeout as exc:
        print("timeout:", exc)
    """
)


def test_another_process_cannot_take_a_held_lock(tmp_path: pathlib.Path) -> None:
    lock_path = tmp_path / "set dir" / ".lock"
    lock_path.parent.mkdir()
    with _atomic.locked(lock_path):
        child = subprocess.run(
            [sys.executable, "-c", _TRIER, str(lock_path)],
            capture_output=True, text=True, timeout=60, check=True,
        )
    assert child.stdout.startswith("timeout: ")
    assert str(lock_path) in child.stdout
    after = subprocess.run(
        [sys.executable, "-c", _TRIER, str(lock_path)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    assert after.stdout == "acquired\n"


def test_lock_held_by_another_process_times_out(tmp_path: pathlib.Path) -> None:
    lock_path = tmp_path / ".lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(lock_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(_errors.LockTimeout) as info, _atomic.locked(lock_path, timeout=0.1):
            pytest.fail("took a lock another process holds")
        assert info.value.source == str(lock_path)
        assert str(info.value) == (
            f"{lock_path}: another fexp process has held this lock for more than 0.1 s; "
            "retry when it is done"
        )
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=60)
        assert holder.stdout is not None
        holder.stdout.close()
    assert holder.returncode == 0
    with _atomic.locked(lock_path, timeout=5):
        pass


def test_locked_is_reentrant_in_one_process(tmp_path: pathlib.Path) -> None:
    lock_path = tmp_path / ".lock"
    with _atomic.locked(lock_path, timeout=0.1), _atomic.locked(lock_path, timeout=0.1):
        with _atomic.locked(lock_path, timeout=0.1):
            pass
        child = subprocess.run(
            [sys.executable, "-c", _TRIER, str(lock_path)],
            capture_output=True, text=True, timeout=60, check=True,
        )
        assert child.stdout.startswith("timeout: ")  # still held after the inner exit
    child = subprocess.run(
        [sys.executable, "-c", _TRIER, str(lock_path)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    assert child.stdout == "acquired\n"


def test_locked_releases_on_exception(tmp_path: pathlib.Path) -> None:
    lock_path = tmp_path / ".lock"
    with pytest.raises(ValueError), _atomic.locked(lock_path):
        raise ValueError("boom")
    child = subprocess.run(
        [sys.executable, "-c", _TRIER, str(lock_path)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    assert child.stdout == "acquired\n"


# Each writer does a read-modify-write of a counter 50 times under the lock.
_WRITER = textwrap.dedent(
    """
    import pathlib, sys
    from fexp import _atomic
    counter = pathlib.Path(sys.argv[1])
    lock_path = counter.with_name(".lock")
    for _ in range(50):
        with _atomic.locked(lock_path, timeout=60):
            value = int(counter.read_text())
            _atomic.atomic_write(counter, str(value + 1), durable=False)
    """
)


def test_concurrent_writers_lose_no_update(tmp_path: pathlib.Path) -> None:
    counter = tmp_path / "count.txt"
    counter.write_text("0")
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(counter)], stderr=subprocess.PIPE)
        for _ in range(8)
    ]
    errors = []
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        errors.append((writer.returncode, err.decode()))
    assert errors == [(0, "")] * 8
    assert counter.read_text() == "400"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "count.txt"]


def test_lock_excludes_threads_of_one_process(tmp_path: pathlib.Path) -> None:
    """Threads (fexp run --jobs K settles statuses from threads) never hold the lock together."""
    import threading
    import time

    lock = tmp_path / "t.lock"
    inside = []
    overlaps = []

    def worker() -> None:
        for _ in range(20):
            with _atomic.locked(lock):
                inside.append(1)
                if len(inside) > 1:
                    overlaps.append(len(inside))
                time.sleep(0.001)
                inside.pop()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []
