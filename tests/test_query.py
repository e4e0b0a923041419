"""Tests for fexp._query: conditions, matching, selecting, columns and renderers.

The golden file tests/golden/list.csv is never created by a test; regenerate it with
``python -m tests.test_query`` (or through ``tests.regen``) and review the diff.
"""

from __future__ import annotations

import csv
import io
import json
import math
import pathlib
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fexp import _errors, _query, _table

GOLDEN_LIST_CSV = pathlib.Path(__file__).parent / "golden" / "list.csv"


def row(name: str, params: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """Build a row with every field, in FIELDS order, as the lead's reader does."""
    base: dict[str, Any] = {
        "name": name,
        "path": f"/runs/train/{name}",
        "set": "/runs/train",
        "status": "finished",
        "created": "2024-05-01T12:00:00+02:00",
        "registered": None,
        "started": None,
        "stopped": None,
        "purpose": "",
        "params": params if params is not None else {},
        "messages": {},
        "version": {"module": "examples.train", "function": "train"},
        "meta": {},
        "notes": [],
        "error": None,
        "slurm": None,
    }
    unknown = set(fields) - set(base)
    assert not unknown, unknown
    base.update(fields)
    return base


def cond(text: str) -> _query.Condition:
    return _query.parse_condition(text)


def holds(text: str, r: dict[str, Any], **kw: Any) -> bool:
    return _query.matches(r, [cond(text)], **kw)


# --------------------------------------------------------------------------- parse_condition


@pytest.mark.parametrize(
    ("text", "key", "is_regex", "tests"),
    [
        ("lr<0.01", "lr", False, (("<", 0.01),)),
        ("lr < 0.01", "lr", False, (("<", 0.01),)),
        ("  lr<=1e-3 ", "lr", False, (("<=", 0.001),)),
        ("epochs==10", "epochs", False, (("==", 10),)),
        ("status != finished", "status", False, (("!=", "finished"),)),
        ("opt.lr >= 0.5", "opt.lr", False, ((">=", 0.5),)),
        ("flag == true", "flag", False, (("==", True),)),
        ("tag == null", "tag", False, (("==", None),)),
        ("name == 'lr=0.1__x'", "name", False, (("==", "lr=0.1__x"),)),
        ('purpose == "a < b"', "purpose", False, (("==", "a < b"),)),
        ("layers == [64, 64]", "layers", False, (("==", [64, 64]),)),
        ("created > 2024-01-01", "created", False, ((">", "2024-01-01"),)),
        # A number on the left of a single operator is read as the value.
        ("0.01 > lr", "lr", False, (("<", 0.01),)),
        # xmen's "regex op val".
        ("lr.* < 0.1", "lr.*", True, (("<", 0.1),)),
        # xmen's "val1 op1 regex op2 val2": the low bound is flipped to read "key op value".
        ("0.001 < lr.* <= 0.1", "lr.*", True, ((">", 0.001), ("<=", 0.1))),
        ("0<lr<=1", "lr", False, ((">", 0), ("<=", 1))),
        ("-1 <= x < 1", "x", False, ((">=", -1), ("<", 1))),
        # Operator characters inside brackets belong to the regex.
        ("(?<=a)b == 1", "(?<=a)b", True, (("==", 1),)),
        ("[<>]x == 2", "[<>]x", True, (("==", 2),)),
        ("'my key' == 1", "my key", True, (("==", 1),)),
    ],
)
def test_parse_comparison_forms(
    text: str, key: str, is_regex: bool, tests: tuple[tuple[str, Any], ...]
) -> None:
    c = cond(text)
    assert c.text == text
    assert c.key == key
    assert (c.regex is not None) is is_regex
    assert c.tests == tests


def test_parse_bare_word_is_a_key_regex() -> None:
    for text in ("lr", "lr.*", "opt\\..*", "loss|acc"):
        c = cond(text)
        assert c.tests == ()
        assert c.regex is not None and c.regex.pattern == text


@pytest.mark.parametrize(
    ("text", "key", "op", "regex"),
    [
        ("name ~ ^lr", "name", "~", "^lr"),
        ("name~lr=0.1", "name", "~", "lr=0.1"),  # everything after ~ is the regex, verbatim
        ("name !~ a<b", "name", "!~", "a<b"),
        ("purpose ~ 'x y'", "purpose", "~", "x y"),
        ("l.* ~ [0-9]+(?=x)", "l.*", "~", "[0-9]+(?=x)"),
    ],
)
def test_parse_regex_value(text: str, key: str, op: str, regex: str) -> None:
    c = cond(text)
    assert c.key == key
    ((got_op, pattern),) = c.tests
    assert got_op == op
    assert pattern.pattern == regex


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty condition"),
        ("   ", "empty condition"),
        ("lr<<1", "unknown operator '<<'"),
        ("lr=<1", "did you mean '<='"),
        ("lr=>1", "did you mean '>='"),
        ("lr=1", "did you mean '=='"),
        ("lr<>1", "did you mean '!='"),
        ("lr=~x", "did you mean '~'"),
        ("lr<", "nothing after '<'"),
        ("lr <   ", "nothing after '<'"),
        ("<0.1", "nothing before '<'"),
        ("< lr < 1", "nothing before '<'"),
        ("0 < lr <", "nothing after '<'"),
        ("a<b<c<d", "too many operators"),
        ("1 < lr ~ 3", "'~' cannot be used in a range"),
        ("lr(<1", "unbalanced '('"),
        ("lr) < 1", "unbalanced ')'"),
        ("[ab < 1", "unbalanced '['"),
        ("'lr < 1", "unbalanced quote"),
        ('lr == "abc', "unbalanced quote"),
        ("lr.*( < 1", "unbalanced '('"),
        ("lr[ < 1", "unbalanced '['"),
        ("*lr < 1", "invalid key regex"),
        ("name ~ (a|b", "invalid regex"),
        ("name ~", "nothing after '~'"),
        ("name ~ ''", "nothing after '~'"),
        ("+", "invalid key regex"),
    ],
)
def test_parse_errors(text: str, fragment: str) -> None:
    with pytest.raises(_errors.ConfigError) as info:
        _query.parse_condition(text)
    message = str(info.value)
    assert fragment in message
    assert repr(text) in message, "the message must name the condition as written"
    assert "(option --where)" in message
    assert "\n" not in message


