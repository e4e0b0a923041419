"""What a Monitor writes and reads back: checkpoints (periodic, manual and on interruption),
resuming them with the loop positions, and its TensorBoard writer (a mixin of ``Monitor``)."""

from __future__ import annotations

import pathlib
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from fexp import _checkpoint, _errors, _layout

from . import _resume
from ._hooks import Checkpointer, Hook

if TYPE_CHECKING:
    from ._monitor import Monitor


class Saving:
    """Checkpointing, resuming and TensorBoard output of :class:`Monitor`."""

    # Set by Monitor.__init__.
    directory: pathlib.Path | None
    hooks: list[Hook]
    _writer: Any
    _counts: list[int]
    _stack: list[Any]
    _ckpt_keep: int | None
    _frame: Any
    _namespace: Mapping[str, Any] | None
    _saved_at: int | None

    def _set_counters(self, counters: Mapping[str, int]) -> None:
        raise NotImplementedError  # Monitor's

    def _host(self) -> Monitor:
        return cast("Monitor", self)

    @property
    def summary_writer(self) -> Any:
        """A tensorboardX ``SummaryWriter`` on ``directory``, created on first use."""
        if self._writer is None:
            from tensorboardX import SummaryWriter

            # A deep queue: logging every step must not wait for the writer thread each time.
            self._writer = SummaryWriter(
                logdir=str(self._require_directory()), max_queue=1000, flush_secs=30
            )
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
            directory,
            dict(objects),
            self._counts[0],
            prefix=prefix,
            keep=keep,
            overwrite=latest == self._counts[0],
            keep_every_n_steps=every,
            metrics=metrics,
            best=best,
            counters={**self._host().counters(), **_resume.positions_to_counters(positions)},
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
                hook.save(self._host())
                saved = _checkpoint.path_for(
                    self.checkpoint_directory, self._counts[0], hook.prefix
                )
        return saved

    def _interrupted(self, status: str) -> None:
        if self._saved_at != self._counts[0]:  # not saved at the loop boundary already
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

    def _save_current(self) -> None:
        """Checkpoint each Checkpointer's objects as its loop's frame holds them now."""
        for hook in self.checkpointers:
            level = hook.spec.level if hook.spec is not None else 0
            frame = next((lp.frame for lp in self._stack if lp.level == level), None)
            previous = self._frame
            self._frame, self._namespace = frame or previous, None
            try:
                if frame is not None and hook.wants_vars:
                    hook.remember(hook.select(self._host().namespace, self))
                if hook.objects and not hook.saved(self._counts[0]):
                    hook.save(self._host())
            finally:
                self._frame, self._namespace = previous, None
        self._saved_at = self._counts[0]
