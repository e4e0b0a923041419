"""Shared fixtures: an isolated FEXP_HOME and environment for every test, hostile paths."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
from collections.abc import Callable, Iterator

import pytest

pytest_plugins = ["tests.slurm_cluster"]


@pytest.fixture(autouse=True)
def clean_env(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[pathlib.Path]:
    """Give every test its own FEXP_HOME and strip SLURM_* so nothing leaks between tests."""
    home = tmp_path_factory.mktemp("fexp_home")
    monkeypatch.setenv("FEXP_HOME", str(home))
    for key in list(os.environ):
        if key.startswith("SLURM_") and key != "SLURM_CONF":
            monkeypatch.delenv(key, raising=False)
    yield home


@pytest.fixture
def weird_path(tmp_path: pathlib.Path) -> pathlib.Path:
    """A folder whose name has spaces, quotes, a `; rm` and a newline."""
    path = tmp_path / "we ird 'q' \"dq\" ; rm -rf x $(echo pwn)\nline"
    path.mkdir()
    return path


EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def fexp_cli(clean_env: pathlib.Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the installed ``fexp`` console script in a subprocess, as a user would."""
    exe = shutil.which("fexp")
    assert exe, "the fexp console script is not installed (pip install -e .)"

    def run(
        *args: object, cwd: pathlib.Path | None = None, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [exe, *(str(a) for a in args)],
            capture_output=True,
            text=True,
            cwd=cwd,
            input=input,
            env=dict(os.environ),
            timeout=300,
        )

    return run
