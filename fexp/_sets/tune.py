"""``fexp tune``: adaptive search (Optuna) over a set whose every trial is an experiment folder.

Owns starting or continuing a study (validated in full before anything is written), the
budget (``--trials N`` adds N), local workers (``tune_worker``), one SLURM array of workers
(``tune_slurm``), and the rows of the Pareto front. The study itself lives in the set
(``_store.study``).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import _errors
from .._core import search_space, study_config
from .._store import study as study_store
from . import tune_worker

if TYPE_CHECKING:
    from .._experiment import Experiment
    from .._expset import ExperimentSet


@dataclasses.dataclass(frozen=True)
class TuneRequest:
    """The study the user asked for; None means "as stored" when continuing a study.

    Attributes:
        experiment: a registered name, ``module:attr`` or class (needed for a new set).
        space: the search space (needed for a new study).
        objectives: ``("val_loss:min", "acc:max")`` (needed for a new study).
        trials: trials to add to the study's budget.
    """

    experiment: str | type[Experiment] | None = None
    space: str | None = None
    objectives: Sequence[str] = ()
    trials: int = 0
    sampler: str | None = None
    pruner: str | None = None
    seed: int | None = None


def _check_trials(trials: int) -> None:
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 0:
        raise _errors.TuneError(
            f"--trials must be a count >= 0, got {trials!r}", source="option --trials"
        )


def _new_config(request: TuneRequest) -> study_config.StudyConfig:
    if request.space is None or not request.objectives:
        missing = " and ".join(
            w for w, v in (("a SPACE", request.space), ("--objective", request.objectives)) if not v
        )
        raise _errors.TuneError(
            f"this set has no study yet: give {missing} to start one, e.g. fexp tune train -r "
            'DIR "{lr: loguniform(1e-5, 1e-1)}" --objective val_loss:min --trials 50',
            source="fexp tune",
        )
    objectives = tuple(study_config.parse_objective(o) for o in request.objectives)
    pruner = request.pruner or ("median" if len(objectives) == 1 else "none")
    sampler = request.sampler or ("nsga2" if len(objectives) > 1 else "tpe")
    return study_config.StudyConfig(request.space, objectives, sampler, pruner, request.seed)


def _continued_config(
    stored: study_config.StudyConfig, request: TuneRequest
) -> study_config.StudyConfig:
    """The stored study with the sampler/pruner/seed given now; the space and the objectives
    of a study cannot change."""
    problems = []
    if request.space is not None and request.space.strip() != stored.space.strip():
        problems.append(f"its space is {stored.space!r}, not {request.space!r}")
    given = tuple(study_config.parse_objective(o) for o in request.objectives)
    if given and given != stored.objectives:
        shown = ", ".join(o.render() for o in stored.objectives)
        problems.append(f"its objectives are {shown}, not {', '.join(o.render() for o in given)}")
    if problems:
        raise _errors.TuneError(
            "this set's study cannot change: " + "; ".join(problems) + ". Continue it with "
            "`fexp tune -r DIR --trials N`, or start another study in a new -r DIR.",
            source="fexp tune",
        )
    return dataclasses.replace(
        stored,
        sampler=request.sampler or stored.sampler,
        pruner=request.pruner or stored.pruner,
        seed=stored.seed if request.seed is None else request.seed,
    )


def _specs(xs: ExperimentSet | None, experiment: Any) -> tuple[dict[str, Any], str | None]:
    from .. import _expset

    if xs is not None and xs.exists():
        return xs.specs(), None
    cls = _expset.resolve_experiment(experiment)
    return dict(cls.param_specs), cls.kind()


def prepare(root: str | os.PathLike[str], request: TuneRequest) -> tune_worker.Context:
    """Validate the request, then create the set and study or continue them; the budget
    grows by ``request.trials``. Nothing is written when the request is wrong."""
    from .. import _expset

    study_store.require_optuna()
    _check_trials(request.trials)
    xs = _expset.ExperimentSet(root)
    found = study_store.read_config(xs.root) if xs.exists() else None
    if found is None and not xs.exists() and request.experiment is None:
        raise _errors.TuneError(
            "no experiment set here; give the experiment to tune (fexp tune "
            "NAME -r DIR SPACE --objective KEY:min)",
            source=str(xs.root),
        )
    config = _new_config(request) if found is None else _continued_config(found[0], request)
    study_config.check(config)
    study_config.check_installed(config)
    specs, kind = _specs(xs, request.experiment)
    space = search_space.parse_space(config.space, specs, experiment=kind)
    if config.sampler == "grid":
        search_space.grid(space)
    if not xs.exists():
        xs = _expset.ExperimentSet.init(root, request.experiment)
    with study_store.locked(xs.root):
        found = study_store.read_config(xs.root)
        budget = (found[1] if found else 0) + request.trials
        study_store.write_config(xs.root, config, budget)
    study_store.study(xs.root, config)
    return tune_worker.Context(xs, config, space, budget)


def run(
    ctx: tune_worker.Context, *, jobs: int = 1, fork: bool = False
) -> tune_worker.WorkerSummary:
    """Run ``jobs`` trials at a time on this machine until the study's budget is spent."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise _errors.TuneError(f"--jobs must be at least 1, got {jobs!r}", source="option --jobs")
    return tune_worker.run_worker(ctx, jobs=jobs, fork=fork)


