"""Write a set's ``script.sh``: gather interpreter, PYTHONPATH, git and header lines, render."""

from __future__ import annotations

import os
import pathlib
import sys
from collections.abc import Mapping

from . import _atomic, _config, _errors, _layout, _meta, _registry


def pythonpath_for(ref: str) -> list[str]:
    """The folders script.sh must put on PYTHONPATH so ``ref`` imports as it does here."""
    target, _ = _registry.split_reference(ref)
    paths: list[str] = []
    if not (target.endswith(".py") or "/" in target):
        file = getattr(sys.modules.get(target), "__file__", None)
        if file:
            # Climb one folder per dotted part (plus one for a package's __init__.py).
            levels = target.count(".") + (pathlib.Path(file).name == "__init__.py")
            folder = pathlib.Path(file).resolve().parent
            for _ in range(levels):
                folder = folder.parent
            paths.append(str(folder))
        else:
            paths.append(os.getcwd())
    return paths


def write_script(
    directory: pathlib.Path,
    ref: str,
    *,
    header_lines: list[str] | None = None,
    env: Mapping[str, str] | None = None,
    python: str | None = None,
) -> pathlib.Path:
    """Render and atomically write an executable ``script.sh`` that runs ``ref``."""
    from . import _render

    config = _config.load()
    header = list(config.get("header") or []) if header_lines is None else header_lines
    environment = {**(config.get("env") or {}), **(env or {})}
    interpreter = python or config.get("python") or sys.executable
    target, _ = _registry.split_reference(ref)
    git_path = pathlib.Path(target).parent if target.endswith(".py") else pathlib.Path.cwd()
    try:
        text = _render.render_script(
            ref=ref,
            python=interpreter,
            pythonpath=pythonpath_for(ref),
            git=_meta.git_info(git_path),
            header_lines=header,
            env=environment,
            generated_on=_meta.now_iso(),
        )
    except ValueError as exc:
        raise _errors.ConfigError(str(exc), source="script.sh header/env") from None
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / _layout.SCRIPT_FILE
    _atomic.atomic_write(path, text, mode=0o755)
    return path