def test_parse_error_snapshot_and_source() -> None:
    with pytest.raises(_errors.ConfigError) as info:
        _query.parse_condition("lr=<1", source="argument WHERE")
    assert info.value.source == "condition 'lr=<1' (argument WHERE)"
    assert str(info.value) == (
        "condition 'lr=<1' (argument WHERE): unknown operator '=<'; did you mean '<='? "
        "Operators: < <= == != >= > ~ !~; quote values that contain them, "
        "e.g. \"name == 'a=b'\"."
    )


# --------------------------------------------------------------------------- matching


NESTED = row("a", {"lr": 0.01, "opt": {"lr": 0.5, "name": "adam", "betas": [0.9, 0.99]},
                   "epochs": 10, "tag": None, "flag": True},
             messages={"loss": 0.25, "acc": 0.9, "lr_final": 0.001})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lr<0.1", True),
        ("lr<0.001", False),
        ("lr==0.01", True),
        ("epochs == 10.0", True),  # int and float compare as numbers
        ("epochs>=10", True),
        ("opt.lr > 0.1", True),
        ("opt.name == adam", True),
        ("opt.betas == [0.9, 0.99]", True),
        ("tag == null", True),
        ("flag == true", True),
        ("flag == 1", False),  # a bool is not a number
        ("loss <= 0.25", True),  # messages are looked up after params
        ("status == finished", True),  # then top-level fields
        ("status ~ ^fin", True),
        ("status !~ ^fin", False),
        ("name ~ a", True),
        ("version.module == examples.train", True),
        ("created > 2024-01-01", True),
        ("created < 2024-01-01", False),
        # xmen forms: bare regex, regex op val, val op regex op val.
        ("lr.*", True),
        ("opt\\..*", True),
        ("momentum.*", False),
        ("lr.* < 0.005", True),  # lr_final (a message) satisfies it
        ("opt\\.l.* > 0.4", True),
        ("0.1 < .*lr < 1", True),  # opt.lr
        ("0.02 < .*lr < 0.4", False),
        ("0.005 < lr.* <= 0.01", True),
    ],
)
def test_matches(text: str, expected: bool) -> None:
    assert holds(text, NESTED) is expected


