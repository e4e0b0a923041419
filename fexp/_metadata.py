"""Metadata files (fifteen's ``write_metadata``/``read_metadata``): dataclasses <-> YAML."""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

from . import _atomic, _errors, _naming, _params, _render, _yaml


def _path(directory: pathlib.Path, name: str) -> pathlib.Path:
    _naming.check_name(name, source="metadata name")
    return directory / f"{name}.yml"


def write(directory: pathlib.Path, name: str, obj: Any) -> pathlib.Path:
    """Write ``obj`` (a dataclass instance or plain data) to ``directory/name.yml``."""
    data = (
        dataclasses.asdict(obj)
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type)
        else obj
    )
    directory.mkdir(parents=True, exist_ok=True)
    path = _path(directory, name)
    _atomic.atomic_write(path, _render.yaml_block({"value": _params.to_plain(data)}))
    return path


def read(directory: pathlib.Path, name: str, type_: type | None = None) -> Any:
    """Read ``directory/name.yml``; rebuild a dataclass when ``type_`` is one."""
    data = _yaml.read_mapping(_path(directory, name)).get("value")
    if type_ is None:
        return data
    if dataclasses.is_dataclass(type_):
        if not isinstance(data, dict):
            raise _errors.YamlError(
                f"expected a mapping for {type_.__name__}", source=str(_path(directory, name))
            )
        return _build_dataclass(type_, data)
    return type_(data)


def _build_dataclass(type_: Any, data: dict[str, Any]) -> Any:
    import typing

    hints = typing.get_type_hints(type_)
    kwargs = {}
    for field in dataclasses.fields(type_):
        if field.name not in data:
            continue
        value = data[field.name]
        hint = hints.get(field.name)
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = _build_dataclass(hint, value)
        elif hint is not None:
            spec = _params.ParamSpec(field.name, hint, None)
            value = _params.cast_value(spec, value)
        kwargs[field.name] = value
    return type_(**kwargs)
