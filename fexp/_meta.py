"""Snapshots of where an experiment runs: git, python, host, SLURM — for ``_version``/``_meta``.

Reads the environment and calls ``git``/``nvidia-smi``; never writes anything.
"""

from __future__ import annotations

import datetime
import functools
import getpass
import os
import pathlib
import sys
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from . import _errors

if TYPE_CHECKING:
    import subprocess

_GIT_TIMEOUT = 30.0
# Substrings of environment variable names whose values are never recorded.
SECRET_MARKERS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL", "AUTH")
REDACTED = "<redacted>"

# SLURM environment variables recorded in ``_meta.slurm``; ints where they count things.
_SLURM_VARS = {
    "job_id": "SLURM_JOB_ID",
    "array_job_id": "SLURM_ARRAY_JOB_ID",
    "array_task_id": "SLURM_ARRAY_TASK_ID",
    "job_name": "SLURM_JOB_NAME",
    "partition": "SLURM_JOB_PARTITION",
    "cluster": "SLURM_CLUSTER_NAME",
    "node": "SLURMD_NODENAME",
    "nodelist": "SLURM_JOB_NODELIST",
    "restart_count": "SLURM_RESTART_COUNT",
    "submit_dir": "SLURM_SUBMIT_DIR",
    "cpus_per_task": "SLURM_CPUS_PER_TASK",
    "gpus": "SLURM_GPUS",
}
_SLURM_INTS = frozenset(["array_task_id", "restart_count", "cpus_per_task"])
# The get_meta groups run_meta can add: platform and slurm are in every _meta already.
RUN_GROUPS = ("cpu", "memory", "disk", "conda", "network", "gpu", "environ")
_GPU_FIELDS = ("index", "name", "uuid", "memory.total", "memory.used", "utilization.gpu")


def now_iso() -> str:
    """Return the current local time as ISO 8601 with timezone, to the second.

    Example:
        >>> now_iso()  # doctest: +SKIP
        '2024-05-01T12:00:00+02:00'
    """
    stamp = datetime.datetime.fromtimestamp(time.time()).astimezone()
    return stamp.isoformat(timespec="seconds")


# --------------------------------------------------------------------------- git


def git_info(path: pathlib.Path, *, refresh: bool = False) -> dict[str, Any] | None:
    """Describe the git repository holding ``path``, or None outside one (or without git).

    Returns ``{"repo", "branch", "remote", "commit", "dirty"}``; ``branch`` is None on a
    detached HEAD, ``commit`` None before the first commit, ``remote`` is origin's URL
    (else the first remote's, else None). Untracked files do not make the tree dirty.
    Results are cached per resolved path for the life of the process; ``refresh=True``
    asks git again.
    """
    try:
        resolved = path.resolve()
    except OSError:
        return None
    folder = resolved if resolved.is_dir() else resolved.parent
    if refresh:
        _git_info_cached.cache_clear()
    info = _git_info_cached(str(folder))
    return dict(info) if info is not None else None


@functools.lru_cache(maxsize=256)
def _git_info_cached(folder: str) -> dict[str, Any] | None:
    commands = {
        "top": ["rev-parse", "--show-toplevel"],
        "status": ["status", "--porcelain=v2", "--branch", "--untracked-files=no"],
        "remotes": ["config", "--get-regexp", r"^remote\..*\.url$"],
    }
    outputs = run_git_commands(folder, commands)
    if outputs is None or outputs["top"][0] != 0 or outputs["status"][0] != 0:
        return None
    status = parse_git_status(outputs["status"][1])
    return {
        "repo": outputs["top"][1].removesuffix("\n"),
        "branch": status["branch"],
        "remote": parse_git_remotes(outputs["remotes"][1]),
        "commit": status["commit"],
        "dirty": status["dirty"],
    }