def test_range_needs_one_key_satisfying_both_bounds() -> None:
    r = row("x", {"a1": 0.0, "a2": 10.0})
    # a2 passes the low bound and a1 the high one, but no single key passes both.
    assert not holds("0.5 < a\\d < 5", r)
    assert holds("-1 < a\\d < 5", r)
    # "a." is a plain key (word characters and dots), looked up literally, not a regex.
    assert not holds("-1 < a. < 5", r)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lr < abc", False),
        ("lr > abc", False),
        ("lr == abc", False),
        ("lr != abc", True),  # different kinds are never equal
        ("name < 5", False),
        ("tag < 1", False),
        ("tag == 0", False),
        ("opt > 1", False),  # a dict
        ("layers < 5", False),  # a list vs a number
        ("layers < [1, 'a']", False),  # lists whose items don't compare
        ("flag < 2", False),
        ("nan_value == .nan", True),  # NaN equals NaN for ==
        ("nan_value < 1", False),
        ("nan_value > 1", False),
        ("inf_value > 1e308", True),
    ],
)
def test_type_mismatch_is_false_never_an_error(text: str, expected: bool) -> None:
    r = row("x", {"lr": 0.01, "tag": None, "opt": {"a": 1}, "layers": [1, 2], "flag": True,
                  "nan_value": math.nan, "inf_value": math.inf})
    assert holds(text, r) is expected


def test_lookup_order_params_then_messages_then_fields() -> None:
    r = row("real", {"name": "param"}, messages={"name": "message", "status": "msg"})
    assert _query.lookup(r, "name") == "param"
    assert _query.lookup(r, "status") == "msg"
    assert _query.lookup(r, "path") == "/runs/train/real"
    assert _query.lookup(r, "nope") is _query.MISSING
    dotted = row("d", {"a.b": 1, "a": {"c": 2}, "x": {"y.z": {"w": 3}}})
    assert _query.lookup(dotted, "a.b") == 1
    assert _query.lookup(dotted, "a.c") == 2
    assert _query.lookup(dotted, "x.y.z.w") == 3


def test_missing_entry() -> None:
    has = row("has", {"lr": 0.5})
    lacks = row("lacks", {"epochs": 3})
    conditions = [cond("lr < 1")]
    assert _query.matches(has, conditions)
    assert not _query.matches(lacks, conditions)
    assert _query.matches(lacks, conditions, missing_entry=True)
    assert _query.matches(lacks, conditions, missing_entry="-")
    assert not _query.matches(lacks, conditions, missing_entry="")
    # A present key that fails stays excluded whatever missing_entry says.
    assert not _query.matches(has, [cond("lr > 1")], missing_entry=True)
    # Regex keys: "missing" means no key matches.
    assert not _query.matches(lacks, [cond("l.* < 1")])
    assert _query.matches(lacks, [cond("l.* < 1")], missing_entry=True)


def test_matches_is_an_and() -> None:
    r = row("x", {"lr": 0.01, "epochs": 5})
    assert _query.matches(r, [cond("lr<1"), cond("epochs==5")])
    assert not _query.matches(r, [cond("lr<1"), cond("epochs==6")])
    assert _query.matches(r, [])


def test_corrupt_row_matches_field_conditions_only() -> None:
    bad = row("bad", None, status="corrupt", error="malformed YAML: line 3")
    bad["params"] = None  # a reader may leave params out entirely
    bad["messages"] = None
    assert holds("status == corrupt", bad)
    assert not holds("lr < 1", bad)
    assert not holds("lr.*", bad)


def test_flatten_matches_xmen() -> None:
    nested = {"a": 1, "b": {"c": 2, "d": {"e": [3, {"f": 4}]}}, "g": {}}
    assert _query.flatten(nested) == {"a": 1, "b.c": 2, "b.d.e": [3, {"f": 4}]}
    assert _query.flatten(nested, sep="_") == {"a": 1, "b_c": 2, "b_d_e": [3, {"f": 4}]}
    assert list(_query.flatten({"z": 1, "y": {"x": 2}, "w": 3})) == ["z", "y.x", "w"]
    assert _query.flatten({1: {2: "x"}}) == {"1.2": "x"}
    assert _query.flatten({}) == {}


# --------------------------------------------------------------------------- select


