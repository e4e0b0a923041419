"""The per-set store: experiment.yml's journal, incremental message replay, crash safety."""

from __future__ import annotations

import json
import os
import pathlib
import random
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest

from fexp import _messages
from fexp._store import journal, message_replay, set_file

from .conftest import EXAMPLES, installed_fexp

CLI = Callable[..., subprocess.CompletedProcess[str]]


def _script_set(root: pathlib.Path, fexp_cli: CLI) -> None:
    root.parent.mkdir(parents=True, exist_ok=True)
    script = root.parent / "run.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    defaults = root.parent / "defaults.yml"
    defaults.write_text("a: 0\nb: 0\n")
    done = fexp_cli("init", "--script", script, "--defaults", defaults, "-r", root)
    assert done.returncode == 0, done.stderr


# -- incremental replay ------------------------------------------------------------------


def _random_log(rng: random.Random, n: int) -> bytes:
    lines = []
    for i in range(n):
        keep = rng.choice(["latest", "min", "max"])
        values = {
            k: rng.choice([rng.random(), float("nan"), rng.randint(0, 9), "x"])
            for k in rng.sample(["loss", "acc", "lr", "note"], rng.randint(1, 3))
        }
        leader = rng.choice([None, None, "loss"])
        lines.append(_messages.encode(values, keep=keep, leader=leader, step=i, now=1.0))
        if rng.random() < 0.05:
            lines.append(b'{"t": 1, "m": {"torn\n')  # a corrupt line in the middle
    return b"".join(lines)


@pytest.mark.parametrize("seed", range(8))
def test_incremental_replay_equals_full_replay(tmp_path: pathlib.Path, seed: int) -> None:
    """Reading a growing log piece by piece, cut anywhere (torn last lines included), gives
    at every step exactly the messages a replay from the start gives."""
    rng = random.Random(seed)
    data = _random_log(rng, 200)
    path = tmp_path / "messages.jsonl"
    cuts = sorted({0, len(data), *(rng.randrange(len(data)) for _ in range(25))})
    state: Any = None
    for cut in cuts:
        path.write_bytes(data[:cut])
        current, state = message_replay.advance(path, state)
        assert current == _messages.replay(_messages.decode(data[:cut])), cut


