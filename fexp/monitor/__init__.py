"""Monitor training loops: counters for nested loops and hooks that log, message, write
TensorBoard summaries, checkpoint and probe resources every N steps/epochs.

Example:
    >>> from fexp.monitor import Monitor
    >>> m = Monitor(limit="@3s")
    >>> for x in m(range(10)):
    ...     pass
    >>> m.step
    3
"""

from __future__ import annotations

from fexp._checkpoint import Best as Best

from ._context import SupportsMessage as SupportsMessage
from ._hooks import Checkpointer as Checkpointer
from ._hooks import Hook as Hook
from ._hooks import Logger as Logger
from ._hooks import Messenger as Messenger
from ._hooks import Timer as Timer
from ._monitor import Monitor as Monitor
from ._probe import Probe as Probe
from ._pruner import Pruner as Pruner
from ._resume import load as load
from ._specs import Spec as Spec
from ._specs import SpecError as SpecError
from ._tensorboard import TensorboardLogger as TensorboardLogger
from ._tensorboard import make_grid as make_grid

__all__ = [
    "Best",
    "Checkpointer",
    "Hook",
    "Logger",
    "Messenger",
    "Monitor",
    "Probe",
    "Pruner",
    "Spec",
    "SpecError",
    "SupportsMessage",
    "TensorboardLogger",
    "Timer",
    "load",
    "make_grid",
]
