"""The FexpError tree: every error a user can cause, with fields and a one-paragraph text.

    FexpError
    ├── ParamError            a parameter name or value that does not fit its experiment
    ├── SweepError            a sweep string or config file that cannot be parsed
    ├── ConfigError           global config, registry, references (module:attr), CLI arguments
    ├── YamlError             a YAML file that cannot be read safely
    ├── ExperimentStateError  an operation the experiment's or set's state forbids
    └── LockTimeout           a set's lock held by another process for too long

Library code raises these; only ``_cli`` turns them into stderr text and exit code 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, known: Iterable[str]) -> str | None:
    """Return the closest of ``known`` to ``name``, or None when nothing is close."""
    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return matches[0] if matches else None


class FexpError(Exception):
    """Base of every error caused by user input; ``str()`` is the message shown to users."""

    def __init__(self, detail: str = "", *, source: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.source = source

    def __str__(self) -> str:
        return f"{self.source}: {self.detail}" if self.source else self.detail


class ParamError(FexpError):
    """A parameter that is unknown or whose value does not fit the expected type.

    Attributes:
        param: the parameter's name.
        value: the offending value.
        expected: the expected type, rendered (``"float"``), or None for an unknown name.
        experiment: the experiment's name, when known.
        known: every valid parameter name, for unknown names.
    """

    def __init__(
        self,
        param: str,
        value: object = None,
        expected: str | None = None,
        *,
        experiment: str | None = None,
        known: Iterable[str] = (),
        default: object = None,
        reason: str = "",
        source: str | None = None,
    ) -> None:
        self.param = param
        self.value = value
        self.expected = expected
        self.experiment = experiment
        self.known = tuple(known)
        self.default = default
        self.reason = reason
        super().__init__(self._text(), source=source)

    @property
    def suggestion(self) -> str | None:
        """The closest known parameter name, for unknown names."""
        return did_you_mean(self.param, self.known) if self.known else None

    def _text(self) -> str:
        where = f" for experiment {self.experiment!r}" if self.experiment else ""
        if self.expected is None:
            hint = f"; did you mean {self.suggestion!r}?" if self.suggestion else "."
            known = f" Known: {', '.join(self.known)}." if self.known else ""
            return f"unknown parameter {self.param!r}{where}{hint}{known}"
        default = f" (default {self.default!r})" if self.default is not None else ""
        reason = f": {self.reason}" if self.reason else ""
        return (
            f"parameter {self.param!r}{where} expects {self.expected}{default}, "
            f"got {self.value!r}{reason}."
        )


class SweepError(FexpError):
    """A sweep string or sweep config file that cannot be parsed or applied."""


class ConfigError(FexpError):
    """Bad global config, registry entry, experiment reference or command-line argument."""


class YamlError(FexpError):
    """A YAML file (or string) that is malformed or uses an unsafe tag."""


class ExperimentStateError(FexpError):
    """An operation that the current state of an experiment or set forbids."""


class LockTimeout(FexpError):
    """A set's lock could not be taken in time because another process holds it."""


class StorageError(FexpError):
    """A file could not be written: the disk is full or the folder is read-only."""
class TuneError(FexpError):
    """A ``fexp tune`` study that cannot run as asked (objective, sampler, pruner, extra)."""


class ParamErrors(ParamError):
    """Several parameter errors found in one request, reported together."""

    def __init__(self, errors: list[ParamError], *, source: str | None = None) -> None:
        self.errors = errors
        first = errors[0]
        super().__init__(
            first.param,
            first.value,
            first.expected,
            experiment=first.experiment,
            known=first.known,
            default=first.default,
            reason=first.reason,
            source=source,
        )
        self.detail = " ".join(e.detail for e in errors)
