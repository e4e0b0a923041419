"""ParamSpec and casting: every supported annotation, the SPEC's int/float rules, error fields."""

from __future__ import annotations

import enum
import math
import pathlib
import typing
from typing import Any, Literal, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fexp import _errors, _params
from fexp._params import ParamSpec, cast_value, render_type, to_plain, validate_overrides


class Color(enum.Enum):
    RED = 1
    GREEN = "g"


# ----------------------------------------------------------------------------- scalars


@pytest.mark.parametrize(
    ("annotation", "value", "expected"),
    [
        (int, 3, 3),
        (int, -7, -7),
        (int, 2.0, 2),  # an integral float (YAML `2.0`, `1e3`) is an int
        (int, 1e3, 1000),
        (int, " 12 ", 12),
        (float, 1, 1.0),  # SPEC: a float default given 1 becomes 1.0
        (float, 0.5, 0.5),
        (float, "1e-3", 0.001),
        (float, " 2 ", 2.0),
        (str, "mnist", "mnist"),
        (str, 3, "3"),
        (str, 0.5, "0.5"),
        (str, pathlib.Path("a/b"), "a/b"),
        (bool, True, True),
        (bool, False, False),
        (bool, "true", True),
        (bool, "False", False),
        (bool, "yes", True),
        (bool, "off", False),
    ],
)
def test_scalars_cast(annotation: Any, value: Any, expected: Any) -> None:
    result = cast_value(ParamSpec("p", annotation, None), value)
    assert result == expected
    assert type(result) is type(expected)


def test_a_float_given_an_int_becomes_a_float() -> None:
    result = cast_value(ParamSpec("lr", float, 1e-3), 1)
    assert result == 1.0
    assert isinstance(result, float)


def test_an_int_given_1e_3_is_an_error_with_every_field() -> None:
    with pytest.raises(_errors.ParamError) as info:
        cast_value(ParamSpec("epochs", int, 10), 1e-3, experiment="train")
    err = info.value
    assert (err.param, err.value, err.expected) == ("epochs", 0.001, "int")
    assert (err.experiment, err.default, err.reason) == ("train", 10, "")
    assert err.source is None
    assert str(err) == (
        "parameter 'epochs' for experiment 'train' expects int (default 10), got 0.001."
    )


@pytest.mark.parametrize(
    ("annotation", "value"),
    [
        (int, True),  # bools are never ints, although bool subclasses int
        (int, False),
        (int, 1.5),
        (int, "1e3"),
        (int, "ten"),
        (int, float("nan")),
        (int, float("inf")),
        (int, None),
        (int, [1]),
        (float, True),
        (float, "abc"),
        (float, None),
        (float, [1.0]),
        (str, True),
        (str, None),
        (str, ["a"]),
        (bool, 1),
        (bool, 0),
        (bool, "maybe"),
        (bool, None),
    ],
)
def test_scalars_refuse(annotation: Any, value: Any) -> None:
    with pytest.raises(_errors.ParamError) as info:
        cast_value(ParamSpec("p", annotation, None), value)
    assert info.value.value is value
    assert info.value.expected == render_type(annotation)


def test_nan_is_a_float() -> None:
    assert math.isnan(cast_value(ParamSpec("lr", float, 1e-3), float("nan")))


def test_an_int_too_large_for_a_float_is_a_param_error() -> None:
    with pytest.raises(_errors.ParamError):
        cast_value(ParamSpec("lr", float, 1e-3), 10**400)


# ----------------------------------------------------------------------------- optional


@pytest.mark.parametrize(
    "annotation", [Optional[int], int | None, typing.Union[None, int]]  # noqa: UP007, UP045
)
@pytest.mark.parametrize("value", [None, "null", "None", "~", " NULL "])
def test_optional_accepts_none_and_null(annotation: Any, value: Any) -> None:
    assert cast_value(ParamSpec("p", annotation, None), value) is None


@pytest.mark.parametrize("annotation", [Optional[int], int | None])  # noqa: UP007, UP045
def test_optional_casts_to_the_inner_type(annotation: Any) -> None:
    spec = ParamSpec("p", annotation, None)
    assert cast_value(spec, 3) == 3
    assert cast_value(spec, 3.0) == 3
    assert cast_value(spec, "4") == 4


def test_optional_refuses_what_the_inner_type_refuses() -> None:
    with pytest.raises(_errors.ParamError) as info:
        cast_value(ParamSpec("p", int | None, None), "abc")
    assert info.value.expected == "int | None"


