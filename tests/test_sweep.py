"""Sweep grammar, random search, casting points, and config files with parents."""

from __future__ import annotations

import math
import pathlib
from typing import Any, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fexp import _errors, _sweep
from fexp._params import ParamSpec

# ----------------------------------------------------------------------------- parse_sweep


def test_spec_example_is_the_cross_product_first_key_slowest() -> None:
    points = _sweep.parse_sweep(
        '{p1: a | b, p2: c, p3: [1, 2] | [3, 4], p4: {x: 1} | {x: 2}, p5: "a|b"}'
    )
    assert len(points) == 8
    assert points[0] == {"p1": "a", "p2": "c", "p3": [1, 2], "p4": {"x": 1}, "p5": "a|b"}
    assert points[1] == {"p1": "a", "p2": "c", "p3": [1, 2], "p4": {"x": 2}, "p5": "a|b"}
    assert points[-1] == {"p1": "b", "p2": "c", "p3": [3, 4], "p4": {"x": 2}, "p5": "a|b"}
    assert [p["p1"] for p in points] == ["a"] * 4 + ["b"] * 4
    assert list(points[0]) == ["p1", "p2", "p3", "p4", "p5"]


def test_points_do_not_share_mutable_values() -> None:
    points = _sweep.parse_sweep("{a: [1] | [2], b: {x: [1]}}")
    points[0]["b"]["x"].append(2)
    assert points[1]["b"] == {"x": [1]}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lr: 1|2, b: 3", [{"lr": 1, "b": 3}, {"lr": 2, "b": 3}]),
        ("{lr: 1e-3}", [{"lr": 0.001}]),
        ("lr:1e-3", [{"lr": 0.001}]),
        ("", [{}]),
        ("  {}  ", [{}]),
        ("{a: 1,}", [{"a": 1}]),
        ("a:", [{"a": None}]),
        ("a: 1 |", [{"a": 1}, {"a": None}]),
        ("a: null | ~", [{"a": None}, {"a": None}]),
        ("a: true | false", [{"a": True}, {"a": False}]),
        ("a: 'x|y' | \"q|\"", [{"a": "x|y"}, {"a": "q|"}]),
        ("a: it's", [{"a": "it's"}]),
        ("{'a''b': 1}", [{"a'b": 1}]),
        ('{"a b": {x: [1, {y: "}"}]}}', [{"a b": {"x": [1, {"y": "}"}]}}]),
        ("a: 2024-01-01", [{"a": "2024-01-01"}]),
        ("a: http://x.y/z?q=1 | host:80", [{"a": "http://x.y/z?q=1"}, {"a": "host:80"}]),
        ("a: 1 # a comment | 2", [{"a": 1}]),
        (
            "a: [1, 2] | [], b: {} | {x: {y: 1}}",
            [
                {"a": [1, 2], "b": {}},
                {"a": [1, 2], "b": {"x": {"y": 1}}},
                {"a": [], "b": {}},
                {"a": [], "b": {"x": {"y": 1}}},
            ],
        ),
        ("a: .inf", [{"a": math.inf}]),
    ],
)
def test_parse_sweep_values(text: str, expected: list[dict[str, Any]]) -> None:
    assert _sweep.parse_sweep(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a: 1, a: 2", "parameter 'a' is given twice (items 1 and 2)"),
        ("a 1", "item 1 'a 1' has no ':'"),
        ("{a: [1, 2}", "'[' at column 5 is closed by '}' at column 10"),
        ("a: ]", "unexpected ']' at column 4"),
        ("a: [1", "'[' at column 4 is never closed"),
        ('a: "x', "unterminated quoted string starting at column 4"),
        (": 3", "has an empty key"),
        ("'': 3", "has an empty key"),
        ("1: 2", "key '1' of item 1 is not a parameter name (YAML reads it as int)"),
        ("[a]: 1", "is not a parameter name (YAML reads it as list)"),
        ("a|b: 1", "has '|' before ':'"),
        ("a: 1,, b: 2", "item 2 at column 6 is empty"),
        ("a: x: y", "it looks like 'key: value'"),
        ("a: !!python/object:os.system ls", "refusing an unsafe or unknown YAML tag"),
        ("a: !!python/name:os.system", "refusing an unsafe or unknown YAML tag"),
        ("a: !!binary aGVsbG8=", "YAML type bytes is not supported"),
        ("a: `ls`", "value '`ls`' of 'a': malformed YAML"),
        ("a: &x [1] | *x", "refusing a YAML alias"),
        ("a: " + "[" * 100 + "]" * 100, "nesting deeper than 64"),
    ],
)
def test_parse_sweep_errors(text: str, fragment: str) -> None:
    with pytest.raises(_errors.SweepError) as info:
        _sweep.parse_sweep(text, source="argument SWEEP")
    message = str(info.value)
    assert fragment in message
    assert message.startswith("sweep ")
    assert info.value.source is not None and "(argument SWEEP)" in info.value.source
    assert "<unicode string>" not in message


