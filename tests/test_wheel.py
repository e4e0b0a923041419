"""The newcomer path: build the wheel, install it in a fresh virtualenv, use it from there."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import venv

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_installs_and_runs_in_a_fresh_virtualenv(tmp_path: pathlib.Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(REPO)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    wheel = next(dist.glob("fexp-*.whl"))
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    for template in ("script.sh.j2", "defaults.yml.j2", "sbatch.sh.j2", "report.html.j2"):
        assert f"fexp/templates/{template}" in names
    for static in ("index.html", "app.js", "charts.js", "app.css"):  # the fexp ui page
        assert f"fexp/_views/ui/static/{static}" in names

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
        check=True,
        timeout=900,
    )
    env = {**os.environ, "FEXP_HOME": str(tmp_path / "home"), "PYTHONPATH": ""}
    work = tmp_path / "work"  # outside the checkout: templates must come from the wheel
    work.mkdir()
    shutil.copy(REPO / "examples" / "hello_world.py", work / "hello_world.py")

    where = subprocess.run(
        [
            str(python),
            "-c",
            "import fexp, fexp._render as r; print(fexp.__file__); print(r.template_dir())",
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
    )
    package_file, templates = where.stdout.split()
    assert package_file.startswith(str(env_dir)) and templates.startswith(str(env_dir))

    fexp = env_dir / "bin" / "fexp"
    result = subprocess.run(
        [str(fexp), "--help"], capture_output=True, text=True, cwd=work, env=env
    )
    assert result.returncode == 0 and "link" in result.stdout
    for args in (
        ["init", "hello_world.py:hello_world", "-r", "set"],
        ["link", "{to: Wheel | Venv}", "-r", "set"],
        ["run", "-r", "set"],
    ):
        result = subprocess.run(
            [str(fexp), *args], capture_output=True, text=True, cwd=work, env=env, timeout=120
        )
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    assert "Hello Wheel!" in result.stdout and "ran 2: 2 finished" in result.stdout
    script = (work / "set" / "script.sh").read_text()
    assert str(python.parent) in script  # the venv's interpreter runs the experiments
