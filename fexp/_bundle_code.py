"""``fexp export --with-code``: the source in a bundle, and its safe unpacking on import.

Export adds three members: ``code/source.tar`` (``git archive`` of the recorded commit),
``code/git.diff`` (the dirty tree's changes, when any) and ``code/environment.txt`` (the
installed packages), plus a ``code`` entry in the manifest (commit, the experiment's
reference relative to the repository). Import unpacks the archive inside the new set
(``generated/bundle/code/src``), refusing links, absolute paths and ``..``, applies the
diff with ``git apply`` (a patch, never run), and points the set's reference there. Nothing
from the bundle is executed.
"""

from __future__ import annotations

import io
import os
import pathlib
import re
import subprocess
import tarfile
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import _atomic, _environment, _environment_code, _errors, _layout, _registry

if TYPE_CHECKING:
    from ._expset import ExperimentSet

PREFIX = "code"
SOURCE = f"{PREFIX}/source.tar"
DIFF = f"{PREFIX}/git.diff"
ENVIRONMENT = f"{PREFIX}/environment.txt"
MEMBERS = frozenset({SOURCE, DIFF, ENVIRONMENT})
SOURCE_DIR = "src"  # inside the imported set's generated/bundle/code/
MAX_SOURCE_BYTES = 512 * 1024 * 1024
MAX_SOURCE_FILES = 50_000


def _folder_of(ref: str, repo_hint: pathlib.Path) -> pathlib.Path:
    target, _ = _registry.split_reference(ref)
    return pathlib.Path(target).parent if target.endswith(".py") else repo_hint


def _recorded(xs: ExperimentSet, names: list[str]) -> dict[tuple[Any, ...], list[str]]:
    """The code states (repo, commit, diff hash, env hash) the runs among ``names`` recorded."""
    from ._store import environment_files as files

    states: dict[tuple[Any, ...], list[str]] = {}
    for name in names:
        _, record = files.load_record(xs.root / name)
        git = files.mapping(record.version.get("git"))
        if record.version.get("env") and git.get("commit"):
            key = (git.get("repo"), git["commit"], git.get("diff"), record.version["env"])
            states.setdefault(key, []).append(name)
    return states


def _code_state(
    xs: ExperimentSet, names: list[str], folder: pathlib.Path
) -> tuple[str, str, bytes, str]:
    """(repo, commit, git.diff, environment) to pack: the one the runs recorded, else now's."""
    from ._store import environment_files as files

    states = _recorded(xs, names)
    if len(states) > 1:
        groups = "; ".join(
            f"{k[1][:10]}{'+diff' if k[2] else ''}: {', '.join(v[:3])}" for k, v in states.items()
        )
        raise _errors.ConfigError(
            f"the experiments ran from {len(states)} different code or "
            f"environment states ({groups}); export each state's "
            "experiments in its own bundle",
            source="option --with-code",
        )
    if states:
        (((repo, commit, digest, env), group),) = states.items()
        diff = (xs.root / group[0] / _layout.DIFF_FILE).read_bytes() if digest else b""
        if digest and _environment_code.short_hash(diff) != digest:
            raise _errors.ConfigError(
                "git.diff no longer matches its recorded hash",
                source=str(xs.root / group[0] / _layout.DIFF_FILE),
            )
        text = files.read_environment(xs.root, env)
        return str(repo), str(commit), diff, text or _environment.environment_snapshot().text
    code = _environment_code.code_snapshot(folder.absolute()) if folder.exists() else None
    if code is None or code.commit is None:
        raise _errors.ConfigError(
            f"the experiment's code ({folder}) is not in a git repository "
            "with a commit; commit it, or export without --with-code",
            source="option --with-code",
        )
    return code.repo, code.commit, code.diff, _environment.environment_snapshot().text


