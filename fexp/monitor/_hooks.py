"""Monitor hooks: the ``Hook`` base and Logger, Timer, Messenger, Checkpointer, Probe.

A hook runs only when its trigger count is a multiple of its spec's N; it receives the loop
frame's variables whose names match the spec's regex. Nothing here runs per iteration.
"""

from __future__ import annotations

import re
import time
import types
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from fexp import _errors, _messages

from . import _context
from ._specs import Spec, SpecError

if TYPE_CHECKING:
    from fexp._checkpoint import Best

    from ._monitor import Monitor

_SKIPPED = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType, type)


def _compile(regex: str, spec: str) -> Callable[[str], Any]:
    try:
        return re.compile(regex).search
    except re.error as exc:
        raise SpecError(spec, [f"bad regex {regex!r} ({exc})"]) from None


class Hook(ABC):
    """Base class of monitor hooks; subclass it and implement ``__call__``.

    Every N triggers of ``spec`` (``"{regex}@{N}{trigger}"``) the monitor calls
    ``hook(var_dict, monitor)`` with the variables of the loop's frame whose names match
    ``regex``. A hook with ``spec=None`` runs only through ``monitor.to_hooks(**values)``.

    Example:
        >>> class Collect(Hook):
        ...     def __init__(self, spec):
        ...         super().__init__(spec)
        ...         self.seen = []
        ...     def __call__(self, var_dict, monitor):
        ...         self.seen.append((monitor.step, dict(var_dict)))
        >>> from fexp.monitor import Monitor
        >>> hook = Collect("^x$@2s")
        >>> m = Monitor(hooks=[hook])
        >>> for x in m(range(5)):
        ...     pass
        >>> hook.seen
        [(2, {'x': 1}), (4, {'x': 3})]
    """

    def __init__(self, spec: str | Spec | None) -> None:
        self.spec: Spec | None = Spec(spec) if isinstance(spec, str) else spec
        self._use_pattern(self.spec.regex if self.spec is not None else "")

    def _use_pattern(self, regex: str) -> None:
        text = self.spec.text if self.spec is not None else regex
        self._search = _compile(regex, text) if regex else None
        self._matches: dict[str, bool] = {}

    @property
    def wants_vars(self) -> bool:
        """Whether the hook looks at variables (its regex is not empty)."""
        return self._search is not None

    def select(self, namespace: Mapping[str, Any], exclude: object = None) -> dict[str, Any]:
        """The entries of ``namespace`` whose names match the regex (``re.search``).

        Dunder names, modules, functions and classes are never selected; name matches are
        cached, so a frame's variables are matched once.
        """
        search = self._search
        if search is None:
            return {}
        matches = self._matches
        selected = {}
        for name, value in namespace.items():
            hit = matches.get(name)
            if hit is None:
                hit = matches[name] = not name.startswith("__") and search(name) is not None
            if hit and value is not exclude and not isinstance(value, _SKIPPED):
                selected[name] = value
        return selected

    @abstractmethod
    def __call__(self, var_dict: dict[str, Any], monitor: Monitor) -> None:
        """Act on the selected variables."""

    def close(self) -> None:  # noqa: B027 - optional for subclasses, not abstract
        """Release resources when the monitor closes."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec.text if self.spec else None!r})"


def render(value: Any, format: str = "", process: Callable[[Any], Any] | None = None) -> str:
    """``f"{process(value):{format}}"``, falling back to ``str`` when the format does not fit."""
    if process is not None:
        value = process(value)
    try:
        return f"{value:{format}}"
    except (TypeError, ValueError):
        return str(value)


class Logger(Hook):
    """Print matching variables as ``[time e/E s/S]: name = value`` lines.

    Args:
        spec: ``"{regex}@{N}{trigger}"``.
        format: applied as ``f"{value:{format}}"``.
        process_func: converts each value first (e.g. to a string).
        write: where lines go (``print`` by default).

    Example:
        >>> from fexp.monitor import Monitor
        >>> def write(line):  # drop the time, which changes
        ...     print(line[line.index("]"):])
        >>> m = Monitor(hooks=[Logger("^y$@1e", format=".1f", write=write)])
        >>> y = 0.0
        >>> for _ in m(range(2)):
        ...     for i in m(range(3)):
        ...         y += i
        ]: y = 3.0
        ]: y = 6.0
    """

    def __init__(
        self,
        spec: str | Spec,
        format: str = "",
        process_func: Callable[[Any], Any] | None = None,
        *,
        write: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(spec)
        self.format = format
        self.process_func = process_func
        self.write = write

    def __call__(self, var_dict: dict[str, Any], monitor: Monitor) -> None:
        level = self.spec.level if self.spec is not None else 0
        prefix = monitor.prefix(level)
        write = self.write or monitor.write
        for name, value in var_dict.items():
            write(f"[{prefix}]: {name} = {render(value, self.format, self.process_func)}")


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3g} ms"


class Timer(Hook):
    """Print timing: wall time, time per step, data-loading time per step and the ETA.

    Load time is the time spent fetching the next item of the wrapped iterables; the ETA
    needs loops with a length. Its spec has no regex: ``Timer("@100s")``.
    """

    def __init__(self, spec: str | Spec, *, write: Callable[[str], None] | None = None) -> None:
        super().__init__(spec)
        self._use_pattern("")
        self.write = write
        self._last: tuple[float, int, float] | None = None

    def __call__(self, var_dict: dict[str, Any], monitor: Monitor) -> None:
        now, step, load = time.perf_counter(), monitor.step, monitor.load_seconds
        last_time, last_step, last_load = self._last or (monitor.started, monitor.start_step, 0.0)
        self._last = (now, step, load)
        parts = [f"wall = {_clock(now - monitor.started)}"]
        done = step - last_step
        if done > 0:
            parts.append(f"step = {_ms((now - last_time) / done)}")
            parts.append(f"load = {_ms((load - last_load) / done)}")
        total, session = monitor.total(0), step - monitor.start_step
        if total is not None and session > 0:
            rate = (now - monitor.started) / session
            parts.append(f"eta = {_clock(max(total - step, 0) * rate)}")
        level = self.spec.level if self.spec is not None else 0
        (self.write or monitor.write)(f"[{monitor.prefix(level)}]: {', '.join(parts)}")


def find_experiments(search: Callable[[str], Any], monitor: Monitor) -> list[Any]:
    """Objects with a ``message`` method named like ``search`` in the loop's frame or globals."""
    found: dict[int, Any] = {}
    for namespace in (monitor.namespace, monitor.global_namespace):
        for name, value in namespace.items():
            if not name.startswith("__") and search(name) and _context.is_experiment(value):
                found.setdefault(id(value), value)
    return list(found.values())


