"""The ``fexp ui`` command: serve the live dashboard over one or more sets.

Registered on ``_cli.app`` when imported (``_cli`` imports this module); errors reach
``_cli.main``'s boundary. Hands the server ``ExperimentSet.note`` as its only write.
"""

from __future__ import annotations

import pathlib
import re
from typing import Annotated

import typer

from . import _errors
from ._cli import app


def _note(root: pathlib.Path, name: str, text: str) -> None:
    """Add a note to exactly one experiment, through the set's locked note path."""
    from . import _expset

    # A regex of the literal name: glob characters in a hostile name must not widen it.
    _expset.ExperimentSet(root).note(text, "re:^" + re.escape(name) + r"\Z")


def _roots(sets: list[pathlib.Path] | None, all_sets: bool) -> list[pathlib.Path]:
    from . import _config

    roots = [p.absolute() for p in sets or []]
    if all_sets:
        roots += [r for r in _config.known_sets() if r.absolute() not in roots]
    if not roots:
        roots = [pathlib.Path(".").absolute()]
    return roots


@app.command("ui")
def ui(
    sets: Annotated[
        list[pathlib.Path] | None,
        typer.Argument(help="experiment sets to serve (default: the current folder)"),
    ] = None,
    all_sets: Annotated[bool, typer.Option("--all-sets", help="every set you created")] = False,
    port: Annotated[int, typer.Option("--port", help="0 picks a free port")] = 8765,
    host: Annotated[
        str, typer.Option("--host", help="listen address; anything but localhost needs a token")
    ] = "127.0.0.1",
    token: Annotated[
        str | None,
        typer.Option("--token", help="access token (generated when --host is not local)"),
    ] = None,
) -> None:
    """Serve a live dashboard of the sets at http://127.0.0.1:8765/; Ctrl-C stops it."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise _errors.ConfigError(
            f"fexp ui needs the ui extra ({exc.name} is missing): pip install 'fexp[ui]'"
        ) from None
    from ._views.ui import security, server

    options = server.plan(host, port, token)
    if not security.is_local(host):
        print(
            f"listening on {host}: anyone who can reach it AND has the token can read "
            "these sets and add notes",
            flush=True,
        )
    server.serve(
        _roots(sets, all_sets), options, note=_note, announce=lambda s: print(s, flush=True)
    )
