"""Bundles: pack a set's selected experiments (definitions, not results) with a manifest and
the environment into one .tar.gz, and unpack one safely into a new set elsewhere.

A bundle holds ``manifest.json``, ``README.md``, ``environment/`` (pip freeze, python, git and
a diff of a dirty tree) and ``set/`` (script.sh, defaults.yml, experiment.yml and one
``NAME/params.yml`` per experiment). Nothing here prints.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from . import _atomic, _config, _errors, _layout, _meta, _yaml
from ._core import limits as _limits
from ._core import status as _status

if TYPE_CHECKING:
    from ._expset import ExperimentSet

FORMAT = "fexp-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
README = "README.md"
SET_PREFIX = "set"
ENV_PREFIX = "environment"
# Where an imported set keeps the bundle's manifest, README and environment (inside the
# set's generated/ folder, so no experiment name can clash with it).
IMPORTED_DIR = "bundle"
# Run bookkeeping that belongs to the source machine: an exported experiment starts afresh.
_RUN_KEYS = ("_slurm", "_attempts", "_requeues", "_owner")
_SET_HEADER = "# fexp experiment set: managed by fexp, edit with care\n"


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """What ``export`` wrote: the bundle's path and the experiments in it."""

    path: pathlib.Path
    names: list[str]
    reset: list[str]


@dataclasses.dataclass(frozen=True)
class ImportResult:
    """What ``import_bundle`` made: the new set's folder and its experiments."""

    root: pathlib.Path
    names: list[str]
    manifest: dict[str, Any]


# --------------------------------------------------------------------------- export


def _fresh_params(xs: ExperimentSet, name: str, helps: Mapping[str, str]) -> tuple[bytes, str]:
    """params.yml of ``name`` as a bundle carries it (registered again unless it was), and
    the status it had."""
    from . import _render

    path = xs.root / name / _layout.PARAMS_FILE
    raw = path.read_bytes() if path.is_file() else b""
    data = _yaml.read_mapping(path)
    status = str(data.get("_status", _status.REGISTERED))
    if status in _status.EDITABLE and not any(k in data for k in _RUN_KEYS):
        return raw, status
    for key in _RUN_KEYS:
        data.pop(key, None)
    data.update(_status=_status.REGISTERED, _started=None, _stopped=None, _last=None, _messages={},
                _meta={})
    special = {k: v for k, v in data.items() if str(k).startswith("_")}
    params = {k: v for k, v in data.items() if not str(k).startswith("_")}
    return _render.render_params(special, params, dict(helps)).encode("utf-8"), status


def _git_folder(xs: ExperimentSet, state: Mapping[str, Any]) -> pathlib.Path:
    try:
        version = _yaml.read_mapping(xs.paths.defaults).get("_version") or {}
    except _errors.FexpError:
        version = {}
    repo = (version.get("git") or {}).get("repo") if isinstance(version, dict) else None
    if repo and pathlib.Path(repo).is_dir():
        return pathlib.Path(repo)
    target = str(state.get("ref") or "").rpartition(":")[0]
    if target.endswith(".py"):
        return pathlib.Path(target).parent
    return pathlib.Path.cwd()


def _environment(xs: ExperimentSet, state: Mapping[str, Any]) -> dict[str, bytes]:
    """The environment files: pip freeze, python and platform, git (and its diff if dirty)."""
    files: dict[str, bytes] = {}
    try:
        freeze = subprocess.run([sys.executable, "-m", "pip", "freeze"], capture_output=True,
                                text=True, timeout=300, check=False)
        frozen = freeze.stdout if freeze.returncode == 0 else f"# pip freeze failed: " \
            f"{freeze.stderr.strip()}\n"
    except (OSError, subprocess.SubprocessError) as exc:
        frozen = f"# pip freeze failed: {exc}\n"
    files["requirements.txt"] = frozen.encode("utf-8")
    git = _meta.git_info(_git_folder(xs, state))
    info = {"python": sys.version, "python_version": platform.python_version(),
            "executable": sys.executable, "platform": platform.platform(),
            "fexp": _meta.fexp_version(), "git": git}
    files["info.json"] = (json.dumps(info, indent=2, sort_keys=True) + "\n").encode("utf-8")
    if git and git.get("dirty"):
        diff = subprocess.run(["git", "-C", str(git["repo"]), "diff", "HEAD"],
                              capture_output=True, timeout=120, check=False)
        files["git.diff"] = diff.stdout
    return files


