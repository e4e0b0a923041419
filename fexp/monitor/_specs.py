"""Parse monitor specs ``"{regex}@{N}{trigger}"`` into :class:`Spec` — pure, no I/O."""

from __future__ import annotations

import re
from collections.abc import Iterable

from fexp import _errors

TRIGGERS: tuple[str, ...] = ("step", "epoch", "era", "eon", "supereon")
SHORT_TRIGGERS: tuple[str, ...] = ("s", "e", "er", "eo", "se")
_LEVELS: dict[str, int] = {
    **{name: level for level, name in enumerate(TRIGGERS)},
    **{name: level for level, name in enumerate(SHORT_TRIGGERS)},
}
_TAIL = re.compile(r"\s*([0-9]*)\s*([A-Za-z]*)\s*\Z")
_EXPECTED = (
    'expected "{regex}@{N}{trigger}" such as "loss@10s", with N >= 1 and trigger one of '
    "s e er eo se (step epoch era eon supereon)"
)


class SpecError(_errors.ConfigError, ValueError):
    """A monitor spec string that cannot be parsed.

    Attributes:
        spec: the whole spec string.
        problems: one text per bad part (``missing '@'``, ``unknown trigger 'x'``, ...).
    """

    def __init__(self, spec: str, problems: list[str]) -> None:
        self.spec = spec
        self.problems = problems
        super().__init__(f"invalid monitor spec {spec!r}: {'; '.join(problems)}; {_EXPECTED}.")


def trigger_level(trigger: str) -> int:
    """The loop level of a trigger name: 0 for ``"s"``/``"step"`` up to 4 for ``"se"``.

    Raises:
        SpecError: the name is not a trigger.
    """
    try:
        return _LEVELS[trigger]
    except (KeyError, TypeError):
        raise SpecError(f"@1{trigger}", [f"unknown trigger {trigger!r}"]) from None


class Spec:
    """A parsed ``"{regex}@{N}{trigger}"``: variables matching ``regex`` every N triggers.

    Attributes:
        text: the spec as given.
        regex: the part before the last ``@`` (may be empty, e.g. ``"@20s"``).
        modulo: N, at least 1.
        trigger: the long trigger name (``"step"``, ``"epoch"``, ...).
        level: the trigger's loop level (0 = step).

    Example:
        >>> spec = Spec("a|b@2s")
        >>> spec.regex, spec.modulo, spec.trigger
        ('a|b', 2, 'step')
        >>> Spec("loss@1epoch").level
        1
    """

    __slots__ = ("text", "regex", "modulo", "trigger", "level", "pattern")

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise SpecError(repr(text), [f"a spec must be a string, got {type(text).__name__}"])
        regex, at, tail = text.rpartition("@")
        problems: list[str] = []
        count, trigger = "", ""
        if not at:
            regex, problems = text, ["missing '@'"]
        else:
            match = _TAIL.match(tail)
            if match is None:
                problems.append(f"bad count and trigger {tail!r} after '@'")
            else:
                count, trigger = match.groups()
                problems.extend(_check_tail(count, trigger))
        try:
            pattern = re.compile(regex)
        except re.error as exc:
            problems.append(f"bad regex {regex!r} ({exc})")
        if problems:
            raise SpecError(text, problems)
        self.text = text
        self.regex = regex
        self.modulo = int(count)
        self.level = _LEVELS[trigger]
        self.trigger = TRIGGERS[self.level]
        self.pattern = pattern

    def __repr__(self) -> str:
        return f"Spec({self.text!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Spec):
            return NotImplemented
        return (self.regex, self.modulo, self.level) == (other.regex, other.modulo, other.level)

    def __hash__(self) -> int:
        return hash((self.regex, self.modulo, self.level))


def _check_tail(count: str, trigger: str) -> list[str]:
    problems = []
    if not count and not trigger:
        problems.append("missing count and trigger after '@'")
    elif not count:
        problems.append(f"missing count before trigger {trigger!r}")
    elif int(count) == 0:
        problems.append("count must be at least 1, got 0")
    if count and not trigger:
        problems.append(f"missing trigger after count {count}")
    elif trigger and trigger not in _LEVELS:
        problems.append(f"unknown trigger {trigger!r}")
    return problems


def parse_specs(value: str | Spec | Iterable[str | Spec] | None) -> list[Spec]:
    """Parse one spec, a list of specs, or None (no spec) into a list of :class:`Spec`."""
    if value is None:
        return []
    if isinstance(value, (str, Spec)):
        value = [value]
    return [v if isinstance(v, Spec) else Spec(v) for v in value]
