"""ParamSpec and the casting of values to a parameter's annotated type — pure, no I/O.

``cast_value`` is the one place that decides whether a value fits a parameter; sweeps, the
CLI, ``Experiment(**overrides)`` and params.yml loading all go through it.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import math
import pathlib
import types
import typing
from collections.abc import Mapping
from typing import Any

from . import _errors

_NONE_TYPE = type(None)


@dataclasses.dataclass(frozen=True)
class ParamSpec:
    """What fexp knows about one parameter.

    Attributes:
        name: the parameter's name.
        annotation: the resolved annotation (``typing.Any`` when unannotated and the
            default is None).
        default: the default value (already cast to ``annotation``).
        help: the help text from the comment or docstring ("" when none).
    """

    name: str
    annotation: Any
    default: Any
    help: str = ""

    @property
    def type_name(self) -> str:
        """The annotation rendered for humans, e.g. ``list[int]`` or ``float | None``."""
        return render_type(self.annotation)

    def fresh_default(self) -> Any:
        """Return a deep copy of the default, so instances never share mutable values."""
        return copy.deepcopy(self.default)


def annotation_from_default(default: Any) -> Any:
    """Infer an annotation for an unannotated parameter from its default."""
    if default is None:
        return Any
    return type(default)


def render_type(annotation: Any) -> str:
    """Render an annotation as a short readable string.

    Example:
        >>> render_type(typing.Optional[list[int]])
        'list[int] | None'
    """
    if annotation is Any:
        return "any"
    if annotation is _NONE_TYPE:
        return "None"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return "Literal[" + ", ".join(repr(a) for a in args) + "]"
    if _is_union(origin):
        return " | ".join(render_type(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return f"tuple[{render_type(args[0])}, ...]"
        return f"{name}[{', '.join(render_type(a) for a in args)}]" if args else name
    if isinstance(annotation, type):
        if issubclass(annotation, pathlib.PurePath):
            return "Path"
        return annotation.__name__
    return str(annotation)


def _is_union(origin: Any) -> bool:
    return origin is typing.Union or origin is types.UnionType


class _Mismatch(Exception):
    """Internal: a value does not fit; carries an optional reason."""


def cast_value(spec: ParamSpec, value: Any, *, experiment: str | None = None) -> Any:
    """Cast ``value`` to ``spec``'s annotation or raise ``ParamError``.

    Ints become floats for float parameters; integral floats become ints for int
    parameters (``1e-3`` for an int is an error); strings parse where unambiguous.

    Example:
        >>> cast_value(ParamSpec("lr", float, 1e-3), 1)
        1.0
    """
    try:
        return _cast(spec.annotation, value)
    except _Mismatch as exc:
        raise _errors.ParamError(
            spec.name,
            value,
            spec.type_name,
            experiment=experiment,
            default=spec.default,
            reason=str(exc),
        ) from None


def _cast(annotation: Any, value: Any) -> Any:  # noqa: C901 - one branch per supported type
    if annotation is Any or annotation is object:
        return value
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return _cast_literal(args, value)
    if _is_union(origin):
        return _cast_union(args, value)
    if origin in (list, typing.List):  # noqa: UP006 - typing.List kept for old annotations
        return _cast_list(args, value)
    if origin in (tuple, typing.Tuple):  # noqa: UP006
        return _cast_tuple(args, value)
    if origin in (dict, typing.Dict):  # noqa: UP006
        return _cast_dict(args, value)
    if annotation is _NONE_TYPE:
        if value is None:
            return None
        raise _Mismatch()
    if not isinstance(annotation, type):
        return value
    if annotation is bool:
        return _cast_bool(value)
    if annotation is int:
        return _cast_int(value)
    if annotation is float:
        return _cast_float(value)
    if annotation is str:
        return _cast_str(value)
    if issubclass(annotation, pathlib.PurePath):
        if isinstance(value, (str, pathlib.PurePath)) and str(value) != "":
            return annotation(value)
        raise _Mismatch()
    if issubclass(annotation, enum.Enum):
        return _cast_enum(annotation, value)
    if annotation in (list, tuple, dict, set):
        if isinstance(value, annotation):
            return value
        if annotation is tuple and isinstance(value, list):
            return tuple(value)
        raise _Mismatch()
    if isinstance(value, annotation):
        return value
    raise _Mismatch()


def _cast_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "on", "off"):
        return value.lower() in ("true", "yes", "on")
    raise _Mismatch()


def _cast_int(value: Any) -> int:
    if isinstance(value, bool):
        raise _Mismatch()
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise _Mismatch() from None
    raise _Mismatch()


def _cast_float(value: Any) -> float:
    if isinstance(value, bool):
        raise _Mismatch()
    try:
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            return float(value.strip())
    except ValueError:
        raise _Mismatch() from None
    except OverflowError:
        raise _Mismatch("too large for a float") from None
    raise _Mismatch()


def _cast_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, pathlib.PurePath):
        return str(value)
    raise _Mismatch()


def _cast_enum(annotation: type[enum.Enum], value: Any) -> enum.Enum:
    if isinstance(value, annotation):
        return value
    if isinstance(value, str) and value in annotation.__members__:
        return annotation[value]
    try:
        return annotation(value)
    except ValueError:
        choices = ", ".join(annotation.__members__)
        raise _Mismatch(f"choose one of {choices}") from None


def _cast_literal(choices: tuple[Any, ...], value: Any) -> Any:
    for choice in choices:
        if value == choice and type(value) is type(choice):
            return choice
    for choice in choices:
        if str(value) == str(choice):
            return choice
    raise _Mismatch("choose one of " + ", ".join(repr(c) for c in choices))


def _cast_union(args: tuple[Any, ...], value: Any) -> Any:
    if value is None:
        if _NONE_TYPE in args:
            return None
        raise _Mismatch()
    if isinstance(value, str) and value.strip().lower() in ("null", "none", "~"):
        if _NONE_TYPE in args:
            return None
    for arg in args:
        if arg is _NONE_TYPE:
            continue
        try:
            return _cast(arg, value)
        except _Mismatch:
            continue
    raise _Mismatch()


def _cast_list(args: tuple[Any, ...], value: Any) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        raise _Mismatch("expected a list")
    item = args[0] if args else Any
    return [_cast_item(item, v, i) for i, v in enumerate(value)]


def _cast_tuple(args: tuple[Any, ...], value: Any) -> tuple[Any, ...]:
    if not isinstance(value, (list, tuple)):
        raise _Mismatch("expected a list")
    if not args:
        return tuple(value)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_cast_item(args[0], v, i) for i, v in enumerate(value))
    if len(args) != len(value):
        raise _Mismatch(f"expected {len(args)} items, got {len(value)}")
    return tuple(_cast_item(a, v, i) for i, (a, v) in enumerate(zip(args, value, strict=True)))


def _cast_dict(args: tuple[Any, ...], value: Any) -> dict[Any, Any]:
    if not isinstance(value, Mapping):
        raise _Mismatch("expected a mapping")
    key_type, value_type = args if len(args) == 2 else (Any, Any)
    return {_cast(key_type, k): _cast_item(value_type, v, k) for k, v in value.items()}


def _cast_item(annotation: Any, value: Any, where: object) -> Any:
    try:
        return _cast(annotation, value)
    except _Mismatch:
        raise _Mismatch(f"item {where!r} ({value!r}) is not {render_type(annotation)}") from None


def to_plain(value: Any) -> Any:
    """Convert a parameter value to plain YAML data (Path -> str, Enum -> name, tuple -> list).

    Example:
        >>> to_plain((pathlib.Path("a"), 1))
        ['a', 1]
    """
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, pathlib.PurePath):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    return value


def validate_overrides(
    specs: Mapping[str, ParamSpec],
    overrides: Mapping[str, Any],
    *,
    experiment: str | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """Cast every override, collecting all problems into one error.

    Raises:
        ParamError: for one problem; ``ParamErrors`` listing all of them for several.
    """
    cast: dict[str, Any] = {}
    errors: list[_errors.ParamError] = []
    for name, value in overrides.items():
        spec = specs.get(name)
        if spec is None:
            errors.append(_errors.ParamError(name, value, experiment=experiment, known=specs))
            continue
        try:
            cast[name] = cast_value(spec, value, experiment=experiment)
        except _errors.ParamError as exc:
            errors.append(exc)
    if len(errors) == 1:
        errors[0].source = source
        raise errors[0]
    if errors:
        raise _errors.ParamErrors(errors, source=source)
    return cast