ROWS = [
    row("lr=0.1__epochs=1", {"lr": 0.1, "epochs": 1}, messages={"loss": 0.5}),
    row("lr=0.01__epochs=1", {"lr": 0.01, "epochs": 1}, messages={"loss": math.nan},
        status="error"),
    row("lr=0.001__epochs=2", {"lr": 0.001, "epochs": 2}, messages={"loss": 0.1},
        status="running", version={"module": "other", "class": "Train"}),
    row("lr=0.01__epochs=2", {"lr": 0.01, "epochs": 2}, messages={},
        set="/runs/other", path="/runs/other/lr=0.01__epochs=2"),
    row("broken", None, status="corrupt", error="malformed YAML", version={}),
]


def names(rows: list[dict[str, Any]]) -> list[str]:
    return [r["name"] for r in rows]


def test_select_pattern_glob_regex_and_path() -> None:
    assert names(_query.select(ROWS, pattern="lr=0.01*")) == [
        "lr=0.01__epochs=1", "lr=0.01__epochs=2"]
    assert names(_query.select(ROWS, pattern="re:epochs=2$")) == [
        "lr=0.001__epochs=2", "lr=0.01__epochs=2"]
    assert names(_query.select(ROWS, pattern="/runs/other/*")) == ["lr=0.01__epochs=2"]
    assert names(_query.select(ROWS, pattern="*")) == names(ROWS)
    assert _query.select(ROWS, pattern="LR*") == []  # globs are case-sensitive everywhere


def test_select_where_status_types() -> None:
    assert names(_query.select(ROWS, where=["lr < 0.05", "epochs == 1"])) == [
        "lr=0.01__epochs=1"]
    assert names(_query.select(ROWS, status=["error", "corrupt"])) == [
        "lr=0.01__epochs=1", "broken"]
    assert names(_query.select(ROWS, types_match="Train")) == ["lr=0.001__epochs=2"]
    assert len(_query.select(ROWS, types_match="^examples\\.train:train$")) == 3
    assert names(_query.select(ROWS, where=["loss < 1"], missing_entry=True)) == [
        "lr=0.1__epochs=1", "lr=0.001__epochs=2", "lr=0.01__epochs=2", "broken"]


def test_select_returns_the_same_row_objects() -> None:
    out = _query.select(ROWS, where=["lr < 1"])
    assert all(any(o is r for r in ROWS) for o in out)


def test_sort_ascending_descending_missing_last() -> None:
    assert names(_query.select(ROWS, sort="loss")) == [
        "lr=0.001__epochs=2", "lr=0.1__epochs=1",  # then NaN and missing, in input order
        "lr=0.01__epochs=1", "lr=0.01__epochs=2", "broken"]
    assert names(_query.select(ROWS, sort="-loss")) == [
        "lr=0.1__epochs=1", "lr=0.001__epochs=2",
        "lr=0.01__epochs=1", "lr=0.01__epochs=2", "broken"]
    # Stable: equal keys keep their input order, also when descending.
    assert names(_query.select(ROWS, sort="-epochs")) == [
        "lr=0.001__epochs=2", "lr=0.01__epochs=2", "lr=0.1__epochs=1",
        "lr=0.01__epochs=1", "broken"]
    assert names(_query.select(ROWS, sort="name"))[:2] == ["broken", "lr=0.001__epochs=2"]


def test_sort_mixed_types() -> None:
    mixed = [row("s", {"v": "b"}), row("n", {"v": 2}), row("l", {"v": [1]}),
             row("t", {"v": True}), row("f", {"v": 1.5}), row("a", {"v": "a"}),
             row("none", {"v": None})]
    assert names(_query.sort_rows(mixed, "v")) == ["f", "n", "t", "a", "s", "l", "none"]


def test_limit() -> None:
    assert names(_query.select(ROWS, sort="-lr", limit=2)) == [
        "lr=0.1__epochs=1", "lr=0.01__epochs=1"]
    assert _query.select(ROWS, limit=0) == []
    assert len(_query.select(ROWS, limit=100)) == len(ROWS)


