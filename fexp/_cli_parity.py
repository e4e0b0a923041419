"""The commands that bring the seeds' remaining verbs to ``fexp``: reduce (flambe), services,
token and tokens (experimaestro).

Registered on ``_cli.app`` when imported (``_cli`` imports this module last); errors reach
``_cli.main``'s boundary.
"""

from __future__ import annotations

import pathlib
import subprocess
from typing import Annotated

import typer

from . import _errors
from ._cli import app
from ._core import status as _status

Root = Annotated[pathlib.Path, typer.Option("--root", "-r", help="the experiment set's folder")]


@app.command("reduce")
def reduce_(
    stage1: Annotated[
        str, typer.Argument(help="the first stage: a set folder, or FOLDER/GLOB of its experiments")
    ],
    sweep: Annotated[
        str | None, typer.Argument(help='what stage 2 adds, e.g. "{epochs: 20 | 40}"')
    ] = None,
    root: Root = pathlib.Path("."),
    best: Annotated[int, typer.Option("--best", "-b", help="keep the best N of stage 1")] = 1,
    by: Annotated[str, typer.Option("--by", help="the message to rank on, e.g. loss")] = "",
    keep: Annotated[str, typer.Option("--keep", help="min or max is best")] = "min",
    where: Annotated[
        list[str] | None, typer.Option("--where", "-w", help='filter stage 1, e.g. "lr<0.1"')
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", "-s", help="stage-1 statuses considered (default: finished)"),
    ] = None,
    source_param: Annotated[
        str | None,
        typer.Option("--source-param", help="a stage-2 parameter set to the stage-1 folder"),
    ] = None,
    repeats: Annotated[
        int, typer.Option("--repeats", "-x", help="register each config N times")
    ] = 1,
    name: Annotated[str | None, typer.Option("--name", "-n", help="folder name (prefix)")] = None,
    purpose: Annotated[str | None, typer.Option(help="why stage 2 exists")] = None,
) -> None:
    """Link stage 2 (-r) from the best N experiments of STAGE1 by a message (flambe's reduce).

    Each chosen experiment's parameters that stage 2 also has are carried over and crossed
    with SWEEP. Same as `fexp link SWEEP --from STAGE1 --from-best N --by KEY --keep min`.
    """
    from . import _reduce

    result = _reduce.reduce(
        stage1, root, best=best, by=by, keep=keep, sweep=sweep, where=where or (),
        status=status or (_status.FINISHED,), source_param=source_param, repeats=repeats,
        name=name, purpose=purpose,
    )
    print(result.render())


@app.command("services")
def services(root: Root = pathlib.Path(".")) -> None:
    """List the services running for a set (TensorBoard ... added by `xs.add_service`)."""
    from . import _expset, _services_registry

    xs = _expset.ExperimentSet(root)
    xs.state()  # a clear error when there is no set
    found = _services_registry.listed(xs)
    if not found:
        print("no service running for this set")
    for name, entry in found.items():
        print(f"{name}\t{entry.get('kind')}\t{entry.get('url') or '-'}\tpid {entry.get('pid')}")


@app.command("tokens")
def tokens() -> None:
    """List this machine's tokens, their capacity and who holds them."""
    from . import _token

    known = _token.known()
    if not known:
        print(f"no tokens yet in {_token.tokens_root()}")
    for name, count in known.items():
        held = _token.holders(name)
        print(f"{name}\t{len(held)}/{count} held")
        for h in held:
            label = f"\t{h.label}" if h.label else ""
            print(f"  slot {h.slot}\tpid {h.pid} on {h.host} since {h.since}{label}")


@app.command(
    "token", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def token(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="the token, e.g. gpu")],
    count: Annotated[
        int | None, typer.Option("--count", "-c", help="its capacity (slots) on this machine")
    ] = None,
    timeout: Annotated[
        float | None, typer.Option(help="give up after this many seconds of waiting")
    ] = None,
) -> None:
    """Run a command holding a slot of token NAME: `fexp token gpu -c 1 -- python train.py`.

    Without a command, `--count N` changes the token's capacity (when no one holds it).
    """
    from . import _token

    command = list(ctx.args)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        if count is None:
            raise _errors.ConfigError("give a command to run, or --count N to resize the token",
                                      source="argument COMMAND")
        _token.Token(name, _token.known().get(name, count)).resize(count)
        print(f"token {name}: {count} slot(s)")
        return
    claim = _token.token(name, count if count is not None else _token.known().get(name, 1),
                         timeout=timeout, label=" ".join(command)[:200])
    with claim:
        try:
            code = subprocess.call(command)
        except FileNotFoundError:
            raise _errors.ConfigError(
                "command not found", source=f"command {command[0]!r}"
            ) from None
    raise typer.Exit(code)
