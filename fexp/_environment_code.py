"""The code half of a run's record: git's state of the tree and, when dirty, ``git.diff``.

The diff is against the commit at run start (tracked files; never one matched by
``.gitignore``), headed by the untracked source files. The snapshot is cached (with the
environment's, see ``_environment``) in ``$FEXP_HOME/cache`` under the tree's identity:
git's HEAD, index and refs, the stat of every tracked file and of the folders holding
tracked or untracked files. An unchanged tree costs some stats; a tree whose files were
only edited (same lists of files, index and ignore rules), one ``git diff``; else three git
processes run at once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import re
import time
from collections.abc import Iterable, Sequence
from typing import Any

from . import _atomic, _meta

CACHE_VERSION = 1
# Untracked files listed in git.diff (their contents are not recorded): source and config.
SOURCE_SUFFIXES = frozenset(
    ".py .pyx .pxd .pyi .ipynb .c .h .cc .cpp .hpp .cu .cuh .rs .go .jl .r .sh .toml .cfg "
    ".ini .yaml .yml .json".split()
)
MAX_UNTRACKED = 1000
STAT_LIMIT = 2_000  # tracked files; above, the cache keeps git's lists but asks for the diff
MAX_STAMPED = 10_000  # untracked files whose stat is part of the identity (.gitignore too)
# A file changed this close to the git run may not be in git's answer: do not cache that.
_RACY_NS = 100_000_000


def short_hash(data: bytes) -> str:
    """The 16 hex digits fexp names diffs and environments by."""
    return hashlib.sha256(data).hexdigest()[:16]


# --------------------------------------------------------------------------- code


@dataclasses.dataclass(frozen=True)
class CodeSnapshot:
    """The git state of the tree a run starts from."""

    repo: str
    branch: str | None
    remote: str | None
    commit: str | None
    dirty: bool
    untracked: list[str]
    diff: bytes  # git.diff's content; empty when the tree is clean with no untracked source

    @property
    def diff_hash(self) -> str | None:
        return short_hash(self.diff) if self.diff else None

    def record(self) -> dict[str, Any]:
        """``_version.git``: repo, branch, remote, commit, dirty (and diff: its hash)."""
        info: dict[str, Any] = {
            "repo": self.repo,
            "branch": self.branch,
            "remote": self.remote,
            "commit": self.commit,
            "dirty": self.dirty,
        }
        if self.diff:
            info["diff"] = self.diff_hash
        return info


def git_dirs(path: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path, pathlib.Path] | None:
    """``(top, gitdir, commondir)`` of the repository holding ``path``, found without git."""
    folder = path if path.is_dir() else path.parent
    for top in (folder, *folder.parents):
        dotgit = top / ".git"
        if dotgit.is_dir():
            gitdir = dotgit
        elif dotgit.is_file():  # a worktree or submodule: "gitdir: PATH"
            text = dotgit.read_text(encoding="utf-8", errors="replace").strip()
            if not text.startswith("gitdir:"):
                continue
            gitdir = (top / text[len("gitdir:") :].strip()).resolve()
        else:
            continue
        common = gitdir
        if (gitdir / "commondir").is_file():
            common = (gitdir / (gitdir / "commondir").read_text().strip()).resolve()
        return top, gitdir, common
    return None


def stat_key(path: str) -> tuple[int, ...]:
    """What identifies a file's version: mtime, size, inode, ctime; ``(-1,)`` if absent."""
    try:
        st = os.stat(path)
    except OSError:
        return (-1,)
    return (st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns)


def tree_stamp(
    dirs: tuple[pathlib.Path, pathlib.Path, pathlib.Path], files: Iterable[str]
) -> tuple[str, int]:
    """The tree's identity (a digest) and the newest modification time (ns) seen in it.

    ``files`` are paths relative to the top: every tracked file and the folders that hold
    tracked or untracked files (a new file changes its folder's time).
    """
    top, gitdir, common = dirs
    try:
        head = (gitdir / "HEAD").read_bytes()
    except OSError:
        head = b""
    own = [gitdir / "HEAD", gitdir / "index", common / "packed-refs", common / "info/exclude"]
    if head.startswith(b"ref: "):
        own.append(common / head[5:].strip().decode("utf-8", "replace"))
    keys = [head, *(stat_key(str(p)) for p in own)]
    base = f"{top}{os.sep}"
    keys.extend(stat_key(base + rel) for rel in files)
    newest = max((k[0] for k in keys if isinstance(k, tuple)), default=0)
    return hashlib.sha1(repr(keys).encode("utf-8", "surrogateescape")).hexdigest(), newest


