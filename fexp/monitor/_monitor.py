"""The Monitor: counts nested loops (step, epoch, era, eon, supereon) and runs hooks.

Per iteration it does one counter increment and one comparison with the precomputed next
count at which some hook fires; frames are inspected only when a hook fires.
"""

from __future__ import annotations

import itertools
import pathlib
import sys
import time as _time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from fexp import _checkpoint, _errors

from . import _context, _options, _resume
from ._display import Display
from ._hooks import Checkpointer, Hook, Timer
from ._interrupt import InterruptGate
from ._saving import Saving
from ._specs import TRIGGERS, parse_specs, trigger_level
from ._tensorboard import TensorboardLogger

T = TypeVar("T")
_NEVER = 1 << 62
_LEVELS = len(TRIGGERS)


class _Loop:
    """One active wrapped loop; its level is the depth of loops seen below it. ``frame``
    iterates it (hooks of its level read its variables); ``counts[level] - starts[level]``
    is how many of its items this pass has used."""

    __slots__ = ("level", "length", "frame", "starts")

    def __init__(self, length: int | None, frame: Any, starts: list[int]) -> None:
        self.level = 0
        self.length = length
        self.frame = frame
        self.starts = starts


def _length(iterable: object) -> int | None:
    try:
        return len(iterable)  # type: ignore[arg-type]
    except TypeError:
        return None