def test_parse_sweep_reports_every_bad_item_at_once() -> None:
    with pytest.raises(_errors.SweepError) as info:
        _sweep.parse_sweep("a: 1, 2: 3, c d, e: !!python/object:x y")
    message = str(info.value)
    assert "key '2' of item 2" in message
    assert "item 3 'c d' has no ':'" in message
    assert "value '!!python/object:x y' of 'e'" in message


def test_parse_sweep_error_text_snapshot() -> None:
    with pytest.raises(_errors.SweepError) as info:
        _sweep.parse_sweep("{lr: 1, lr: 2}", source="argument SWEEP")
    assert str(info.value) == (
        "sweep '{lr: 1, lr: 2}' (argument SWEEP): parameter 'lr' is given twice (items 1 "
        "and 2); put all its values in one item separated by '|'."
    )


def test_parse_sweep_refuses_distributions_and_points_to_samples() -> None:
    with pytest.raises(_errors.SweepError) as info:
        _sweep.parse_sweep("{lr: loguniform(1e-4, 1e-1), b: 1 | choice(1, 2)}")
    assert "'lr', 'b'" in str(info.value)
    assert "--samples N" in str(info.value)


def test_quoted_distribution_is_text() -> None:
    assert _sweep.parse_sweep("a: 'uniform(0, 1)'") == [{"a": "uniform(0, 1)"}]


def test_parse_sweep_refuses_huge_products() -> None:
    text = ", ".join(f"k{i}: 1 | 2 | 3 | 4" for i in range(10))
    with pytest.raises(_errors.SweepError, match="more than 100000"):
        _sweep.parse_sweep(text)


@settings(max_examples=100, deadline=None)
@given(st.text())
def test_parse_sweep_never_raises_anything_but_fexp_errors(text: str) -> None:
    try:
        points = _sweep.parse_sweep(text)
    except _errors.FexpError as exc:
        assert str(exc)
    else:
        assert isinstance(points, list) and all(isinstance(p, dict) for p in points)


_ALPHABET = st.sampled_from(list("ab1:,|[]{}()'\"# \n!&*-.") + ["uniform(", "choice(", "!!"])


@settings(max_examples=100, deadline=None)
@given(st.lists(_ALPHABET, max_size=30).map("".join))
def test_sweep_shaped_text_never_raises_anything_but_fexp_errors(text: str) -> None:
    try:
        _sweep.parse_sweep(text)
    except _errors.FexpError as exc:
        assert str(exc)
    try:
        points = _sweep.sample_sweep(text, 2, seed=0)
    except _errors.FexpError as exc:
        assert str(exc)
    else:
        assert len(points) == 2


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(alphabet=st.characters(categories=["L", "N"]), min_size=1, max_size=8),
)


@settings(max_examples=50, deadline=None)
@given(
    st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True),
        st.lists(st.one_of(_SCALARS, st.lists(_SCALARS, max_size=3)), min_size=1, max_size=3),
        max_size=3,
    )
)
def test_rendered_sweeps_round_trip(grid: dict[str, list[Any]]) -> None:
    from fexp import _yaml

    text = (
        "{"
        + ", ".join(
            f"{key}: " + " | ".join(_yaml.dump_flow(v) for v in values)
            for key, values in grid.items()
        )
        + "}"
    )
    points = _sweep.parse_sweep(text)
    assert len(points) == math.prod(len(v) for v in grid.values())
    for key, values in grid.items():
        assert {repr(p[key]) for p in points} == {repr(v) for v in values}