_DIFF = ["diff", "HEAD", "--no-color", "--no-ext-diff", "--no-textconv", "--"]
_LIST_COMMANDS = {
    "files": ["ls-files", "-z", "-t", "--cached", "--others", "--exclude-standard"],
    "ignored": ["ls-files", "-z", "--cached", "--ignored", "--exclude-standard"],
}


def parse_ls_files(text: str) -> tuple[list[str], list[str]]:
    """``git ls-files -z -t --cached --others`` -> (tracked, untracked) paths.

    Example:
        >>> parse_ls_files("H a.py\\0? new.py\\0")
        (['a.py'], ['new.py'])
    """
    tracked: list[str] = []
    untracked: list[str] = []
    for field in text.split("\0"):
        if len(field) > 2:
            (untracked if field[0] == "?" else tracked).append(field[2:])
    return tracked, untracked


def _read_ref(gitdir: pathlib.Path, common: pathlib.Path, ref: str, depth: int = 0) -> str | None:
    """The commit a ref names, from its file or packed-refs (following symbolic refs)."""
    for folder in (gitdir, common):
        try:
            value = (folder / ref).read_text(encoding="utf-8").strip()
        except (OSError, ValueError):
            continue
        if value.startswith("ref: "):
            return _read_ref(gitdir, common, value[5:], depth + 1) if depth < 5 else None
        return value or None
    try:
        packed = (common / "packed-refs").read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None
    for line in packed.splitlines():
        sha, _, name = line.partition(" ")
        if name == ref:
            return sha
    return None


def head_state(gitdir: pathlib.Path, common: pathlib.Path) -> tuple[str | None, str | None]:
    """``(branch, commit)`` from HEAD, read without git (commit None before the first one)."""
    try:
        head = (gitdir / "HEAD").read_text(encoding="utf-8").strip()
    except (OSError, ValueError):
        return None, None
    if not head.startswith("ref: "):
        return None, head or None  # detached
    ref = head[5:]
    branch = ref[len("refs/heads/") :] if ref.startswith("refs/heads/") else None
    return branch, _read_ref(gitdir, common, ref)


def config_remote(common: pathlib.Path) -> str | None:
    """origin's URL (else the first remote's) from the repository's config file."""
    try:
        text = (common / "config").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    urls: dict[str, str] = {}
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            match = re.fullmatch(r'\[remote\s+"(.*)"\]', line)
            section = match.group(1) if match else None
        elif section is not None and re.match(r"url\s*=", line):
            urls.setdefault(section, line.split("=", 1)[1].strip())
    return urls.get("origin") or next(iter(urls.values()), None)


@dataclasses.dataclass(frozen=True)
class Listing:
    """git's lists of a tree: tracked files, untracked ones (not ignored), and the tracked
    files ``.gitignore`` matches (force-added: kept out of the diff)."""

    tracked: list[str]
    untracked: list[str]
    ignored: list[str]

    def identity_files(self) -> list[str]:
        """What the lists depend on besides git's own files: the folders and .gitignores."""
        everything = [*self.tracked, *self.untracked]
        ignores = [p for p in everything if os.path.basename(p) == ".gitignore"]
        return sorted(_folders(everything)) + ignores

    def content_files(self) -> list[str]:
        """What the diff depends on too: every tracked (and untracked) file."""
        return self.identity_files() + self.tracked + self.untracked[:MAX_STAMPED]


def _diff_command(ignored: Sequence[str]) -> list[str]:
    return [*_DIFF, *(f":(exclude,literal){p}" for p in ignored)]


def _ask_git(top: pathlib.Path, listing: Listing | None) -> tuple[Listing, str] | None:
    """The listing (when not given) and the diff against HEAD without ignored files: one git
    process when the listing is known, else three at once."""
    commands = {"diff": _diff_command(listing.ignored if listing else [])}
    if listing is None:
        commands.update(_LIST_COMMANDS)
    outputs = _meta.run_git_commands(str(top), commands)
    if outputs is None or any(code != 0 for key, (code, _) in outputs.items() if key != "diff"):
        return None
    if listing is None:
        tracked, untracked = parse_ls_files(outputs["files"][1])
        listing = Listing(tracked, untracked, [p for p in outputs["ignored"][1].split("\0") if p])
        if listing.ignored and outputs["diff"][1]:  # rare: force-added ignored files; again
            again = _meta.run_git_commands(str(top), {"diff": _diff_command(listing.ignored)})
            outputs["diff"] = again["diff"] if again else (1, "")
    code, diff = outputs["diff"]
    return listing, diff if code == 0 else ""


def _untracked_sources(paths: Sequence[str]) -> list[str]:
    found = [p for p in paths if os.path.splitext(p)[1].lower() in SOURCE_SUFFIXES]
    return sorted(found)[:MAX_UNTRACKED]


