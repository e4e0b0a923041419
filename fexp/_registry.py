"""Experiment references (``module:attr``, ``path/file.py:attr``) and the registry of names.

The registry lives in ``$FEXP_HOME/config.yml`` (see ``_config``) under ``experiments``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import pathlib
import sys
from typing import TYPE_CHECKING, Any

from . import _errors

if TYPE_CHECKING:
    from ._experiment import Experiment


def reference_for(cls: type[Any]) -> str:
    """The reference ``fexp execute`` uses to load ``cls`` again in a fresh process."""
    attr = getattr(cls, "_attr", None) or cls.__qualname__
    module = sys.modules.get(cls.__module__)
    file = getattr(module, "__file__", None)
    if cls.__module__ == "__main__" or cls.__module__.startswith("fexp_user_"):
        if not file:
            raise _errors.ConfigError(
                f"experiment {cls.__name__!r} was defined interactively; define it in a file "
                "so that script.sh can load it"
            )
        return f"{pathlib.Path(file).resolve()}:{attr}"
    return f"{cls.__module__}:{attr}"


def split_reference(ref: str) -> tuple[str, str]:
    """Split ``module:attr`` / ``file.py:attr`` into its two parts (pure)."""
    target, sep, attr = ref.rpartition(":")
    if not sep or not target or not attr or not all(p.isidentifier() for p in attr.split(".")):
        raise _errors.ConfigError(
            f"experiment reference {ref!r} must look like 'module:attr' or 'path/file.py:attr'"
        )
    return target, attr


def _load_file_module(path: pathlib.Path, ref: str) -> Any:
    if not path.is_file():
        raise _errors.ConfigError(f"experiment reference {ref!r}: file {str(path)!r} not found")
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    name = f"fexp_user_{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise _errors.ConfigError(f"experiment reference {ref!r}: cannot load {str(path)!r}")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _import_target(target: str, ref: str) -> Any:
    """Import the module (or file) a reference names; its failures become ConfigErrors."""
    try:
        if target.endswith(".py") or "/" in target or "\\" in target:
            module = _load_file_module(pathlib.Path(target).resolve(), ref)
        else:
            if "" not in sys.path and str(pathlib.Path.cwd()) not in sys.path:
                sys.path.insert(0, str(pathlib.Path.cwd()))
            module = importlib.import_module(target)
    except _errors.FexpError:
        raise
    except ModuleNotFoundError as exc:
        raise _errors.ConfigError(
            f"experiment reference {ref!r}: module {exc.name!r} not found"
        ) from None
    except SystemExit as exc:
        raise _errors.ConfigError(
            f"experiment reference {ref!r}: importing {target!r} called sys.exit({exc.code!r}); "
            'guard the module\'s script code with `if __name__ == "__main__":`'
        ) from None
    except Exception as exc:
        raise _errors.ConfigError(
            f"experiment reference {ref!r}: importing {target!r} failed with "
            f"{type(exc).__name__}: {exc}"
        ) from None
    return module


def resolve(ref: str) -> type[Experiment]:
    """Import and return the Experiment class a reference names.

    Raises:
        ConfigError: malformed reference, missing module/file/attribute, or not an experiment.
            An exception raised while importing the user's module is reported with its
            type and text (the module is broken, not fexp).
    """
    from ._experiment import Experiment

    target, attr = split_reference(ref)
    module = _import_target(target, ref)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise _errors.ConfigError(
                f"experiment reference {ref!r}: {target!r} has no attribute {part!r}"
            )
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, Experiment)):
        raise _errors.ConfigError(
            f"experiment reference {ref!r} names {type(obj).__name__} {attr!r}, not an "
            "experiment; decorate it with @fexp.experiment or subclass fexp.Experiment"
        )
    return obj
