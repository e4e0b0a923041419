"""Services started next to experiments: a TensorBoard over their folders, one run each.

``tensorboard_argv`` is pure; ``start_tensorboard`` launches the optional ``tensorboard``
package in a subprocess and waits until it answers.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import IO

from . import _errors

# logdir_spec separates runs with "," and a name from its path with the first ":".
_SPEC_ESCAPES = {"%": "%25", ",": "%2C", ":": "%3A"}
_FILE_ESCAPES = {"%": "%25", "/": "%2F", "\0": "%00"}


def encode_run_name(name: str, *, for_file: bool = False) -> str:
    """Escape ``name`` for ``--logdir_spec`` (``% , :``) or as a file name (``% /`` and a
    leading ``.``), with ``%XX`` codes.

    Example:
        >>> encode_run_name("lr=0.1,bs:32"), encode_run_name("a/b", for_file=True)
        ('lr=0.1%2Cbs%3A32', 'a%2Fb')
    """
    escapes = _FILE_ESCAPES if for_file else _SPEC_ESCAPES
    text = "".join(escapes.get(ch, ch) for ch in name)
    if for_file and text.startswith("."):
        return "%2E" + text[1:]
    return "%2F" + text[1:] if text.startswith("/") else text


def tensorboard_argv(
    runs: Mapping[str, pathlib.Path],
    *,
    port: int,
    host: str = "127.0.0.1",
    logdir: pathlib.Path | None = None,
) -> list[str]:
    """The command line of a TensorBoard showing each experiment folder as a run.

    Without ``logdir`` the runs are passed as ``--logdir_spec name:path,...`` (TensorBoard
    then shows a folder holding event files directly as ``name/.``). With ``logdir``, a
    folder of links made by :func:`link_runs`, TensorBoard reads that folder and shows each
    run under exactly its (file-name-escaped) name.

    Raises:
        ConfigError: no runs, or (without ``logdir``) a path containing a comma, which
            ``--logdir_spec`` cannot express.

    Example:
        >>> tensorboard_argv({"a": pathlib.Path("/x/a")}, port=6006)[-6:]
        ['--logdir_spec', 'a:/x/a', '--port', '6006', '--host', '127.0.0.1']
    """
    if not runs:
        raise _errors.ConfigError("no experiment folders to show in TensorBoard")
    prefix = [sys.executable, "-m", "tensorboard.main"]
    suffix = ["--port", str(port), "--host", host]
    if logdir is not None:
        return [*prefix, "--logdir", str(logdir), *suffix]
    specs = []
    for name, folder in runs.items():
        path = str(pathlib.Path(folder).absolute())
        if "," in path:
            raise _errors.ConfigError(
                f"TensorBoard cannot read a folder whose path contains a comma: {path!r}; "
                "rename it or link it from a path without commas",
                source=name,
            )
        specs.append(f"{encode_run_name(name)}:{path}")
    return [*prefix, "--logdir_spec", ",".join(specs), *suffix]


def link_runs(runs: Mapping[str, pathlib.Path], logdir: pathlib.Path) -> None:
    """Fill the empty folder ``logdir`` with one symlink per run, named after the run."""
    logdir.mkdir(parents=True, exist_ok=True)
    for name, folder in runs.items():
        (logdir / encode_run_name(name, for_file=True)).symlink_to(
            pathlib.Path(folder).absolute(), target_is_directory=True
        )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def start_tensorboard(
    runs: Mapping[str, pathlib.Path],
    port: int | None = None,
    host: str = "127.0.0.1",
    *,
    timeout: float = 60.0,
) -> tuple[subprocess.Popen[bytes], str]:
    """Launch TensorBoard over ``runs`` and wait until it answers; returns (process, url).

    The caller owns the process and must terminate it. TensorBoard reads a temporary folder
    of links to the runs (removed when this Python process exits), so every run is shown
    under its experiment's name.

    Raises:
        ConfigError: the ``tensorboard`` package is missing, or it exited or did not answer
            within ``timeout`` seconds (its output is in the message).

    Example:
        >>> proc, url = start_tensorboard({"exp": pathlib.Path("runs/exp")})  # doctest: +SKIP
        >>> proc.terminate()  # doctest: +SKIP
    """
    if importlib.util.find_spec("tensorboard") is None:
        raise _errors.ConfigError(
            "TensorBoard is not installed; install fexp[tensorboard] (pip install tensorboard)"
        )
    port = free_port(host) if port is None else port
    # TensorBoard reads a private folder of links, so each run shows under its own name.
    logdir = pathlib.Path(tempfile.mkdtemp(prefix="fexp-tensorboard-"))
    atexit.register(shutil.rmtree, logdir, True)
    link_runs(runs, logdir)
    argv = tensorboard_argv(runs, port=port, host=host, logdir=logdir)
    # Its output goes to an unnamed temporary file: a pipe nobody reads could fill and block it.
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT)
        url = f"http://{host}:{port}/"
        try:
            _wait_until_up(process, output, url + "data/runs", timeout)
        except BaseException:
            _stop(process)
            raise
    return process, url


def _wait_until_up(
    process: subprocess.Popen[bytes], output: IO[bytes], url: str, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output.seek(0)
            text = output.read().decode(errors="replace").strip()[-2000:]
            raise _errors.ConfigError(f"TensorBoard exited with code {process.returncode}: {text}")
        with contextlib.suppress(urllib.error.URLError, OSError):
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        time.sleep(0.2)
    raise _errors.ConfigError(f"TensorBoard did not answer on {url} within {timeout:g} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
