"""Shared fixtures: an isolated FEXP_HOME and environment for every test, hostile paths."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, settings

pytest_plugins = ["tests.slurm_cluster"]

# Shared 2-core machines (developers' and CI's) are often loaded: a generation that takes a
# second there is load, not a slow strategy. Deadlines and the too-slow check would fail a
# fresh clone for no fault of the code, so both profiles drop them; CI runs fewer examples.
settings.register_profile(
    "dev", deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.register_profile("ci", parent=settings.get_profile("dev"), print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def installed_fexp() -> str:
    """The ``fexp`` console script beside this interpreter (an unactivated venv), else on PATH."""
    beside = pathlib.Path(sys.executable).with_name("fexp")
    found = str(beside) if beside.exists() else shutil.which("fexp")
    assert found, "the fexp console script is not installed (pip install -e .)"
    return found


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
    exe = installed_fexp()

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
