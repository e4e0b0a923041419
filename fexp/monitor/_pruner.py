"""The ``Pruner`` hook: stop the wrapped loops when ``fexp tune``'s pruner says so."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import _context
from ._hooks import Hook

if TYPE_CHECKING:
    from ._monitor import Monitor


class Pruner(Hook):
    """Ask ``root.should_prune()`` every N triggers (``"@1e"``: every epoch) and end the loops
    when the trial is pruned; the experiment then ends with status ``pruned``.

    It runs after the Monitor's other hooks of the same trigger, so the value the ``msg`` hook
    just sent is the one judged. Outside ``fexp tune`` it never stops anything.

    Example:
        >>> m = Monitor(msg="val_loss@1e", hooks=[Pruner("@1e")])  # doctest: +SKIP
    """

    runs_last = True

    def __init__(self, spec: str = "@1e") -> None:
        super().__init__(spec)

    def __call__(self, var_dict: dict[str, Any], monitor: Monitor) -> None:
        experiment = _context._current_experiment()
        should_prune = getattr(experiment, "should_prune", None)
        if should_prune is not None and should_prune():
            monitor.stop()
