"""Reading a bundle's members safely: only what ``fexp export`` writes, streamed, capped.

A bundle is untrusted input. Its members are read in one forward pass over the archive and
checked from their headers before any byte of their data is read: a member must be a plain
file or folder at a path fexp itself writes (``manifest.json``, ``README.md``,
``environment/{requirements.txt,info.json,git.diff}``, ``set/{script.sh,defaults.yml,
experiment.yml}`` and ``set/NAME/params.yml``), never ``..``, an absolute path, a link or a
device, at most ``limits.MAX_BUNDLE_MEMBER`` bytes (``limits.MAX_BUNDLE_TOTAL`` in all, and
``limits.MAX_BUNDLE_MEMBERS`` members). Nothing is unpickled, nothing is imported.
"""

from __future__ import annotations

import pathlib
import tarfile

from .. import _errors, _layout
from .._core import limits
from .._core import names as name_rules

MANIFEST = "manifest.json"
README = "README.md"
SET_PREFIX = "set"
ENV_PREFIX = "environment"
ENV_FILES = frozenset({"requirements.txt", "info.json", "git.diff"})
SET_FILES = frozenset({_layout.SCRIPT_FILE, _layout.DEFAULTS_FILE, _layout.SET_FILE})
Contents = dict[pathlib.PurePosixPath, bytes | None]


def bad(bundle: pathlib.Path, detail: str) -> _errors.ConfigError:
    """The one error every refused bundle gives (naming the bundle)."""
    return _errors.ConfigError(detail, source=f"bundle {str(bundle)!r}")


def _known(parts: tuple[str, ...], is_dir: bool) -> bool:
    """Whether a normalised member path is one fexp writes into a bundle."""
    if is_dir:
        return parts in ((SET_PREFIX,), (ENV_PREFIX,)) or (
            len(parts) == 2 and parts[0] == SET_PREFIX and _experiment_folder(parts[1])
        )
    if parts in ((MANIFEST,), (README,)):
        return True
    from .._bundle_code import MEMBERS as code_members  # exactly these, from --with-code

    if "/".join(parts) in code_members:
        return True
    if len(parts) == 2:
        return (parts[0] == ENV_PREFIX and parts[1] in ENV_FILES) or (
            parts[0] == SET_PREFIX and parts[1] in SET_FILES
        )
    return (
        len(parts) == 3
        and parts[0] == SET_PREFIX
        and _experiment_folder(parts[1])
        and parts[2] == _layout.PARAMS_FILE
    )


def _experiment_folder(name: str) -> bool:
    return (
        name_rules.stored_name_problem(name) is None
        and name not in SET_FILES
        and (name != _layout.GENERATED_DIR)
    )


def check_member(bundle: pathlib.Path, member: tarfile.TarInfo) -> pathlib.PurePosixPath:
    """The member's normalised path, once it is known to be a plain entry fexp writes."""
    name = member.name
    shown = limits.clip(repr(name))
    path = pathlib.PurePosixPath(name)
    if not name or name.startswith(("/", "\\")) or path.is_absolute() or ":" in path.parts[0]:
        raise bad(bundle, f"member {shown} has an absolute path; refusing to unpack it")
    if ".." in path.parts or "\\" in name or "\0" in name:
        raise bad(bundle, f"member {shown} points outside the bundle; refusing to unpack it")
    if not (member.isfile() or member.isdir()):
        kind = "a link" if member.issym() or member.islnk() else "a device or special file"
        raise bad(bundle, f"member {shown} is {kind}; a bundle holds only files and folders")
    parts = tuple(p for p in path.parts if p not in ("", "."))
    if not parts or not _known(parts, member.isdir()):
        raise bad(
            bundle,
            f"member {shown} is not part of an fexp bundle (only the files "
            "`fexp export` writes are accepted); refusing the whole bundle",
        )
    if member.size > limits.MAX_BUNDLE_MEMBER:
        raise bad(
            bundle,
            f"member {shown} is {member.size:,} bytes, more than the "
            f"{limits.MAX_BUNDLE_MEMBER:,} a bundle member may hold",
        )
    return pathlib.PurePosixPath(*parts)


def read_members(bundle: pathlib.Path) -> Contents:
    """Every member's contents (None for folders), checked one by one as they stream by.

    Raises:
        ConfigError: the file is missing, not a tar archive, or holds a refused member.
    """
    if not bundle.is_file():
        raise bad(bundle, "no such file; give the .tar.gz written by `fexp export`")
    contents: Contents = {}
    total = 0
    try:
        with tarfile.open(bundle, "r|*") as tar:
            for member in tar:
                path = check_member(bundle, member)
                if path in contents:
                    raise bad(bundle, f"member {str(path)!r} appears twice")
                total += member.size
                if total > limits.MAX_BUNDLE_TOTAL or len(contents) >= limits.MAX_BUNDLE_MEMBERS:
                    raise bad(
                        bundle,
                        f"the bundle holds more than {limits.MAX_BUNDLE_TOTAL:,} "
                        f"bytes or {limits.MAX_BUNDLE_MEMBERS:,} members",
                    )
                handle = tar.extractfile(member) if member.isfile() else None
                data = handle.read(limits.MAX_BUNDLE_MEMBER + 1) if handle else None
                contents[path] = data
    except (tarfile.TarError, EOFError, OSError, ValueError, MemoryError) as exc:
        detail = limits.clip(str(exc), 120)
        raise bad(
            bundle,
            f"not a readable tar archive ({detail}); give the .tar.gz written by `fexp export`",
        ) from None
    return contents
