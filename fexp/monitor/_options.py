"""Turn the Monitor's keyword arguments (``log``, ``msg_keep``, ``sca_fn``, ...) into hooks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fexp import _checkpoint, _errors

from ._hooks import Checkpointer, Hook, Logger, Messenger, Timer
from ._probe import Probe
from ._specs import parse_specs
from ._tensorboard import TensorboardLogger

SUMMARIES = (
    ("sca", "scalar"),
    ("hist", "histogram"),
    ("img", "image"),
    ("txt", "text"),
    ("fig", "figure"),
    ("vid", "video"),
)


def per_spec(value: Any, count: int, name: str) -> list[Any]:
    """One ``value`` per spec: a single value is shared, a list must have one per spec."""
    if isinstance(value, (list, tuple)):
        if len(value) == count:
            return list(value)
        if len(value) == 1:
            return list(value) * count
        raise _errors.ConfigError(
            f"{name} has {len(value)} entries for {count} specs; give one, or one per spec"
        )
    return [value] * count


def _rows(o: Mapping[str, Any], key: str, *names: str) -> list[tuple[Any, ...]]:
    """``(spec, option, ...)`` for each spec of ``o[key]``, each option given once or per spec."""
    specs = parse_specs(o[key])
    columns = [per_spec(o[name], len(specs), name) for name in names]
    return [(spec, *(column[i] for column in columns)) for i, spec in enumerate(specs)]


def hooks_from_options(o: dict[str, Any]) -> list[Hook]:
    """Build the hooks that the Monitor's keyword arguments describe, in a fixed order."""
    # Only images take options (the grid's); the other summaries get none.
    o = {**{f"{key}_options": {} for key, _ in SUMMARIES}, **o}
    o["img_options"] = o["img_options"] or {}
    hooks: list[Hook] = []
    hooks.extend(Logger(spec, fmt, fn) for spec, fn, fmt in _rows(o, "log", "log_fn", "log_format"))
    hooks.extend(Timer(spec) for spec in parse_specs(o["time"]))
    for row in _rows(o, "msg", "msg_keep", "msg_leader", "msg_expand", "msg_prep"):
        hooks.append(Messenger(*row))
    hooks.extend(Probe(spec) for spec in parse_specs(o["probe"]))
    for key, kind in SUMMARIES:
        names = [f"{key}_fn", f"{key}_pref", f"{key}_prep", f"{key}_options"]
        for spec, fn, pref, prep, options in _rows(o, key, *names):
            hooks.append(TensorboardLogger(kind, spec, fn, pref, prep, **options))
    for i, (spec, keep, best, every) in enumerate(
        _rows(o, "ckpt", "ckpt_keep", "ckpt_best", "ckpt_every")
    ):
        prefix = _checkpoint.DEFAULT_PREFIX if i == 0 else f"checkpoint_{i}_"
        hooks.append(Checkpointer(spec, keep, best, every, prefix))
    return hooks
