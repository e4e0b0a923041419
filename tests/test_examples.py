"""Every example in examples/ and every snippet of the README runs, as a user would run it."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

from fexp import _yaml

REPO = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


def run(argv: list[str], cwd: pathlib.Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=dict(os.environ)
    )
    assert result.returncode == 0, f"{argv}\n{result.stdout}\n{result.stderr}"
    return result


def readme_blocks(language: str) -> list[str]:
    text = (REPO / "README.md").read_text()
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def test_readme_shows_exactly_two_setup_commands() -> None:
    setup = readme_blocks("bash")[:2]
    assert [b.strip() for b in setup] == [
        "pip install . && python examples/sweep_demo.py",
        'pip install -e ".[test]" && pytest',
    ]
    ci = (REPO / ".ci" / "run").read_text()
    assert 'pip install -e ".[test]" && pytest' in ci


def test_readme_tour(tmp_path: pathlib.Path) -> None:
    """The train.py snippet, its CLI, the bash tour and the Python snippets, in order."""
    train, python_api, monitor = readme_blocks("python")
    (tmp_path / "train.py").write_text(train)
    (tmp_path / "examples").symlink_to(EXAMPLES)
    out = run([sys.executable, "train.py", "--help"], tmp_path).stdout
    assert "--lr" in out and "learning rate" in out
    run([sys.executable, "train.py", "--lr", "0.01", "-r", "runs"], tmp_path)
    assert _yaml.read_mapping(tmp_path / "runs" / "lr=0.01" / "params.yml")["_status"] == "finished"

    tour = readme_blocks("bash")[2]
    result = run(["bash", "-euo", "pipefail", "-c", tour], tmp_path, timeout=600)
    assert "ran 24: 24 finished" in result.stdout
    assert (tmp_path / "report.html").stat().st_size > 1000
    rows = list((tmp_path / "sweep").iterdir())
    assert len([r for r in rows if (r / "params.yml").is_file()]) == 24
    assert len(list((tmp_path / "sweep" / "environments").iterdir())) == 1  # one environment

    run([sys.executable, "-c", python_api], tmp_path)
    run([sys.executable, "-c", monitor], tmp_path)


def test_hello_world_functional_and_class(tmp_path: pathlib.Path) -> None:
    out = run(
        [
            sys.executable,
            str(EXAMPLES / "hello_world.py"),
            "--to",
            "You",
            "--times",
            "2",
            "-r",
            str(tmp_path),
            "-n",
            "f",
        ],
        tmp_path,
    ).stdout
    assert out.count("Hello You!") == 2
    assert (tmp_path / "f" / "greeting.txt").read_text() == "Hello You!\n"
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import hello_world as h; "
        "e = h.HelloWorld(to='Class').register(sys.argv[2], 'c'); e()"
    )
    out = run([sys.executable, "-c", code, str(EXAMPLES), str(tmp_path)], tmp_path).stdout
    assert "Hello Class!" in out
    data = _yaml.read_mapping(tmp_path / "c" / "params.yml")
    assert data["_status"] == "finished" and data["_messages"] == {"length": 12}
    assert data["_version"]["class"] == "HelloWorld"


def test_train_numpy_resumes_to_the_same_result(tmp_path: pathlib.Path) -> None:
    script = str(EXAMPLES / "train_numpy.py")
    run([sys.executable, script, "--epochs", "20", "-r", str(tmp_path), "-n", "full"], tmp_path)
    stopped = subprocess.run(
        [
            sys.executable,
            script,
            "--epochs",
            "20",
            "--stop-after",
            "7",
            "-r",
            str(tmp_path),
            "-n",
            "cut",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert stopped.returncode == 128 + 10  # SIGUSR1
    assert _yaml.read_mapping(tmp_path / "cut" / "params.yml")["_status"] == "timeout"
    resumed = run(
        [sys.executable, script, "--execute", str(tmp_path / "cut" / "params.yml")], tmp_path
    ).stdout
    assert "resuming after epoch 7" in resumed
    full = _yaml.read_mapping(tmp_path / "full" / "params.yml")
    cut = _yaml.read_mapping(tmp_path / "cut" / "params.yml")
    assert cut["_status"] == "finished"
    assert cut["_messages"] == full["_messages"]  # bit-for-bit the same loss
    assert [a["status"] for a in cut["_attempts"]] == ["timeout", "finished"]
    checkpoints = sorted(
        p.name
        for p in (tmp_path / "cut" / "checkpoints").iterdir()
        if p.name.startswith("checkpoint_")
    )
    assert checkpoints == ["checkpoint_19", "checkpoint_20"]


@pytest.mark.slow
def test_sweep_demo(tmp_path: pathlib.Path) -> None:
    out = run(
        [sys.executable, str(EXAMPLES / "sweep_demo.py"), str(tmp_path / "demo")],
        tmp_path,
        timeout=600,
    ).stdout
    assert "ran 6: 6 finished" in out
    assert "lr=0.2__hidden=32__epochs=60" in out


def test_readme_tune(tmp_path: pathlib.Path) -> None:
    """README section 6: a study with pruning, continued, listed (real Optuna)."""
    pytest.importorskip("optuna")
    (tmp_path / "examples").symlink_to(EXAMPLES)
    block = next(b for b in readme_blocks("bash") if "fexp tune" in b)
    result = run(["bash", "-euo", "pipefail", "-c", block], tmp_path, timeout=600)
    assert "study: 10/10 trial(s)" in result.stdout
    names = sorted(p.name for p in (tmp_path / "tuned").glob("trial=*"))
    assert names == [f"trial={n:04d}" for n in range(10)]
    states = {
        _yaml.read_mapping(tmp_path / "tuned" / n / "params.yml")["_tune"]["state"] for n in names
    }
    assert states <= {"complete", "pruned"} and "complete" in states
