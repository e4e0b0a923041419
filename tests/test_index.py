"""The caches behind fast listings: never stale, even when a writer races a reader."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from fexp import _atomic, _find, _index, _yaml


def test_a_racing_writer_never_leaves_a_stale_twin(tmp_path: pathlib.Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "experiment.yml"
    _atomic.atomic_write(path, "n: 1\n")
    real = _yaml.read_mapping

    def racing(p: pathlib.Path) -> dict[str, Any]:
        data = real(p)  # the reader has parsed version 1 ...
        _atomic.atomic_write(p, "n: 22\n")  # ... when a writer replaces the file
        return data

    monkeypatch.setattr(_yaml, "read_mapping", racing)
    assert _index.read_mapping_cached(path) == {"n": 1}
    monkeypatch.setattr(_yaml, "read_mapping", real)
    assert _index.read_mapping_cached(path) == {"n": 22}  # not the old parse


def test_a_racing_writer_never_leaves_a_stale_row(tmp_path: pathlib.Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "exp"
    folder.mkdir()
    _atomic.atomic_write(folder / "params.yml", "_name: exp\n_status: registered\nx: 1\n")
    real = _find.read_row

    def racing(directory: pathlib.Path, set_root: str | None = None) -> dict[str, Any]:
        row = real(directory, set_root)
        _atomic.atomic_write(directory / "params.yml", "_name: exp\n_status: finished\nx: 1\n")
        return row

    monkeypatch.setattr(_find, "read_row", racing)
    assert _index.read_rows(tmp_path, [folder])[0]["status"] == "registered"
    monkeypatch.setattr(_find, "read_row", real)
    assert _index.read_rows(tmp_path, [folder])[0]["status"] == "finished"


def test_twin_and_index_are_used_when_nothing_changed(tmp_path: pathlib.Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "experiment.yml"
    _atomic.atomic_write(path, "n: 3\n")
    assert _index.read_mapping_cached(path) == {"n": 3}

    def fail(*args: object) -> None:
        raise AssertionError("parsed again although the file did not change")

    monkeypatch.setattr(_yaml, "read_mapping", fail)
    assert _index.read_mapping_cached(path) == {"n": 3}
