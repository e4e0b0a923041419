"""The global config in ``$FEXP_HOME/config.yml`` (default ``~/.fexp``): load, show, set.

It holds the script.sh header lines, the interpreter, prompts on/off, the registered
experiments (name -> reference and description) and the sets this user created. Its JSON
twin (``_index``) lets ``fexp --help`` list experiments without loading YAML.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
from collections.abc import Iterator, Mapping
from typing import Any

from . import _atomic, _errors, _layout

# key -> (description, default); values are validated by ``parse_setting``.
SETTINGS: dict[str, tuple[str, Any]] = {
    "header": ("lines added to every script.sh after the shebang (a YAML list)", []),
    "python": ("the interpreter script.sh runs (default: the one that ran fexp init)", None),
    "prompt": ("ask before destructive commands such as clean (true/false)", True),
    "root": ("the folder `fexp NAME` registers experiments in when -r is not given", "runs"),
    "env": ("environment variables exported by every script.sh (a YAML mapping)", {}),
    "meta": ("get_meta groups saved in _meta at every run start, e.g. [gpu, cpu]", []),
    "record_env": (
        "environment variables saved in _meta.env at every run start (no other is), "
        "e.g. [CUDA_VISIBLE_DEVICES]",
        [],
    ),
}


def home() -> pathlib.Path:
    """``$FEXP_HOME`` or ``~/.fexp``.

    Raises:
        ConfigError: it exists and is not a folder.
    """
    path = pathlib.Path(os.environ.get("FEXP_HOME") or pathlib.Path.home() / ".fexp")
    if path.exists() and not path.is_dir():
        where = "FEXP_HOME" if os.environ.get("FEXP_HOME") else "the default ~/.fexp"
        raise _errors.ConfigError(
            f"is not a folder; {where} must name the folder of fexp's global config. Point "
            "FEXP_HOME at a folder (it is created when missing)",
            source=f"FEXP_HOME {str(path)!r}",
        )
    return path


def defaults() -> dict[str, Any]:
    data: dict[str, Any] = {key: value for key, (_, value) in SETTINGS.items()}
    data["experiments"] = {}
    data["sets"] = []
    return data


def load() -> dict[str, Any]:
    """Load the config (missing -> defaults), from its JSON twin while config.yml is unchanged."""
    from . import _index
    from ._core import config_rules

    path = home() / _layout.CONFIG_FILE
    if not path.exists():
        return defaults()
    data = _index.read_mapping_cached(path)
    problem = config_rules.config_problem(data)
    if problem:
        raise _errors.ConfigError(
            f"{problem}; fix it with `fexp config set KEY VALUE` or by editing the file",
            source=str(path),
        )
    return {**defaults(), **{k: v for k, v in data.items() if v is not None}}


def save(config: Mapping[str, Any]) -> None:
    """Write config.yml (and its JSON twin) atomically."""
    from . import _index, _render

    directory = home()
    directory.mkdir(parents=True, exist_ok=True)
    text = "# fexp global config: edit with `fexp config set KEY VALUE`\n"
    text += _render.yaml_block(dict(config))
    path = directory / _layout.CONFIG_FILE
    _index.remember(path, dict(config), _atomic.atomic_write(path, text))


@contextlib.contextmanager
def editing() -> Iterator[dict[str, Any]]:
    """Load the config under the FEXP_HOME lock, let the caller change it, save it."""
    directory = home()
    directory.mkdir(parents=True, exist_ok=True)
    with _atomic.locked(directory / _layout.LOCK_FILE):
        config = load()
        yield config
        save(config)


def parse_setting(key: str, text: str) -> Any:
    """Validate ``fexp config set KEY VALUE`` and return the value to store."""
    from . import _yaml

    if key not in SETTINGS:
        known = ", ".join(SETTINGS)
        hint = _errors.did_you_mean(key, SETTINGS)
        extra = f" did you mean {hint!r}?" if hint else ""
        raise _errors.ConfigError(
            f"unknown setting {key!r};{extra} Known: {known}.", source="argument KEY"
        )
    value = _yaml.load(text, source="argument VALUE") if text.strip() else None
    source = f"argument VALUE for {key!r}"
    if key == "header":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _errors.ConfigError("expected a line or a YAML list of lines", source=source)
        if any("\n" in line for line in value):
            raise _errors.ConfigError("header lines cannot contain newlines", source=source)
    elif key == "prompt":
        if not isinstance(value, bool):
            raise _errors.ConfigError(f"expected true or false, got {text!r}", source=source)
    elif key == "env":
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and k.isidentifier() for k in value
        ):
            raise _errors.ConfigError("expected a YAML mapping of NAME: value", source=source)
        value = {k: str(v) for k, v in value.items()}
    elif key == "meta":
        from . import _meta

        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list) or not set(value) <= set(_meta.RUN_GROUPS):
            raise _errors.ConfigError(
                f"expected a YAML list of groups from {', '.join(_meta.RUN_GROUPS)}",
                source=source,
            )
    elif key == "record_env":
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list) or not all(
            isinstance(v, str) and v.isidentifier() for v in value
        ):
            raise _errors.ConfigError("expected a YAML list of variable names", source=source)
    elif key in ("python", "root") and value is not None:
        value = str(value)
    return value


def add_set(root: pathlib.Path) -> None:
    """Remember a set this user created (for ``--all-sets``)."""
    with editing() as config:
        sets = list(config.get("sets") or [])
        if str(root) not in sets:
            sets.append(str(root))
        config["sets"] = sets


def known_sets() -> list[pathlib.Path]:
    """Every set this user created that still exists."""
    return [
        pathlib.Path(p)
        for p in load().get("sets") or []
        if (pathlib.Path(p) / _layout.SET_FILE).exists()
    ]


def forget_missing_sets() -> list[str]:
    """Drop sets that no longer exist (``fexp config --clean``); return the dropped paths."""
    with editing() as config:
        sets = list(config.get("sets") or [])
        gone = [p for p in sets if not (pathlib.Path(p) / _layout.SET_FILE).exists()]
        config["sets"] = [p for p in sets if p not in gone]
    return gone
