"""Monitor spec strings "{regex}@{N}{trigger}": parsing and every error."""

from __future__ import annotations

import pytest

from fexp import _errors
from fexp.monitor import Spec, SpecError
from fexp.monitor._specs import parse_specs, trigger_level


@pytest.mark.parametrize(
    ("text", "regex", "modulo", "trigger", "level"),
    [
        ("a|b@2s", "a|b", 2, "step", 0),
        ("b@1e", "b", 1, "epoch", 1),
        ("c@1er", "c", 1, "era", 2),
        ("d|e@1eo", "d|e", 1, "eon", 3),
        ("e@1se", "e", 1, "supereon", 4),
        ("@20s", "", 20, "step", 0),
        ("^loss$@100step", "^loss$", 100, "step", 0),
        ("x@3epoch", "x", 3, "epoch", 1),
        ("x@3era", "x", 3, "era", 2),
        ("x@3eon", "x", 3, "eon", 3),
        ("x@3supereon", "x", 3, "supereon", 4),
        ("y.*->ex.*@10s", "y.*->ex.*", 10, "step", 0),
        ("a@b@5e", "a@b", 5, "epoch", 1),  # the last '@' separates the count
        ("z@ 7 s", "z", 7, "step", 0),
    ],
)
def test_parse(text: str, regex: str, modulo: int, trigger: str, level: int) -> None:
    spec = Spec(text)
    assert (spec.regex, spec.modulo, spec.trigger, spec.level) == (regex, modulo, trigger, level)
    assert spec.text == text


def test_equal_specs_compare_by_meaning() -> None:
    assert Spec("a@2s") == Spec("a@2step")
    assert hash(Spec("a@2s")) == hash(Spec("a@2step"))
    assert Spec("a@2s") != Spec("a@2e")
    assert repr(Spec("a@2s")) == "Spec('a@2s')"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("loss", "missing '@'"),
        ("loss@s", "missing count before trigger 's'"),
        ("loss@10", "missing trigger after count 10"),
        ("loss@", "missing count and trigger after '@'"),
        ("loss@0s", "count must be at least 1, got 0"),
        ("loss@10x", "unknown trigger 'x'"),
        ("loss@10steps", "unknown trigger 'steps'"),
        ("loss@-1s", "bad count and trigger '-1s' after '@'"),
        ("loss@1.5s", "bad count and trigger '1.5s' after '@'"),
        ("(loss@1s", "bad regex '(loss'"),
    ],
)
def test_errors_name_the_bad_part(text: str, problem: str) -> None:
    with pytest.raises(SpecError) as info:
        Spec(text)
    assert any(p.startswith(problem) for p in info.value.problems), info.value.problems
    assert info.value.spec == text
    # A spec error is both a ValueError and a user error shown without traceback by the CLI.
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, _errors.ConfigError)
    assert problem in str(info.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SpecError) as info:
        Spec("(x@0q")
    assert info.value.problems == [
        "count must be at least 1, got 0",
        "unknown trigger 'q'",
        "bad regex '(x' (missing ), unterminated subpattern at position 0)",
    ]


def test_error_text_snapshot() -> None:
    with pytest.raises(SpecError) as info:
        Spec("loss@10x")
    assert str(info.value) == (
        "invalid monitor spec 'loss@10x': unknown trigger 'x'; expected \"{regex}@{N}{trigger}\" "
        'such as "loss@10s", with N >= 1 and trigger one of s e er eo se '
        "(step epoch era eon supereon)."
    )


def test_non_string_spec() -> None:
    with pytest.raises(SpecError, match="must be a string, got int"):
        Spec(3)  # type: ignore[arg-type]


def test_parse_specs_accepts_one_many_or_none() -> None:
    assert parse_specs(None) == []
    assert parse_specs("a@1s") == [Spec("a@1s")]
    assert parse_specs(("a@1s", Spec("b@2e"))) == [Spec("a@1s"), Spec("b@2e")]


def test_trigger_level() -> None:
    assert [trigger_level(t) for t in ("s", "e", "er", "eo", "se")] == [0, 1, 2, 3, 4]
    assert trigger_level("supereon") == 4
    with pytest.raises(SpecError, match="unknown trigger 'week'"):
        trigger_level("week")