def _add(tar: tarfile.TarFile, name: str, data: bytes, *, executable: bool = False) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o755 if executable else 0o644
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def export(xs: ExperimentSet, pattern: str | None, out: pathlib.Path, *,
           with_code: bool = False) -> ExportResult:
    """Pack the matching experiments of ``xs`` into the bundle ``out`` (written atomically).

    Experiments carry their parameters only: one that ran already is registered again in
    the bundle (its results stay here). The manifest records the statuses they had.
    ``with_code`` adds the source, its diff and the environment (``_bundle_code``).

    Raises:
        ConfigError: no experiment matches, or ``out``'s folder does not exist.
        YamlError: a params.yml or experiment.yml cannot be read.
    """
    from . import _render

    state = xs.state()
    names = xs.names(pattern)
    if not names:
        raise _errors.ConfigError(f"no experiment in the set matches {pattern!r}",
                                  source=str(xs.root))
    out = pathlib.Path(out)
    if not out.parent.is_dir() or out.is_dir():
        what = "is a folder" if out.is_dir() else "its folder does not exist"
        raise _errors.ConfigError(f"{what}; give a file name such as bundle.tar.gz",
                                  source=f"option -o {str(out)!r}")
    if not xs.paths.script.is_file():
        raise _errors.ExperimentStateError(f"the set has no {_layout.SCRIPT_FILE} to pack",
                                           source=str(xs.root))
    helps = xs.helps()
    params: dict[str, bytes] = {}
    statuses: dict[str, str] = {}
    for name in names:
        params[name], statuses[name] = _fresh_params(xs, name, helps)
    subset = {**state, "experiments": {n: state["experiments"][n] for n in names}}
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                "fexp": _meta.fexp_version(), "created": _meta.now_iso(),
                "source": str(xs.root), "ref": state.get("ref"), "experiments": names,
                "statuses": statuses, "python": platform.python_version()}
    code_files: dict[str, bytes] = {}
    if with_code:
        from . import _bundle_code

        code_files, manifest["code"] = _bundle_code.members(xs, names, _git_folder(xs, state))
    readme = _render.render_template("bundle_README.md.j2", manifest=manifest,
                                     bundle=out.name, count=len(names),
                                     imported_dir=f"{_layout.GENERATED_DIR}/{IMPORTED_DIR}")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        _add(tar, MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode("utf-8"))
        _add(tar, README, readme.encode("utf-8"))
        for file, data in _environment(xs, state).items():
            _add(tar, f"{ENV_PREFIX}/{file}", data)
        _add(tar, f"{SET_PREFIX}/{_layout.SCRIPT_FILE}", xs.paths.script.read_bytes(),
             executable=True)
        if xs.paths.defaults.is_file():
            _add(tar, f"{SET_PREFIX}/{_layout.DEFAULTS_FILE}", xs.paths.defaults.read_bytes())
        _add(tar, f"{SET_PREFIX}/{_layout.SET_FILE}",
             (_SET_HEADER + _render.yaml_block(subset)).encode("utf-8"))
        for name in names:
            _add(tar, f"{SET_PREFIX}/{name}/{_layout.PARAMS_FILE}", params[name])
        for member, data in code_files.items():
            _add(tar, member, data)
    _atomic.atomic_write(out, buffer.getvalue())
    reset = [n for n, s in statuses.items() if s not in _status.EDITABLE]
    return ExportResult(out, names, reset)


# --------------------------------------------------------------------------- import


def _bad(bundle: pathlib.Path, detail: str) -> _errors.ConfigError:
    from ._sets import bundle_members

    return bundle_members.bad(bundle, detail)