@pytest.mark.parametrize(
    ("kwargs", "fragments"),
    [
        ({"limit": -1}, ["limit -1 (option --limit)"]),
        ({"sort": "losss"}, ["sort key 'losss' (option --sort)", "did you mean 'loss'?"]),
        ({"sort": "-"}, ["sort key '-'"]),
        ({"status": ["finshed"]}, ["status 'finshed' (option --status)",
                                   "did you mean 'finished'?"]),
        ({"pattern": "re:(x"}, ["pattern 're:(x' (argument PATTERN)", "invalid regex"]),
        ({"types_match": "*x"}, ["type regex '*x' (option --types)"]),
        ({"where": ["lr<", "ok==1", "a=<1"]}, ["condition 'lr<'", "condition 'a=<1'"]),
    ],
)
def test_select_errors(kwargs: dict[str, Any], fragments: list[str]) -> None:
    with pytest.raises(_errors.ConfigError) as info:
        _query.select(ROWS, **kwargs)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_select_reports_every_problem_at_once() -> None:
    with pytest.raises(_errors.ConfigError) as info:
        _query.select(ROWS, where=["lr<<1"], status=["nope"], limit=-2)
    text = str(info.value)
    assert "'lr<<1'" in text and "'nope'" in text and "limit -2" in text


def test_select_accepts_parsed_conditions() -> None:
    parsed = cond("epochs == 2")
    assert names(_query.select(ROWS, where=[parsed, "lr > 0.005"])) == ["lr=0.01__epochs=2"]


def test_select_checks_arguments_even_without_rows() -> None:
    with pytest.raises(_errors.ConfigError):
        _query.select([], where=["lr=<1"])
    assert _query.select([], sort="anything") == []


# --------------------------------------------------------------------------- varying params


def test_varying_params_nested_and_missing() -> None:
    rows = [
        row("a", {"lr": 0.1, "opt": {"name": "adam", "beta": 0.9}, "seed": 1, "same": [1]}),
        row("b", {"lr": 0.1, "opt": {"name": "sgd", "beta": 0.9}, "seed": 1, "same": [1]}),
        row("c", {"lr": 0.2, "opt": {"name": "adam", "beta": 0.9}, "same": [1], "new": 3}),
    ]
    assert _query.varying_params(rows) == ["lr", "opt.name", "seed", "new"]
    assert _query.varying_params(rows[:1]) == []
    assert _query.varying_params([]) == []


def test_varying_params_type_nan_and_corrupt() -> None:
    rows = [row("a", {"x": 1, "n": math.nan, "b": True}),
            row("b", {"x": 1.0, "n": math.nan, "b": 1}),
            row("bad", None, status="corrupt", error="bad yaml")]
    # 1 == 1.0 (same kind), NaN == NaN, but True differs from 1; the corrupt row is ignored.
    assert _query.varying_params(rows) == ["b"]


# --------------------------------------------------------------------------- columns


def headers(cols: list[_table.Column]) -> list[str]:
    return [c.header for c in cols]


def test_default_columns() -> None:
    rows = ROWS[:3]
    assert headers(_table.columns(rows)) == ["name", "status", "created", "lr", "epochs", "loss"]
    single = _table.columns(ROWS[:1])
    assert headers(single) == ["name", "status", "created", "lr", "epochs", "loss"]
    assert headers(_table.columns(ROWS)) == [
        "name", "set", "status", "created", "lr", "epochs", "loss", "error"]
    assert headers(_table.columns([])) == ["name", "status", "created"]


def test_columns_regexes_toggles_and_where() -> None:
    rows = [row("a", {"lr": 0.1, "opt": {"lr": 1}, "seed": 0},
                messages={"loss": 1, "val_loss": 2, "acc": 0.5},
                purpose="p", meta={"host": "h1", "slurm": {"job_id": 1}},
                version={"module": "m", "function": "f",
                         "git": {"branch": "main", "commit": "0123456789ab", "dirty": True}}),
            row("b", {"lr": 0.2, "opt": {"lr": 1}, "seed": 0}, messages={"loss": 3})]
    cols = _table.columns(rows, param_regex=".*lr", msg_regex=".*loss")
    assert headers(cols) == ["name", "status", "created", "lr", "opt.lr", "loss", "val_loss"]
    everything = _table.Display(purpose=True, git=True, meta=True)
    cols = _table.columns(rows, show=everything)
    assert headers(cols) == ["name", "status", "created", "purpose", "git", "lr",
                             "loss", "val_loss", "acc", "meta.host"]
    assert cols[4].text(rows[0]) == "main@01234567 (dirty)"
    assert cols[4].text(rows[1], "-") == "-"
    bare = _table.Display(status=False, date=False, params=False, messages=False)
    assert headers(_table.columns(rows, show=bare)) == ["name"]
    # Keys a condition names or matches become columns (xmen's bare regex selects columns).
    where = [cond("seed"), cond("opt\\..*"), cond("acc > 0")]
    assert headers(_table.columns(rows, where=["seed"])) == headers(
        _table.columns(rows, where=[cond("seed")]))
    with pytest.raises(_errors.ConfigError, match="condition 'seed<'"):
        _table.columns(rows, where=["seed<"])
    assert headers(_table.columns(rows, msg_regex="loss", where=where)) == [
        "name", "status", "created", "lr", "opt.lr", "seed", "loss", "acc"]