# ----------------------------------------------------------------------------- sample_sweep


def test_sample_sweep_is_deterministic_and_in_range() -> None:
    text = (
        "{lr: loguniform(1e-4, 1e-1), bs: randint(1, 3), act: choice(relu, tanh), "
        "d: uniform(0, 0.5), opt: adam | sgd, e: 5}"
    )
    first = _sweep.sample_sweep(text, 200, seed=7)
    assert first == _sweep.sample_sweep(text, 200, seed=7)
    assert first != _sweep.sample_sweep(text, 200, seed=8)
    assert len(first) == 200
    for point in first:
        assert list(point) == ["lr", "bs", "act", "d", "opt", "e"]
        assert 1e-4 <= point["lr"] <= 1e-1 and isinstance(point["lr"], float)
        assert point["bs"] in (1, 2, 3) and isinstance(point["bs"], int)
        assert point["act"] in ("relu", "tanh")
        assert 0.0 <= point["d"] <= 0.5
        assert point["opt"] in ("adam", "sgd")
        assert point["e"] == 5
    assert {p["bs"] for p in first} == {1, 2, 3}  # both ends are included
    assert {p["opt"] for p in first} == {"adam", "sgd"}
    small = [p["lr"] for p in first if p["lr"] < 1e-3]
    assert 30 < len(small) < 110  # log-uniform: about a third below 1e-3


def test_sample_sweep_mixes_alternatives_and_distributions() -> None:
    values = [p["a"] for p in _sweep.sample_sweep("a: uniform(10, 11) | 3", 100, seed=1)]
    assert 3 in values
    assert any(10 <= v <= 11 for v in values)


def test_sample_sweep_of_a_plain_sweep_picks_among_its_points() -> None:
    points = _sweep.sample_sweep("a: 1 | 2, b: [x]", 20, seed=None)
    assert all(p["a"] in (1, 2) and p["b"] == ["x"] for p in points)
    points[0]["b"].append("y")
    assert points[1]["b"] == ["x"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a: loguniform(0, 1)", "loguniform() needs a > 0"),
        ("a: uniform(2, 1)", "uniform() needs a < b, got uniform(2, 1)"),
        ("a: randint(3, 3)", "randint() needs a < b"),
        ("a: randint(1.5, 3)", "randint() bounds must be integers, got 1.5"),
        ("a: uniform(1)", "uniform() takes two bounds"),
        ("a: uniform(a, b)", "bounds must be numbers, got 'a'"),
        ("a: uniform(true, 2)", "bounds must be numbers, got True"),
        ("a: uniform(0, .inf)", "bounds must be finite"),
        ("a: choice()", "choice() needs at least one value"),
        ("a: choice(1,,2)", "choice() has an empty argument"),
        ("a: choice(uniform(0, 1), 2)", "distributions cannot be nested"),
        ("a: choice(1, 2", "'(' at column 10 is never closed"),
    ],
)
def test_sample_sweep_errors(text: str, fragment: str) -> None:
    with pytest.raises(_errors.SweepError) as info:
        _sweep.sample_sweep(text, 3, seed=0)
    assert fragment in str(info.value)


def test_sample_sweep_accepts_trailing_comma_and_integral_float_bounds() -> None:
    points = _sweep.sample_sweep("a: choice(x, y,), b: randint(1.0, 2e0)", 30, seed=0)
    assert {p["a"] for p in points} == {"x", "y"}
    assert {p["b"] for p in points} == {1, 2}


@pytest.mark.parametrize("samples", [0, -1, True])
def test_sample_sweep_needs_a_positive_count(samples: int) -> None:
    with pytest.raises(_errors.SweepError, match="positive integer"):
        _sweep.sample_sweep("a: 1", samples, seed=0)


