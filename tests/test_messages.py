"""The message log: keep/leader rules, scalars, the JSON-lines format, replay and history."""

from __future__ import annotations

import math
import pathlib
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fexp import _messages
from fexp._messages import apply

# ----------------------------------------------------------------------------- apply: keep


def test_keep_latest_replaces() -> None:
    assert apply({"loss": 0.5}, {"loss": 0.7}) == {"loss": 0.7}
    assert apply({"loss": 0.5}, {"loss": 0.7}, keep="latest") == {"loss": 0.7}
    assert apply({}, {"a": "x", "b": True}) == {"a": "x", "b": True}


def test_keep_min() -> None:
    assert apply({"loss": 0.5}, {"loss": 0.7}, keep="min") == {}
    assert apply({"loss": 0.5}, {"loss": 0.3}, keep="min") == {"loss": 0.3}
    assert apply({"loss": 0.5}, {"loss": 0.5}, keep="min") == {}  # equal is no improvement
    assert apply({}, {"loss": 9.0}, keep="min") == {"loss": 9.0}  # a first value is kept


def test_keep_max() -> None:
    assert apply({"acc": 0.5}, {"acc": 0.4}, keep="max") == {}
    assert apply({"acc": 0.5}, {"acc": 0.9}, keep="max") == {"acc": 0.9}
    assert apply({"acc": 1}, {"acc": 1}, keep="max") == {}


def test_keep_is_per_key_without_a_leader() -> None:
    current = {"loss": 0.5, "err": 0.1}
    assert apply(current, {"loss": 0.4, "err": 0.2, "new": 3}, keep="min") == {
        "loss": 0.4,
        "new": 3,
    }


# ----------------------------------------------------------------------------- apply: leader


def test_leader_keeps_the_whole_group_when_it_improves() -> None:
    current = {"loss": 0.5, "acc": 0.9, "epoch": 3}
    assert apply(current, {"loss": 0.4, "acc": 0.1, "epoch": 4}, keep="min", leader="loss") == {
        "loss": 0.4,
        "acc": 0.1,
        "epoch": 4,
    }


def test_leader_drops_the_whole_group_when_it_does_not_improve() -> None:
    current = {"loss": 0.5, "acc": 0.1}
    # acc alone would improve under max, but the leader (loss, min) decides for the group.
    assert apply(current, {"loss": 0.7, "acc": 0.99}, keep="min", leader="loss") == {}
    assert apply({"loss": 0.5}, {"loss": 0.7, "acc": 0.1}, keep="min", leader="loss") == {}


def test_leader_missing_from_the_values_keeps_nothing() -> None:
    assert apply({}, {"acc": 0.9}, keep="max", leader="loss") == {}
    assert apply({"loss": 1.0}, {"acc": 0.9}, keep="latest", leader="loss") == {}


def test_leader_without_a_current_value_is_kept() -> None:
    assert apply({"acc": 0.2}, {"loss": 3.0, "acc": 0.1}, keep="min", leader="loss") == {
        "loss": 3.0,
        "acc": 0.1,
    }


# ----------------------------------------------------------------------------- apply: NaN, mixed


@pytest.mark.parametrize("keep", ["min", "max"])
def test_nan_never_improves(keep: str) -> None:
    nan = float("nan")
    assert apply({"loss": 0.5}, {"loss": nan}, keep=keep) == {}
    group = {"loss": nan, "acc": 2.0}
    assert apply({"loss": 0.5, "acc": 1.0}, group, keep=keep, leader="loss") == {}


def test_nan_is_kept_as_the_latest() -> None:
    result = apply({"loss": 0.5}, {"loss": float("nan")})
    assert math.isnan(result["loss"])  # type: ignore[arg-type]


@pytest.mark.parametrize("keep", ["min", "max"])
def test_a_first_nan_does_not_block_later_values(keep: str) -> None:
    current: dict[str, Any] = {}
    current.update(apply(current, {"loss": float("nan")}, keep=keep))
    current.update(apply(current, {"loss": 0.3}, keep=keep))
    assert current == {"loss": 0.3}


def test_values_that_do_not_compare_replace() -> None:
    assert apply({"loss": 0.5}, {"loss": "diverged"}, keep="min") == {"loss": "diverged"}


# ----------------------------------------------------------------------------- to_scalar