class Messenger(Hook):
    """Message matching variables to experiments: ``"vars->experiments@N{trigger}"``.

    ``experiments`` is a regex matched against the names of variables (in the loop's frame,
    then its globals) that hold experiment objects. Without ``->experiments`` the variables go
    to the running fexp experiment.

    Args:
        spec: ``"{vars}->{experiments}@{N}{trigger}"`` or ``"{vars}@{N}{trigger}"``.
        keep: ``latest``, ``min`` or ``max`` when a key is messaged again.
        leader: a regex naming one variable; the whole group is kept only when it improves.
        expand: dict variables become one message per key.
        prepend: expanded keys are named ``{dict}_{key}``.
    """

    def __init__(
        self,
        spec: str | Spec,
        keep: str = "latest",
        leader: str | None = None,
        expand: bool = False,
        prepend: bool | None = None,
    ) -> None:
        super().__init__(spec)
        assert self.spec is not None
        if keep not in _messages.KEEPS:
            raise _errors.ConfigError(
                f"msg_keep must be one of latest, min, max; got {keep!r}", source=self.spec.text
            )
        variables, arrow, experiments = self.spec.regex.partition("->")
        self._use_pattern(variables)
        self._experiments = _compile(experiments, self.spec.text) if arrow else None
        self._default = None if arrow else _context._current_experiment()
        if not arrow and self._default is None:
            raise _errors.ConfigError(
                f"msg spec {self.spec.text!r} names no experiments and no fexp experiment is "
                f"running; write it as '{variables}->EXPERIMENT_REGEX@...'",
            )
        self.keep = keep
        self._leader = _compile(leader, self.spec.text) if leader else None
        self.expand = expand
        self.prepend = bool(prepend)

    def values(self, var_dict: Mapping[str, Any]) -> dict[str, Any]:
        """The messages for ``var_dict``: experiments left out, dicts expanded if asked."""
        values: dict[str, Any] = {}
        for name, value in var_dict.items():
            if _context.is_experiment(value):
                continue
            if self.expand and isinstance(value, Mapping):
                for key, item in value.items():
                    values[f"{name}_{key}" if self.prepend else str(key)] = item
            else:
                values[name] = value
        return values

    def targets(self, monitor: Monitor) -> list[Any]:
        """The experiments to message."""
        if self._experiments is None:
            return [self._default]
        return find_experiments(self._experiments, monitor)

    def __call__(self, var_dict: dict[str, Any], monitor: Monitor) -> None:
        values = self.values(var_dict)
        if not values:
            return
        leader = None
        if self._leader is not None:
            leader = next((key for key in values if self._leader(key)), None)
            if leader is None:
                return
        for experiment in self.targets(monitor):
            experiment.message(values, keep=self.keep, leader=leader, step=monitor.step)


