"""Experiment folder names: readable, safe in paths and shells, bounded, collision-free."""

from __future__ import annotations

import enum
import os
import pathlib
import shlex
import tempfile
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fexp import _errors, _naming

ALLOWED = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.,+=-@")
HOSTILE = set("/\0\n\r\t $`'\"\\;|&*?<>()[]{}!#~^:")


class Color(enum.Enum):
    RED = 1


# ----------------------------------------------------------------------------- name_for


@pytest.mark.parametrize(
    ("point", "name"),
    [
        ({}, "default"),
        ({"lr": 0.01, "epochs": 10}, "lr=0.01__epochs=10"),
        ({"epochs": 10, "lr": 0.01}, "epochs=10__lr=0.01"),
        ({"lr": 1e-3}, "lr=0.001"),
        ({"lr": 1e-5}, "lr=1e-05"),
        ({"lr": 1.0}, "lr=1.0"),
        ({"big": 1e20}, "big=1e+20"),
        ({"x": float("inf")}, "x=inf"),
        ({"tag": None, "on": True, "off": False}, "tag=null__on=true__off=false"),
        ({"layers": [64, 64]}, "layers=64,64"),
        ({"layers": (64, 32)}, "layers=64,32"),
        ({"opt": {"lr": 0.1, "m": 0.9}}, "opt=lr=0.1,m=0.9"),
        ({"data": "mnist"}, "data=mnist"),
        ({"path": pathlib.PurePosixPath("data")}, "path=data"),
        ({"color": Color.RED}, "color=RED"),
        ({"model_name": "res-net.v2"}, "model_name=res-net.v2"),
    ],
)
def test_readable_names(point: dict[str, Any], name: str) -> None:
    assert _naming.name_for(point) == name


@pytest.mark.parametrize(
    ("point", "prefix"),
    [
        ({"data": "/tmp/x y"}, "data=-tmp-x-y@"),
        ({"cmd": "$(rm -rf ~); `x` | y & z"}, "cmd=-rm--rf-x-y-z@"),
        ({"a": "../../etc"}, "a=..-..-etc@"),
        ({"a": "x\ny\0z"}, "a=x-y-z@"),
        ({"a": "é"}, "a=-@"),
        ({"a": []}, "a=-@"),
        ({"a": [[1], [2]]}, "a=-1-,-2-@"),
        ({"a": ["x y", "z"]}, "a=-x-y-,z@"),
        ({".hidden": 1}, "_hidden=1@"),
        ({"-flag": 1}, "_flag=1@"),
        ({"a": "x__y"}, "a=x__y@"),
        ({"a": "x_"}, "a=x_@"),
        ({"a=b": 1}, "a=b=1@"),
        ({"_a": 1}, "_a=1@"),
    ],
)
def test_unsafe_or_ambiguous_names_get_a_hash(point: dict[str, Any], prefix: str) -> None:
    name = _naming.name_for(point)
    assert name.startswith(prefix)
    assert len(name) == len(prefix) + 8
    assert all(c in "0123456789abcdef" for c in name[len(prefix) :])


def test_hash_is_stable() -> None:
    # The hash is part of folder names on disk: it must never change between versions.
    assert _naming.name_for({"data": "/tmp/x y"}) == "data=-tmp-x-y@a2193937"


def test_long_names_are_truncated_with_a_hash() -> None:
    long_a = {"a": "x" * 300}
    long_b = {"a": "x" * 301}
    name_a, name_b = _naming.name_for(long_a), _naming.name_for(long_b)
    assert len(name_a) == len(name_b) == 120
    assert name_a != name_b
    assert name_a.startswith("a=xxx") and "@" in name_a
    assert len(_naming.name_for(long_a, max_len=40)) == 40
    exactly = {"a": "x" * 118}
    assert _naming.name_for(exactly) == "a=" + "x" * 118


def test_max_len_must_leave_room_for_the_hash() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        _naming.name_for({"a": 1}, max_len=8)


def test_huge_ints_do_not_crash() -> None:
    name = _naming.name_for({"n": 10**5000})
    assert len(name) <= 120


# ----------------------------------------------------------------------------- properties

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=8,
)
_POINTS = st.dictionaries(st.text(max_size=12), _JSON, max_size=5)
_ROOT = pathlib.Path(tempfile.gettempdir()).resolve() / "fexp-naming-root"


def _renders(point: dict[str, Any]) -> list[tuple[str, str]]:
    return [(str(k), _naming.render_value(v)) for k, v in point.items()]


@settings(max_examples=100, deadline=None)
@given(_POINTS, st.integers(16, 200))
def test_names_are_one_safe_bounded_path_component(point: dict[str, Any], max_len: int) -> None:
    name = _naming.name_for(point, max_len=max_len)
    assert name
    assert set(name) <= ALLOWED
    assert not set(name) & HOSTILE
    assert shlex.quote(name) == name
    assert name not in (".", "..") and name[0] not in ".-"
    assert len(name) <= max_len + 10
    assert len(pathlib.PurePath(name).parts) == 1
    resolved = (_ROOT / name).resolve()
    assert resolved.parent == _ROOT
    assert _naming.is_inside(_ROOT, _ROOT / name)


@settings(max_examples=100, deadline=None)
@given(_POINTS, _POINTS)
def test_distinct_points_get_distinct_names(first: dict[str, Any], second: dict[str, Any]) -> None:
    assume(_renders(first) != _renders(second))
    assert _naming.name_for(first) != _naming.name_for(second)