class Monitor(Saving, Display):
    """Track nested loops and run hooks every N steps/epochs/eras/eons/supereons.

    Wrap each loop: the innermost wrapped loop counts steps, the next epochs, then eras,
    eons and supereons. Specs are ``"{regex}@{N}{trigger}"``: every N triggers the variables
    of the loop's frame whose names match ``regex`` go to the hook.

    Args:
        directory: folder for TensorBoard events and ``checkpoints/``; defaults to the
            running fexp experiment's folder.
        hooks: extra :class:`Hook` objects (they fire first, in order).
        log, log_fn, log_format: :class:`Logger` specs, value converters and formats.
        time: :class:`Timer` specs such as ``"@100s"``.
        msg, msg_keep, msg_leader, msg_expand, msg_prep: :class:`Messenger` specs
            ``"vars->experiments@N"`` (or ``"vars@N"`` for the running experiment) and options.
        probe: :class:`Probe` specs ``"experiments@N"`` (``"@N"`` for the running one).
        limit: ``"@N{trigger}"``: stop every wrapped loop once the trigger reaches N.
        sca, hist, img, txt, fig, vid: TensorBoard specs, each with ``_fn``, ``_pref``,
            ``_prep`` variants (see :class:`TensorboardLogger`); ``img_options`` grid options.
        ckpt, ckpt_keep, ckpt_best, ckpt_every: :class:`Checkpointer` specs, how many to
            keep (None = all), a :class:`~fexp._checkpoint.Best` policy and keep-every-N steps.

    Every option may be one value for all specs or a list with one per spec.

    Example:
        >>> from fexp.monitor import Logger, Monitor
        >>> m = Monitor(log="^loss$@2s", log_format=".2f",
        ...             hooks=[Logger("^lr$@1e", write=lambda s: print(s[s.index("]"):]))])
        >>> m.write = lambda s: print(s[s.index("]"):])
        >>> lr = 0.1
        >>> for epoch in m(range(2)):
        ...     for batch in m(range(3)):
        ...         loss = 1 / (m.step + 1)
        ]: loss = 0.50
        ]: lr = 0.1
        ]: loss = 0.25
        ]: loss = 0.17
        ]: lr = 0.1
        >>> m.step, m.epoch
        (6, 2)
    """

    def __init__(
        self,
        directory: str | pathlib.Path | None = None,
        *,
        hooks: Iterable[Hook] = (),
        log: str | Sequence[str] | None = None,
        log_fn: Callable[[Any], Any] | Sequence[Callable[[Any], Any] | None] | None = None,
        log_format: str | Sequence[str] = "",
        time: str | Sequence[str] = (),
        msg: str | Sequence[str] | None = None,
        msg_keep: str | Sequence[str] = "latest",
        msg_leader: str | Sequence[str | None] | None = None,
        msg_expand: bool | Sequence[bool] = False,
        msg_prep: bool | Sequence[bool | None] | None = None,
        probe: str | Sequence[str] | None = None,
        limit: str | Sequence[str] | None = None,
        sca: str | Sequence[str] | None = None,
        sca_fn: Any = None,
        sca_pref: str | Sequence[str] = "",
        sca_prep: bool | Sequence[bool] = True,
        hist: str | Sequence[str] | None = None,
        hist_fn: Any = None,
        hist_pref: str | Sequence[str] = "",
        hist_prep: bool | Sequence[bool] = True,
        img: str | Sequence[str] | None = None,
        img_fn: Any = None,
        img_pref: str | Sequence[str] = "",
        img_prep: bool | Sequence[bool] = True,
        img_options: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        txt: str | Sequence[str] | None = None,
        txt_fn: Any = None,
        txt_pref: str | Sequence[str] = "",
        txt_prep: bool | Sequence[bool] = True,
        fig: str | Sequence[str] | None = None,
        fig_fn: Any = None,
        fig_pref: str | Sequence[str] = "",
        fig_prep: bool | Sequence[bool] = True,
        vid: str | Sequence[str] | None = None,
        vid_fn: Any = None,
        vid_pref: str | Sequence[str] = "",
        vid_prep: bool | Sequence[bool] = True,
        ckpt: str | Sequence[str] | None = None,
        ckpt_keep: int | None | Sequence[int | None] = None,
        ckpt_best: _checkpoint.Best | Sequence[_checkpoint.Best | None] | None = None,
        ckpt_every: int | None | Sequence[int | None] = None,
    ) -> None:
        options = dict(locals())
        experiment = _context._current_experiment()
        if directory is None and experiment is not None:
            directory = experiment.directory
        self.directory = pathlib.Path(directory) if directory is not None else None
        self.hooks: list[Hook] = [*hooks, *_options.hooks_from_options(options)]
        keeps: list[int | None] = (
            list(ckpt_keep) if isinstance(ckpt_keep, (list, tuple)) else [ckpt_keep]  # type: ignore[list-item]
        )
        self._ckpt_keep = keeps[0] if keeps else None
        self._counts = [0] * _LEVELS
        self._next = [_NEVER] * _LEVELS
        self._lengths: list[int | None] = [None] * _LEVELS
        self._load = [0.0] * _LEVELS
        self._levels = 0
        self._stack: list[_Loop] = []
        self._stopped = False
        self._frame: Any = None
        self._namespace: Mapping[str, Any] | None = None
        self._writer: Any = None
        self.started = _time.perf_counter()
        self.start_step = 0
        self._at: list[list[tuple[int, Hook]]] = [[] for _ in range(_LEVELS)]
        self._manual = [h for h in self.hooks if h.spec is None]
        # Hooks that judge what the others recorded (``Pruner``) run last at each trigger.
        for hook in sorted(self.hooks, key=lambda h: getattr(h, "runs_last", False)):
            if hook.spec is not None:
                self._at[hook.spec.level].append((hook.spec.modulo, hook))
        self._limits: list[list[int]] = [[] for _ in range(_LEVELS)]
        for spec in parse_specs(limit):
            self._limits[spec.level].append(spec.modulo)
        self._timed = any(isinstance(h, Timer) for h in self.hooks)
        self._check_directory()
        self._resume: dict[int, tuple[int, int]] = {}
        self._set_counters({})
        self._warned: set[int] = set()
        self._checked = False  # whether the specs were checked against the wrapped loops
        self._saved_at: int | None = None
        self._gate: InterruptGate | None = None
        if experiment is not None and self.checkpointers:
            _context.on_interrupt(experiment, self._interrupted)
            self._gate = InterruptGate(self._stop_at_boundary, self._save_current)

    def _check_directory(self) -> None:
        needs = [h for h in self.hooks if isinstance(h, (TensorboardLogger, Checkpointer))]
        if needs and self.directory is None:
            raise _errors.ConfigError(
                f"{needs[0]!r} needs a folder: pass Monitor(directory=...) or create the "
                "Monitor inside a running fexp experiment"
            )

    # -- loops ----------------------------------------------------------------------------
    def __call__(self, iterable: Iterable[T]) -> Iterator[T]:
        """Wrap a loop; the innermost wrapped loop counts steps, the next epochs, ..."""
        return self._timed_loop(iterable) if self._timed else self._loop(iterable)

    def _loop(self, iterable: Iterable[T]) -> Iterator[T]:
        if self._stopped:
            return
        loop, skip = self._push(iterable)
        counts, upcoming = self._counts, self._next
        try:
            iterator = iter(iterable)
            if skip:  # resuming: the checkpoint's pass had used these items already
                next(itertools.islice(iterator, skip, skip), None)
            for item in iterator:
                yield item
                level = loop.level
                count = counts[level] + 1
                counts[level] = count
                if count >= upcoming[level] and self._advance(level, count, 2):
                    return
        finally:
            self._pop(loop)

    def _timed_loop(self, iterable: Iterable[T]) -> Iterator[T]:
        if self._stopped:
            return
        loop, skip = self._push(iterable)
        counts, upcoming, load, clock = self._counts, self._next, self._load, _time.perf_counter
        try:
            iterator = iter(iterable)
            if skip:
                next(itertools.islice(iterator, skip, skip), None)
            while True:
                start = clock()
                try:
                    item = next(iterator)
                except StopIteration:
                    return
                load[loop.level] += clock() - start
                yield item
                level = loop.level
                count = counts[level] + 1
                counts[level] = count
                if count >= upcoming[level] and self._advance(level, count, 2):
                    return
        finally:
            self._pop(loop)

    def _push(self, iterable: object) -> tuple[_Loop, int]:
        """Start tracking a loop; return it and how many items a resumed pass skips."""
        depth = len(self._stack)
        if depth >= _LEVELS:
            raise _errors.ConfigError(
                f"a Monitor counts at most {_LEVELS} nested loops ({', '.join(TRIGGERS)})"
            )
        # Frames: 0 this, 1 the loop generator, 2 the code iterating it.
        loop = _Loop(_length(iterable), sys._getframe(2), list(self._counts))
        level, skip = self._resume.pop(depth, (0, 0))
        loop.level = level
        loop.starts[level] -= skip
        for i, outer in enumerate(self._stack):
            if depth - i > outer.level:
                outer.level = depth - i
                self._lengths[outer.level] = outer.length
        self._lengths[level] = loop.length
        self._stack.append(loop)
        self._levels = max(self._levels, depth + 1, self._stack[0].level + 1)
        if depth == 0:
            if self._gate is not None:
                self._gate.install()
            if not self._checked:  # once the outer loop's first item is done, check the specs
                self._next[:] = [0] * _LEVELS
        return loop, skip

    def _pop(self, loop: _Loop) -> None:
        loop.frame = None
        if self._stack and self._stack[-1] is loop:
            self._stack.pop()
        elif loop in self._stack:
            self._stack.remove(loop)
        if not self._stack:
            if self._gate is not None:
                self._gate.uninstall()
            self._warn_unreachable()

    def _advance(self, level: int, count: int, depth: int) -> bool:
        """Run the hooks due at ``count``; return whether the loops must stop."""
        if not self._checked and len(self._stack) == 1 and level == self._stack[0].level:
            self._checked = True  # every wrapped loop has been seen: warn about specs now
            self._warn_unreachable()
        self._frame = sys._getframe(depth)
        try:
            for modulo, hook in self._at[level]:
                if count % modulo == 0:
                    hook(hook.select(self.namespace, self) if hook.wants_vars else {}, self)
        finally:
            self._frame = self._namespace = None
        if any(count >= limit for limit in self._limits[level]):
            self._stopped = True
            # Every loop, at any level, must now take this slow path once to stop.
            self._next[:] = [0] * _LEVELS
        self._next[level] = self._upcoming(level)
        if self._gate is not None and self._gate.pending is not None:
            # A stop signal was held until this iteration ended: checkpoint, then stop.
            self._frame = sys._getframe(depth)
            try:
                self._save_current()
                for other in range(_LEVELS):
                    self._next[other] = self._upcoming(other)
                self._gate.release()
            finally:
                self._frame = self._namespace = None
        return self._stopped

    def _stop_at_boundary(self) -> None:
        """Make every loop take the slow path at its next increment (a signal is held)."""
        self._next[:] = [0] * _LEVELS

    def _upcoming(self, level: int) -> int:
        if self._stopped:
            return 0
        count = self._counts[level]
        upcoming = _NEVER
        for modulo, _ in self._at[level]:
            upcoming = min(upcoming, (count // modulo + 1) * modulo)
        for limit in self._limits[level]:
            if limit > count:
                upcoming = min(upcoming, limit)
        return upcoming

    def _set_counters(self, counters: Mapping[str, int]) -> None:
        for level, name in enumerate(TRIGGERS):
            self._counts[level] = int(counters.get(name, 0))
        self._resume = _resume.positions_from_counters(counters)
        self.start_step = self._counts[0]
        self._stopped = any(
            count >= limit
            for count, limits in zip(self._counts, self._limits, strict=True)
            for limit in limits
        )
        for level in range(_LEVELS):
            self._next[level] = self._upcoming(level)

    def inc(self, trigger: str, back: int = 1) -> None:
        """Count one ``trigger`` by hand and run the hooks due (variables from ``back`` frames up).

        Example:
            >>> m = Monitor()
            >>> m.inc("epoch"); m.epoch
            1
        """
        level = trigger_level(trigger)
        count = self._counts[level] + 1
        self._counts[level] = count
        if count >= self._next[level]:
            self._advance(level, count, 1 + back)

    # -- state ----------------------------------------------------------------------------
    def stop(self) -> None:
        """End every wrapped loop at its next iteration, as a reached ``limit`` does."""
        self._stopped = True
        self._next[:] = [0] * _LEVELS

    @property
    def stopped(self) -> bool:
        """Whether a ``limit`` was reached (wrapped loops then end at once)."""
        return self._stopped

    @property
    def namespace(self) -> Mapping[str, Any]:
        """The loop frame's local variables, while a hook runs (else empty)."""
        if self._namespace is None:
            self._namespace = self._frame.f_locals if self._frame is not None else {}
        return self._namespace

    @property
    def global_namespace(self) -> Mapping[str, Any]:
        """The loop frame's globals, while a hook runs (else empty)."""
        return self._frame.f_globals if self._frame is not None else {}

    def to_hooks(self, **values: Any) -> None:
        """Pass ``values`` to the hooks created with ``spec=None``."""
        self._frame = sys._getframe(1)
        try:
            for hook in self._manual:
                hook(dict(values), self)
        finally:
            self._frame = self._namespace = None

    def close(self) -> None:
        """Close the hooks and flush TensorBoard events."""
        for hook in self.hooks:
            hook.close()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
