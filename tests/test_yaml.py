"""Safe YAML: loading, refusing python tags without running them, errors with a source, dumps."""

from __future__ import annotations

import datetime
import pathlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fexp import _errors, _yaml

# ----------------------------------------------------------------------------- load


def test_load_plain_data() -> None:
    text = "lr: 0.001\nepochs: 10\nlayers: [64, 64]\nname: mnist\ntag: null\nflag: true\n"
    assert _yaml.load(text) == {
        "lr": 0.001,
        "epochs": 10,
        "layers": [64, 64],
        "name": "mnist",
        "tag": None,
        "flag": True,
    }


def test_load_keeps_key_order_and_reads_yaml_1_2() -> None:
    data = _yaml.load("b: 1\na: 2\nc: yes\nd: 1e-3\ne: 2024-01-01\n")
    assert list(data) == ["b", "a", "c", "d", "e"]
    assert data["c"] == "yes"  # YAML 1.2: `yes` is a string, not a bool
    assert data["d"] == 0.001
    assert data["e"] == datetime.date(2024, 1, 1)  # the safe schema's timestamp


def test_an_iso_timestamp_string_round_trips_as_a_string() -> None:
    data = {"_created": "2024-05-01T12:00:00+02:00", "day": "2024-01-01"}
    assert _yaml.load(_yaml.dump(data)) == data


def test_load_empty_text_is_none() -> None:
    assert _yaml.load("") is None
    assert _yaml.load("# only a comment\n") is None