def join(root: str | os.PathLike[str]) -> tune_worker.Context:
    """The context of an existing study, for one more worker (adds no trials)."""
    return prepare(root, TuneRequest())


def pareto_rows(root: pathlib.Path, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows (trials that completed) on the Pareto front of the set's study objectives.

    Raises:
        TuneError: the set has no study.
    """
    found = study_store.read_config(root)
    if found is None:
        raise _errors.TuneError(
            "--pareto needs a set made by fexp tune (it has no study)", source=str(root)
        )
    config = found[0]
    candidates, points = [], []
    for row in rows:
        messages = row.get("messages") or {}
        values = [messages.get(o.key) for o in config.objectives]
        if row.get("status") == "finished" and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
        ):
            candidates.append(row)
            points.append([float(v) for v in values])  # type: ignore[arg-type]
    return [candidates[i] for i in study_config.pareto_front(points, config.directions)]


def render_study(ctx: tune_worker.Context) -> str:
    """One line on the whole study: trials by state, and the best trial (or the front)."""
    import collections

    the_study = study_store.study(ctx.root, ctx.config)
    trials = the_study.get_trials(deepcopy=False)
    states = collections.Counter(t.state.name.lower() for t in trials)
    text = f"study: {len(trials)}/{ctx.budget} trial(s) " + ", ".join(
        f"{n} {s}" for s, n in sorted(states.items())
    )
    if not states.get("complete"):
        return text
    if len(ctx.config.objectives) > 1:
        front = sorted(tune_worker.trial_name(t.number) for t in the_study.best_trials)
        return text + f"; Pareto front: {', '.join(front)}"
    best = the_study.best_trial
    key = ctx.config.objectives[0].key
    return (
        text + f"; best: {tune_worker.trial_name(best.number)} {key}={best.value:g} {best.params}"
    )


@dataclasses.dataclass(frozen=True)
class TuneResult:
    """What ``ExperimentSet.tune`` did.

    Attributes:
        summary: the trials this call ran, by state.
        study: the Optuna study (``best_trial``, ``best_trials``, ``trials_dataframe()``...).
    """

    summary: tune_worker.WorkerSummary
    study: Any


def tune_set(
    root: str | os.PathLike[str], request: TuneRequest, *, jobs: int = 1, fork: bool = False
) -> TuneResult:
    """``prepare`` then ``run``: the whole of ``ExperimentSet.tune``."""
    ctx = prepare(root, request)
    summary = run(ctx, jobs=jobs, fork=fork)
    return TuneResult(summary, study_store.study(ctx.root, ctx.config))
