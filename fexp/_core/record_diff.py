"""Compare two experiments' records: parameters, code, environment and host. Pure: no I/O.

A :class:`Record` is what one experiment recorded (params.yml's parameters, ``_version`` and
``_meta``, its ``git.diff`` and its environment's packages); :func:`compare` says what differs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

MISSING = "(none)"
# _version keys compared as code, _meta keys compared as host.
CODE_KEYS = ("commit", "branch", "dirty", "diff")
HOST_KEYS = ("host", "user", "platform", "python", "gpus")


@dataclasses.dataclass(frozen=True)
class Record:
    """What one experiment recorded; ``diff``/``packages`` are None when not recorded."""

    name: str
    params: Mapping[str, Any]
    version: Mapping[str, Any]
    meta: Mapping[str, Any]
    diff: str | None = None
    packages: Mapping[str, str] | None = None


@dataclasses.dataclass(frozen=True)
class Change:
    """One key whose value differs; ``MISSING`` on the side that lacks it."""

    key: str
    a: Any
    b: Any


@dataclasses.dataclass(frozen=True)
class PackageChanges:
    """Packages only in B (added), only in A (removed), and in both with other versions."""

    added: dict[str, str]
    removed: dict[str, str]
    changed: dict[str, tuple[str, str]]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def summary(self, limit: int = 5) -> str:
        """``numpy 1.26 -> 2.0, added rich 13.7, removed tqdm 4.66`` (the first ``limit``)."""
        parts = [f"{n} {a} -> {b}" for n, (a, b) in self.changed.items()]
        parts += [f"added {n} {v}" for n, v in self.added.items()]
        parts += [f"removed {n} {v}" for n, v in self.removed.items()]
        more = f", ... ({len(parts)} changes in all)" if len(parts) > limit else ""
        return ", ".join(parts[:limit]) + more


@dataclasses.dataclass(frozen=True)
class RecordDiff:
    """What differs between two records (see :func:`compare`)."""

    params: list[Change]
    code: list[Change]
    patched: list[str]  # files whose changes differ between the two git.diffs
    env: Change | None  # the environment hashes, when they differ
    packages: PackageChanges | None  # None when an environment file is missing
    host: list[Change]

    def __bool__(self) -> bool:
        return bool(self.params or self.code or self.patched or self.env or self.host)


def shown(value: object) -> str:
    """A value as the record commands print it: a 40-digit commit shortened to 10.

    Example:
        >>> shown("0123456789" * 4), shown(0.1)
        ('0123456789', '0.1')
    """
    text = str(value)
    return text[:10] if len(text) == 40 and text.isalnum() else text


def changes(a: Mapping[str, Any], b: Mapping[str, Any], keys: Any = None) -> list[Change]:
    """The keys (all of both, sorted, when ``keys`` is None) whose values differ.

    Example:
        >>> changes({"lr": 0.1, "x": 1}, {"lr": 0.2, "x": 1})
        [Change(key='lr', a=0.1, b=0.2)]
    """
    wanted = sorted({*a, *b}, key=str) if keys is None else keys
    return [
        Change(str(k), a.get(k, MISSING), b.get(k, MISSING))
        for k in wanted
        if a.get(k, MISSING) != b.get(k, MISSING)
    ]


def package_changes(a: Mapping[str, str], b: Mapping[str, str]) -> PackageChanges:
    """Compare two ``{name: version}`` maps.

    Example:
        >>> package_changes({"numpy": "1.26", "tqdm": "4"}, {"numpy": "2.0"}).summary()
        'numpy 1.26 -> 2.0, removed tqdm 4'
    """
    return PackageChanges(
        added={n: b[n] for n in sorted(b) if n not in a},
        removed={n: a[n] for n in sorted(a) if n not in b},
        changed={n: (a[n], b[n]) for n in sorted(a) if n in b and a[n] != b[n]},
    )


def patch_sections(text: str) -> dict[str, str]:
    """Split a git diff into ``{path: that file's section}`` (the ``b/`` side's path).

    Example:
        >>> list(patch_sections("# x\\ndiff --git a/f.py b/f.py\\n+1\\n"))
        ['f.py']
    """
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines(keepends=True):
        if line.startswith("diff --git "):
            path = line.rstrip("\n").rpartition(" b/")[2] or line
            current = sections.setdefault(path, [])
        if current is not None:
            current.append(line)
    return {path: "".join(lines) for path, lines in sections.items()}


def patched_files(a: str | None, b: str | None) -> list[str]:
    """Files whose changes differ between two git.diffs (a missing diff changes nothing)."""
    left, right = patch_sections(a or ""), patch_sections(b or "")
    return sorted(p for p in {*left, *right} if left.get(p) != right.get(p))


def code_changes(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[Change]:
    """Differences of two ``_version.git`` records (commit, branch, dirty, diff hash)."""
    return changes(a, b, CODE_KEYS)


def compare(a: Record, b: Record) -> RecordDiff:
    """What differs between the records ``a`` and ``b``."""
    git_a, git_b = _mapping(a.version.get("git")), _mapping(b.version.get("git"))
    env_a, env_b = a.version.get("env", MISSING), b.version.get("env", MISSING)
    packages = None
    if a.packages is not None and b.packages is not None:
        packages = package_changes(a.packages, b.packages)
    return RecordDiff(
        params=changes(a.params, b.params),
        code=code_changes(git_a, git_b),
        patched=patched_files(a.diff, b.diff),
        env=Change("env", env_a, env_b) if env_a != env_b else None,
        packages=packages,
        host=changes(a.meta, b.meta, HOST_KEYS),
    )


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