@pytest.mark.parametrize(
    ("value", "expected", "kind"),
    [
        (1, 1, int),
        (0.5, 0.5, float),
        ("s", "s", str),
        (True, True, bool),
        (np.float32(0.5), 0.5, float),
        (np.float64(0.25), 0.25, float),
        (np.int64(3), 3.0, float),
        (np.int8(-2), -2.0, float),
        (np.uint16(7), 7.0, float),
        (np.bool_(True), True, bool),
        (np.bool_(False), False, bool),
        (np.array(2.5), 2.5, float),
        (np.array([1, 2]), "[1 2]", str),
        (None, "None", str),
        ([1, 2], "[1, 2]", str),
        (pathlib.PurePosixPath("a/b"), "a/b", str),
        (np.complex64(1 + 2j), "(1+2j)", str),
    ],
)
def test_to_scalar(value: Any, expected: Any, kind: type) -> None:
    result = _messages.to_scalar(value)
    assert result == expected
    assert isinstance(result, kind)
    assert not isinstance(result, np.bool_)


def test_to_scalar_of_an_object_is_its_str() -> None:
    class Thing:
        def __str__(self) -> str:
            return "thing!"

    assert _messages.to_scalar(Thing()) == "thing!"


def test_to_scalar_of_an_object_whose_item_fails() -> None:
    class Weird:
        def item(self) -> float:
            raise TypeError("no")

        def __str__(self) -> str:
            return "weird"

    assert _messages.to_scalar(Weird()) == "weird"


# ----------------------------------------------------------------------------- encode, decode


def test_encode_format() -> None:
    assert _messages.encode({"loss": 0.5}, now=1700000000.123) == (
        b'{"t":1700000000.123,"m":{"loss":0.5}}\n'
    )
    assert _messages.encode(
        {"loss": 0.5, "acc": 1}, keep="min", leader="loss", step=3, now=1.5
    ) == b'{"t":1.5,"m":{"loss":0.5,"acc":1},"keep":"min","leader":"loss","step":3}\n'


def test_encode_without_now_uses_the_clock() -> None:
    record = _messages.decode(_messages.encode({"a": 1}))[0]
    assert record["t"] > 1.6e9


def test_encode_decode_round_trip() -> None:
    values: dict[str, _messages.Scalar] = {
        "loss": 0.5, "n": 3, "tag": "a\nb \u00e9", "ok": True, "big": float("inf")
    }
    line = _messages.encode(values, keep="max", leader="loss", step=7, now=2.0)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert _messages.decode(line) == [
        {"t": 2.0, "m": values, "keep": "max", "leader": "loss", "step": 7}
    ]
    assert _messages.decode(line.decode()) == _messages.decode(line)


def test_nan_round_trips() -> None:
    (record,) = _messages.decode(_messages.encode({"loss": float("nan")}, now=0.0))
    assert math.isnan(record["m"]["loss"])


def test_torn_last_line_is_skipped() -> None:
    first = _messages.encode({"loss": 0.5}, now=1.0)
    second = _messages.encode({"loss": 0.4}, now=2.0)
    assert _messages.decode(first + second[:-7]) == [{"t": 1.0, "m": {"loss": 0.5}}]
    assert _messages.decode(first + second[:1]) == [{"t": 1.0, "m": {"loss": 0.5}}]


def test_corrupt_middle_lines_are_skipped() -> None:
    data = (
        _messages.encode({"a": 1}, now=1.0)
        + b"garbage\n"
        + b"\xff\xfe{bad utf8\n"
        + b"\n   \n"
        + b"[1, 2]\n"
        + b'{"t": 1, "m": 3}\n'
        + b'{"t": 1}\n'
        + _messages.encode({"a": 2}, now=2.0)
    )
    assert _messages.decode(data) == [{"t": 1.0, "m": {"a": 1}}, {"t": 2.0, "m": {"a": 2}}]


def test_decode_of_nothing() -> None:
    assert _messages.decode(b"") == []
    assert _messages.decode("") == []


# ---------------------------------------------------------------------- replay, history, keys

RECORDS: list[dict[str, Any]] = [
    {"t": 1.0, "m": {"loss": 0.5, "acc": 0.1}, "keep": "min", "leader": "loss"},
    {"t": 2.0, "m": {"loss": 0.7, "acc": 0.9}, "keep": "min", "leader": "loss"},
    {"t": 3.0, "m": {"lr": 0.1}, "step": 10},
    {"t": 4.0, "m": {"loss": 0.4, "acc": 0.2}, "keep": "min", "leader": "loss"},
    {"t": 5.0, "m": {"lr": 0.05, "best": 1}, "keep": "max"},
]


def test_replay_applies_records_in_order() -> None:
    # lr 0.05 arrives with keep="max" and does not beat 0.1.
    assert _messages.replay(RECORDS) == {"loss": 0.4, "acc": 0.2, "lr": 0.1, "best": 1}
    assert _messages.replay([]) == {}