# ----------------------------------------------------------------------------- apply_point


SPECS = {
    "lr": ParamSpec("lr", float, 0.001),
    "epochs": ParamSpec("epochs", int, 10),
    "layers": ParamSpec("layers", list[int], [64]),
    "opt": ParamSpec("opt", dict[str, Any], {"name": "adam", "kw": {"beta": 0.9, "eps": 1e-8}}),
    "tag": ParamSpec("tag", Optional[str], None),  # noqa: UP045 - the old spelling on purpose
}


def test_apply_point_casts_values() -> None:
    cast = _sweep.apply_point({"lr": 1, "epochs": 5.0, "layers": [1, 2], "tag": None}, SPECS)
    assert cast == {"lr": 1.0, "epochs": 5, "layers": [1, 2], "tag": None}
    assert isinstance(cast["lr"], float) and isinstance(cast["epochs"], int)


def test_apply_point_merges_partial_dicts_into_the_default() -> None:
    cast = _sweep.apply_point({"opt": {"kw": {"beta": 0.5}}}, SPECS)
    assert cast == {"opt": {"name": "adam", "kw": {"beta": 0.5, "eps": 1e-8}}}
    assert SPECS["opt"].default["kw"]["beta"] == 0.9  # the default is never modified


def test_apply_point_one_error_is_a_param_error_with_source() -> None:
    source = _sweep.render_source("{lr: 1e-2 | abc}", "argument SWEEP")
    with pytest.raises(_errors.ParamError) as info:
        _sweep.apply_point({"lr": "abc"}, SPECS, source=source)
    assert not isinstance(info.value, _errors.ParamErrors)
    assert (info.value.param, info.value.value, info.value.expected) == ("lr", "abc", "float")
    assert str(info.value) == (
        "sweep '{lr: 1e-2 | abc}' (argument SWEEP): parameter 'lr' expects float "
        "(default 0.001), got 'abc'."
    )


def test_apply_point_collects_every_problem() -> None:
    with pytest.raises(_errors.ParamErrors) as info:
        _sweep.apply_point({"lrr": 1, "epochs": 1e-3, "layers": "x"}, SPECS, experiment="train")
    errors = info.value.errors
    assert [e.param for e in errors] == ["lrr", "epochs", "layers"]
    assert errors[0].suggestion == "lr"
    assert errors[0].expected is None
    message = str(info.value)
    assert "unknown parameter 'lrr' for experiment 'train'; did you mean 'lr'?" in message
    assert "parameter 'epochs' for experiment 'train' expects int" in message
    assert "parameter 'layers'" in message


def test_apply_point_infers_types_from_defaults_when_there_are_no_specs() -> None:
    defaults = {"lr": 0.1, "epochs": 3, "name": "x", "opt": {"m": 0.9, "n": 1}, "_version": {}}
    cast = _sweep.apply_point({"lr": 1, "opt": {"m": 0.5}}, {}, defaults=defaults)
    assert cast == {"lr": 1.0, "opt": {"m": 0.5, "n": 1}}
    assert isinstance(cast["lr"], float)
    with pytest.raises(_errors.ParamError) as info:
        _sweep.apply_point({"epochs": 1e-3}, {}, defaults=defaults)
    assert info.value.expected == "int"
    with pytest.raises(_errors.ParamError) as info:
        _sweep.apply_point({"_version": 1}, {}, defaults=defaults)
    assert info.value.expected is None


def test_specs_from_defaults() -> None:
    specs = _sweep.specs_from_defaults({"a": 1, "b": None, "c": [1], "_version": {"x": 1}})
    assert list(specs) == ["a", "b", "c"]
    assert specs["a"] == ParamSpec("a", int, 1)
    assert specs["b"].annotation is Any
    assert specs["c"].annotation is list


