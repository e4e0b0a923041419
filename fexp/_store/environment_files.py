"""The files a run records of its code and environment: ``environments/<hash>.txt`` in a set
(one per distinct environment, written once) and ``git.diff`` in an experiment folder.

Writes go through ``_atomic``; readers treat the files as untrusted text (another machine, an
imported bundle, a hand edit): a hash that is not plain hex never becomes a path.
"""

from __future__ import annotations

import pathlib
import re
from typing import Any

from .. import _atomic, _layout
from .._core import record_diff

_HASH = re.compile(r"[0-9a-f]{8,64}")


def is_hash(value: object) -> bool:
    """Whether ``value`` is a hash fexp writes (lowercase hex, 8 to 64 digits)."""
    return isinstance(value, str) and _HASH.fullmatch(value) is not None


def environment_path(root: pathlib.Path, digest: str) -> pathlib.Path | None:
    """``root/environments/<digest>.txt``, or None when ``digest`` is not a hash."""
    if not is_hash(digest):
        return None
    return root / _layout.ENVIRONMENTS_DIR / f"{digest}.txt"


def write_environment(root: pathlib.Path, digest: str, text: str) -> pathlib.Path:
    """Write the environment file of ``digest`` into the set ``root`` unless it exists.

    Raises:
        ValueError: ``digest`` is not a hash.
    """
    path = environment_path(root, digest)
    if path is None:
        raise ValueError(f"not an environment hash: {digest!r}")
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        _atomic.atomic_write(path, text, durable=False)
    return path


def read_environment(root: pathlib.Path, digest: object) -> str | None:
    """The environment file of ``digest`` in the set ``root``; None when absent or unsafe."""
    path = environment_path(root, digest) if isinstance(digest, str) else None
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def write_diff(directory: pathlib.Path, data: bytes) -> pathlib.Path:
    """Write ``git.diff`` into an experiment folder (replacing an earlier attempt's, unless
    it is the same: renaming over a file can cost milliseconds)."""
    path = directory / _layout.DIFF_FILE
    try:
        _atomic.create_new(path, data)  # the usual case: a new run's folder, one syscall
        return path
    except FileExistsError:
        pass
    if path.stat().st_size != len(data) or path.read_bytes() != data:
        _atomic.atomic_write(path, data, durable=False)
    return path


def remove_diff(directory: pathlib.Path) -> None:
    """Remove an earlier attempt's ``git.diff`` (the tree is clean now)."""
    (directory / _layout.DIFF_FILE).unlink(missing_ok=True)


def read_diff(directory: pathlib.Path) -> str | None:
    """The experiment's ``git.diff``, or None."""
    try:
        return (directory / _layout.DIFF_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def parse_packages(text: str) -> dict[str, str]:
    """``name==version`` lines of an environment file -> ``{name: version}`` (comments and
    anything else skipped).

    Example:
        >>> parse_packages("# python 3.11\\nnumpy==1.26.4\\nfexp==0.1\\n")
        {'numpy': '1.26.4', 'fexp': '0.1'}
    """
    packages: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, version = line.strip().partition("==")
        if sep and name and not name.startswith("#"):
            packages[name] = version
    return packages


def header(text: str) -> list[str]:
    """The ``# ...`` header lines of an environment file, without the ``# ``."""
    return [line[1:].strip() for line in text.splitlines() if line.startswith("#")]


def load_record(directory: pathlib.Path) -> tuple[dict[str, Any], record_diff.Record]:
    """An experiment folder's params.yml data and its :class:`Record` (with its git.diff and
    its environment's packages, read from the set that holds the folder).

    Raises:
        YamlError: params.yml cannot be read.
    """
    from .. import _index

    data = dict(_index.read_mapping_cached(directory / _layout.PARAMS_FILE))
    version, meta = mapping(data.get("_version")), mapping(data.get("_meta"))
    git = mapping(version.get("git"))
    env_text = read_environment(directory.parent, version.get("env"))
    record = record_diff.Record(
        name=directory.name,
        params={k: v for k, v in data.items() if not str(k).startswith("_")},
        version=version,
        meta=meta,
        diff=read_diff(directory) if git.get("diff") else None,
        packages=parse_packages(env_text) if env_text is not None else None,
    )
    return data, record


def mapping(value: object) -> dict[str, Any]:
    """``value`` when it is a mapping (untrusted YAML), else ``{}``."""
    return dict(value) if isinstance(value, dict) else {}
