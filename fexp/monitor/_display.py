"""A Monitor's counters as numbers (``m.step``, ``m.epoch``, ...) and as text: ``e/E s/S``
prefixes, totals, ``log`` lines, a summary, and the warning for a spec no loop reaches (a
mixin of ``Monitor``)."""

from __future__ import annotations

import time as _time
import warnings
from collections.abc import Callable
from typing import Any

from ._hooks import Hook, render
from ._specs import TRIGGERS, trigger_level


class Display:
    """The counters of :class:`Monitor`, as numbers and as text."""

    # Set by Monitor.__init__ and its loops.
    hooks: list[Hook]
    _counts: list[int]
    _lengths: list[int | None]
    _levels: int
    _limits: list[list[int]]
    _load: list[float]
    _warned: set[int]

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

    def counters(self) -> dict[str, int]:
        """``{"step": ..., "epoch": ..., "era": ..., "eon": ..., "supereon": ...}``."""
        return dict(zip(TRIGGERS, self._counts, strict=True))

    @property
    def load_seconds(self) -> float:
        """Seconds spent fetching items of the innermost loops (measured with a Timer)."""
        return self._load[0]

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
            parts.append(
                f"{self._counts[lvl]}/{total}" if total is not None else str(self._counts[lvl])
            )
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

    def summary(self, verbose: int = 0) -> str:
        """Describe the counters (and with ``verbose`` the hooks)."""
        text = ", ".join(f"{k} = {v}" for k, v in zip(TRIGGERS, self._counts, strict=True))
        if verbose:
            text += "".join(f"\n  {hook!r}" for hook in self.hooks)
        return text

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
                    RuntimeWarning,
                    stacklevel=4,
                )