def test_columns_reject_bad_regexes() -> None:
    with pytest.raises(_errors.ConfigError, match=r"-p '\(' \(option --param\)"):
        _table.columns(ROWS, param_regex="(")
    with pytest.raises(_errors.ConfigError, match=r"-m '\[' \(option --message\)"):
        _table.columns(ROWS, msg_regex="[")


def test_columns_name_collisions() -> None:
    rows = [row("a", {"status": 1, "loss": 0}, messages={"loss": 0.5, "name": "m"}),
            row("b", {"status": 2, "loss": 1}, messages={"loss": 0.4})]
    cols = _table.columns(rows)
    assert headers(cols) == ["name", "status", "created", "params.status", "loss",
                             "messages.loss", "messages.name"]
    assert [c.text(rows[0]) for c in cols[3:]] == ["1", "0", "0.5", "m"]


def test_slurm_column() -> None:
    rows = [row("a", slurm={"job_id": 17, "array_job_id": 10, "array_task_id": 3,
                            "state": "RUNNING"}),
            row("b", slurm={"job_id": 11}),
            row("c", slurm={"node": "n1"}),
            row("d")]
    col = _table.columns(rows)[-1]
    assert col.header == "slurm"
    assert [col.text(r) for r in rows] == ["10_3 RUNNING", "11", "node=n1", ""]
    assert "slurm" not in headers(_table.columns([row("d")]))


# --------------------------------------------------------------------------- renderers


def golden_rows() -> list[dict[str, Any]]:
    """The rows behind tests/golden/list.csv: awkward values of every kind."""
    return [
        row("lr=0.1__opt=adam", {"lr": 0.1, "opt": {"name": "adam", "betas": [0.9, 0.999]},
                                 "layers": [64, 64], "tag": None, "eps": 1e-8},
            messages={"loss": 0.125, "acc": 0.97, "note": 'said "hi", then left'},
            purpose="compare, learning rates", slurm={"job_id": 1234, "array_task_id": 0,
                                                     "array_job_id": 1234}),
        row("lr=0.01__opt=sgd", {"lr": 0.01, "opt": {"name": "sgd", "betas": [0.9, 0.999]},
                                 "layers": [64, 64], "tag": "two\nlines", "eps": 1e-8},
            messages={"loss": math.nan, "acc": math.inf, "done": True}, status="error"),
        row("lr=0.001__opt=sgd", {"lr": 0.001, "opt": {"name": "sgd", "betas": [0.5, 0.999]},
                                  "layers": [32], "tag": "", "eps": 1e-8},
            messages={"loss": -0.0, "acc": 10**20}, status="running",
            set="/runs/other set", path="/runs/other set/lr=0.001__opt=sgd"),
        row("broken", None, status="corrupt", error="malformed YAML: line 3, column 1"),
    ]


def list_csv() -> str:
    """The expected text of tests/golden/list.csv."""
    rows = golden_rows()
    cols = _table.columns(rows, show=_table.Display(purpose=True))
    return _table.render_csv(rows, cols, missing="-")


def test_golden_list_csv() -> None:
    assert GOLDEN_LIST_CSV.exists(), (
        f"missing {GOLDEN_LIST_CSV}; run `python -m tests.test_query` and review it")
    assert list_csv().encode("utf-8") == GOLDEN_LIST_CSV.read_bytes(), (
        "run `python -m tests.test_query` and review the diff")


