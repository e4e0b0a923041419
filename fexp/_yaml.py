"""YAML text <-> data through ruamel's safe loader (C-accelerated); no file writes here.

A ``!!python/object`` (or any unknown) tag is a ``YamlError``, never executed.
"""

from __future__ import annotations

import functools
import io
import pathlib
from typing import TYPE_CHECKING, Any

from . import _errors

if TYPE_CHECKING:
    from ruamel.yaml import YAML


@functools.cache
def _safe() -> YAML:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[attr-defined,assignment]
    yaml.width = 4096
    return yaml


@functools.cache
def _flow() -> YAML:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe")
    yaml.default_flow_style = True
    yaml.width = 1_000_000

    def represent_str(representer: Any, data: str) -> Any:
        # Double quotes escape line breaks, so the value stays on one line.
        style = '"' if any(c in data for c in "\n\r\x85\u2028\u2029") else None
        return representer.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    yaml.representer.add_representer(str, represent_str)
    return yaml


def load(text: str, *, source: str | None = None) -> Any:
    """Parse YAML text safely.

    Raises:
        YamlError: malformed YAML or an unsafe/unknown tag; ``source`` names the file.
    """
    from ruamel.yaml.error import YAMLError

    try:
        _refuse_aliases(text, source)
        return _safe().load(text)
    except YAMLError as exc:
        raise _errors.YamlError(_describe(exc), source=source) from None
    except (ValueError, TypeError) as exc:  # ruamel raises these for a few malformed inputs
        raise _errors.YamlError(f"malformed YAML: {exc}", source=source) from None


def _refuse_aliases(text: str, source: str | None) -> None:
    """Refuse YAML aliases (``*name``): fexp never writes them, and a few bytes of nested
    aliases ("billion laughs") expand to gigabytes. Only text holding a ``*`` is scanned."""
    if "*" not in text:
        return
    from ruamel.yaml.events import AliasEvent

    for event in _safe().parse(text):
        if isinstance(event, AliasEvent):
            raise _errors.YamlError(
                "refusing a YAML alias (*name): fexp files never use anchors and aliases, "
                "which can expand a few bytes into gigabytes; write the values out",
                source=source,
            )


def _describe(exc: Exception) -> str:
    from ._core import limits

    text = limits.clip(" ".join(str(exc).split()), 300)
    if "python/" in text or "could not determine a constructor" in text:
        return f"refusing an unsafe or unknown YAML tag ({text})"
    return f"malformed YAML: {text}"


def read(path: pathlib.Path) -> Any:
    """Read and parse a YAML file; a missing or unreadable file is a ``YamlError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _errors.YamlError("file not found", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _errors.YamlError(f"cannot read: {exc}", source=str(path)) from None
    return load(text, source=str(path))


def read_mapping(path: pathlib.Path) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping (an empty file is ``{}``)."""
    data = read(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise _errors.YamlError(
            f"expected a mapping at the top level, got {type(data).__name__}", source=str(path)
        )
    return data


def dump(data: Any) -> str:
    """Render data as block-style YAML (mappings keep their insertion order)."""
    stream = io.StringIO()
    _safe().dump(data, stream)
    return stream.getvalue()


def dump_flow(value: Any) -> str:
    """Render one value on one line in flow style, e.g. ``[64, 64]`` or ``'a: b'``.

    Example:
        >>> dump_flow({"x": 1})
        '{x: 1}'
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    stream = io.StringIO()
    _flow().dump(value, stream)
    text = stream.getvalue().strip()
    if text.endswith("\n..."):
        text = text[: -len("\n...")].strip()
    elif text.endswith("..."):
        text = text[: -len("...")].strip()
    return text
