"""The set commands of ``fexp``: init, link, run, list, note, reset, unlink, relink, clean, rm.

Registered on ``_cli.app`` when ``_cli`` is imported; errors reach ``_cli.main``'s boundary.
"""

from __future__ import annotations

import contextlib
import pathlib
import shutil
import signal
import sys
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from . import _config, _errors
from ._cli import app

Root = Annotated[pathlib.Path, typer.Option("--root", "-r", help="the experiment set's folder")]
Pattern = Annotated[
    str | None, typer.Argument(help="glob over experiment names (re:REGEX for a regex)")
]


def _set(root: pathlib.Path) -> Any:
    from . import _expset

    xs = _expset.ExperimentSet(root)
    xs.head()  # a clear error when there is no set
    return xs


def _confirm(question: str, yes: bool) -> None:
    if yes or not _config.load().get("prompt", True):
        return
    if not sys.stdin.isatty():
        raise _errors.ConfigError(f"{question} Pass --yes to confirm when not at a terminal.")
    if not typer.confirm(question):
        raise typer.Exit(1)


@app.command("init")
def init(
    experiment: Annotated[
        str | None, typer.Argument(help="a registered name or module:attr / path/file.py:attr")
    ] = None,
    root: Root = pathlib.Path("."),
    script: Annotated[pathlib.Path | None, typer.Option(help="a script taking params.yml")] = None,
    defaults: Annotated[pathlib.Path | None, typer.Option(help="the script's defaults.yml")] = None,
    purpose: Annotated[str, typer.Option(help="why this set exists")] = "",
) -> None:
    """Create an experiment set: defaults.yml, script.sh and experiment.yml in ROOT."""
    from . import _expset

    ref = experiment
    if ref and (":" in ref):
        from ._cli import _absolute_ref

        ref = _absolute_ref(ref)
    xs = _expset.ExperimentSet.init(root, ref, script=script, defaults=defaults, purpose=purpose)
    print(f"initialised {xs.root} (defaults.yml, script.sh, experiment.yml)")


@app.command("link")
def link(
    sweep: Annotated[
        str | None, typer.Argument(help='e.g. "{lr: 1e-2 | 1e-3, epochs: 10}"')
    ] = None,
    root: Root = pathlib.Path("."),
    repeats: Annotated[
        int, typer.Option("--repeats", "-x", help="register each config N times")
    ] = 1,
    config: Annotated[
        pathlib.Path | None, typer.Option("--config", "-c", help="YAML overrides (parent: chains)")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", "-n", help="folder name (prefix)")] = None,
    purpose: Annotated[str, typer.Option(help="why these experiments exist")] = "",
    samples: Annotated[int | None, typer.Option(help="random search: draw N configs")] = None,
    seed: Annotated[int | None, typer.Option(help="random search seed")] = None,
    from_best: Annotated[
        int | None, typer.Option("--from-best", help="reduce: cross SWEEP with the best N")
    ] = None,
    source: Annotated[
        str | None, typer.Option("--from", help="reduce: the first stage's set (or DIR/GLOB)")
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="reduce: the message to rank on")] = None,
    keep: Annotated[str, typer.Option("--keep", help="reduce: min or max is best")] = "min",
) -> None:
    """Register one experiment per configuration of a sweep (see also `fexp reduce`)."""
    common: dict[str, Any] = {
        "config": config,
        "samples": samples,
        "repeats": repeats,
        "name": name,
        "purpose": purpose,
    }
    with _sigterm_rolls_back():
        xs = _set(root)
        if from_best is not None or source is not None or by is not None:
            from . import _reduce

            reduced = _reduce.from_link_options(
                xs, sweep, source=source, best=from_best, by=by, keep=keep, **common
            )
            print(reduced.render())
            return
        names = xs.link(sweep, seed=seed, **common)
    shown = ", ".join(names[:5]) + (f", ... ({len(names)} in all)" if len(names) > 5 else "")
    print(f"linked {len(names)}: {shown}")


