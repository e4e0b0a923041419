"""``python -m fexp`` runs the ``fexp`` command line.

``python -m fexp execute REF PARAMS`` (what every script.sh runs) takes a fast path that
does not build the Typer app, so each launched experiment starts quickly.
"""

from __future__ import annotations

import sys


def _main() -> None:
    args = sys.argv[1:]
    if len(args) == 3 and args[0] == "execute" and not args[1].startswith("-"):
        from fexp._cli_params import execute

        execute(args[1], args[2])
        return
    from fexp._cli import main

    main()


if __name__ == "__main__":
    _main()