_NEAR_MISSES = st.dictionaries(
    st.sampled_from(["a", "_a", "a_", "a=b", "b", "a__b", ".a", "A"]),
    st.sampled_from(["x", "x_", "_x", "x__y", "x=y", "x y", "x-y", "", "1", "null", "x,y"])
    | st.lists(st.sampled_from(["x", "x,y", "y", ""]), max_size=3),
    max_size=3,
)


@settings(max_examples=200, deadline=None)
@given(_NEAR_MISSES, _NEAR_MISSES)
def test_distinct_near_miss_points_get_distinct_names(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    assume(_renders(first) != _renders(second))
    assert _naming.name_for(first) != _naming.name_for(second)


def test_names_and_renderings_are_injective_on_a_tricky_family() -> None:
    points: list[dict[str, Any]] = [
        {"a": "1__b=2"},
        {"a": 1, "b": 2},
        {"a": "x_", "b": 1},
        {"a": "x", "_b": 1},
        {"a": "x y"},
        {"a": "x-y"},
        {"a": ["x,y"]},
        {"a": ["x", "y"]},
        {"a=b": 1},
        {"a": "b=1"},
    ]
    names = [_naming.name_for(p) for p in points]
    assert len(set(names)) == len(names)


# ----------------------------------------------------------------------------- unique_name


def test_unique_name_suffixes() -> None:
    assert _naming.unique_name("a=1", set()) == "a=1"
    assert _naming.unique_name("a=1", {"a=1"}) == "a=1_1"
    assert _naming.unique_name("a=1", {"a=1", "a=1_1"}) == "a=1_2"
    assert _naming.unique_name("a=1", ["A=1"]) == "a=1_1"  # case-insensitive file systems
    assert _naming.unique_name("a=1", {"a=1", "A=1_1", "a=1_2"}) == "a=1_3"


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=8), st.lists(st.text(max_size=10), max_size=20))
def test_unique_name_never_returns_a_taken_name(name: str, extra: list[str]) -> None:
    taken = {*extra, name, name.upper(), name + "_1", (name + "_2").swapcase()}
    result = _naming.unique_name(name, taken)
    assert result.lower() not in {t.lower() for t in taken}
    assert result.startswith(name)


# ----------------------------------------------------------------------------- repeat_names


def test_repeat_names() -> None:
    assert _naming.repeat_names("lr=0.1", 3) == ["lr=0.1__rep=0", "lr=0.1__rep=1", "lr=0.1__rep=2"]
    assert _naming.repeat_names("default", 1) == ["default"]
    names = _naming.repeat_names("x", 12)
    assert len(set(names)) == 12 and names[10] == "x__rep=10"


@pytest.mark.parametrize("repeats", [0, -3, True])
def test_repeat_names_needs_a_positive_count(repeats: int) -> None:
    with pytest.raises(_errors.ConfigError, match="at least 1"):
        _naming.repeat_names("x", repeats)


# ----------------------------------------------------------------------------- check_name


@pytest.mark.parametrize("name", ["baseline", "lr=0.1__x", "run-2", "v1.2", "a,b+c@d", "A" * 200])
def test_check_name_accepts(name: str) -> None:
    assert _naming.check_name(name) == name


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "it is empty"),
        (".", "'.' and '..'"),
        ("..", "'.' and '..'"),
        ("a/b", "'/'"),
        ("a\0b", "'\\x00'"),
        ("a\nb", "'\\n'"),
        ("-rf", "starts with '-'"),
        (".hidden", "starts with '.'"),
        ("x" * 201, "201 characters long"),
        ("a b", "' '"),
        ("$(x)", "'$'"),
        ("a;b", "';'"),
        ("a|b", "'|'"),
        ("a&b", "'&'"),
        ("a*", "'*'"),
        ("a?", "'?'"),
        ("a<b>", "'<'"),
        ("`x`", "'`'"),
        ("'x'", '"\'"'),
        ("a\\b", "'\\\\'"),
        ("script.sh", "the set's own files"),
        ("Defaults.yml", "the set's own files"),
    ],
)
def test_check_name_refuses(name: str, fragment: str) -> None:
    with pytest.raises(_errors.ConfigError) as info:
        _naming.check_name(name, source="argument -n")
    assert fragment in str(info.value)
    assert info.value.source == "argument -n"


def test_check_name_lists_every_problem() -> None:
    with pytest.raises(_errors.ConfigError) as info:
        _naming.check_name("-a b;" + "c" * 200)
    message = str(info.value)
    assert "starts with '-'" in message and "205 characters" in message
    assert "' '" in message and "';'" in message
    assert message == (
        f"argument --name: invalid experiment name {'-a b;' + 'c' * 200!r}: it starts with "
        "'-'; it is 205 characters long (at most 200); it contains ' ' ';', which paths or "
        "shells do not allow. Use letters, digits and _ . , + = @ - only, not starting with "
        "'.' or '-'."
    )


# ----------------------------------------------------------------------------- is_inside


def test_is_inside(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    assert _naming.is_inside(root, root / "a")
    assert _naming.is_inside(root, root / "a" / "not-yet" / "params.yml")
    assert _naming.is_inside(root, root / "a" / ".." / "b")
    assert not _naming.is_inside(root, root)
    assert not _naming.is_inside(root, root / "a" / ".." / "..")
    assert not _naming.is_inside(root, root / ".." / "root2")
    assert not _naming.is_inside(root, tmp_path)


def test_is_inside_follows_symlinks(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, root / "link")
    assert not _naming.is_inside(root, root / "link" / "x")
    os.symlink(root / "loop", root / "loop")
    assert not _naming.is_inside(root, root / "loop" / "x")
    assert _naming.is_inside(tmp_path / "." / "root", root / "y")