class Checkpointer(Hook):
    """Checkpoint matching variables (models, optimizers, arrays, ...) every N triggers.

    Files go to ``{monitor.directory}/checkpoints/{prefix}{step}`` with the monitor's
    counters, so ``monitor.load(...)`` resumes them. The objects of the last save are
    remembered, so ``monitor.checkpoint()`` can save them again when the run is interrupted.

    Args:
        spec: ``"{regex}@{N}{trigger}"``.
        keep: the newest checkpoints to keep (None keeps all).
        best: also keep the best K by a metric; the metric is read from the variable of that
            name in the loop's frame.
        every: also keep one checkpoint per ``every`` steps for ever.
        prefix: the file prefix.
    """

    def __init__(
        self,
        spec: str | Spec,
        keep: int | None = None,
        best: Best | None = None,
        every: int | None = None,
        prefix: str = "checkpoint_",
    ) -> None:
        super().__init__(spec)
        self.keep = keep
        self.best = best
        self.every = every
        self.prefix = prefix
        self.objects: dict[str, Any] = {}
        self._saved: tuple[int, tuple[int, ...]] | None = None

    def __call__(self, var_dict: dict[str, Any], monitor: Monitor) -> None:
        if self.remember(var_dict):
            self.save(monitor)

    def remember(self, var_dict: Mapping[str, Any]) -> bool:
        """Keep the selected objects (experiments left out) for the next save; False if none."""
        objects = {k: v for k, v in var_dict.items() if not _context.is_experiment(v)}
        if objects:
            self.objects = objects
        return bool(objects)

    def saved(self, step: int) -> bool:
        """Whether these very objects were saved at ``step`` already."""
        return self._saved == (step, tuple(id(v) for v in self.objects.values()))

    def save(self, monitor: Monitor) -> None:
        """Save the remembered objects at the monitor's current step."""
        metrics = {}
        if self.best is not None:
            value = _messages.to_scalar(monitor.namespace.get(self.best.metric))
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                metrics[self.best.metric] = float(value)
        monitor.save_checkpoint(
            self.objects,
            prefix=self.prefix,
            keep=self.keep,
            best=self.best,
            every=self.every,
            metrics=metrics,
        )
        self._saved = (monitor.step, tuple(id(v) for v in self.objects.values()))
