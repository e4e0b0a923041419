"""xmen's ``dic_to_yaml`` / ``dic_from_yml`` in fexp's public API (safe YAML only)."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping
from typing import Any

from . import _errors, _render, _yaml


def dic_to_yaml(dic: Mapping[str, Any]) -> str:
    """Render a mapping as block-style YAML (insertion order kept).

    Example:
        >>> print(dic_to_yaml({"lr": 0.01, "tags": {"a": 1}}), end="")
        lr: 0.01
        tags:
          a: 1
    """
    return _render.yaml_block(dict(dic))


def dic_from_yml(
    *, string: str | None = None, path: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """Read a mapping from a YAML ``string`` or file ``path`` with the safe loader."""
    if (string is None) == (path is None):
        raise _errors.ConfigError("pass exactly one of string= or path=")
    if path is not None:
        return _yaml.read_mapping(pathlib.Path(path))
    data = _yaml.load(string or "", source="string")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise _errors.YamlError("expected a mapping", source="string")
    return data