def _check_contents(bundle: pathlib.Path, contents: Mapping[pathlib.PurePosixPath, bytes | None]
                    ) -> dict[str, Any]:
    raw = contents.get(pathlib.PurePosixPath(MANIFEST))
    try:
        manifest = json.loads(raw or b"")
    except (ValueError, RecursionError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _bad(bundle, f"no valid {MANIFEST}; this is not a bundle made by `fexp export`")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise _bad(bundle, f"bundle format version "
                           f"{_limits.clip(repr(manifest.get('format_version')))} is not "
                           f"{FORMAT_VERSION}; import it with the fexp version that made it "
                           f"({_limits.clip(repr(manifest.get('fexp')))})")
    for required in (_layout.SCRIPT_FILE, _layout.SET_FILE):
        if not contents.get(pathlib.PurePosixPath(SET_PREFIX, required)):
            raise _bad(bundle, f"member {SET_PREFIX}/{required} is missing")
    for path, data in contents.items():
        if data is not None and path.parts[0] == SET_PREFIX and path.suffix == ".yml":
            _check_yaml(bundle, path, data)
    return manifest


def _check_yaml(bundle: pathlib.Path, path: pathlib.PurePosixPath, data: bytes) -> None:
    """A set file of the bundle parses safely and has the shape fexp writes."""
    from ._core import records
    from ._store import set_state

    try:
        parsed = _yaml.load(data.decode("utf-8"), source=str(path))
    except (_errors.FexpError, UnicodeDecodeError) as exc:
        raise _bad(bundle, f"member {path} is not valid YAML: "
                           f"{_limits.clip(str(exc), 300)}") from None
    try:
        if parsed is not None and not isinstance(parsed, dict):
            raise _errors.YamlError("not a mapping")
        parsed = parsed or {}
        if path.name == _layout.SET_FILE:
            set_state.check_state(parsed, pathlib.Path("/nonexistent-fexp-bundle"),
                                  pathlib.Path(str(path)))
        elif path.name == _layout.PARAMS_FILE:
            problem = records.params_problem(parsed)
            if problem:
                raise _errors.YamlError(problem)
    except _errors.FexpError as exc:
        raise _bad(bundle, f"member {path} is refused: {_limits.clip(str(exc), 300)}") from None


def _target(path: pathlib.PurePosixPath) -> pathlib.PurePosixPath:
    if path.parts[0] == SET_PREFIX:
        return pathlib.PurePosixPath(*path.parts[1:])
    return pathlib.PurePosixPath(_layout.GENERATED_DIR, IMPORTED_DIR, *path.parts)


def _unpack(contents: Mapping[pathlib.PurePosixPath, bytes | None], folder: pathlib.Path) -> None:
    for path, data in contents.items():
        relative = _target(path)
        if not relative.parts:
            continue
        target = folder.joinpath(*relative.parts)
        if data is None:
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        executable = relative == pathlib.PurePosixPath(_layout.SCRIPT_FILE)
        _atomic.atomic_write(target, data, mode=0o755 if executable else 0o644, durable=False)


def _empty_target(directory: pathlib.Path) -> list[pathlib.Path]:
    """Check that ``directory`` is absent or empty; return the folders we must create."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise _errors.ConfigError("exists and is not an empty folder; choose a new DIR",
                                  source=f"argument DIR {str(directory)!r}")
    missing = [p for p in [directory, *directory.parents] if not p.exists()]
    return missing


def import_bundle(bundle: str | os.PathLike[str], directory: str | os.PathLike[str]
                  ) -> ImportResult:
    """Unpack ``bundle`` into the new set folder ``directory``, re-root it there (script.sh
    is regenerated for Python experiments) and remember it in the user's config.

    Every member is checked first (``_sets.bundle_members``): only the files fexp writes
    into a bundle are accepted, each at most ``limits.MAX_BUNDLE_MEMBER`` bytes; absolute
    paths, ``..``, links and devices are refused. Nothing in the bundle is imported or
    unpickled: help texts come from its defaults.yml.

    Raises:
        ConfigError: the bundle is missing, unreadable, unsafe or not an fexp bundle, or
            ``directory`` is not empty; nothing is written then.
    """
    from ._expset import ExperimentSet
    from ._sets import bundle_members

    bundle = pathlib.Path(bundle)
    root = pathlib.Path(directory).absolute()
    contents = bundle_members.read_members(bundle)
    manifest = _check_contents(bundle, contents)
    created = _empty_target(root)
    for folder in reversed(created[1:]):
        folder.mkdir()
    staging = pathlib.Path(tempfile.mkdtemp(prefix=".fexp-import-", dir=root.parent))
    try:
        _unpack(contents, staging)
        from . import _bundle_code

        code_ref = _bundle_code.install(staging, root, manifest,
                                        staging / _layout.GENERATED_DIR / IMPORTED_DIR)
        if root.exists():
            for child in staging.iterdir():
                child.rename(root / child.name)
            staging.rmdir()
        else:
            staging.rename(root)
        xs = ExperimentSet(root)
        xs.relink()
        if code_ref is not None:
            _bundle_code.point_at(xs, code_ref)
        names = list(xs.state()["experiments"])
        _config.add_set(xs.root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        _clear(root, remove=root in created)
        for folder in created[1:]:
            _remove_if_empty(folder)
        raise
    return ImportResult(root, names, manifest)


def _clear(root: pathlib.Path, *, remove: bool) -> None:
    if remove:
        shutil.rmtree(root, ignore_errors=True)
    elif root.is_dir():
        for child in root.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


def _remove_if_empty(folder: pathlib.Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def names_text(names: Iterable[str], limit: int = 5) -> str:
    """``a, b, c, ... (N in all)`` for summaries."""
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")