def test_incremental_replay_reads_again_a_replaced_log(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "messages.jsonl"
    path.write_bytes(_messages.encode({"loss": 1.0}, now=1.0) * 3)
    _, state = message_replay.advance(path, None)
    replacement = tmp_path / "new.jsonl"
    replacement.write_bytes(_messages.encode({"acc": 0.5}, now=1.0))
    os.replace(replacement, path)  # a new file (new inode): its state is not reused
    assert message_replay.advance(path, state)[0] == {"acc": 0.5}
    assert message_replay.advance(tmp_path / "missing.jsonl", state) == ({}, None)


def test_listing_reads_a_growing_log_incrementally(tmp_path: pathlib.Path, fexp_cli: CLI) -> None:
    root = tmp_path / "set"
    _script_set(root, fexp_cli)
    assert fexp_cli("link", "{a: 1}", "-r", root).returncode == 0
    log = root / "a=1" / "messages.jsonl"
    expected: list[bytes] = []
    for value in (3.0, 1.0, 2.0):
        expected.append(_messages.encode({"loss": value}, keep="min", now=1.0))
        with open(log, "ab") as handle:
            handle.write(expected[-1])
        rows = json.loads(fexp_cli("list", "--json", "-r", root).stdout)
        assert rows[0]["messages"] == _messages.replay(_messages.decode(b"".join(expected)))
    assert rows[0]["messages"] == {"loss": 1.0}


# -- journal -----------------------------------------------------------------------------


def test_a_torn_journal_line_is_skipped_and_ended_by_the_next_writer(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "j.jsonl"
    journal.append(path, [{"n": "a", "o": {}}], [1, 2, 3])
    with open(path, "ab") as handle:
        handle.write(b'{"n": "b", "o"')  # a writer killed mid-line
    assert journal.read(path)[:2] == ([1, 2, 3], [{"n": "a", "o": {}}])
    journal.append(path, [{"n": "c", "o": {"x": 1}}], None)
    assert journal.read(path)[1] == [{"n": "a", "o": {}}, {"n": "c", "o": {"x": 1}}]


def test_link_one_leaves_experiment_yml_alone_until_compaction(
    tmp_path: pathlib.Path, fexp_cli: CLI
) -> None:
    root = tmp_path / "set"
    _script_set(root, fexp_cli)
    before = (root / "experiment.yml").read_bytes()
    assert fexp_cli("link", "{a: 1 | 2}", "-r", root).returncode == 0
    assert (root / "experiment.yml").read_bytes() == before  # the journal holds them
    assert set_file.read_names(root) == ["a=1", "a=2"]
    listed = json.loads(fexp_cli("list", "--json", "-r", root).stdout)
    assert [r["name"] for r in listed] == ["a=1", "a=2"]
    assert fexp_cli("note", "hello", "-r", root).returncode == 0  # a whole write compacts
    assert "a=2" in (root / "experiment.yml").read_text()
    assert journal.read(root / ".fexp-journal.jsonl")[1] == []


def test_a_hand_edit_of_experiment_yml_is_honoured(tmp_path: pathlib.Path, fexp_cli: CLI) -> None:
    root = tmp_path / "set"
    _script_set(root, fexp_cli)
    assert fexp_cli("link", "{a: 1 | 2}", "-r", root).returncode == 0
    assert fexp_cli("note", "compact", "-r", root).returncode == 0
    assert fexp_cli("link", "{a: 3}", "-r", root).returncode == 0  # journaled
    path = root / "experiment.yml"
    path.write_text(path.read_text().replace('purpose: ""', "purpose: edited by hand"))
    state = json.loads(json.dumps(set_file.read_state(root)))
    assert state["purpose"] == "edited by hand"
    assert list(state["experiments"]) == ["a=1", "a=2", "a=3"]
    assert fexp_cli("link", "{a: 4}", "-r", root).returncode == 0  # folds edit and journal
    text = path.read_text()
    assert "edited by hand" in text and "a=3" in text and "a=4" in text


# -- crash safety ------------------------------------------------------------------------


def _check_consistent(root: pathlib.Path, fexp_cli: CLI) -> int:
    listed = fexp_cli("list", "--json", "-r", root)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    names = set_file.read_names(root)
    assert sorted(r["name"] for r in rows) == sorted(names)
    assert all(r["status"] == "registered" and r["error"] is None for r in rows), rows
    for name in names:
        assert (root / name / "params.yml").is_file(), name
    return len(names)


@pytest.mark.slow
def test_sigkill_of_link_at_random_points_leaves_a_readable_consistent_set(
    tmp_path: pathlib.Path, fexp_cli: CLI
) -> None:
    """``fexp link`` killed anywhere (creating folders, appending to the journal,
    compacting experiment.yml) adds all of its experiments or none, and the set reads."""
    root = tmp_path / "set"
    _script_set(root, fexp_cli)
    rng = random.Random(16)
    batch = 300
    sweep = "{a: " + " | ".join(str(i) for i in range(batch)) + "}"
    start = time.perf_counter()
    assert fexp_cli("link", sweep, "-n", "warm", "-r", root).returncode == 0
    duration = time.perf_counter() - start
    for attempt in range(10):
        proc = subprocess.Popen(
            [installed_fexp(), "link", sweep, "-n", f"k{attempt}", "-r", str(root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=dict(os.environ),
        )
        time.sleep(rng.uniform(0.2, 1.1) * duration)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert _check_consistent(root, fexp_cli) % batch == 0
    assert fexp_cli("link", sweep, "-n", "after", "-r", root).returncode == 0
    assert _check_consistent(root, fexp_cli) % batch == 0
    # The links that followed removed what the killed ones left: no orphan folder, so no
    # name of a killed request would be taken by a variant (issue 11's staged link).
    folders = {p.name for p in root.iterdir() if (p / "params.yml").exists()}
    assert folders == set(set_file.read_names(root))
    assert not (root / ".fexp-staging").exists()
    assert not (root / ".fexp-link-journal.json").exists()


# -- list pushdown -----------------------------------------------------------------------


def test_filters_applied_while_reading_give_what_select_gives(tmp_path: pathlib.Path) -> None:
    """The prefilter on indexed parameters/status and the row filter pushed into the index
    keep exactly the rows that filtering every built row keeps."""
    import fexp
    from fexp import _query

    xs = fexp.ExperimentSet.init(tmp_path / "set", f"{EXAMPLES / 'hello_world.py'}:hello_world")
    xs.link("{times: 1 | 2 | 3, greeting: Hi | Yo}")
    xs.reset("times=2__greeting=Yo", status="running")
    with open(xs.root / "times=2__greeting=Yo" / "messages.jsonl", "ab") as log:
        log.write(_messages.encode({"times": 9, "loss": 0.1}, now=1.0))
    everything = xs.find()  # the index is warm from here on
    cases: list[dict[str, Any]] = [
        {"where": ["times>=2"]},
        {"where": ["times==9"]},  # the log's message, not the parameter, for one row
        {"where": ["loss<1"]},
        {"where": ["greeting~^H", "times!=3"]},
        {"status": ["running"]},
        {"status": ["registered"], "where": ["times<3"]},
        {"where": ["t.*==2"]},
        {"where": ["missing==1"], "missing_entry": True},
    ]
    for case in cases:
        assert xs.find(**case) == _query.select(everything, **case), case


def test_a_builtin_command_builds_no_pydantic_adapter(tmp_path: pathlib.Path) -> None:
    """Typer's pydantic coercion is the largest cost of a short command: fexp's own commands
    coerce their plain option types themselves."""
    import sys

    code = (
        "import sys\n"
        "from fexp import _cli\n"
        "try:\n"
        f"    _cli.main(['list', '--limit', '1', '-r', {str(tmp_path)!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('pydantic' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip().splitlines()[-1] == "False", done.stdout + done.stderr


def test_option_values_keep_their_errors_without_pydantic(
    tmp_path: pathlib.Path, fexp_cli: CLI
) -> None:
    root = tmp_path / "set"
    _script_set(root, fexp_cli)
    done = fexp_cli("link", "-x", "abc", "-r", root)
    assert done.returncode == 2
    assert "Input should be a valid integer, unable to parse string as an integer" in done.stderr
    assert fexp_cli("link", "{a: 1}", "-x", "2.0", "-r", root).returncode == 0
    assert set_file.read_names(root) == ["a=1__rep=0", "a=1__rep=1"]  # -x 2.0 is 2


def test_listing_a_pattern_keeps_the_other_rows_indexed(tmp_path: pathlib.Path) -> None:
    import fexp

    xs = fexp.ExperimentSet.init(tmp_path / "set", f"{EXAMPLES / 'hello_world.py'}:hello_world")
    xs.link("{times: 1 | 2 | 3}")
    xs.find()
    assert [r["name"] for r in xs.find("times=2")] == ["times=2"]
    index = json.loads((xs.root / ".fexp-index.json").read_bytes())
    assert sorted(index["entries"]) == ["times=1", "times=2", "times=3"]