def test_null_for_a_plain_type_is_an_error() -> None:
    with pytest.raises(_errors.ParamError):
        cast_value(ParamSpec("p", int, 1), None)
    # "null" stays a string for a str parameter that is not optional.
    assert cast_value(ParamSpec("p", str, "x"), "null") == "null"


def test_a_union_tries_its_members_in_order() -> None:
    spec = ParamSpec("p", int | str, 0)
    assert cast_value(spec, "7") == 7
    assert cast_value(spec, "abc") == "abc"
    with pytest.raises(_errors.ParamError):
        cast_value(spec, None)


# ----------------------------------------------------------------------------- containers


def test_list_casts_every_item() -> None:
    spec = ParamSpec("layers", list[int], [64, 64])
    assert cast_value(spec, [1, 2.0, "3"]) == [1, 2, 3]
    assert cast_value(spec, (4, 5)) == [4, 5]
    assert cast_value(spec, []) == []
    assert cast_value(ParamSpec("p", typing.List[float], []), [1]) == [1.0]  # noqa: UP006


def test_list_errors_name_the_item() -> None:
    with pytest.raises(_errors.ParamError) as info:
        cast_value(ParamSpec("layers", list[int], [64]), [1, "x"])
    assert info.value.reason == "item 1 ('x') is not int"
    assert info.value.expected == "list[int]"


def test_list_refuses_a_scalar_or_a_string() -> None:
    spec = ParamSpec("layers", list[int], [64])
    for value in (3, "1,2", {"a": 1}, None):
        with pytest.raises(_errors.ParamError) as info:
            cast_value(spec, value)
        assert info.value.reason == "expected a list"


def test_variadic_tuple() -> None:
    spec = ParamSpec("shape", tuple[int, ...], (1,))
    assert cast_value(spec, [1, 2, 3]) == (1, 2, 3)
    assert cast_value(spec, []) == ()
    with pytest.raises(_errors.ParamError):
        cast_value(spec, [1, 0.5])


def test_fixed_tuple() -> None:
    spec = ParamSpec("pair", tuple[int, str], (1, "a"))
    assert cast_value(spec, [2, "b"]) == (2, "b")
    assert cast_value(spec, (3, 4)) == (3, "4")
    with pytest.raises(_errors.ParamError) as info:
        cast_value(spec, [1])
    assert info.value.reason == "expected 2 items, got 1"
    with pytest.raises(_errors.ParamError) as info:
        cast_value(spec, ["x", "y"])
    assert info.value.reason == "item 0 ('x') is not int"


def test_bare_tuple_from_a_list() -> None:
    assert cast_value(ParamSpec("p", tuple, ()), [1, "a"]) == (1, "a")


def test_dict_casts_values() -> None:
    spec = ParamSpec("opt", dict[str, float], {})
    assert cast_value(spec, {"lr": 1, "wd": "0.5"}) == {"lr": 1.0, "wd": 0.5}
    assert cast_value(ParamSpec("p", dict[str, list[int]], {}), {"a": [1]}) == {"a": [1]}
    with pytest.raises(_errors.ParamError) as info:
        cast_value(spec, {"lr": "fast"})
    assert info.value.reason == "item 'lr' ('fast') is not float"
    with pytest.raises(_errors.ParamError) as info:
        cast_value(spec, [1, 2])
    assert info.value.reason == "expected a mapping"


# ------------------------------------------------------------------ literal, enum, path, any


def test_literal() -> None:
    spec = ParamSpec("mode", Literal["a", "b", 1], "a")
    assert cast_value(spec, "b") == "b"
    assert cast_value(spec, 1) == 1
    assert cast_value(spec, "1") == 1  # from the command line every value is text
    with pytest.raises(_errors.ParamError) as info:
        cast_value(spec, "c")
    assert info.value.reason == "choose one of 'a', 'b', 1"
    assert info.value.expected == "Literal['a', 'b', 1]"


def test_literal_does_not_confuse_true_and_1() -> None:
    spec = ParamSpec("p", Literal[1, True], 1)
    assert cast_value(spec, True) is True
    assert cast_value(spec, 1) == 1 and cast_value(spec, 1) is not True


@pytest.mark.parametrize("value", [Color.GREEN, "GREEN", "g"])
def test_enum_by_member_name_or_value(value: Any) -> None:
    assert cast_value(ParamSpec("c", Color, Color.RED), value) is Color.GREEN


def test_enum_by_int_value() -> None:
    assert cast_value(ParamSpec("c", Color, Color.RED), 1) is Color.RED