def run_git_commands(
    folder: str, commands: Mapping[str, list[str]]
) -> dict[str, tuple[int, str]] | None:
    """Run the git commands concurrently in ``folder``; None when git is unavailable.

    Returns ``{key: (exit code, stdout)}``; stdout is decoded with ``surrogateescape``, so
    ``out.encode("utf-8", "surrogateescape")`` gives git's bytes back.
    """
    import subprocess

    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
    procs: dict[str, subprocess.Popen[str]] = {}
    try:
        for key, args in commands.items():
            procs[key] = subprocess.Popen(
                ["git", *args],
                cwd=folder,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                encoding="utf-8",
                errors="surrogateescape",
            )
        # communicate() drains each pipe, so a long `git status` cannot fill it and block.
        outputs = {key: proc.communicate(timeout=_GIT_TIMEOUT)[0] for key, proc in procs.items()}
        return {key: (procs[key].returncode, out) for key, out in outputs.items()}
    except (OSError, subprocess.TimeoutExpired):
        return None
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def parse_git_status(text: str) -> dict[str, Any]:
    """Parse ``git status --porcelain=v2 --branch`` into ``{"branch", "commit", "dirty"}``.

    Example:
        >>> parse_git_status("# branch.oid abc\\n# branch.head main\\n1 .M N... x\\n")
        {'branch': 'main', 'commit': 'abc', 'dirty': True}
    """
    branch: str | None = None
    commit: str | None = None
    dirty = False
    for line in text.splitlines():
        if line.startswith("# branch.oid "):
            oid = line[len("# branch.oid ") :].strip()
            commit = None if oid == "(initial)" else oid
        elif line.startswith("# branch.head "):
            head = line[len("# branch.head ") :].strip()
            branch = None if head == "(detached)" else head
        elif line and not line.startswith("#"):
            dirty = True
    return {"branch": branch, "commit": commit, "dirty": dirty}


def parse_git_remotes(text: str) -> str | None:
    """Pick origin's URL (else the first remote's) from ``git config --get-regexp`` output.

    Example:
        >>> parse_git_remotes("remote.up.url u\\nremote.origin.url o\\n")
        'o'
    """
    urls: dict[str, str] = {}
    for line in text.splitlines():
        key, _, url = line.partition(" ")
        name = key[len("remote.") : -len(".url")]
        if key.startswith("remote.") and key.endswith(".url") and url:
            urls.setdefault(name, url.strip())
    return urls.get("origin") or next(iter(urls.values()), None)


# --------------------------------------------------------------------------- versions


@functools.cache
def fexp_version() -> str:
    """Return the installed fexp version, or ``"0+unknown"`` when not installed."""
    from importlib import metadata

    try:
        return metadata.version("fexp")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def version_info(
    *,
    module: str,
    function: str | None = None,
    cls: str | None = None,
    path: pathlib.Path | None = None,
) -> dict[str, Any]:
    """Build the ``_version`` record: module, function or class, python, fexp, git.

    ``git`` describes the repository holding ``path`` (default: the module's file when
    the module is imported) and is omitted outside a repository.

    Raises:
        ValueError: both ``function`` and ``cls`` are given.
    """
    if function is not None and cls is not None:
        raise ValueError("give either function or cls, not both")
    info: dict[str, Any] = {"module": module}
    if function is not None:
        info["function"] = function
    if cls is not None:
        info["class"] = cls
    info["python"] = ".".join(str(v) for v in sys.version_info[:3])
    info["fexp"] = fexp_version()
    where = path if path is not None else _module_path(module)
    git = git_info(where) if where is not None else None
    if git is not None:
        info["git"] = git
    return info


def _module_path(module: str) -> pathlib.Path | None:
    file = getattr(sys.modules.get(module), "__file__", None)
    return pathlib.Path(file) if file else None


# --------------------------------------------------------------------------- host, slurm


