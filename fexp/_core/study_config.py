"""What defines a ``fexp tune`` study: objectives, sampler, pruner, seed, and the Pareto rule.

Pure: validates the user's choices (every problem in one error) and builds Optuna samplers
and pruners from them; Optuna is imported only inside the builders. Never touches files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from .. import _errors
from . import search_space

if TYPE_CHECKING:
    from optuna.pruners import BasePruner
    from optuna.samplers import BaseSampler

SAMPLERS = ("tpe", "cmaes", "random", "grid", "nsga2", "qmc")
PRUNERS = ("asha", "hyperband", "median", "none")
Direction = Literal["minimize", "maximize"]
_DIRECTIONS: dict[str, Direction] = {
    "min": "minimize",
    "minimize": "minimize",
    "max": "maximize",
    "maximize": "maximize",
}


@dataclasses.dataclass(frozen=True)
class Objective:
    """A message key to optimise: ``val_loss:min`` or ``acc:max``."""

    key: str
    direction: Direction

    def render(self) -> str:
        return f"{self.key}:{self.direction[:3]}"


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """Everything that defines a study, as kept in the set's ``tune.yml``.

    Attributes:
        space: the search space text (``{lr: loguniform(1e-5, 1e-1)}``).
        objectives: what to optimise, in order (several: a multi-objective study).
        sampler: one of ``SAMPLERS``. pruner: one of ``PRUNERS`` (``none`` when several
            objectives). seed: the sampler's seed (trial n draws with ``trial_seed(seed, n)``).
    """

    space: str
    objectives: tuple[Objective, ...]
    sampler: str = "tpe"
    pruner: str = "median"
    seed: int | None = None

    def to_data(self) -> dict[str, Any]:
        """Plain data for ``tune.yml``."""
        return {
            "space": self.space,
            "objectives": [o.render() for o in self.objectives],
            "sampler": self.sampler,
            "pruner": self.pruner,
            "seed": self.seed,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, source: str) -> StudyConfig:
        """Read ``tune.yml`` data back (checked: the file may have been edited)."""
        try:
            objectives = tuple(parse_objective(str(o)) for o in data["objectives"])
            seed = data.get("seed")
            config = cls(
                str(data["space"]),
                objectives,
                str(data["sampler"]),
                str(data["pruner"]),
                None if seed is None else int(seed),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise _errors.YamlError(f"not a study configuration ({exc})", source=source) from None
        check(config, source=source)
        return config

    @property
    def directions(self) -> list[Direction]:
        return [o.direction for o in self.objectives]


def parse_objective(text: str) -> Objective:
    """``val_loss:min`` -> Objective (a bare key means ``min``).

    Raises:
        TuneError: an empty key or a direction other than min/max.
    """
    key, _, word = text.rpartition(":") if ":" in text else (text, "", "min")
    direction = _DIRECTIONS.get(word.strip().lower())
    if not key.strip() or direction is None:
        raise _errors.TuneError(
            f"{text!r} is not KEY:min or KEY:max (the message key the experiment reports, "
            "e.g. val_loss:min)",
            source="option --objective",
        )
    return Objective(key.strip(), direction)


def check(config: StudyConfig, *, source: str = "options") -> None:
    """Refuse unknown samplers/pruners and combinations Optuna cannot run, all at once.

    Raises:
        TuneError: naming every problem.
    """
    problems = []
    for what, value, known in (
        ("--sampler", config.sampler, SAMPLERS),
        ("--pruner", config.pruner, PRUNERS),
    ):
        if value not in known:
            hint = _errors.did_you_mean(value, known)
            problems.append(
                f"{what} {value!r} is unknown"
                + (f" (did you mean {hint!r}?)" if hint else "")
                + f"; one of {', '.join(known)}"
            )
    if not config.objectives:
        problems.append("give at least one --objective KEY:min|max")
    keys = [o.key for o in config.objectives]
    if len(set(keys)) != len(keys):
        problems.append(f"an objective key is given twice ({', '.join(keys)})")
    if len(config.objectives) > 1 and config.pruner != "none":
        problems.append(
            f"--pruner {config.pruner} needs a single objective (Optuna prunes on "
            "one intermediate value); use --pruner none with several objectives"
        )
    if problems:
        raise _errors.TuneError("; ".join(problems) + ".", source=source)


# Samplers that need a package Optuna does not install itself.
_SAMPLER_NEEDS = {"cmaes": "cmaes", "qmc": "scipy"}


def check_installed(config: StudyConfig) -> None:
    """Refuse a sampler whose package is missing, naming it (before anything is written).

    Raises:
        TuneError: e.g. ``--sampler cmaes`` without the ``cmaes`` package.
    """
    import importlib.util

    package = _SAMPLER_NEEDS.get(config.sampler)
    if package and importlib.util.find_spec(package) is None:
        raise _errors.TuneError(
            f"--sampler {config.sampler} needs the {package!r} package, which is not installed; "
            f"`pip install 'fexp[tune]'` installs it (or `pip install {package}`), or choose "
            "another sampler",
            source="option --sampler",
        )


def trial_seed(seed: int | None, number: int) -> int | None:
    """The seed trial ``number`` of a study seeded ``seed`` draws with: a hash of both, so
    studies seeded 0 and 1 share no draws (``seed + number`` would shift one into the other).

    Example:
        >>> trial_seed(0, 1) == trial_seed(1, 0)
        False
    """
    if seed is None:
        return None
    digest = hashlib.blake2b(f"{seed}:{number}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big")


def make_sampler(config: StudyConfig, space: search_space.SearchSpace, number: int) -> BaseSampler:
    """A fresh sampler for trial ``number``, seeded with ``trial_seed``: concurrent workers
    draw different points and a seeded study is reproducible."""
    seed = trial_seed(config.seed, number)
    import optuna

    samplers = optuna.samplers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if config.sampler == "tpe":
            return samplers.TPESampler(seed=seed, constant_liar=True, multivariate=True, group=True)
        if config.sampler == "cmaes":
            return samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
        if config.sampler == "random":
            return samplers.RandomSampler(seed=seed)
        if config.sampler == "grid":
            return samplers.GridSampler(search_space.grid(space), seed=seed)
        if config.sampler == "nsga2":
            return samplers.NSGAIISampler(seed=seed)
        return samplers.QMCSampler(seed=config.seed, warn_independent_sampling=False)


def make_pruner(config: StudyConfig) -> BasePruner:
    """The pruner named in the config (``none``: Optuna's NopPruner)."""
    import optuna

    pruners = optuna.pruners
    if config.pruner == "asha":
        return pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if config.pruner == "hyperband":
        return pruners.HyperbandPruner(min_resource=1, reduction_factor=3)
    if config.pruner == "median":
        return pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    return pruners.NopPruner()


def pareto_front(points: Sequence[Sequence[float]], directions: Sequence[Direction]) -> list[int]:
    """Indices of the points no other point dominates (ties are all kept), in input order.

    Example:
        >>> pareto_front([(1, 5), (2, 2), (3, 3)], ["minimize", "minimize"])
        [0, 1]
    """
    signs = [1.0 if d == "minimize" else -1.0 for d in directions]
    keyed = [tuple(s * float(v) for s, v in zip(signs, p, strict=True)) for p in points]

    def dominated(a: tuple[float, ...]) -> bool:
        return any(all(x <= y for x, y in zip(b, a, strict=True)) and b != a for b in keyed)

    return [i for i, point in enumerate(keyed) if not dominated(point)]
