"""experiment.yml's journal (issue 16) under the untrusted-input rules (issue 11): every read
is checked, link stays crash-safe, unlink/clean keep their bookkeeping, rows stay honest."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
from collections.abc import Callable

from fexp import _messages
from fexp._store import set_file

from .test_store import _script_set

CLI = Callable[..., subprocess.CompletedProcess[str]]
JOURNAL = ".fexp-journal.jsonl"


def _set(root: pathlib.Path, fexp_cli: CLI, sweep: str = "{a: 1 | 2}") -> None:
    _script_set(root, fexp_cli)
    done = fexp_cli("link", sweep, "-r", root)
    assert done.returncode == 0, done.stderr


def _snapshot(root: pathlib.Path) -> dict[str, bytes | None]:
    return {
        p.relative_to(root).as_posix(): None if p.is_dir() else p.read_bytes()
        for p in sorted(root.rglob("*"))
        if not p.name.startswith(".")  # twins and the index are caches
    } | {JOURNAL: (root / JOURNAL).read_bytes()}


def _one_paragraph(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert all(w in result.stderr for w in words), result.stderr


def test_link_appends_to_the_sets_journal_not_the_tune_journal(
    tmp_path: pathlib.Path, fexp_cli: CLI
) -> None:
    """The set's journal and ``fexp tune``'s study journal have different names."""
    root = tmp_path / "set"
    _set(root, fexp_cli)
    assert set_file.read_names(root) == ["a=1", "a=2"]
    assert b'"n":"a=2"' in (root / JOURNAL).read_bytes()
    assert not (root / "journal.log").exists()


def test_a_hostile_name_in_the_journal_is_a_corrupt_set(
    tmp_path: pathlib.Path, fexp_cli: CLI
) -> None:
    """Every command that reads the set's names refuses it (``link`` appends without
    reading the journal, to stay O(1): the set stays as corrupt as it was)."""
    root = tmp_path / "set"
    _set(root, fexp_cli)
    with open(root / JOURNAL, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"n": "../outside", "o": {}}) + "\n")
    before = _snapshot(root)
    _one_paragraph(fexp_cli("list", "-r", root), "corrupt", "../outside")
    _one_paragraph(fexp_cli("run", "-r", root), "corrupt", "../outside")
    _one_paragraph(fexp_cli("unlink", "a=1", "-r", root), "corrupt", "../outside")
    _one_paragraph(fexp_cli("reset", "*", "-r", root), "corrupt", "../outside")
    assert _snapshot(root) == before
    assert not (tmp_path / "outside").exists()


def test_experiments_not_a_mapping_refuses_link_with_nothing_written(
    tmp_path: pathlib.Path, fexp_cli: CLI
) -> None:
    """A journal on top of a hand edit that made ``experiments`` a list: no command guesses
    (the journal's names alone would have been read as the whole set)."""
    root = tmp_path / "set"
    _set(root, fexp_cli)
    path = root / "experiment.yml"
    text = path.read_text(encoding="utf-8")
    assert "experiments: {}" in text  # the names are still in the journal only
    path.write_text(text.replace("experiments: {}", "experiments: [a=1]"), encoding="utf-8")
    before = _snapshot(root)
    for args in (("list",), ("link", "{a: 3}"), ("unlink", "a=1"), ("note", "x", "a=1")):
        _one_paragraph(fexp_cli(*args, "-r", root), "corrupt", "experiments")
    assert _snapshot(root) == before


def test_a_folder_a_killed_link_moved_in_is_removed_not_renamed(
    tmp_path: pathlib.Path, fexp_cli: CLI
) -> None:
    """What a link killed between moving its folders in and appending to the journal left
    (its link journal and a folder no one lists) is undone by the next link."""
    root = tmp_path / "set"
    _set(root, fexp_cli)
    orphan = root / "a=3"
    orphan.mkdir()
    (orphan / "params.yml").write_text("_name: a=3\n_status: registered\na: 3\n")
    (root / ".fexp-link-journal.json").write_text(json.dumps(["a=3"]))
    (root / ".fexp-staging" / "tmp-left").mkdir(parents=True)
    done = fexp_cli("link", "{a: 3}", "-r", root)
    assert done.returncode == 0, done.stderr
    assert set_file.read_names(root) == ["a=1", "a=2", "a=3"]
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["a=1", "a=2", "a=3"]
    assert not (root / ".fexp-link-journal.json").exists()


def test_unlink_is_one_journal_append_and_clean_still_knows_the_folder(
    tmp_path: pathlib.Path, fexp_cli: CLI
) -> None:
    root = tmp_path / "set"
    _set(root, fexp_cli)
    assert fexp_cli("note", "compact", "-r", root).returncode == 0  # experiment.yml whole
    before = (root / "experiment.yml").read_bytes()
    assert fexp_cli("unlink", "a=1", "-r", root).returncode == 0
    assert (root / "experiment.yml").read_bytes() == before  # the journal holds the unlink
    assert set_file.read_names(root) == ["a=2"]
    assert set_file.read_head(root)["unlinked"] == ["a=1"]
    assert (root / "a=1").is_dir()
    done = fexp_cli("clean", "--yes", "-r", root)
    assert done.returncode == 0, done.stderr
    assert not (root / "a=1").exists() and (root / "a=2").is_dir()
    assert not set_file.read_head(root).get("unlinked")


def test_relink_of_an_unlinked_folder_takes_it_off_the_clean_list(
    tmp_path: pathlib.Path, fexp_cli: CLI
) -> None:
    root = tmp_path / "set"
    _set(root, fexp_cli)
    assert fexp_cli("unlink", "a=1", "-r", root).returncode == 0
    assert fexp_cli("relink", "a=1", "-r", root).returncode == 0
    assert set_file.read_names(root) == ["a=2", "a=1"]
    assert not set_file.read_head(root).get("unlinked")
    assert fexp_cli("clean", "--yes", "-r", root).returncode == 0
    assert (root / "a=1").is_dir()


def test_a_malformed_record_appended_to_a_cached_rows_log_makes_it_corrupt(
    tmp_path: pathlib.Path, fexp_cli: CLI
) -> None:
    """The incremental replay (issue 16) checks records as a full read does (issue 11)."""
    root = tmp_path / "set"
    _set(root, fexp_cli)
    log = root / "a=1" / "messages.jsonl"
    log.write_bytes(_messages.encode({"loss": 0.5}, now=1.0))

    def rows() -> dict[str, dict[str, object]]:
        listed = fexp_cli("list", "--json", "-r", root)
        assert listed.returncode == 0, listed.stderr
        return {r["name"]: r for r in json.loads(listed.stdout)}

    assert rows()["a=1"]["messages"] == {"loss": 0.5}  # indexed, with the log's state
    with open(log, "ab") as handle:
        handle.write(b'{"t": "yesterday", "m": {"loss": 0.1}}\n')
    row = rows()["a=1"]
    assert row["status"] == "corrupt" and "'t'" in str(row["error"]), row
    assert rows()["a=2"]["status"] == "registered"
    os.truncate(log, len(_messages.encode({"loss": 0.5}, now=1.0)))
    assert rows()["a=1"]["status"] == "registered"