@pytest.mark.parametrize("value", ["BLUE", "red", 2, None, [1]])
def test_enum_refuses_other_values_and_lists_the_choices(value: Any) -> None:
    with pytest.raises(_errors.ParamError) as info:
        cast_value(ParamSpec("c", Color, Color.RED), value)
    assert info.value.reason == "choose one of RED, GREEN"
    assert info.value.expected == "Color"


def test_path() -> None:
    spec = ParamSpec("data", pathlib.Path, pathlib.Path("data"))
    assert cast_value(spec, "a/b c") == pathlib.Path("a/b c")
    assert isinstance(cast_value(spec, "x"), pathlib.Path)
    assert cast_value(spec, pathlib.PurePosixPath("y")) == pathlib.Path("y")
    for value in ("", 3, None):
        with pytest.raises(_errors.ParamError) as info:
            cast_value(spec, value)
        assert info.value.expected == "Path"


@pytest.mark.parametrize("value", [None, 1, "x", [1, "a"], {"k": object}, Color.RED])
def test_any_and_unannotated_take_anything(value: Any) -> None:
    assert cast_value(ParamSpec("p", Any, None), value) is value
    annotation = _params.annotation_from_default(None)
    assert cast_value(ParamSpec("p", annotation, None), value) is value


def test_unannotated_type_comes_from_the_default() -> None:
    assert _params.annotation_from_default(3) is int
    assert _params.annotation_from_default([1]) is list
    assert _params.annotation_from_default(None) is Any
    assert cast_value(ParamSpec("p", _params.annotation_from_default(0.1), 0.1), 2) == 2.0
    assert cast_value(ParamSpec("p", _params.annotation_from_default([1]), [1]), [2, "x"]) == [
        2,
        "x",
    ]
    assert cast_value(ParamSpec("p", _params.annotation_from_default((1,)), (1,)), [2]) == (2,)
    with pytest.raises(_errors.ParamError):
        cast_value(ParamSpec("p", _params.annotation_from_default([1]), [1]), 3)


# ----------------------------------------------------------------------------- ParamSpec


def test_param_spec_type_name_and_fresh_default() -> None:
    spec = ParamSpec("layers", list[int], [64, 64], "hidden sizes")
    assert spec.type_name == "list[int]"
    copy = spec.fresh_default()
    copy.append(1)
    assert spec.default == [64, 64]
    with pytest.raises(AttributeError):
        spec.name = "other"  # type: ignore[misc]


# ----------------------------------------------------------------------------- render_type


@pytest.mark.parametrize(
    ("annotation", "text"),
    [
        (int, "int"),
        (float, "float"),
        (str, "str"),
        (bool, "bool"),
        (Any, "any"),
        (type(None), "None"),
        (Optional[int], "int | None"),  # noqa: UP007, UP045
        (int | None, "int | None"),
        (typing.Union[int, str], "int | str"),  # noqa: UP007, UP045
        (Optional[list[int]], "list[int] | None"),  # noqa: UP007, UP045
        (list[int], "list[int]"),
        (typing.List[int], "list[int]"),  # noqa: UP006
        (list, "list"),
        (tuple[int, ...], "tuple[int, ...]"),
        (tuple[int, str], "tuple[int, str]"),
        (dict[str, float], "dict[str, float]"),
        (dict[str, pathlib.Path], "dict[str, Path]"),
        (Literal["a", 1], "Literal['a', 1]"),
        (Color, "Color"),
        (pathlib.Path, "Path"),
        (pathlib.PurePosixPath, "Path"),
    ],
)
def test_render_type(annotation: Any, text: str) -> None:
    assert render_type(annotation) == text


# ----------------------------------------------------------------------------- to_plain


def test_to_plain() -> None:
    assert to_plain(Color.GREEN) == "GREEN"
    assert to_plain(pathlib.Path("a/b")) == "a/b"
    assert to_plain((1, 2)) == [1, 2]
    assert to_plain({"a": (pathlib.Path("x"), Color.RED), 3: {"b": [1.5]}}) == {
        "a": ["x", "RED"],
        "3": {"b": [1.5]},
    }
    for value in (None, True, 3, 0.5, "s"):
        assert to_plain(value) is value


def test_to_plain_of_a_cast_enum_casts_back() -> None:
    spec = ParamSpec("c", Color, Color.RED)
    assert cast_value(spec, to_plain(Color.GREEN)) is Color.GREEN


# ----------------------------------------------------------------------------- validate_overrides

