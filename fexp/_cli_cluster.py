"""The cluster and bundle commands of ``fexp``: cancel, export, import.

Registered on ``_cli.app`` when imported (``_cli`` imports this module); errors reach
``_cli.main``'s boundary.
"""

from __future__ import annotations

import pathlib
import shlex
from typing import Annotated, Any

import typer

from ._cli import app

Root = Annotated[pathlib.Path, typer.Option("--root", "-r", help="the experiment set's folder")]


def _set(root: pathlib.Path) -> Any:
    from . import _expset

    xs = _expset.ExperimentSet(root)
    xs.state()  # a clear error when there is no set
    return xs


@app.command("cancel")
def cancel(
    pattern: Annotated[str, typer.Argument(help="glob over experiment names, e.g. '*'")],
    root: Root = pathlib.Path("."),
) -> None:
    """Cancel the SLURM jobs of matching queued or running experiments (status: stopped)."""
    from . import _bundle, _cluster

    names = _cluster.cancel(_set(root), pattern)
    if not names:
        print("nothing to cancel: no matching experiment is queued or running on SLURM")
        return
    print(f"cancelled {len(names)}: {_bundle.names_text(names)}")


@app.command("export")
def export(
    pattern: Annotated[str, typer.Argument(help="glob over experiment names, e.g. '*'")],
    out: Annotated[
        pathlib.Path, typer.Option("--out", "-o", help="the bundle to write (.tar.gz)")
    ],
    root: Root = pathlib.Path("."),
    with_code: Annotated[
        bool,
        typer.Option("--with-code", help="also pack the source (git archive + diff) and packages"),
    ] = False,
) -> None:
    """Pack matching experiments, the set's scripts and the environment into one bundle."""
    from . import _bundle

    result = _bundle.export(_set(root), pattern, out, with_code=with_code)
    print(f"exported {len(result.names)} experiment(s) to {result.path}: "
          f"{_bundle.names_text(result.names)}")
    if result.reset:
        print(f"{len(result.reset)} of them had run already; the bundle registers them again "
              "(their results stay here)")
    print(f"elsewhere: fexp import {shlex.quote(result.path.name)} DIR && "
          "fexp run '*' -r DIR --slurm")


@app.command("import")
def import_(
    bundle: Annotated[pathlib.Path, typer.Argument(help="a bundle made by `fexp export`")],
    directory: Annotated[pathlib.Path, typer.Argument(help="a new (or empty) folder")],
) -> None:
    """Unpack a bundle into a new experiment set in DIR, ready to run."""
    from . import _bundle

    result = _bundle.import_bundle(bundle, directory)
    print(f"imported {len(result.names)} experiment(s) into {result.root}; run them with "
          f"`fexp run '*' -r {shlex.quote(str(result.root))}` (add --slurm for one SLURM job "
          "array)")