def test_csv_is_rfc4180_and_round_trips() -> None:
    rows = golden_rows()
    cols = _table.columns(rows)
    text = _table.render_csv(rows, cols)
    assert text.endswith("\r\n") and "\r\n" in text.split("two")[0]
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed[0] == headers(cols)
    assert len(parsed) == len(rows) + 1
    by_header = dict(zip(parsed[0], parsed[2], strict=True))
    assert by_header["tag"] == "two\nlines"
    assert by_header["loss"] == "nan" and by_header["acc"] == "inf"
    assert by_header["opt.betas"] == "[0.9, 0.999]"
    assert dict(zip(parsed[0], parsed[1], strict=True))["note"] == 'said "hi", then left'
    assert _table.render_csv([], cols).count("\r\n") == 1


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "null"), (True, "true"), (False, "false"), (0.1, "0.1"), (1e-8, "1e-08"),
     (math.nan, "nan"), (-math.inf, "-inf"), (3, "3"), ("s", "s"),
     ([1, [2, None]], "[1, [2, null]]"),
     ({"a": {"b": True}}, "{a: {b: true}}"), ((1, 2), "[1, 2]"), (_query.MISSING, "?")],
)
def test_format_value(value: Any, text: str) -> None:
    assert _query.format_value(value, "?") == text


def _reject_constant(token: str) -> Any:
    raise AssertionError(f"invalid JSON token {token}")


def test_render_json_is_valid_with_nan_and_inf() -> None:
    rows = golden_rows()
    rows[0]["messages"]["text"] = "NaN and Infinity, \"quoted\" NaN"
    rows[0]["params"]["when"] = __import__("datetime").date(2024, 1, 2)
    text = _table.render_json(rows)
    data = json.loads(text, parse_constant=_reject_constant)
    assert [d["name"] for d in data] == names(rows)
    assert data[1]["messages"] == {"loss": "NaN", "acc": "Infinity", "done": True}
    assert data[0]["messages"]["text"] == "NaN and Infinity, \"quoted\" NaN"
    assert data[0]["params"]["when"] == "2024-01-02"
    assert float(data[1]["messages"]["loss"]) != float(data[1]["messages"]["loss"])
    assert list(data[0]) == list(_query.FIELDS)
    assert len(text.splitlines()) == len(rows) + 2  # "[", one row per line, "]"
    assert _table.render_json([]) == "[]\n"


def test_render_json_orders_fields_and_keeps_extras() -> None:
    shuffled = {"slurm": None, "zeta": 1, "name": "n", "alpha": [math.inf], "status": "x"}
    (data,) = json.loads(_table.render_json([shuffled]), parse_constant=_reject_constant)
    assert list(data) == ["name", "status", "slurm", "alpha", "zeta"]
    assert data["alpha"] == ["Infinity"]
    assert _table.render_json([shuffled]) == _table.render_json([dict(shuffled)])


def test_render_table() -> None:
    from rich.console import Console

    rows = golden_rows()
    rows[0]["params"]["tag"] = "[red]not markup[/red]"
    cols = _table.columns(rows)
    table = _table.render_table(rows, cols, title="runs")
    assert [c.header for c in table.columns] == headers(cols)
    assert table.row_count == len(rows)
    assert [r.style for r in table.rows] == [None, None, None, "red"]
    console = Console(record=True, width=400, color_system=None)
    console.print(table)
    out = console.export_text()
    assert "[red]not markup[/red]" in out
    assert "malformed YAML: line 3, column 1" in out


def test_render_table_reason_without_error_column() -> None:
    from rich.console import Console

    rows = golden_rows()
    table = _table.render_table(rows, [_table.Column("name", lambda r: r["name"])])
    console = Console(record=True, width=200, color_system=None)
    console.print(table)
    assert "broken (malformed YAML: line 3, column 1)" in console.export_text()


def test_render_json_odd_keys() -> None:
    text = _table.render_json([{"name": "n", "params": {(1, 2): 3, 4: {None: True}}}])
    assert json.loads(text) == [{"name": "n", "params": {"(1, 2)": 3, "4": {"null": True}}}]