def members(
    xs: ExperimentSet, names: list[str], repo_hint: pathlib.Path
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The bundle members and the manifest's ``code`` entry for experiments ``names``: the
    code and environment their runs recorded (all the same), else the current ones.

    Raises:
        ConfigError: the set runs a script; the code is not in a git repository with a
            commit; the runs recorded different states; ``git archive`` fails.
    """
    ref = xs.head().get("ref")
    if not ref:
        raise _errors.ConfigError(
            "this set runs a script, not Python code; export it without --with-code",
            source="option --with-code",
        )
    repo, commit, diff, environment = _code_state(xs, names, _folder_of(ref, repo_hint))
    archive = subprocess.run(
        ["git", "-C", repo, "archive", "--format=tar", commit],
        capture_output=True,
        timeout=300,
        check=False,
    )
    if archive.returncode != 0:
        detail = archive.stderr.decode("utf-8", "replace").strip()
        raise _errors.ConfigError(
            f"git archive of {commit} in {repo} failed: {detail}", source="option --with-code"
        )
    files = {SOURCE: archive.stdout, ENVIRONMENT: environment.encode("utf-8")}
    if diff:
        files[DIFF] = diff
    return files, {"commit": commit, "diff": bool(diff), "ref": _relative_ref(ref, repo)}


def _relative_ref(ref: str, repo: str) -> str:
    """``path/in/repo.py:attr`` for a file reference inside the repository; else ``ref``."""
    target, attr = _registry.split_reference(ref)
    if not target.endswith(".py"):
        return ref
    try:
        relative = pathlib.Path(target).resolve().relative_to(pathlib.Path(repo).resolve())
    except ValueError:
        return ref
    return f"{relative.as_posix()}:{attr}"


def _bad(detail: str) -> _errors.ConfigError:
    return _errors.ConfigError(detail, source=f"bundle member {SOURCE}")


def _safe_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """The archive's files and folders, once every one is known to stay inside; links are
    skipped (``git archive`` writes one per symlink in the repository)."""
    kept, total = [], 0
    for member in tar.getmembers():
        path = pathlib.PurePosixPath(member.name)
        if path.is_absolute() or ".." in path.parts or "\\" in member.name or "\0" in member.name:
            raise _bad(f"{member.name!r} points outside the source folder; refusing to unpack it")
        if any(part.lower() == ".git" for part in path.parts):
            raise _bad(f"{member.name!r} is inside a .git folder; refusing to unpack it")
        if member.isfile() or member.isdir():
            kept.append(member)
            total += member.size
        elif not (member.issym() or member.islnk()) and member.type != tarfile.XGLTYPE:
            raise _bad(f"{member.name!r} is a device or special file")
    if len(kept) > MAX_SOURCE_FILES or total > MAX_SOURCE_BYTES:
        raise _bad(
            f"the source holds {len(kept)} files of {total} bytes; more than fexp "
            f"unpacks ({MAX_SOURCE_FILES} files, {MAX_SOURCE_BYTES} bytes)"
        )
    return kept


def _extract(data: bytes, target: pathlib.Path) -> None:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for member in _safe_members(tar):
                path = target.joinpath(*pathlib.PurePosixPath(member.name).parts)
                if member.isdir():
                    path.mkdir(parents=True, exist_ok=True)
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                handle = tar.extractfile(member)
                content = handle.read() if handle is not None else b""
                _atomic.atomic_write(path, content, mode=0o644, durable=False)
    except (tarfile.TarError, EOFError, ValueError) as exc:
        raise _bad(f"not a readable tar archive ({exc})") from None


def _apply(diff: pathlib.Path, source: pathlib.Path) -> None:
    """Apply git.diff to the unpacked source (``git apply`` writes only below ``source``)."""
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(source.parent), "LC_ALL": "C"}
    env.pop("GIT_DIR", None)
    env.pop("GIT_WORK_TREE", None)
    try:
        done = subprocess.run(
            ["git", "apply", "--whitespace=nowarn", str(diff)],
            cwd=source,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except OSError as exc:
        raise _errors.ConfigError(
            f"cannot apply the bundle's {DIFF}: git is needed ({exc})",
            source=f"bundle member {DIFF}",
        ) from None
    if done.returncode != 0:
        raise _errors.ConfigError(
            f"{DIFF} does not apply to {SOURCE}: {done.stderr.strip()}",
            source=f"bundle member {DIFF}",
        )


def install(
    staging: pathlib.Path, root: pathlib.Path, manifest: Mapping[str, Any], unpacked: pathlib.Path
) -> str | None:
    """Unpack the source of an imported bundle (already in ``unpacked``, the staging copy of
    ``generated/bundle``) and apply its diff; return the reference the set must run once it
    sits in ``root`` (None when the bundle carries no code, or its reference is not a file
    inside the repository). Nothing is imported: :func:`point_at` sets the reference later."""
    code_dir = unpacked / PREFIX
    archive = code_dir / "source.tar"
    if not archive.is_file():
        return None
    source = code_dir / SOURCE_DIR
    source.mkdir()
    _extract(archive.read_bytes(), source)
    diff = code_dir / "git.diff"
    if diff.is_file() and b"\ndiff --git " in b"\n" + diff.read_bytes():  # not only a header
        _check_diff_paths(diff.read_bytes())
        _apply(diff, source)
    entry = manifest.get("code")
    ref = entry.get("ref") if isinstance(entry, dict) else None
    if not isinstance(ref, str) or ":" not in ref:
        return None
    target, attr = ref.rsplit(":", 1)
    relative = pathlib.PurePosixPath(target)
    safe = not relative.is_absolute() and ".." not in relative.parts
    if not (target.endswith(".py") and safe and all(p.isidentifier() for p in attr.split("."))):
        return None  # the reference stays as the bundle had it
    return f"{(root / source.relative_to(staging)).joinpath(*relative.parts)}:{attr}"


def point_at(xs: ExperimentSet, ref: str) -> None:
    """Make the imported set run ``ref`` (experiment.yml and script.sh); imports nothing."""
    from . import _scripts

    with xs.locked():
        state = xs.state()
        state["ref"] = ref
        xs._write_state(state)
        _scripts.write_script(xs.root, ref, env=state.get("env") or {})


_GIT_PATH = re.compile(r"(^|[/\\ ])\.git($|[/\\ ])", re.IGNORECASE)
_PATH_LINES = (b"diff --git ", b"--- ", b"+++ ", b"rename to ", b"copy to ")


def _check_diff_paths(data: bytes) -> None:
    """Refuse a diff that would write into a ``.git`` folder (git reads its config)."""
    for line in data.splitlines():
        if line.startswith(_PATH_LINES) and _GIT_PATH.search(line.decode("utf-8", "replace")):
            raise _errors.ConfigError(
                f"{DIFF} changes a path inside .git; refusing to apply it",
                source=f"bundle member {DIFF}",
            )


def imported_path(root: pathlib.Path) -> pathlib.Path:
    """Where an imported set keeps the bundle's source."""
    return root / _layout.GENERATED_DIR / "bundle" / PREFIX / SOURCE_DIR
