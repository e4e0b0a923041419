"""Parameter help texts read back from the comments of a ``defaults.yml`` (pure).

``fexp`` writes every parameter of defaults.yml as ``name: default  # type; help`` (the
comment is one line with single spaces). Reading the helps from there lets fexp rewrite a
params.yml (relink, reset, note, import) without importing the experiment's code.
"""

from __future__ import annotations

_SEP = "  # "


def _key(text: str) -> str:
    key = text.strip()
    if len(key) >= 2 and key[0] == key[-1] and key[0] in "'\"":
        key = key[1:-1]
    return key


def helps_from_defaults(text: str) -> dict[str, str]:
    """Map each top-level parameter of defaults.yml text to its help (those that have one).

    Example:
        >>> helps_from_defaults("_version: {}\\nlr: 0.1  # float; learning rate\\n")
        {'lr': 'learning rate'}
    """
    helps: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line[0] in "# \t" or _SEP not in line:
            continue
        left, comment = line.rsplit(_SEP, 1)
        key, colon, _ = left.partition(": ")
        if not colon or key.startswith("_"):
            continue
        _, semicolon, help_text = comment.partition("; ")
        if semicolon and help_text.strip():
            helps[_key(key)] = help_text.strip()
    return helps
