"""``fexp tune``'s search space: the random-search grammar of sweeps -> Optuna distributions.

Pure: parses, type-checks against the experiment's parameters and translates; Optuna is
imported only by the functions that build its objects. Never touches files.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from .. import _errors, _params, _sweep

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

DimKind = Literal["float", "logfloat", "int", "choice"]
# Optuna stores categorical choices only when they are plain scalars; others go by index.
_SCALARS = (type(None), bool, int, float, str)
GRID_LIMIT = 100_000


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One searched parameter.

    Attributes:
        name: the parameter.
        kind: ``float`` (uniform), ``logfloat`` (log-uniform), ``int`` (both ends included)
            or ``choice`` (one of ``choices``).
        low: lower bound (numeric kinds). high: upper bound (numeric kinds).
        choices: the alternatives (``choice``), already cast to the parameter's type.
    """

    name: str
    kind: DimKind
    low: float = 0.0
    high: float = 0.0
    choices: tuple[Any, ...] = ()

    @property
    def by_index(self) -> bool:
        """Whether Optuna sees this choice by index (some alternative is not a scalar)."""
        return self.kind == "choice" and not all(type(c) in _SCALARS for c in self.choices)


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """The searched dimensions and the constant overrides, in the order they were given."""

    dimensions: tuple[Dimension, ...]
    fixed: Mapping[str, Any]
    text: str


def parse_space(
    text: str,
    specs: Mapping[str, _params.ParamSpec],
    *,
    experiment: str | None = None,
    source: str = "argument SPACE",
) -> SearchSpace:
    """Parse ``{lr: loguniform(1e-5, 1e-1), layers: int(1, 4), act: relu | tanh}``.

    ``uniform``/``loguniform`` need a float parameter, ``int`` an int (or float) one; ``a | b``
    and ``choice(a, b)`` are categorical; a single plain value is a constant override.

    Raises:
        SweepError: malformed text, or a distribution on a parameter of the wrong type.
        ParamError: an unknown parameter (did-you-mean) or a value that does not fit.
    """
    where = _sweep.render_source(text, source)
    items = _sweep.parse_items(text, source=source)
    unknown = {key: alts[0] for key, alts in items if key not in specs}
    _params.validate_overrides(specs, unknown, experiment=experiment, source=where)
    problems: list[str] = []
    dims: list[Dimension] = []
    fixed: dict[str, Any] = {}
    for key, alternatives in items:
        try:
            dim = _dimension(key, alternatives, specs[key], experiment)
        except _errors.FexpError as exc:
            problems.append(exc.detail)
            continue
        if dim is None:
            fixed[key] = _params.cast_value(specs[key], alternatives[0], experiment=experiment)
        else:
            dims.append(dim)
    if problems:
        raise _errors.SweepError(" ".join(problems), source=where)
    return SearchSpace(tuple(dims), fixed, text)


def _dimension(
    key: str, alternatives: list[Any], spec: _params.ParamSpec, experiment: str | None
) -> Dimension | None:
    dists = [a for a in alternatives if isinstance(a, _sweep.Distribution)]
    if dists and len(alternatives) > 1:
        raise _errors.SweepError(
            f"parameter {key!r} mixes a distribution with '|' alternatives, which a tuner "
            "cannot search; give either one distribution or plain alternatives."
        )
    if not dists:
        if len(alternatives) == 1:
            return None
        return _choice(key, alternatives, spec, experiment)
    dist = dists[0]
    if dist.kind == "choice":
        return _choice(key, list(dist.args), spec, experiment)
    low, high = dist.args
    if dist.kind == "randint":
        _check_numeric(spec, key, "int", int(low), experiment)
        return Dimension(key, "int", low, high)
    _check_numeric(spec, key, dist.kind, low + (high - low) * 0.3719, experiment)
    return Dimension(key, "logfloat" if dist.kind == "loguniform" else "float", low, high)


def _choice(
    key: str, values: list[Any], spec: _params.ParamSpec, experiment: str | None
) -> Dimension:
    cast = tuple(_params.cast_value(spec, v, experiment=experiment) for v in values)
    return Dimension(key, "choice", choices=tuple(_params.to_plain(v) for v in cast))


def _check_numeric(
    spec: _params.ParamSpec, key: str, kind: str, probe: float, experiment: str | None
) -> None:
    """Refuse a distribution whose draws do not fit the parameter (``uniform`` on an int)."""
    wanted = int if kind == "int" else float
    try:
        value = _params.cast_value(spec, probe, experiment=experiment)
    except _errors.ParamError:
        value = None
    if not isinstance(value, wanted) or isinstance(value, bool):
        draws = "integers" if kind == "int" else "floats"
        hint = "use int(a, b)" if spec.type_name == "int" else "use choice(...) or a | b"
        raise _errors.SweepError(
            f"{kind}() draws {draws} but parameter {key!r} is {spec.type_name} "
            f"(default {spec.default!r}); {hint}."
        )


def distributions(space: SearchSpace) -> dict[str, BaseDistribution]:
    """The Optuna distribution of every searched dimension."""
    from optuna import distributions as od

    out: dict[str, BaseDistribution] = {}
    for dim in space.dimensions:
        if dim.kind == "choice":
            choices = tuple(range(len(dim.choices))) if dim.by_index else dim.choices
            out[dim.name] = od.CategoricalDistribution(choices)
        elif dim.kind == "int":
            out[dim.name] = od.IntDistribution(int(dim.low), int(dim.high))
        else:
            out[dim.name] = od.FloatDistribution(dim.low, dim.high, log=dim.kind == "logfloat")
    return out


def point_from_trial(space: SearchSpace, values: Mapping[str, Any]) -> dict[str, Any]:
    """The experiment's overrides for a trial's Optuna parameters (indices decoded)."""
    point = dict(space.fixed)
    for dim in space.dimensions:
        value = values[dim.name]
        point[dim.name] = dim.choices[int(value)] if dim.by_index else value
    return point


def grid(space: SearchSpace) -> dict[str, list[Any]]:
    """Every value of every dimension, for ``--sampler grid``.

    Raises:
        SweepError: a continuous range (``uniform``/``loguniform``), or too many points.
    """
    continuous = [d.name for d in space.dimensions if d.kind in ("float", "logfloat")]
    if continuous:
        raise _errors.SweepError(
            f"--sampler grid needs finite values, but {', '.join(map(repr, continuous))} "
            "is a continuous range; give alternatives (a | b | c), int(a, b) or choice(...), "
            "or use another sampler (tpe, random, qmc).",
            source=_sweep.render_source(space.text, "argument SPACE"),
        )
    out: dict[str, list[Any]] = {}
    for dim in space.dimensions:
        if dim.kind == "int":
            out[dim.name] = list(range(int(dim.low), int(dim.high) + 1))
        else:
            out[dim.name] = list(range(len(dim.choices))) if dim.by_index else list(dim.choices)
    size = math.prod(len(v) for v in out.values())
    if size > GRID_LIMIT:
        raise _errors.SweepError(
            f"the grid has {size} points, more than {GRID_LIMIT}; narrow the ranges.",
            source=_sweep.render_source(space.text, "argument SPACE"),
        )
    return out


def grid_size(space: SearchSpace) -> int:
    """How many points ``grid`` enumerates."""
    return math.prod(len(v) for v in grid(space).values())
