"""The documented limits on what one request or one untrusted file may ask for (pure).

Every number a hostile or careless input could blow up is capped here, in one place, so the
limits are the same wherever the input enters (``fexp link``, ``--samples``, ``-x``, a
bundle, an error message):

- ``MAX_EXPERIMENTS``: experiments one ``link`` may register (points x repeats, and
  ``--samples`` x repeats): 100,000.
- ``MAX_BUNDLE_MEMBER``: bytes of one member of a bundle (``fexp import``): 64 MiB.
- ``MAX_BUNDLE_TOTAL``: bytes of all members of a bundle together: 1 GiB.
- ``MAX_BUNDLE_MEMBERS``: members of a bundle: 200,000.
- ``MAX_ERROR_CHARS`` / ``MAX_ERROR_LINES``: an error message shown to a user is at most
  this long, whatever the input that caused it.
"""

from __future__ import annotations

MAX_EXPERIMENTS = 100_000
MAX_BUNDLE_MEMBER = 64 * 1024 * 1024
MAX_BUNDLE_TOTAL = 1024 * 1024 * 1024
MAX_BUNDLE_MEMBERS = 200_000
MAX_ERROR_CHARS = 600
MAX_ERROR_LINES = 4
MAX_QUOTED_INPUT = 80


def clip(text: str, limit: int = MAX_QUOTED_INPUT) -> str:
    """``text`` cut to ``limit`` characters (with ``...`` and the full length when cut).

    Example:
        >>> clip("x" * 100, 10)
        'xxxxxxx...(100 chars)'
    """
    if len(text) <= limit:
        return text
    return f"{text[: max(limit - 3, 1)]}...({len(text)} chars)"


def bound_message(text: str) -> str:
    """An error message cut to at most ``MAX_ERROR_LINES`` lines of ``MAX_ERROR_CHARS``
    characters in all, so no input can flood a terminal."""
    lines = text.splitlines() or [""]
    if len(lines) > MAX_ERROR_LINES:
        lines = [*lines[: MAX_ERROR_LINES - 1], f"... ({len(lines)} lines in all)"]
    bounded = "\n".join(lines)
    if len(bounded) > MAX_ERROR_CHARS:
        bounded = bounded[: MAX_ERROR_CHARS - 20] + f"... ({len(text)} chars)"
    return bounded


def check_count(count: int, what: str) -> str | None:
    """A reason to refuse registering ``count`` experiments, or None when it is allowed."""
    if count > MAX_EXPERIMENTS:
        return (
            f"{what} asks for {count:,} experiments; one request may register at most "
            f"{MAX_EXPERIMENTS:,} (fexp's documented limit): split it"
        )
    return None
