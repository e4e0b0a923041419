"""Exact interrupt checkpoints: hold a stop signal until the wrapped loop ends its iteration.

While a Monitor inside a running fexp experiment iterates, USR1/TERM/INT (time limit,
preemption, Ctrl-C) are caught here first. The signal is held until the loop finishes the
current iteration, so the checkpoint holds the objects the loop's frame holds *then*, at a
step the counters describe exactly; only then is the runner's own handler called (it records
the status and unwinds). If the iteration does not end within ``FEXP_INTERRUPT_WAIT`` seconds
(default 5) the objects are saved as they are and the runner's handler runs at once, so a
slow step cannot outlast the scheduler's grace time.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGUSR1, signal.SIGTERM, signal.SIGINT)
WAIT_ENV = "FEXP_INTERRUPT_WAIT"
DEFAULT_WAIT = 5.0
Handler = Callable[[int, FrameType | None], Any]


def wait_seconds() -> float:
    """How long a held signal waits for the iteration to end (``$FEXP_INTERRUPT_WAIT``)."""
    try:
        return max(float(os.environ.get(WAIT_ENV, DEFAULT_WAIT)), 0.0)
    except ValueError:
        return DEFAULT_WAIT


class InterruptGate:
    """Holds USR1/TERM/INT while loops run, for one Monitor.

    Args:
        at_boundary: called (no arguments) to make the loop take its slow path at the next
            iteration end, where the owner calls :meth:`release`.
        save_now: called with no arguments to checkpoint the current objects when the wait
            runs out; the owner's loops are still active then.
    """

    def __init__(self, at_boundary: Callable[[], None], save_now: Callable[[], None]) -> None:
        self._at_boundary = at_boundary
        self._save_now = save_now
        self._previous: dict[int, Handler] = {}
        self.pending: tuple[int, FrameType | None] | None = None
        self._deadline = 0.0

    @property
    def installed(self) -> bool:
        return bool(self._previous)

    def install(self) -> None:
        """Catch the signals whose handler is a Python function (the runner's); main thread only."""
        if self._previous or threading.current_thread() is not threading.main_thread():
            return
        for sig in SIGNALS:
            current = signal.getsignal(sig)
            if callable(current) and current is not signal.default_int_handler:
                self._previous[sig] = current
                signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        """Give the signals back to the handlers found at :meth:`install`."""
        previous, self._previous = self._previous, {}
        for sig, handler in previous.items():
            if signal.getsignal(sig) == self._handle:
                signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.pending is None:
            self.pending = (signum, frame)
            wait = wait_seconds()
            self._deadline = time.monotonic() + wait
            self._at_boundary()
            _Watchdog(self, signum, wait).start()
        elif time.monotonic() >= self._deadline:
            # The iteration did not end in time: save what the frames hold now, stop here.
            self._save_now()
            self.release()
        # else: the same stop delivered twice (SLURM signals every process of the job and
        # the batch script forwards it again): the one held is enough.

    def release(self) -> None:
        """Hand the held signal to the previous handler (the runner's: it raises)."""
        if self.pending is None:
            return
        signum, frame = self.pending
        handler = self._previous.get(signum)
        self.pending = None
        self.uninstall()
        if handler is not None:
            handler(signum, frame)


class _Watchdog(threading.Thread):
    """Delivers the held signal again once the wait is over, so the gate stops waiting."""

    def __init__(self, gate: InterruptGate, signum: int, wait: float) -> None:
        super().__init__(name="fexp-interrupt-wait", daemon=True)
        self._gate, self._signum, self._wait = gate, signum, wait

    def run(self) -> None:
        time.sleep(self._wait)
        if self._gate.pending is not None and self._gate.installed:
            main = threading.main_thread().ident
            if main is not None:
                signal.pthread_kill(main, self._signum)
