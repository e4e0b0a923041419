"""``@experiment`` / ``@experiment(name=...)``: turn a function into an Experiment subclass."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, overload

from . import _experiment


@overload
def experiment(fn: Callable[..., Any], /) -> type[_experiment.Experiment]: ...


@overload
def experiment(
    *,
    name: str | None = None,
    tokens: Mapping[str, int] | None = None,
    debug: Mapping[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], type[_experiment.Experiment]]: ...


def experiment(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    tokens: Mapping[str, int] | None = None,
    debug: Mapping[str, Any] | None = None,
) -> type[_experiment.Experiment] | Callable[[Callable[..., Any]], type[_experiment.Experiment]]:
    """Turn ``fn(root: Root, p1=..., ...)`` into an ``Experiment`` subclass named after it.

    Parameters, types and help come from the signature, its comments and the docstring.
    ``tokens={"gpu": 1}`` makes every run hold a slot of those tokens (``fexp.token``);
    ``debug={"epochs": 1}`` are the parameters ``--debug`` runs with (xmen's ``debug()``).

    Example:
        >>> @experiment
        ... def train(root: Root, lr: float = 1e-3):  # @p learning rate
        ...     root.message({"lr": lr})
        >>> train(lr=0.1).params
        {'lr': 0.1}
    """

    def wrap(function: Callable[..., Any]) -> type[_experiment.Experiment]:
        return experiment_from_function(function, name=name, tokens=tokens, debug=debug)

    return wrap(fn) if fn is not None else wrap


def experiment_from_function(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    tokens: Mapping[str, int] | None = None,
    debug: Mapping[str, Any] | None = None,
) -> type[_experiment.Experiment]:
    """Build the Experiment subclass for ``fn`` (what ``@experiment`` returns)."""
    from . import _introspect

    info = _introspect.specs_from_function(fn)
    _experiment.check_param_names(fn.__qualname__, [spec.name for spec in info.specs])

    def execute(self: _experiment.Experiment) -> Any:
        return fn(self, **self.params)

    namespace = {
        "__module__": fn.__module__,
        "__qualname__": fn.__qualname__,
        "__doc__": fn.__doc__,
        "fn": staticmethod(fn),
        "description": info.description,
        "_param_specs": {spec.name: spec for spec in info.specs},
        "_attr": fn.__name__,
        "execute": execute,
    }
    options = {k: v for k, v in (("tokens", tokens), ("debug", debug)) if v is not None}
    return type(name or fn.__name__, (_experiment.Experiment,), namespace, **options)