def test_to_dataframe() -> None:
    rows = golden_rows()[:3]
    rows[0]["messages"]["lr"] = 0.5  # collides with a parameter
    df = _table.to_dataframe(rows)
    assert list(df["name"]) == names(rows)
    assert list(df["lr"]) == [0.1, 0.01, 0.001]
    assert list(df["opt.name"]) == ["adam", "sgd", "sgd"]
    assert df["messages.lr"][0] == 0.5
    assert df["version.module"][0] == "examples.train"
    assert df["slurm.job_id"][0] == 1234
    assert "params" not in df.columns
    assert list(_table.to_dataframe([]).columns)[:2] == ["name", "path"]


def test_to_dataframe_without_pandas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(_errors.ConfigError, match=r"fexp\[pandas\]"):
        _table.to_dataframe(ROWS)


def test_group_by_set() -> None:
    groups = _table.group_by_set(ROWS)
    assert [(g["set"], g["name"], g["experiments"]) for g in groups] == [
        ("/runs/train", "train", 4), ("/runs/other", "other", 1)]
    assert list(groups[0]["counts"].items()) == [
        ("running", 1), ("finished", 1), ("error", 1), ("corrupt", 1)]
    assert groups[0]["purpose"] == "" and groups[0]["created"] == "2024-05-01T12:00:00+02:00"
    info = {"/runs/other": {"purpose": "ablation", "created": "2023-01-01T00:00:00"}}
    other = _table.group_by_set(ROWS, sets=info)[1]
    assert (other["purpose"], other["created"]) == ("ablation", "2023-01-01T00:00:00")
    cols = _table.columns(groups)
    assert headers(cols) == ["set", "purpose", "created", "experiments", "running",
                             "finished", "error", "corrupt"]
    assert [c.text(groups[1]) for c in cols[3:]] == ["1", "0", "1", "0", "0"]
    json.loads(_table.render_json(groups))
    assert _table.group_by_set([]) == []


# --------------------------------------------------------------------------- properties

_CONDITION_TEXT = st.text(alphabet=st.sampled_from(list("lr.*_ <>=!~()[]{}'\"\\01-e,:|^$?+&@%#")),
                          max_size=24) | st.text(max_size=24)
_SCALARS = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5))
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=6)
_KEYS = st.sampled_from(["lr", "opt", "a.b", "loss", "name", "x"]) | st.text(max_size=4)


@settings(max_examples=300, deadline=None)
@given(_CONDITION_TEXT)
def test_parse_condition_raises_only_config_error(text: str) -> None:
    try:
        c = _query.parse_condition(text)
    except _errors.ConfigError as exc:
        assert repr(text) in str(exc)
    else:
        assert c.text == text


@settings(max_examples=150, deadline=None)
@given(st.lists(_CONDITION_TEXT, max_size=3),
       st.dictionaries(_KEYS, _VALUES, max_size=5),
       st.dictionaries(_KEYS, _SCALARS, max_size=3),
       st.booleans())
def test_matches_never_raises(texts: list[str], params: dict[str, Any],
                              messages: dict[str, Any], missing: bool) -> None:
    conditions = []
    for text in texts:
        try:
            conditions.append(_query.parse_condition(text))
        except _errors.ConfigError:
            pass
    r = row("x", params, messages=messages)
    assert _query.matches(r, conditions, missing_entry=missing) in (True, False)
    json.loads(_table.render_json([r]), parse_constant=_reject_constant)
    _table.render_csv([r], _table.columns([r, row("y")]))



def test_table_rounds_floats_for_people_but_csv_keeps_every_digit() -> None:
    import io as _io

    from rich.console import Console

    rows = [row("a", {"lr": 0.1}, messages={"loss": 0.03552048098011208}),
            row("b", {"lr": 0.2}, messages={"loss": 1.0})]
    cols = _table.columns(rows)
    out = _io.StringIO()
    Console(file=out, width=200).print(_table.render_table(rows, cols))
    assert "0.0355205" in out.getvalue() and "0.03552048098011208" not in out.getvalue()
    assert "0.03552048098011208" in _table.render_csv(rows, cols)

def main() -> None:
    """Rewrite tests/golden/list.csv from :func:`list_csv`; review the diff afterwards."""
    text = list_csv()
    old = GOLDEN_LIST_CSV.read_bytes() if GOLDEN_LIST_CSV.exists() else None
    GOLDEN_LIST_CSV.write_bytes(text.encode("utf-8"))
    print(f"{'unchanged' if old == text.encode() else 'rewrote'}: {GOLDEN_LIST_CSV}")


if __name__ == "__main__":
    main()