def test_replay_equals_applying_each_record() -> None:
    current: dict[str, Any] = {}
    for record in RECORDS:
        keep, leader = record.get("keep", "latest"), record.get("leader")
        current.update(apply(current, record["m"], keep, leader))
    assert _messages.replay(RECORDS) == current


def test_history_keeps_every_value_with_step_or_index() -> None:
    assert _messages.history(RECORDS, "loss") == [(0.0, 1.0, 0.5), (1.0, 2.0, 0.7), (2.0, 4.0, 0.4)]
    # x is the step when the record has one, else the index among this key's values.
    assert _messages.history(RECORDS, "lr") == [(10.0, 3.0, 0.1), (1.0, 5.0, 0.05)]
    assert _messages.history(RECORDS, "missing") == []


def test_keys_in_order_of_first_appearance() -> None:
    assert _messages.keys(RECORDS) == ["loss", "acc", "lr", "best"]
    assert _messages.keys([]) == []


_KEYS = ["loss", "acc", "lr"]
_MESSAGE_VALUES = (
    st.integers(-100, 100)
    | st.floats(allow_nan=False)
    | st.text(max_size=5)
    | st.booleans()
)
_CALLS = st.lists(
    st.tuples(
        st.dictionaries(st.sampled_from(_KEYS), _MESSAGE_VALUES, min_size=1, max_size=3),
        st.sampled_from(_messages.KEEPS),
        st.none() | st.sampled_from(_KEYS),
        st.none() | st.integers(0, 1000),
    ),
    max_size=8,
)


@given(_CALLS)
def test_replay_of_the_log_equals_incremental_apply(
    calls: list[tuple[dict[str, Any], str, str | None, int | None]],
) -> None:
    current: dict[str, Any] = {}
    log = b""
    for values, keep, leader, step in calls:
        current.update(apply(current, values, keep, leader))
        log += _messages.encode(values, keep, leader, step, now=0.0)
    assert _messages.replay(_messages.decode(log)) == current
    assert len(_messages.decode(log)) == len(calls)


@given(
    st.sampled_from(["min", "max", "latest"]),
    st.lists(
        st.dictionaries(
            st.sampled_from(_KEYS), st.integers(-50, 50) | st.floats(allow_nan=False), min_size=1
        ),
        max_size=8,
    ),
)
def test_replay_keeps_the_min_max_or_last_of_each_key(
    keep: str, messages: list[dict[str, float]]
) -> None:
    log = b"".join(_messages.encode(m, keep, now=0.0) for m in messages)
    expected: dict[str, float] = {}
    for key in _KEYS:
        seen = [m[key] for m in messages if key in m]
        if seen:
            expected[key] = min(seen) if keep == "min" else max(seen) if keep == "max" else seen[-1]
    assert _messages.replay(_messages.decode(log)) == expected


# ----------------------------------------------------------------------------- MessageLog


def test_message_log_appends_survive_reopening(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "messages.jsonl"
    assert _messages.read(path) == []
    log = _messages.MessageLog(path)
    log.append(_messages.encode({"loss": 0.5}, now=1.0))
    log.append(_messages.encode({"loss": 0.4}, keep="min", now=2.0))
    assert len(_messages.read(path)) == 2  # readable before close
    log.close()
    log.close()  # closing twice is harmless
    again = _messages.MessageLog(path)
    again.append(_messages.encode({"acc": 1}, now=3.0))
    again.close()
    assert _messages.read(path) == [
        {"t": 1.0, "m": {"loss": 0.5}},
        {"t": 2.0, "m": {"loss": 0.4}, "keep": "min"},
        {"t": 3.0, "m": {"acc": 1}},
    ]
    assert _messages.replay(_messages.read(path)) == {"loss": 0.4, "acc": 1}


def test_message_log_survives_sigkill(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "messages.jsonl"
    script = textwrap.dedent(
        """
        import os, pathlib, signal, sys
        from fexp import _messages
        log = _messages.MessageLog(pathlib.Path(sys.argv[1]))
        for i in range(3):
            log.append(_messages.encode({"i": i}, now=float(i)))
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    child = subprocess.run([sys.executable, "-c", script, str(path)], timeout=60, check=False)
    assert child.returncode == -9
    assert [r["m"]["i"] for r in _messages.read(path)] == [0, 1, 2]


def test_append_after_a_torn_line_keeps_the_new_record(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "messages.jsonl"
    path.write_bytes(
        _messages.encode({"a": 1}, now=1.0) + _messages.encode({"a": 2}, now=2.0)[:9]
    )
    log = _messages.MessageLog(path)
    log.append(_messages.encode({"a": 3}, now=3.0))
    log.close()
    assert [r["m"]["a"] for r in _messages.read(path)] == [1, 3]
