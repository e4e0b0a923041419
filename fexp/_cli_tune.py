"""``fexp tune``: start or continue an adaptive search (Optuna) over a set; see ``_sets.tune``.

Registered on ``_cli.app`` when ``_cli`` is imported; errors reach ``_cli.main``'s boundary.
"""

from __future__ import annotations

import pathlib
from typing import Annotated

import typer

from . import _errors, _layout
from ._cli import app

_EXAMPLE = 'fexp tune train -r DIR "{lr: loguniform(1e-5, 1e-1)}" --objective val_loss:min'


def _split(args: list[str]) -> tuple[str | None, str | None]:
    """``[NAME] [SPACE]``: one argument is the space when it looks like one (``{`` or ``: ``),
    else the experiment (``module:attr`` has no space after its colon)."""
    if len(args) > 2:
        raise _errors.TuneError(
            f"expected [NAME] [SPACE], got {len(args)} arguments; quote the space, e.g. {_EXAMPLE}",
            source="arguments",
        )
    if len(args) == 2:
        return args[0], args[1]
    if len(args) == 1 and (args[0].lstrip().startswith("{") or ": " in args[0]):
        return None, args[0]
    return (args[0] if args else None), None


@app.command("tune")
def tune(
    args: Annotated[
        list[str] | None,
        typer.Argument(
            help="[NAME] [SPACE]: the experiment (for a new set) and the search space, e.g. "
            '"{lr: loguniform(1e-5, 1e-1), layers: int(1, 4), act: relu | tanh}"'
        ),
    ] = None,
    root: Annotated[
        pathlib.Path, typer.Option("--root", "-r", help="the set's folder")
    ] = pathlib.Path("."),
    objective: Annotated[
        list[str] | None,
        typer.Option(
            "--objective",
            help="KEY:min or KEY:max, a key the experiment messages (repeat for "
            "several objectives)",
        ),
    ] = None,
    trials: Annotated[int | None, typer.Option(help="trials to add to the study's budget")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="trials at once on this machine")] = 1,
    sampler: Annotated[
        str | None,
        typer.Option(
            help="tpe|cmaes|random|grid|nsga2|qmc (default tpe; nsga2 for several objectives)"
        ),
    ] = None,
    pruner: Annotated[
        str | None,
        typer.Option(
            help="asha|hyperband|median|none (default median; none for several objectives)"
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="the sampler's seed")] = None,
    fork: Annotated[
        bool,
        typer.Option(
            "--fork",
            help="run trials in forks of this process (fast for short trials; skips script.sh)",
        ),
    ] = False,
    worker: Annotated[
        bool,
        typer.Option("--worker", help="join the set's study as one more worker, adding no trials"),
    ] = False,
    slurm: Annotated[
        bool, typer.Option("--slurm", help="submit ONE SLURM array of workers")
    ] = False,
    workers: Annotated[int, typer.Option(help="SLURM array tasks (--slurm)")] = 1,
    time: Annotated[str | None, typer.Option(help="SLURM time limit per worker")] = None,
    gpus: Annotated[str | None, typer.Option(help="SLURM GPUs per worker")] = None,
    cpus: Annotated[int | None, typer.Option(help="SLURM CPUs per worker")] = None,
    mem: Annotated[str | None, typer.Option(help="SLURM memory per worker")] = None,
    partition: Annotated[str | None, typer.Option(help="SLURM partition")] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="with --slurm: wait for the workers")
    ] = False,
) -> None:
    """Search parameters adaptively (Optuna): every trial is an experiment folder of the set;
    re-run on the same set to continue the study (interrupted trials resume)."""
    from ._sets import tune as tuning

    name, space = _split(list(args or []))
    is_new = not (root / _layout.TUNE_DIR / _layout.TUNE_FILE).exists()
    if trials is None and is_new and not worker:
        raise _errors.TuneError(
            f"a new study needs --trials N (its budget), e.g. {_EXAMPLE} --trials 50",
            source="option --trials",
        )
    request = tuning.TuneRequest(
        name, space, tuple(objective or ()), trials or 0, sampler, pruner, seed
    )
    options = None
    if slurm:
        from . import _cluster

        options = _cluster.options_from_cli(
            time=time,
            gpus=gpus,
            cpus=cpus,
            mem=mem,
            partition=partition,
            account=None,
            qos=None,
            max_parallel=None,
            extra_args=(),
            grace=120,
            requeue=True,
        )
    ctx = tuning.prepare(root, request)
    if options is not None:
        from ._sets import tune_slurm

        job_id = tune_slurm.submit(ctx, options, workers)
        print(
            f"submitted SLURM array {job_id} with {workers} tune worker(s); "
            f"fexp list -r {root} shows the trials"
        )
        if wait:
            tune_slurm.wait(ctx, job_id, workers)
            print(tuning.render_study(ctx))
        return
    summary = tuning.run(ctx, jobs=jobs, fork=fork)
    print(summary.render())
    print(tuning.render_study(ctx))
