"""fexp: define, sweep, run, monitor and find research experiments.

Example:
    >>> import fexp
    >>> @fexp.experiment
    ... def train(root: fexp.Root, lr: float = 1e-3):  # @p learning rate
    ...     root.message({"loss": lr})
"""

from __future__ import annotations

import importlib
from typing import Any

from ._decorator import experiment as experiment
from ._errors import ConfigError as ConfigError
from ._errors import ExperimentStateError as ExperimentStateError
from ._errors import FexpError as FexpError
from ._errors import LockTimeout as LockTimeout
from ._errors import ParamError as ParamError
from ._errors import SweepError as SweepError
from ._errors import YamlError as YamlError
from ._experiment import Experiment as Experiment
from ._experiment import Root as Root
from ._experiment import current as current
from ._params import ParamSpec as ParamSpec

__version__ = "0.1.0"

# Public names whose modules load on first use, so `import fexp` stays cheap.
_LAZY = {
    "ExperimentSet": "fexp._expset",
    "find": "fexp._find",
    "find_df": "fexp._find",
    "autodoc": "fexp._introspect",
    "flatten": "fexp._query",
    "get_meta": "fexp._meta",
    "dic_to_yaml": "fexp._public_yaml",
    "dic_from_yml": "fexp._public_yaml",
    "Interrupted": "fexp._runner",
    "Best": "fexp._checkpoint",
    "CheckpointRecord": "fexp._checkpoint",
    "CheckpointWriter": "fexp._checkpoint",
    "HighestCheckpointWriter": "fexp._checkpoint",
    "LowestCheckpointWriter": "fexp._checkpoint",
    "read_best": "fexp._checkpoint",
    "read_latest": "fexp._checkpoint",
    "read_step": "fexp._checkpoint",
    "reduce": "fexp._reduce",
    "select_best": "fexp._reduce",
    "Service": "fexp._services_registry",
    "TensorboardService": "fexp._services_registry",
    "Token": "fexp._token",
    "token": "fexp._token",
}

__all__ = sorted(
    [
        "ConfigError",
        "Experiment",
        "ExperimentStateError",
        "FexpError",
        "LockTimeout",
        "ParamError",
        "ParamSpec",
        "Root",
        "SweepError",
        "YamlError",
        "current",
        "experiment",
        *_LAZY,
    ]
)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fexp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
