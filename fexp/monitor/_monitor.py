"""The Monitor: counts nested loops (step, epoch, era, eon, supereon) and runs hooks.

Per iteration it does one counter increment and one comparison with the precomputed next
count at which some hook fires; frames are inspected only when a hook fires.
"""

from __future__ import annotations

import itertools
import pathlib
import sys
import time as _time
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from fexp import _checkpoint, _errors, _layout

from . import _context, _options, _resume
from ._hooks import Checkpointer, Hook, Timer, render
from ._interrupt import InterruptGate
from ._specs import TRIGGERS, parse_specs, trigger_level
from ._tensorboard import TensorboardLogger

T = TypeVar("T")
_NEVER = 1 << 62
_LEVELS = len(TRIGGERS)


class _Loop:
    """One active wrapped loop; its level is the depth of loops seen below it.

    ``frame`` is the frame iterating it (where hooks of its level find their variables) and
    ``starts`` the counters when it started, so ``counts[level] - starts[level]`` is how many
    of its items this pass has used.
    """

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


class Monitor:
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
        if depth == 0 and self._gate is not None:
            self._gate.install()
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

    def _warn_unreachable(self) -> None:
        """Warn once per spec that counts a trigger no wrapped loop reaches."""
        for hook in self.hooks:
            spec = hook.spec
            if spec is None or spec.level < self._levels or self._counts[spec.level]:
                continue
            if id(hook) not in self._warned:
                self._warned.add(id(hook))
                wrapped = ", ".join(TRIGGERS[: self._levels])
                warnings.warn(
                    f"monitor spec {spec.text!r} counts {spec.trigger}s, but the wrapped loops "
                    f"only count {wrapped}: it never fires. Wrap the outer loop with the "
                    f"Monitor too, or count in {TRIGGERS[self._levels - 1]}s.",
                    RuntimeWarning, stacklevel=4)

    def _advance(self, level: int, count: int, depth: int) -> bool:
        """Run the hooks due at ``count``; return whether the loops must stop."""
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
            self._save_current()
            for other in range(_LEVELS):
                self._next[other] = self._upcoming(other)
            self._gate.release()
        return self._stopped

    def _stop_at_boundary(self) -> None:
        """Make every loop take the slow path at its next increment (a signal is held)."""
        self._next[:] = [0] * _LEVELS

    def _save_current(self) -> None:
        """Checkpoint each Checkpointer's objects as its loop's frame holds them now."""
        for hook in self.checkpointers:
            level = hook.spec.level if hook.spec is not None else 0
            frame = next((lp.frame for lp in self._stack if lp.level == level), None)
            previous = self._frame
            self._frame, self._namespace = frame or previous, None
            try:
                if frame is not None and hook.wants_vars:
                    hook.remember(hook.select(self.namespace, self))
                if hook.objects and not hook.saved(self.step):
                    hook.save(self)
            finally:
                self._frame, self._namespace = previous, None
        self._saved_at = self.step

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
    @property
    def step(self) -> int:
        """Completed iterations of the innermost loop (plus ``inc("step")`` calls)."""
        return self._counts[0]

    @property
    def epoch(self) -> int:
        return self._counts[1]

    @property
    def era(self) -> int:
        return self._counts[2]

    @property
    def eon(self) -> int:
        return self._counts[3]

    @property
    def supereon(self) -> int:
        return self._counts[4]

    def stop(self) -> None:
        """End every wrapped loop at its next iteration, as a reached ``limit`` does."""
        self._stopped = True
        self._next[:] = [0] * _LEVELS

    @property
    def stopped(self) -> bool:
        """Whether a ``limit`` was reached (wrapped loops then end at once)."""
        return self._stopped

    def counters(self) -> dict[str, int]:
        """``{"step": ..., "epoch": ..., "era": ..., "eon": ..., "supereon": ...}``."""
        return dict(zip(TRIGGERS, self._counts, strict=True))

    @property
    def load_seconds(self) -> float:
        """Seconds spent fetching items of the innermost loops (measured with a Timer)."""
        return self._load[0]

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

    def total(self, level: int) -> int | None:
        """The number of iterations ``level`` will reach, from loop lengths and limits."""
        lengths = self._lengths[level : self._levels]
        product: int | None = None
        if lengths and all(n is not None for n in lengths):
            product = 1
            for n in lengths:
                product *= n  # type: ignore[operator]
        limits = self._limits[level]
        if limits:
            return min(limits) if product is None else min(product, *limits)
        return product

    def prefix(self, level: int = 0) -> str:
        """``"01:17PM 18/11/20 e/E s/S"``: the time and the counters from the outermost loop
        down to ``level``."""
        parts = [_time.strftime("%I:%M%p %d/%m/%y")]
        for lvl in range(max(self._levels, level + 1) - 1, level - 1, -1):
            total = self.total(lvl)
            parts.append(f"{self._counts[lvl]}/{total}" if total is not None else
                         str(self._counts[lvl]))
        return " ".join(parts)

    def write(self, line: str) -> None:
        """Print one line of output (hooks without their own ``write`` use this)."""
        print(line, flush=True)

    def log(
        self, x: Any, format: str = "", process_func: Callable[[Any], Any] | None = None
    ) -> None:
        """Print ``x`` with the time and counters: ``[time e/E s/S]: x``."""
        self.write(f"[{self.prefix(0)}]: {render(x, format, process_func)}")

    def modulo(self, trigger: str, modulo: int, exclude_1st: bool = False) -> bool:
        """Whether the ``trigger`` count is a multiple of ``modulo`` (not 0 if ``exclude_1st``)."""
        count = self._counts[trigger_level(trigger)]
        return count % modulo == 0 and not (exclude_1st and count == 0)

    def to_hooks(self, **values: Any) -> None:
        """Pass ``values`` to the hooks created with ``spec=None``."""
        self._frame = sys._getframe(1)
        try:
            for hook in self._manual:
                hook(dict(values), self)
        finally:
            self._frame = self._namespace = None

    def summary(self, verbose: int = 0) -> str:
        """Describe the counters (and with ``verbose`` the hooks)."""
        text = ", ".join(f"{k} = {v}" for k, v in self.counters().items())
        if verbose:
            text += "".join(f"\n  {hook!r}" for hook in self.hooks)
        return text

    # -- outputs --------------------------------------------------------------------------
    @property
    def summary_writer(self) -> Any:
        """A tensorboardX ``SummaryWriter`` on ``directory``, created on first use."""
        if self._writer is None:
            from tensorboardX import SummaryWriter

            # A deep queue: logging every step must not wait for the writer thread each time.
            self._writer = SummaryWriter(logdir=str(self._require_directory()), max_queue=1000,
                                         flush_secs=30)
            weakref.finalize(self, self._writer.close)
        return self._writer

    def _require_directory(self) -> pathlib.Path:
        if self.directory is None:
            raise _errors.ConfigError(
                "this Monitor has no folder: pass Monitor(directory=...) or create it inside a "
                "running fexp experiment"
            )
        return self.directory

    @property
    def checkpoint_directory(self) -> pathlib.Path:
        """``{directory}/checkpoints``."""
        return self._require_directory() / _layout.CHECKPOINT_DIR

    @property
    def checkpointers(self) -> list[Checkpointer]:
        return [h for h in self.hooks if isinstance(h, Checkpointer)]

    def save_checkpoint(
        self,
        objects: Mapping[str, Any],
        *,
        prefix: str = _checkpoint.DEFAULT_PREFIX,
        keep: int | None = None,
        best: _checkpoint.Best | None = None,
        every: int | None = None,
        metrics: Mapping[str, float] | None = None,
    ) -> pathlib.Path:
        """Save ``objects`` at the current step with the counters (the same step is replaced)."""
        directory = self.checkpoint_directory
        latest = _checkpoint.latest_step(directory, prefix)
        positions = [(lp.level, self._counts[lp.level] - lp.starts[lp.level]) for lp in self._stack]
        return _checkpoint.save(
            directory, dict(objects), self.step, prefix=prefix, keep=keep,
            overwrite=latest == self.step, keep_every_n_steps=every, metrics=metrics, best=best,
            counters={**self.counters(), **_resume.positions_to_counters(positions)},
        )

    def checkpoint(self, **objects: Any) -> pathlib.Path | None:
        """Save ``objects`` now, or with no arguments those of every Checkpointer's last save.

        Safe to call from an interruption callback: the objects are the live ones, and a
        checkpoint of the current step is replaced rather than refused.
        """
        if objects:
            return self.save_checkpoint(objects, keep=self._ckpt_keep)
        saved = None
        for hook in self.checkpointers:
            if hook.objects:
                hook.save(self)
                saved = _checkpoint.path_for(self.checkpoint_directory, self.step, hook.prefix)
        return saved

    def _interrupted(self, status: str) -> None:
        if self._saved_at != self.step:  # not saved at the loop boundary already
            self.checkpoint()

    def load(
        self,
        directory: str | pathlib.Path | None = None,
        step: int | None = None,
        attempt: bool = True,
        update_triggers: bool = True,
        **objects: Any,
    ) -> dict[str, Any]:
        """Restore ``objects`` from the newest checkpoints holding them, and the counters.

        Objects with ``load_state_dict`` (torch modules, optimizers), dicts, lists and numpy
        arrays of the saved shape and dtype are restored in place; every restored value is
        also returned as ``{name: value}`` (rebind from it what cannot change in place, e.g.
        ``x = m.load(x=None)["x"]``). The counters continue from the checkpoint, and the
        wrapped loops of the next pass skip the items the checkpointed pass had used, so
        ``for epoch in m(range(E))`` goes on at the restored epoch and ends at E. With
        ``attempt`` a missing checkpoint is not an error; a ``step`` that is not saved is.

        Raises:
            ExperimentStateError: ``step`` is not saved (e.g. deleted by ``ckpt_keep``), or
                nothing holds an object and ``attempt`` is False.
        """
        folder = pathlib.Path(directory) if directory is not None else self._require_directory()
        restored, record = _resume.restore(folder / _layout.CHECKPOINT_DIR, step, attempt, objects)
        if update_triggers and record is not None:
            self._set_counters(record.counters or {"step": record.step})
        return restored

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