def slurm_info(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the SLURM job this process runs in (from ``SLURM_*`` variables), or ``{}``.

    Example:
        >>> slurm_info({"SLURM_JOB_ID": "7", "SLURM_ARRAY_TASK_ID": "2"})
        {'job_id': '7', 'array_task_id': 2}
    """
    environ = os.environ if environ is None else environ
    if "SLURM_JOB_ID" not in environ:
        return {}
    info: dict[str, Any] = {}
    for key, var in _SLURM_VARS.items():
        value = environ.get(var)
        if value is None:
            continue
        is_count = key in _SLURM_INTS and value.isascii() and value.isdigit()
        info[key] = int(value) if is_count else value
    return info


@functools.cache
def _host_user_platform() -> tuple[str, str, str]:
    # Fixed for the life of the process (the pid is not: it changes in forked workers).
    return os.uname().nodename, _user(), _platform_name()


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no USER/LOGNAME (some containers)
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def _platform_name() -> str:
    # platform.platform() can read the interpreter binary (libc_ver); this stays cheap.
    uname = os.uname()  # what platform.system/release/machine return, without importing it
    return f"{uname.sysname}-{uname.release}-{uname.machine}"


def pid_alive(pid: object) -> bool:
    """Whether a process with this pid exists on this machine (a bad pid is not alive)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, but belongs to someone else
        return True
    return True


def run_meta(groups: Iterable[str] = ()) -> dict[str, Any]:
    """Build the ``_meta`` record of this process: host, user, platform, pid, python, slurm.

    ``slurm`` is present only inside a SLURM job. ``groups`` adds those groups of
    :func:`get_meta` (one of :data:`RUN_GROUPS`; the config's ``meta`` setting at run start);
    without them no subprocess is started.

    Raises:
        ConfigError: an unknown group.
    """
    wanted = list(groups)
    unknown = [g for g in wanted if g not in RUN_GROUPS]
    if unknown:
        raise _errors.ConfigError(
            f"unknown meta group(s) {', '.join(map(repr, unknown))}; choose from "
            f"{', '.join(RUN_GROUPS)} (host, platform and slurm are always recorded)",
            source="config 'meta'",
        )
    host, user, system = _host_user_platform()
    meta: dict[str, Any] = {
        "host": host,
        "user": user,
        "platform": system,
        "pid": os.getpid(),
        "python": sys.executable,
    }
    slurm = slurm_info()
    if slurm:
        meta["slurm"] = slurm
    if wanted:
        meta.update(get_meta(**dict.fromkeys(wanted, True)))
    return meta


# --------------------------------------------------------------------------- get_meta


def get_meta(
    *,
    platform: bool = False,
    cpu: bool = False,
    memory: bool = False,
    disk: bool = False,
    slurm: bool = False,
    conda: bool = False,
    network: bool = False,
    gpu: bool = False,
    environ: bool = False,
) -> dict[str, Any]:
    """Collect the requested groups of system information (xmen's ``get_meta``).

    Each group is a key of the result only when requested: ``platform``, ``cpu``,
    ``memory``, ``disk`` (of the current folder), ``slurm`` (``{}`` outside a job),
    ``conda`` (from ``CONDA_*``), ``network`` (interface addresses), ``gpu`` (a list, empty
    without ``nvidia-smi``) and ``environ`` (secrets redacted).

    Example:
        >>> sorted(get_meta(cpu=True, slurm=True))
        ['cpu', 'slurm']
    """
    groups = {
        "platform": (platform, _platform_meta),
        "cpu": (cpu, _cpu_meta),
        "memory": (memory, _memory_meta),
        "disk": (disk, _disk_meta),
        "slurm": (slurm, slurm_info),
        "conda": (conda, _conda_meta),
        "network": (network, _network_meta),
        "gpu": (gpu, gpu_info),
        "environ": (environ, redacted_environ),
    }
    return {name: collect() for name, (wanted, collect) in groups.items() if wanted}


def _platform_meta() -> dict[str, Any]:
    import platform as _platform
    import socket

    uname = _platform.uname()
    return {
        "system": uname.system,
        "release": uname.release,
        "version": uname.version,
        "machine": uname.machine,
        "host": socket.gethostname(),
        "python": _platform.python_version(),
        "implementation": _platform.python_implementation(),
        "executable": sys.executable,
    }


def _cpu_meta() -> dict[str, Any]:
    import psutil

    info: dict[str, Any] = {
        "logical": psutil.cpu_count(logical=True),
        "physical": psutil.cpu_count(logical=False),
    }
    if hasattr(os, "sched_getaffinity"):
        info["available"] = len(os.sched_getaffinity(0))
    if hasattr(os, "getloadavg"):
        info["load"] = [round(x, 2) for x in os.getloadavg()]
    return info


def _memory_meta() -> dict[str, Any]:
    import psutil

    virtual = psutil.virtual_memory()
    swap = psutil.swap_memory()
    return {
        "total": virtual.total,
        "available": virtual.available,
        "percent": virtual.percent,
        "swap_total": swap.total,
        "swap_used": swap.used,
    }


def _disk_meta() -> dict[str, Any]:
    import psutil

    usage = psutil.disk_usage(os.getcwd())
    return {
        "path": os.getcwd(),
        "total": usage.total,
        "used": usage.used,
        "free": usage.free,
        "percent": usage.percent,
    }


def _network_meta() -> dict[str, Any]:
    import socket

    import psutil

    addresses = {
        name: sorted(a.address for a in addrs if a.family in (socket.AF_INET, socket.AF_INET6))
        for name, addrs in sorted(psutil.net_if_addrs().items())
    }
    return {"host": socket.gethostname(), "interfaces": addresses}


def _conda_meta() -> dict[str, str]:
    prefix = "CONDA_"
    return {
        key[len(prefix) :].lower(): value
        for key, value in sorted(os.environ.items())
        if key.startswith(prefix)
    }


def redacted_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return a sorted copy of the environment with secret-looking values redacted.

    A variable is secret when its name contains one of ``SECRET_MARKERS``
    (``TOKEN``, ``SECRET``, ``PASSWORD``, ``KEY``, ...), case-insensitively.
    """
    environ = os.environ if environ is None else environ
    return {
        key: REDACTED if any(m in key.upper() for m in SECRET_MARKERS) else value
        for key, value in sorted(environ.items())
    }


def gpu_info() -> list[dict[str, Any]]:
    """Query ``nvidia-smi`` for the GPUs of this machine; ``[]`` without it or on failure."""
    import shutil
    import subprocess

    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    query = f"--query-gpu={','.join(_GPU_FIELDS)}"
    try:
        done = subprocess.run(
            [exe, query, "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return parse_nvidia_smi(done.stdout) if done.returncode == 0 else []


def parse_nvidia_smi(text: str) -> list[dict[str, Any]]:
    """Parse ``nvidia-smi --query-gpu=index,name,uuid,memory.total,memory.used,
    utilization.gpu --format=csv,noheader,nounits`` output, one dict per GPU.

    Memory is in MiB, utilization in percent; ``[N/A]``-style fields become None.

    Example:
        >>> parse_nvidia_smi("0, Tesla T4, GPU-1, 15360, 3, 0\\n")[0]["memory_total"]
        15360
    """
    gpus = []
    for line in text.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < len(_GPU_FIELDS):
            continue
        # Only the name may contain commas: take the other fields from both ends.
        index, uuid, numbers = fields[0], fields[-4], fields[-3:]
        record: dict[str, Any] = {
            "index": _nvidia_value(index),
            "name": ", ".join(fields[1:-4]),
            "uuid": uuid,
        }
        for name, value in zip(_GPU_FIELDS[3:], numbers, strict=True):
            record[name.replace(".", "_")] = _nvidia_value(value)
        gpus.append(record)
    return gpus


def _nvidia_value(text: str) -> int | float | str | None:
    if not text or text.startswith("[") or text in ("N/A", "Not Supported"):
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text