@contextlib.contextmanager
def _sigterm_rolls_back() -> Iterator[None]:
    """Turn SIGTERM into the KeyboardInterrupt SIGINT raises, so both roll back the same
    way (every folder the request made is removed); exit 130 as after Ctrl-C."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    except KeyboardInterrupt:
        print("interrupted; nothing was registered", file=sys.stderr)
        raise typer.Exit(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


@app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(
    ctx: typer.Context,
    pattern: Annotated[str, typer.Argument(help="glob over experiment names, e.g. '*'")] = "*",
    root: Root = pathlib.Path("."),
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="run K at once on this machine")] = 1,
    force: Annotated[
        bool, typer.Option(help="also run experiments that are not registered")
    ] = False,
    retries: Annotated[
        int, typer.Option(help="re-run an experiment that failed up to N times")
    ] = 0,
    stop_on_failure: Annotated[bool, typer.Option(help="launch nothing after a failure")] = False,
    resume: Annotated[
        bool,
        typer.Option(help="also re-run error/stopped/timeout/preempted/requeued ones in place"),
    ] = False,
    progress: Annotated[bool | None, typer.Option(help="show a progress bar")] = None,
    fork: Annotated[
        bool,
        typer.Option(
            "--fork",
            help="run each experiment in a fork of this process instead of a new script.sh "
            "interpreter (fast for many short experiments; skips script.sh)",
        ),
    ] = False,
    slurm: Annotated[
        bool, typer.Option("--slurm", help="submit the selection as ONE SLURM job array")
    ] = False,
    time: Annotated[
        str | None, typer.Option("--time", help="SLURM time limit, e.g. 1:00:00")
    ] = None,
    gpus: Annotated[str | None, typer.Option("--gpus", help="SLURM GPUs per job")] = None,
    cpus: Annotated[int | None, typer.Option("--cpus", help="SLURM CPUs per task")] = None,
    mem: Annotated[str | None, typer.Option("--mem", help="SLURM memory, e.g. 4G")] = None,
    partition: Annotated[str | None, typer.Option("--partition", help="SLURM partition")] = None,
    account: Annotated[str | None, typer.Option("--account", help="SLURM account")] = None,
    qos: Annotated[str | None, typer.Option("--qos", help="SLURM QOS")] = None,
    max_parallel: Annotated[
        int | None, typer.Option("--max-parallel", help="array tasks at once")
    ] = None,
    sbatch_arg: Annotated[
        list[str] | None, typer.Option("--sbatch-arg", help="extra sbatch argument (repeat)")
    ] = None,
    grace: Annotated[
        int, typer.Option("--grace", help="seconds of warning (USR1) before the time limit")
    ] = 120,
    requeue: Annotated[bool, typer.Option(help="requeue after a time limit or preemption")] = True,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the exact commands and scripts, change nothing")
    ] = False,
    generate: Annotated[
        bool, typer.Option("--generate", help="write the scripts into the set, submit nothing")
    ] = False,
) -> None:
    """Run matching experiments through script.sh: `fexp run PATTERN [LAUNCHER ARGS...]`.

    The launcher defaults to `bash`; e.g. `fexp run '*' screen -dm bash`,
    `fexp run '*' sbatch --time 1:00:00` (one job each) or `fexp run '*' --slurm` (one array).
    """
    from ._launchers import local

    xs = _set(root)
    launcher = list(ctx.args) or ["bash"]
    cluster = slurm or dry_run or generate or launcher[0].rsplit("/", 1)[-1] == "sbatch"
    # Everything that can be wrong is checked before --resume changes any status.
    local.check_options(jobs, retries)
    if fork and (cluster or launcher != ["bash"]):
        what = "--slurm/--dry-run/--generate/sbatch" if cluster else repr(" ".join(launcher))
        raise _errors.ConfigError(
            f"--fork runs experiments itself, in this process's children; drop {what}",
            source="option --fork",
        )
    if not cluster and shutil.which(launcher[0]) is None:
        raise _errors.ConfigError(
            "launcher program not found (not on PATH, or not executable); give a program "
            "such as bash, screen or sbatch",
            source=f"launcher {launcher[0]!r}",
        )
    options = None
    if cluster:
        from . import _cluster

        options = _cluster.options_from_cli(
            time=time,
            gpus=gpus,
            cpus=cpus,
            mem=mem,
            partition=partition,
            account=account,
            qos=qos,
            max_parallel=max_parallel,
            extra_args=sbatch_arg or [],
            grace=grace,
            requeue=requeue,
        )
    if options is not None:
        if resume and not dry_run:  # They run again in their folders, from their checkpoints.
            local.prepare_resume(xs, pattern)
        result = _cluster.submit(
            xs,
            pattern,
            launcher=[] if slurm else launcher,
            options=options,
            array=slurm,
            mode="dry-run" if dry_run else "generate" if generate else "submit",
            force=force,
            retries=retries,
            stop_on_failure=stop_on_failure,
        )
        print(result.render())
        if result.failed:
            raise typer.Exit(1)
        return
    show = progress if progress is not None else sys.stderr.isatty() and jobs > 1 and not fork
    cancel = local.Cancel()
    with _forwarding_signals(cancel):
        summary = local.run_set(
            xs,
            pattern,
            launcher,
            jobs=jobs,
            force=force,
            retries=retries,
            stop_on_failure=stop_on_failure,
            progress=show,
            fork=fork,
            resume=resume,
            cancel=cancel,
        )
    if summary.signum:
        print(file=sys.stderr)  # a fresh line after the terminal's ^C
    print(summary.render())
    if summary.signum:
        raise typer.Exit(128 + summary.signum)
    if summary.failed:
        raise typer.Exit(1)


@contextlib.contextmanager
def _forwarding_signals(cancel: Any) -> Iterator[None]:
    """SIGTERM/SIGINT/SIGHUP stop the run: launch nothing more, SIGTERM the experiments
    running now (they record ``stopped``), wait for them."""
    import signal

    from ._runner import watched_signals

    wanted = [sig for sig in watched_signals() if sig != signal.SIGUSR1]
    previous = {sig: signal.signal(sig, lambda signum, _: cancel.set(signum)) for sig in wanted}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@app.command("list")
def list_(
    pattern: Pattern = None,
    root: Root = pathlib.Path("."),
    param: Annotated[
        str | None, typer.Option("--param", "-p", help="regex of parameter columns")
    ] = None,
    where: Annotated[
        list[str] | None, typer.Option("--where", "-w", help='e.g. "lr<0.01"; repeat for AND')
    ] = None,
    status: Annotated[
        list[str] | None, typer.Option("--status", "-s", help="only this status")
    ] = None,
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="regex of message columns")
    ] = None,
    sort: Annotated[str | None, typer.Option(help="sort by KEY (-KEY descending)")] = None,
    limit: Annotated[int | None, typer.Option(help="show at most N")] = None,
    csv: Annotated[bool, typer.Option("--csv", help="CSV for scripts")] = False,
    json: Annotated[bool, typer.Option("--json", help="JSON for scripts")] = False,
    all_sets: Annotated[bool, typer.Option("--all-sets", help="every set you created")] = False,
    watch: Annotated[float | None, typer.Option(help="refresh every N seconds")] = None,
    show: Annotated[
        str | None,
        typer.Option(
            help="column groups: status,date,purpose,git,params,messages,meta (prefix - to hide)"
        ),
    ] = None,
    spark: Annotated[str | None, typer.Option(help="a sparkline column of message KEY")] = None,
    types: Annotated[str | None, typer.Option("--types", help="regex over module:function")] = None,
    pareto: Annotated[
        bool, typer.Option("--pareto", help="only the Pareto front of the set's fexp tune study")
    ] = False,
) -> None:
    """List experiments: name, status, created, the parameters that vary, and messages."""
    from . import _find, _listing

    if csv and json:
        raise _errors.ConfigError("choose one of --csv and --json", source="options --csv/--json")
    display = _listing.parse_display(show)

    def render() -> str:
        rows = _find.find(
            None if all_sets and root == pathlib.Path(".") else root,
            pattern,
            where=where or (),
            status=status or (),
            all_sets=all_sets,
            types_match=types,
            sort=sort,
            limit=limit,
        )
        if pareto:
            from ._sets import tune

            rows = tune.pareto_rows(root, rows)
        if any(r.get("slurm") for r in rows):
            from . import _cluster

            rows = _cluster.refresh(rows)  # one batched squeue for every queued/running job
        return _listing.render(
            rows, csv=csv, json=json, param=param, message=message, display=display, spark=spark
        )

    if watch is None:
        print(render(), end="")
        return
    _listing.watch(render, watch)


@app.command("note")
def note(
    text: Annotated[str, typer.Argument(help="the note")],
    pattern: Pattern = None,
    root: Root = pathlib.Path("."),
    remove: Annotated[bool, typer.Option(help="remove the note instead")] = False,
) -> None:
    """Add a note to the set, or to the experiments matching PATTERN."""
    names = _set(root).note(text, pattern, remove=remove)
    print(
        f"{'removed' if remove else 'noted'} on {len(names) or 'the set'}"
        + (" experiments" if names else "")
    )


@app.command("reset")
def reset(
    pattern: Annotated[str, typer.Argument(help="glob over experiment names")],
    root: Root = pathlib.Path("."),
    status: Annotated[str, typer.Option(help="the status to set")] = "registered",
    keep_outputs: Annotated[
        bool,
        typer.Option("--keep-outputs", help="keep out.txt, messages, checkpoints and error.txt"),
    ] = False,
) -> None:
    """Set matching experiments back to a status (registered by default): the next run
    starts from scratch, its old outputs removed (unless --keep-outputs)."""
    names = _set(root).reset(pattern, status, keep_outputs=keep_outputs)
    print(f"reset {len(names)} to {status}")


@app.command("unlink")
def unlink(
    pattern: Annotated[str, typer.Argument(help="glob over experiment names")],
    root: Root = pathlib.Path("."),
) -> None:
    """Stop managing matching experiments (their folders stay until `fexp clean`)."""
    names = _set(root).unlink(pattern)
    print(f"unlinked {len(names)}")


@app.command("relink")
def relink(pattern: Pattern = None, root: Root = pathlib.Path(".")) -> None:
    """Manage unlinked folders again; re-root every path after the set folder moved."""
    names = _set(root).relink(pattern)
    print(f"relinked {len(names)}")


@app.command("clean")
def clean(
    root: Root = pathlib.Path("."),
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False,
) -> None:
    """Delete the folders `fexp unlink` removed from the set (nothing else)."""
    from ._sets import maintenance

    xs = _set(root)
    doomed = maintenance.cleanable(xs)
    if not doomed:
        print("nothing to clean")
        return
    _confirm(f"Delete {len(doomed)} unlinked experiment folder(s) in {xs.root}?", yes)
    print(f"deleted {len(xs.clean())}")


@app.command("rm")
def rm(
    directory: Annotated[
        pathlib.Path, typer.Argument(help="an experiment set or experiment folder")
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="also delete files fexp did not write")
    ] = False,
) -> None:
    """Delete a whole experiment set (or one experiment folder, which is also unlinked).

    Only what fexp made is deleted: a folder holding files fexp does not write is refused
    unless --force; a symbolic link is never followed."""
    from ._sets import removal

    plan = removal.plan(directory, force=force)
    _confirm(f"Delete {plan.kind} {plan.path} and everything in it?", yes)
    removal.remove(plan)
    print(f"deleted {plan.path}")


Where = Annotated[
    list[str] | None, typer.Option("--where", "-w", help='e.g. "lr<0.01"; repeat for AND')
]
Status = Annotated[list[str] | None, typer.Option("--status", "-s", help="only this status")]


@app.command("plot")
def plot(
    key: Annotated[str, typer.Argument(help="the message to plot, e.g. loss")],
    pattern: Pattern = None,
    root: Root = pathlib.Path("."),
    out: Annotated[
        pathlib.Path | None,
        typer.Option(
            "--out",
            "-o",
            help="write a figure (.png, .svg, .pdf; needs fexp[plot]) "
            "instead of plotting in the terminal",
        ),
    ] = None,
    x: Annotated[str, typer.Option("--x", help="x axis: step or time")] = "step",
    group_by: Annotated[
        str | None, typer.Option("--group-by", help="one colour per value of this parameter")
    ] = None,
    where: Where = None,
    status: Status = None,
    width: Annotated[int, typer.Option(help="sparkline width in the terminal")] = 60,
) -> None:
    """Plot message KEY of the experiments matching PATTERN: in the terminal, or to -o FILE."""
    from . import _find, _plot

    rows = _find.find(root, pattern, where=where or (), status=status or ())
    _plot.check_options(x, group_by, rows)
    histories = _find.histories(rows, [key])
    if out is None:
        if group_by is not None:  # lines of one group next to each other
            rows = sorted(
                rows, key=lambda r: _plot.format_value(_plot.flat_params(r).get(group_by, ""))
            )
        print(_plot.terminal_plot(key, rows, histories, width=width))
        return
    summary = _plot.plot_histories(
        key,
        rows,
        histories,
        x=x,  # type: ignore[arg-type]  # _plot validates it and names --x
        group_by=group_by,
        out=out,
    )
    skipped = f"; no history for {', '.join(summary.skipped)}" if summary.skipped else ""
    print(f"wrote {summary.path} ({len(summary.lines)} experiments{skipped})")


@app.command("report")
def report(
    pattern: Pattern = None,
    root: Root = pathlib.Path("."),
    out: Annotated[
        pathlib.Path, typer.Option("--out", "-o", help="the HTML file to write")
    ] = pathlib.Path("report.html"),
    title: Annotated[str | None, typer.Option(help="the page title")] = None,
    where: Where = None,
    status: Status = None,
) -> None:
    """Write one self-contained HTML report: sortable table, filters and message plots."""
    from . import _atomic, _find, _report, _yaml

    xs = _set(root)
    state = xs.state()
    try:
        version = _yaml.read_mapping(xs.paths.defaults).get("_version") or {}
    except _errors.FexpError:
        version = {}
    rows = _find.find(root, pattern, where=where or (), status=status or ())
    info = {
        "root": str(xs.root),
        "purpose": state.get("purpose") or "",
        "notes": state.get("notes") or [],
        "git": version.get("git"),
    }
    html = _report.render_report(rows, _find.histories(rows), info, title=title)
    _atomic.atomic_write(out, html)
    print(f"wrote {out} ({len(rows)} experiments); open it in any browser, it works offline")