@pytest.mark.parametrize(
    "text",
    [
        '!!python/object/apply:os.system ["touch PWNED"]',
        'a: !!python/object/apply:os.system ["touch PWNED"]',
        "!!python/object:os.PathLike {a: 1}",
        "!!python/object/new:os.system [touch PWNED]",
        "x: !!python/name:os.system",
        "- !!python/module:os",
    ],
)
def test_python_tags_are_refused_without_running(
    text: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(_errors.YamlError) as info:
        _yaml.load(text, source="params.yml")
    assert not (tmp_path / "PWNED").exists()
    assert list(tmp_path.iterdir()) == []
    assert info.value.source == "params.yml"
    assert "refusing an unsafe or unknown YAML tag" in str(info.value)
    assert "python/" in str(info.value)


def test_unknown_local_tag_is_refused() -> None:
    with pytest.raises(_errors.YamlError) as info:
        _yaml.load("a: !custom 1")
    assert "'!custom'" in str(info.value)


def test_unsafe_tag_error_text() -> None:
    with pytest.raises(_errors.YamlError) as info:
        _yaml.load('!!python/object/apply:os.system ["touch PWNED"]', source="exp/params.yml")
    assert str(info.value) == (
        "exp/params.yml: refusing an unsafe or unknown YAML tag (could not determine a "
        "constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system' in "
        '"<unicode string>", line 1, column 1)'
    )


@pytest.mark.parametrize(
    "text",
    [
        "a: [1, 2",
        "a: b: c",
        "\t- x",
        "- a\nb: 1",
        'key: "unterminated',
        "a: 1\na: 2",  # duplicate keys are an error, not "last one wins"
        "{a: 1",
    ],
)
def test_malformed_yaml_is_a_yaml_error_with_its_source(text: str) -> None:
    with pytest.raises(_errors.YamlError) as info:
        _yaml.load(text, source="config.yml")
    assert info.value.source == "config.yml"
    assert str(info.value).startswith("config.yml: malformed YAML: ")
    assert "\n" not in str(info.value)


def test_malformed_yaml_error_text_names_the_line() -> None:
    with pytest.raises(_errors.YamlError) as info:
        _yaml.load("a: 1\nb: [1, 2\n", source="config.yml")
    assert str(info.value) == (
        'config.yml: malformed YAML: while parsing a flow sequence in "<unicode string>", '
        "line 2, column 4 did not find expected ',' or ']' in \"<unicode string>\", "
        "line 3, column 1"
    )


def test_malformed_yaml_without_source() -> None:
    with pytest.raises(_errors.YamlError) as info:
        _yaml.load("a: [")
    assert info.value.source is None
    assert str(info.value).startswith("malformed YAML: ")


# ----------------------------------------------------------------------------- read, read_mapping


def test_read_mapping(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "params.yml"
    path.write_text("lr: 0.1  # learning rate\nlayers:\n- 1\n- 2\n", encoding="utf-8")
    assert _yaml.read_mapping(path) == {"lr": 0.1, "layers": [1, 2]}


def test_read_mapping_of_an_empty_file_is_empty(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "empty.yml"
    path.write_text("", encoding="utf-8")
    assert _yaml.read_mapping(path) == {}
    path.write_text("# nothing yet\n", encoding="utf-8")
    assert _yaml.read_mapping(path) == {}


def test_read_mapping_of_a_missing_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "missing.yml"
    with pytest.raises(_errors.YamlError) as info:
        _yaml.read_mapping(path)
    assert info.value.source == str(path)
    assert str(info.value) == f"{path}: file not found"


@pytest.mark.parametrize(
    ("text", "kind"), [("- 1\n- 2\n", "list"), ("just text\n", "str"), ("3\n", "int")]
)
def test_read_mapping_of_a_non_mapping(tmp_path: pathlib.Path, text: str, kind: str) -> None:
    path = tmp_path / "list.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(_errors.YamlError) as info:
        _yaml.read_mapping(path)
    assert str(info.value) == f"{path}: expected a mapping at the top level, got {kind}"


def test_read_of_a_folder_or_binary_file(tmp_path: pathlib.Path) -> None:
    with pytest.raises(_errors.YamlError) as info:
        _yaml.read(tmp_path)
    assert info.value.source == str(tmp_path)
    assert str(info.value).startswith(f"{tmp_path}: cannot read: ")
    binary = tmp_path / "bin.yml"
    binary.write_bytes(b"\xff\xfe\x00a")
    with pytest.raises(_errors.YamlError) as info:
        _yaml.read(binary)
    assert info.value.source == str(binary)


def test_read_of_malformed_file_names_the_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("a: [1,\n", encoding="utf-8")
    with pytest.raises(_errors.YamlError) as info:
        _yaml.read_mapping(path)
    assert str(info.value).startswith(f"{path}: malformed YAML: ")


# ----------------------------------------------------------------------------- dump, dump_flow


def test_dump_is_block_style_in_insertion_order() -> None:
    data = {"b": 1, "a": [1, 2], "c": {"y": None, "x": "s"}}
    assert _yaml.dump(data) == "b: 1\na:\n- 1\n- 2\nc:\n  y: null\n  x: s\n"


def test_dump_quotes_strings_that_would_change_type() -> None:
    data = {"a": "1", "b": "true", "c": "null", "d": "", "e": "yes", "f": "a: b"}
    assert _yaml.load(_yaml.dump(data)) == data


def test_dump_does_not_wrap_long_lines() -> None:
    data = {"purpose": "word " * 200}
    text = _yaml.dump(data)
    assert text.count("\n") == 1
    assert _yaml.load(text) == data


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (-2, "-2"),
        (1.5, "1.5"),
        ("abc", "abc"),
        ("a: b", "'a: b'"),
        ("", "''"),
        ([64, 64], "[64, 64]"),
        ([1, "x"], "[1, x]"),
        ({"x": 1}, "{x: 1}"),
        ({"x": [1, {"y": None}]}, "{x: [1, {y: null}]}"),
        ([], "[]"),
        ({}, "{}"),
    ],
)
def test_dump_flow(value: Any, text: str) -> None:
    assert _yaml.dump_flow(value) == text
    assert "\n" not in _yaml.dump_flow(value)


def test_dump_flow_of_a_long_value_stays_on_one_line() -> None:
    value = list(range(2000))
    text = _yaml.dump_flow(value)
    assert "\n" not in text
    assert _yaml.load(text) == value


@pytest.mark.parametrize("value", ["a\nb", ["x\ny"], {"k": "line 1\nline 2"}])
def test_dump_flow_of_a_multi_line_string_stays_on_one_line(value: Any) -> None:
    text = _yaml.dump_flow(value)
    assert "\n" not in text
    assert _yaml.load(text) == value


_JSON_LIKE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(_JSON_LIKE)
def test_load_dump_round_trip(value: Any) -> None:
    assert _yaml.load(_yaml.dump(value)) == value


@given(_JSON_LIKE)
def test_load_dump_flow_round_trip(value: Any) -> None:
    assert _yaml.load(_yaml.dump_flow(value)) == value
