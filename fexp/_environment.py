"""What a run records of its code and environment at start, cheaply enough for ``--fork``.

Owns the snapshots behind ``_version.git.diff``, ``_version.env`` and ``_meta.command``:

- the code (``_environment_code``): git's commit, branch and dirty flag and, for a dirty
  tree, ``git.diff`` in the experiment folder;
- the environment: the installed packages (``importlib.metadata``, no subprocess) in
  ``environments/<hash>.txt`` of the set, the numpy/torch/CUDA versions and visible GPUs;
- the command line, working directory and the variables named by the config's
  ``record_env`` (no other variable is recorded).

Both snapshots are cached in ``$FEXP_HOME/cache``: the environment's under the interpreter
and the modification times of the folders holding installed packages.
"""

from __future__ import annotations

import os
import pathlib
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import _config
from ._core import record_diff
from ._environment_code import (
    CACHE_VERSION,
    code_snapshot,
    read_cache,
    short_hash,
    stat_key,
    write_cache,
)

if TYPE_CHECKING:
    from ._experiment import Experiment

NVIDIA_PROC = pathlib.Path("/proc/driver/nvidia")


def cache_dir() -> pathlib.Path:
    """``$FEXP_HOME/cache``: the snapshot caches (safe to delete)."""
    return _config.home() / "cache"


# --------------------------------------------------------------------------- environment


class EnvSnapshot:
    """The installed packages of this interpreter, as an environment file and its hash."""

    def __init__(self, text: str, packages: dict[str, str] | None = None) -> None:
        self.text = text
        self.hash = short_hash(text.encode("utf-8"))
        self._packages = packages

    @property
    def packages(self) -> dict[str, str]:
        """``{name: version}`` (parsed from the text on first use)."""
        if self._packages is None:
            from ._store import environment_files

            self._packages = environment_files.parse_packages(self.text)
        return self._packages


def _normalize(name: str) -> str:
    """PEP 503's normal form of a distribution name (``Foo_Bar.baz`` -> ``foo-bar-baz``)."""
    plain = name.lower().replace("_", "-").replace(".", "-")
    if "--" in plain:
        import re

        plain = re.sub("-+", "-", plain)
    return plain


_DIST_SUFFIXES = (".dist-info", ".egg-info")


def _from_folder(folder: str) -> tuple[str, str] | None:
    """``numpy-1.26.4.dist-info`` -> ``("numpy", "1.26.4")``; None when it lacks a version."""
    parts = folder.rsplit(".", 1)[0].split("-")
    if len(parts) >= 2 and parts[0] and parts[1]:
        return _normalize(parts[0]), parts[1]
    return None


def _from_metadata(path: str) -> tuple[str, str] | None:
    from importlib import metadata

    dist = metadata.PathDistribution(pathlib.Path(path))
    name, version = dist.metadata["Name"], dist.version
    return (_normalize(name), str(version)) if name and version else None


def installed_packages() -> dict[str, str]:
    """``{name: version}`` of the distributions ``importlib.metadata`` finds on ``sys.path``.

    The same folders it reads (``NAME-VERSION.dist-info``, ``.egg-info``), named as it names
    them, but the version comes from the folder's name when it has one: importing
    ``importlib.metadata`` and parsing every METADATA costs 100 times more. The working
    directory (``''`` on ``sys.path``) is not searched.
    """
    packages: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry) if entry else []
        except OSError:
            continue
        for name in names:
            if name.endswith(_DIST_SUFFIXES):
                found = _from_folder(name) or _from_metadata(os.path.join(entry, name))
                if found is not None:
                    packages.setdefault(*found)  # the first on sys.path is the one imported
    return packages


def _package_folders() -> list[str]:
    return [p for p in sys.path if p and os.path.basename(p) in ("site-packages", "dist-packages")]


def _env_identity() -> str:
    folders = _package_folders()
    keys = [sys.executable, sys.version, sys.path, [stat_key(p) for p in folders]]
    return short_hash(repr(keys).encode("utf-8", "surrogateescape"))


def _fresh_environment() -> EnvSnapshot:
    packages = installed_packages()
    uname = os.uname()
    head = (
        f"# python {'.'.join(map(str, sys.version_info[:3]))} "
        f"({sys.implementation.name}) {uname.sysname} {uname.machine}\n"
    )
    lines = "".join(f"{name}=={packages[name]}\n" for name in sorted(packages))
    return EnvSnapshot(head + lines, dict(sorted(packages.items())))


def environment_snapshot(cache: pathlib.Path | None = None) -> EnvSnapshot:
    """This interpreter's installed packages; from ``cache`` while the interpreter and the
    modification times of its package folders are unchanged."""
    cache_file = None
    if cache is not None:
        cache_file = cache / f"env-{_env_identity()}.json"
        data = read_cache(cache_file)
        if data is not None and isinstance(data.get("text"), str):
            return EnvSnapshot(data["text"])
    snapshot = _fresh_environment()
    if cache_file is not None:
        write_cache(cache_file, {"version": CACHE_VERSION, "text": snapshot.text})
    return snapshot


def accelerator_versions(text: str) -> dict[str, str]:
    """numpy and torch versions when in the environment file ``text``, CUDA's when torch is
    imported already."""
    found: dict[str, str] = {}
    for name in ("numpy", "torch"):
        start = text.find(f"\n{name}==")
        if start >= 0:
            found[name] = text[start + len(name) + 3 : text.find("\n", start + 1)]
    torch = sys.modules.get("torch")
    cuda = getattr(getattr(torch, "version", None), "cuda", None)
    if cuda:
        found["cuda"] = str(cuda)
    return found


