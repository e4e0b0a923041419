"""`fexp plot`, `fexp report`, `fexp list --spark` and `fexp tensorboard` through the installed
console script, with their error paths."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest

import fexp
from fexp import _registry

from .conftest import EXAMPLES, installed_fexp

Cli = Callable[..., subprocess.CompletedProcess[str]]
TRAIN = f"{EXAMPLES / 'train_numpy.py'}:train_numpy"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A set of 3 finished regressions with a loss history, plus one never run."""
    root = tmp_path_factory.mktemp("results") / "set"
    xs = fexp.ExperimentSet.init(root, TRAIN)
    xs.link("{lr: 0.05 | 0.1 | 0.2, epochs: 8}")
    assert xs.run().counts == {"finished": 3}
    xs.link("{lr: 0.3, epochs: 8}")  # registered, no history
    return root


def test_plot_in_the_terminal(fexp_cli: Cli, trained: pathlib.Path) -> None:
    result = fexp_cli("plot", "loss", "-r", trained)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("lr=")]
    assert len(lines) == 3
    assert all(re.search("[▁▂▃▄▅▆▇█]", line) for line in lines)
    assert "no history for 'loss': lr=0.3__epochs=8" in result.stdout


def test_plot_to_svg_has_one_line_per_experiment(fexp_cli: Cli, trained: pathlib.Path,
                                                 tmp_path: pathlib.Path) -> None:
    out = tmp_path / "loss.svg"
    result = fexp_cli("plot", "loss", "-r", trained, "-o", out)
    assert result.returncode == 0, result.stderr
    tree = ET.parse(out)
    ids = {el.get("id") for el in tree.iter() if (el.get("id") or "").startswith("fexp-line")}
    assert len(ids) == 3
    png = tmp_path / "loss.png"
    assert fexp_cli("plot", "loss", "-r", trained, "-o", png, "--x", "time").returncode == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plot", "los"], r"did you mean 'loss'"),
        (["plot", "loss", "nomatch*"], r"PATTERN|match"),
        (["plot", "loss", "lr=0.3*"], r"sent no messages"),
        (["plot", "loss", "-o", "{tmp}/x.jpg"], r"-o"),
        (["plot", "loss", "--x", "epochs"], r"--x"),
        (["plot", "loss", "--group-by", "lrr"], r"did you mean 'lr'"),
        (["report", "-r", "{tmp}/nowhere"], r"no experiment set"),
        (["list", "--spark", "loss", "-w", "lr<<1"], r"lr<<1"),
    ],
)
def test_result_commands_report_user_errors(fexp_cli: Cli, trained: pathlib.Path,
                                            tmp_path: pathlib.Path, args: list[str],
                                            message: str) -> None:
    filled = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "-r" not in filled:
        filled += ["-r", str(trained)]
    result = fexp_cli(*filled)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert re.search(message, result.stderr), result.stderr
    assert not (tmp_path / "x.jpg").exists()


def test_report_is_one_self_contained_file(fexp_cli: Cli, trained: pathlib.Path,
                                           tmp_path: pathlib.Path) -> None:
    out = tmp_path / "report.html"
    result = fexp_cli("report", "-r", trained, "-o", out)
    assert result.returncode == 0, result.stderr
    html = out.read_text()
    assert html.count('data-exp="') >= 3 and "<svg" in html
    assert not re.search(r"""(src|href)=["']https?://""", html)  # nothing fetched from outside


def test_list_spark_column(fexp_cli: Cli, trained: pathlib.Path) -> None:
    result = fexp_cli("list", "-r", trained, "--spark", "loss", "--csv")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.endswith("loss ~")
    sparks = [row.rsplit(",", 1)[1] for row in rows]
    assert sum(bool(re.fullmatch("[▁▂▃▄▅▆▇█]+", s)) for s in sparks) == 3  # 3 with history


@pytest.mark.slow
def test_tensorboard_command_serves_one_run_per_experiment(trained: pathlib.Path) -> None:
    pytest.importorskip("tensorboard")
    exe = installed_fexp()
    for folder in trained.iterdir():  # give every experiment an event file
        if (folder / "params.yml").exists():
            exp = _registry.resolve(TRAIN).from_params_file(folder / "params.yml")
            exp.summary_writer.add_scalar("x", 1.0, 0)
            exp.close()
    with subprocess.Popen([exe, "tensorboard", str(trained)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            url = re.search(r"https?://\S+", line)
            assert url, line
            runs: list[str] = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(runs) < 4:
                with urllib.request.urlopen(url[0].rstrip("/") + "/data/runs", timeout=10) as r:
                    runs = json.loads(r.read())
                time.sleep(0.5)
            assert sorted(runs) == sorted(p.name for p in trained.iterdir()
                                          if (p / "params.yml").exists())
        finally:
            proc.terminate()
            proc.communicate(timeout=30)
    # TensorBoard itself stopped with `fexp tensorboard` (no orphan keeps the port).
    port = int(url[0].rstrip("/").rsplit(":", 1)[1])
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/data/runs", timeout=5)