def _diff_file(top: pathlib.Path, commit: str | None, diff: str, untracked: list[str]) -> bytes:
    """git.diff: a ``#`` header (``git apply`` skips it) naming the untracked files, the diff."""
    head = [f"# fexp: working tree of {top} against commit {commit or '(none)'}"]
    if untracked:
        head.append("# untracked source files (not in this diff):")
        head.extend(f"#   {p}" for p in untracked)
    text = "\n".join(head) + "\n" + diff
    return text.encode("utf-8", "surrogateescape")


def _folders(paths: Iterable[str]) -> set[str]:
    folders = {"."}
    for path in paths:
        parent = os.path.dirname(path)
        while parent and parent not in folders:
            folders.add(parent)
            parent = os.path.dirname(parent)
    return folders


def _fresh_code(
    dirs: tuple[pathlib.Path, pathlib.Path, pathlib.Path], listing: Listing | None
) -> tuple[CodeSnapshot, Listing, int] | None:
    """Ask git (HEAD and the remote are read from files): the snapshot, the listing, and
    when git was asked."""
    top, gitdir, common = dirs
    if (common / "reftable").exists():
        return None  # refs only git can read: the run keeps the registration's git record
    started = time.time_ns()
    branch, commit = head_state(gitdir, common)
    asked = _ask_git(top, listing)
    if asked is None:
        return None
    listing, diff = asked
    diff = diff if commit is not None else ""
    untracked = _untracked_sources(listing.untracked)
    dirty = bool(diff) if commit is not None else bool(listing.tracked)
    snapshot = CodeSnapshot(
        repo=str(top),
        branch=branch,
        remote=config_remote(common),
        commit=commit,
        dirty=dirty,
        untracked=untracked,
        diff=_diff_file(top, commit, diff, untracked) if dirty or untracked else b"",
    )
    return snapshot, listing, started


def code_snapshot(path: pathlib.Path, cache: pathlib.Path | None = None) -> CodeSnapshot | None:
    """The git state of the repository holding ``path`` (None outside one or without git),
    from the cache in ``cache`` while the tree's identity is unchanged (and git asked only
    for the diff while the lists of files are)."""
    dirs = git_dirs(path.resolve())
    if dirs is None:
        return None
    cache_file = None
    listing = None
    if cache is not None:
        cache_file = cache / f"code-{short_hash(str(dirs[0]).encode('utf-8', 'replace'))}.json"
        hit, listing = _cached_code(cache_file, dirs)
        if hit is not None:
            return hit
    fresh = _fresh_code(dirs, listing)
    if fresh is None:
        return None
    snapshot, listing, started = fresh
    identity = listing.identity_files()
    # Past STAT_LIMIT tracked files, one git diff (stats in C) beats a stat per file here.
    content = listing.content_files() if len(listing.tracked) <= STAT_LIMIT else identity
    stamp, newest = tree_stamp(dirs, content)
    stamp = stamp if len(listing.tracked) <= STAT_LIMIT else ""
    if cache_file is not None and newest < started - _RACY_NS:
        record = dataclasses.asdict(snapshot)
        record["diff"] = snapshot.diff.decode("utf-8", "surrogateescape")
        data = {
            "version": CACHE_VERSION,
            "stamp": stamp,
            "content_files": content,
            "listing_stamp": tree_stamp(dirs, identity)[0],
            "identity_files": identity,
            "listing": dataclasses.asdict(listing),
            "snapshot": record,
        }
        write_cache(cache_file, data)
    return snapshot


def _cached_code(
    cache_file: pathlib.Path, dirs: tuple[pathlib.Path, pathlib.Path, pathlib.Path]
) -> tuple[CodeSnapshot | None, Listing | None]:
    """The cached snapshot while the tree is unchanged, else the cached listing while the
    lists of files are; ``(None, None)`` when neither holds."""
    data = read_cache(cache_file)
    try:
        if data is None:
            return None, None
        if data["stamp"] and tree_stamp(dirs, data["content_files"])[0] == data["stamp"]:
            record = dict(data["snapshot"])
            record["diff"] = str(record["diff"]).encode("utf-8", "surrogateescape")
            return CodeSnapshot(**record), None
        if tree_stamp(dirs, data["identity_files"])[0] == data["listing_stamp"]:
            return None, Listing(**data["listing"])
    except (KeyError, TypeError, ValueError):
        pass
    return None, None


def read_cache(path: pathlib.Path) -> dict[str, Any] | None:
    """A cache file's data; None when absent, unreadable or of another version."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    ok = isinstance(data, dict) and data.get("version") == CACHE_VERSION
    return data if ok else None


def write_cache(path: pathlib.Path, data: dict[str, Any]) -> None:
    """Write a cache file atomically; a failure only costs time later."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic.atomic_write(path, json.dumps(data), durable=False)
    except OSError:
        pass  # a cache that cannot be written only costs time