def test_merge_is_recursive_and_pure() -> None:
    base = {"a": {"b": 1, "c": [1]}, "d": 1}
    merged = _sweep.merge(base, {"a": {"b": 2}, "e": 3})
    assert merged == {"a": {"b": 2, "c": [1]}, "d": 1, "e": 3}
    merged["a"]["c"].append(2)
    assert base == {"a": {"b": 1, "c": [1]}, "d": 1}
    assert _sweep.merge({"a": {"b": 1}}, {"a": 5}) == {"a": 5}


# ----------------------------------------------------------------------------- config files


def _write(path: pathlib.Path, text: str) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_config_without_parent(tmp_path: pathlib.Path) -> None:
    config = _write(tmp_path / "c.yml", "lr: 0.1\nname: 'a | b'\n")
    assert _sweep.load_sweep_config(config) == {"lr": 0.1, "name": "a | b"}
    assert _sweep.load_sweep_config(_write(tmp_path / "empty.yml", "")) == {}


def test_config_parent_chain_merges_in_order(tmp_path: pathlib.Path) -> None:
    _write(tmp_path / "base" / "root.yml", "lr: 0.1\nepochs: 1\nopt: {m: 0.9, n: 1}\n")
    _write(tmp_path / "base" / "mid.yml", "parent: root.yml\nepochs: 2\nopt: {m: 0.5}\n")
    child = _write(tmp_path / "exp" / "child.yml", "parent: ../base/mid.yml\nepochs: 3\n")
    assert _sweep.load_sweep_config(child) == {
        "lr": 0.1,
        "epochs": 3,
        "opt": {"m": 0.5, "n": 1},
    }


def test_config_parent_cycle_lists_the_chain(tmp_path: pathlib.Path) -> None:
    _write(tmp_path / "a.yml", "parent: b.yml\nx: 1\n")
    _write(tmp_path / "b.yml", "parent: a.yml\n")
    with pytest.raises(_errors.SweepError) as info:
        _sweep.load_sweep_config(tmp_path / "a.yml")
    message = str(info.value)
    assert "cycle" in message
    assert message.count("a.yml") >= 3 and "b.yml" in message


def test_config_self_parent_is_a_cycle(tmp_path: pathlib.Path) -> None:
    config = _write(tmp_path / "a.yml", "parent: ./a.yml\n")
    with pytest.raises(_errors.SweepError, match="cycle"):
        _sweep.load_sweep_config(config)


def test_config_missing_files(tmp_path: pathlib.Path) -> None:
    with pytest.raises(_errors.YamlError) as info:
        _sweep.load_sweep_config(tmp_path / "nope.yml")
    assert info.value.source == str(tmp_path / "nope.yml")
    child = _write(tmp_path / "c.yml", "parent: gone.yml\n")
    with pytest.raises(_errors.SweepError) as sweep_info:
        _sweep.load_sweep_config(child)
    assert "gone.yml" in str(sweep_info.value)
    assert sweep_info.value.source == str(child)


@pytest.mark.parametrize(
    ("text", "error", "fragment"),
    [
        ("- 1\n- 2\n", _errors.YamlError, "expected a mapping"),
        ("parent: 3\n", _errors.SweepError, "'parent' must name a YAML file"),
        ("parent: ''\n", _errors.SweepError, "'parent' must name a YAML file"),
        ("1: 2\n", _errors.SweepError, "keys must be parameter names"),
        ("a: !!python/object:os.system x\n", _errors.YamlError, "unsafe"),
        ("a: [1\n", _errors.YamlError, "malformed YAML"),
    ],
)
def test_config_errors_name_the_file(
    tmp_path: pathlib.Path, text: str, error: type[_errors.FexpError], fragment: str
) -> None:
    config = _write(tmp_path / "bad.yml", text)
    with pytest.raises(error) as info:
        _sweep.load_sweep_config(config)
    assert fragment in str(info.value)
    assert info.value.source == str(config)


def test_config_errors_in_a_parent_name_the_parent(tmp_path: pathlib.Path) -> None:
    parent = _write(tmp_path / "p.yml", "[1]\n")
    child = _write(tmp_path / "c.yml", "parent: p.yml\n")
    with pytest.raises(_errors.YamlError) as info:
        _sweep.load_sweep_config(child)
    assert info.value.source == str(parent)