def visible_gpus(proc: pathlib.Path | None = None) -> list[str]:
    """The NVIDIA GPUs this process may use (``CUDA_VISIBLE_DEVICES`` honoured when it gives
    indices), from the driver's ``/proc`` files: no subprocess, ``[]`` without a driver."""
    gpus_dir = (proc or NVIDIA_PROC) / "gpus"
    if not gpus_dir.is_dir():
        return []
    models = []
    for folder in sorted(gpus_dir.iterdir()):
        try:
            text = (folder / "information").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        model = next(
            (ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("Model:")),
            folder.name,
        )
        models.append(model)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and all(v.strip().isdigit() for v in visible.split(",") if v.strip()):
        indices = [int(v) for v in visible.split(",") if v.strip()]
        models = [models[i] for i in indices if i < len(models)]
    return models


# --------------------------------------------------------------------------- the run


def run_record(record_env: Sequence[str] = ()) -> dict[str, Any]:
    """The ``_meta`` keys of this process: command, cwd, the ``record_env`` variables, GPUs."""
    argv = list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])
    meta: dict[str, Any] = {"command": argv, "cwd": os.getcwd()}
    names = record_env if isinstance(record_env, (list, tuple)) else ()  # a hand-edited config
    wanted = {n: os.environ[n] for n in names if isinstance(n, str) and n in os.environ}
    if wanted:
        meta["env"] = wanted
    gpus = visible_gpus()
    if gpus:
        meta["gpus"] = gpus
    return meta


def definition_path(cls: type[Experiment]) -> pathlib.Path:
    """The file that defines the experiment (its git repository is the run's code)."""
    module = sys.modules.get(cls.__module__)
    return pathlib.Path(getattr(module, "__file__", None) or os.getcwd())


def record_run(exp: Experiment, record_env: Sequence[str] = ()) -> None:
    """At run start: write git.diff (dirty tree) and the set's environment file, and add
    ``_version.git``/``env`` and ``_meta.command``/``cwd``/``env`` to ``exp`` (not saved)."""
    from ._store import environment_files

    directory = exp.paths.directory  # the experiment is registered: it is running
    cache = cache_dir()
    code = code_snapshot(definition_path(type(exp)), cache)
    env = environment_snapshot(cache)
    environment_files.write_environment(directory.parent, env.hash, env.text)
    version = dict(exp.version)
    if code is not None:
        version["git"] = code.record()
        if code.diff:
            environment_files.write_diff(directory, code.diff)
    elif isinstance(version.get("git"), dict):  # no git here: keep the registration's record
        version["git"] = {k: v for k, v in version["git"].items() if k != "diff"}
    if code is None or not code.diff:
        environment_files.remove_diff(directory)
    version["env"] = env.hash
    version.update(accelerator_versions(env.text))
    exp.version = version
    exp.meta = {**exp.meta, **run_record(record_env)}


# --------------------------------------------------------------------------- drift


def environment_of(python: str) -> EnvSnapshot | None:
    """The installed packages of another interpreter (it runs this module's listing);
    None when it cannot (no fexp there, or it fails)."""
    import subprocess

    code = "from fexp import _environment as e; print(e.environment_snapshot().text, end='')"
    try:
        done = subprocess.run(
            [python, "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    from ._store import environment_files

    return EnvSnapshot(done.stdout, environment_files.parse_packages(done.stdout))


def drift(record: record_diff.Record, definition: pathlib.Path | None) -> list[str]:
    """How the code and environment a run would record now differ from ``record``'s.

    The code is the repository recorded in ``_version.git`` (else ``definition``'s); the
    environment is that of the interpreter the record ran with (``_meta.python``) when it
    still exists, else this one.
    """
    from ._store import environment_files

    git = environment_files.mapping(record.version.get("git"))
    repo = pathlib.Path(str(git.get("repo"))) if git.get("repo") else definition
    found = []
    code = code_snapshot(repo, cache_dir()) if repo is not None and repo.exists() else None
    if git and code is not None:
        now = code.record()
        changed = record_diff.code_changes(git, now)
        patched = record_diff.patched_files(record.diff, code.diff.decode("utf-8", "replace"))
        if changed or patched:
            parts = [
                f"{c.key} {record_diff.shown(c.a)} -> {record_diff.shown(c.b)}"
                for c in changed
                if c.key != "diff"
            ]
            if patched:
                parts.append(f"changes differ in {', '.join(patched[:5])}")
            found.append(f"the code differs from {record.name}'s: {'; '.join(parts)}")
    elif git:
        found.append(f"{record.name} ran from git repository {git.get('repo')}, not found here")
    found.extend(_env_drift(record))
    return found


def _env_drift(record: record_diff.Record) -> list[str]:
    recorded = record.version.get("env")
    if not recorded:
        return []
    python = str(record.meta.get("python") or "")
    same = not python or python == sys.executable or not os.path.exists(python)
    now = environment_snapshot(cache_dir()) if same else environment_of(python)
    where = "this interpreter" if same else python
    if now is None:
        return [f"could not list the packages of {python} to compare with {record.name}'s"]
    if now.hash == recorded:
        return []
    if record.packages is None:
        return [
            f"the environment of {where} differs from {record.name}'s ({recorded} -> "
            f"{now.hash}); its environment file is missing, so packages are not compared"
        ]
    changes = record_diff.package_changes(record.packages, now.packages)
    detail = changes.summary() if changes else "same packages, another python or platform"
    return [f"the environment of {where} differs from {record.name}'s: {detail}"]
