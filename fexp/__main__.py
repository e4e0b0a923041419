"""``python -m fexp`` runs the ``fexp`` command line."""

from __future__ import annotations

from fexp._cli import main

if __name__ == "__main__":
    main()