SPECS = {
    "lr": ParamSpec("lr", float, 1e-3, "learning rate"),
    "epochs": ParamSpec("epochs", int, 10),
    "layers": ParamSpec("layers", list[int], [64, 64]),
    "dataset": ParamSpec("dataset", str, "mnist"),
}


def test_validate_overrides_casts_everything() -> None:
    assert validate_overrides(SPECS, {"lr": 1, "layers": ("1", 2)}) == {"lr": 1.0, "layers": [1, 2]}
    assert validate_overrides(SPECS, {}) == {}


def test_unknown_name_with_did_you_mean() -> None:
    with pytest.raises(_errors.ParamError) as info:
        validate_overrides(SPECS, {"lrr": 0.1}, experiment="train")
    err = info.value
    assert not isinstance(err, _errors.ParamErrors)
    assert (err.param, err.value, err.expected) == ("lrr", 0.1, None)
    assert err.suggestion == "lr"
    assert err.known == ("lr", "epochs", "layers", "dataset")
    assert str(err) == (
        "unknown parameter 'lrr' for experiment 'train'; did you mean 'lr'? "
        "Known: lr, epochs, layers, dataset."
    )


def test_unknown_name_without_a_close_match() -> None:
    with pytest.raises(_errors.ParamError) as info:
        validate_overrides(SPECS, {"zzz": 1})
    assert info.value.suggestion is None
    assert str(info.value) == "unknown parameter 'zzz'. Known: lr, epochs, layers, dataset."


def test_a_single_problem_carries_the_source() -> None:
    with pytest.raises(_errors.ParamError) as info:
        validate_overrides(SPECS, {"lr": "abc"}, experiment="train", source="argument --lr")
    assert info.value.source == "argument --lr"
    assert str(info.value).startswith("argument --lr: parameter 'lr'")


def test_several_problems_are_reported_together() -> None:
    overrides = {"lrr": 0.1, "epochs": "ten", "layers": [1, "x"], "dataset": "cifar"}
    with pytest.raises(_errors.ParamErrors) as info:
        validate_overrides(SPECS, overrides, experiment="train", source="sweep.yml")
    err = info.value
    assert [e.param for e in err.errors] == ["lrr", "epochs", "layers"]
    assert err.errors[0].suggestion == "lr"
    assert err.errors[1].value == "ten"
    assert err.errors[2].reason == "item 1 ('x') is not int"
    assert err.source == "sweep.yml"
    assert isinstance(err, _errors.ParamError)  # one `except ParamError` catches both
    assert str(err) == (
        "sweep.yml: unknown parameter 'lrr' for experiment 'train'; did you mean 'lr'? "
        "Known: lr, epochs, layers, dataset. "
        "parameter 'epochs' for experiment 'train' expects int (default 10), got 'ten'. "
        "parameter 'layers' for experiment 'train' expects list[int] (default [64, 64]), "
        "got [1, 'x']: item 1 ('x') is not int."
    )


# ----------------------------------------------------------------------------- property

ANNOTATIONS: list[Any] = [
    int,
    float,
    str,
    bool,
    Any,
    type(None),
    pathlib.Path,
    Color,
    Optional[int],  # noqa: UP007, UP045
    float | None,
    int | str,
    list[int],
    list[list[float]],
    tuple[int, ...],
    tuple[int, str],
    tuple,
    dict[str, float],
    dict[str, list[int]],
    Literal["a", 1, True, None],
    Optional[Color],  # noqa: UP007, UP045
    list,
    dict,
]

# Ints are bounded to what a float can hold: larger ones hit the OverflowError bug above.
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**1000), max_value=2**1000)
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["null", "1", "1.5", "true", "RED", "g", "", " 3 ", "1e3", "inf"])
    | st.sampled_from([Color.RED, pathlib.Path("p"), object()])
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3)
    | st.lists(inner, max_size=3).map(tuple)
    | st.dictionaries(st.text(max_size=3) | st.integers(), inner, max_size=3),
    max_leaves=8,
)


@given(annotation=st.sampled_from(ANNOTATIONS), value=_VALUES)
def test_cast_value_returns_or_raises_param_error(annotation: Any, value: Any) -> None:
    spec = ParamSpec("p", annotation, None)
    try:
        result = cast_value(spec, value)
    except _errors.ParamError as exc:
        assert exc.param == "p"
        assert "\n" not in str(exc)
        return
    # What is accepted is a fixed point: casting it again changes nothing.
    again = cast_value(spec, result)
    assert again == result or (again != again and result != result)  # NaN inside
