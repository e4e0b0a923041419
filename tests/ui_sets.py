"""Sets and a running ``fexp ui`` for the dashboard tests and benchmarks.

``demo_set`` builds a real set with the installed ``fexp`` (init, link, run --fork): a sweep
over lr x width x seed whose experiments log loss/acc curves, plus one hand-made folder with
a hostile name (fexp itself refuses such names, but a shared set is writable by others).
``UiServer`` starts ``fexp ui`` in a subprocess and reads the URL it prints.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

HOSTILE = '<img src=x onerror="window.__pwned=1">'
TRAIN = '''
import math, pathlib, time
import fexp


@fexp.experiment
def train(root: fexp.Root, lr: float = 0.01, width: int = 32, seed: int = 0, steps: int = 40,
          wait: str = "", live_key: str = "live"):
    """A tiny training run: a loss curve per step.

    lr: the learning rate
    """
    rate = lr * 20 * (1 + width / 128)
    for s in range(steps):
        loss = math.exp(-rate * s / steps * 10) + 0.02 * seed + 8 / width
        root.message({"loss": loss, "acc": 1 - loss / 3}, step=s)
        print(f"step {s} loss {loss:.4f}", flush=True)
    if seed == 1:
        root.message({"tag": "<script>window.__pwned=2</script>"})
    if wait:  # live tests: message {live_key: 42.5 + k} once `go{k}` exists, until `stop`
        folder = pathlib.Path(wait)
        deadline, k = time.time() + 300, 0
        while not (folder / "stop").exists() and time.time() < deadline:
            if (folder / f"go{k}").exists():
                root.message({live_key: 42.5 + k}, step=steps + k)
                print("live message sent", flush=True)
                k += 1
            time.sleep(0.02)
'''


def fexp_exe() -> str:
    """The installed ``fexp`` script (beside this interpreter, else on PATH)."""
    from tests.conftest import installed_fexp

    return installed_fexp()


def run_fexp(*args: object, cwd: pathlib.Path | None = None) -> str:
    done = subprocess.run(
        [fexp_exe(), *(str(a) for a in args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=dict(os.environ),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def demo_set(
    base: pathlib.Path, sweep: str = "{lr: 0.1 | 0.01 | 0.001, width: 32 | 128}", repeats: int = 2
) -> pathlib.Path:
    """A finished sweep (x ``repeats`` seeds) plus a hostile hand-made experiment folder."""
    (base / "train.py").write_text(TRAIN, encoding="utf-8")
    root = base / "sweep"
    run_fexp("init", f"{base / 'train.py'}:train", "-r", root, "--purpose", "ui demo <b>set</b>")
    seeds = " | ".join(str(i) for i in range(repeats))
    run_fexp("link", sweep[:-1] + f", seed: {seeds}}}", "-r", root)
    run_fexp("run", "*", "-r", root, "--fork", "-j", "2")
    add_hostile(root)
    return root


def make_demo(factory: Any, name: str) -> tuple[pathlib.Path, dict[str, str]]:
    """``demo_set`` in a fresh folder of a pytest ``tmp_path_factory``, with its own
    FEXP_HOME; returns the set and the environment to run ``fexp`` against it."""
    import pytest

    base = factory.mktemp(name)
    env = {"FEXP_HOME": str(base / "home")}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FEXP_HOME", env["FEXP_HOME"])
        return demo_set(base), env


def add_hostile(root: pathlib.Path) -> str:
    """Register a copy of the first experiment under a name that is an HTML tag."""
    first = sorted(p for p in root.iterdir() if (p / "params.yml").exists())[0]
    shutil.copytree(first, root / HOSTILE)
    state = root / "experiment.yml"
    # A set's linked names may still be in its journal (experiment.yml says ``{}``).
    text = state.read_text(encoding="utf-8").replace("experiments: {}\n", "experiments:\n")
    entry = f"experiments:\n  {json.dumps(HOSTILE)}: {{}}\n"
    state.write_text(text.replace("experiments:\n", entry), encoding="utf-8")
    return HOSTILE


class UiServer:
    """``fexp ui ARGS --port 0`` in a subprocess; ``url`` is what it printed."""

    def __init__(self, *args: object, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [fexp_exe(), "ui", *(str(a) for a in args), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        assert self.process.stdout is not None
        self.lines: list[str] = []
        self.url = ""
        for line in self.process.stdout:
            self.lines.append(line)
            match = re.search(r"fexp ui at (http://\S+)", line)
            if match:
                self.url = match.group(1)
                break
        if not self.url:
            self.process.wait(timeout=30)
            error = self.process.stderr.read() if self.process.stderr else ""
            self.stop()
            raise AssertionError(f"fexp ui did not start: {self.lines} {error}")
        self.base = self.url.split("?")[0]
        self.token = self.url.split("token=")[1] if "token=" in self.url else None

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        """GET ``path`` (relative to the server) -> (status, body text)."""
        return request(self.base + path.lstrip("/"), headers=headers)

    def json(self, path: str) -> Any:
        status, body = self.get(path, self._auth())
        assert status == 200, body
        return json.loads(body)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


def request(
    url: str,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    method: str | None = None,
) -> tuple[int, str]:
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def wait_for(check: Any, timeout: float = 30.0) -> Any:
    """Poll ``check()`` until it returns something truthy (a test's timeout, not an assert)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


PYTHON = sys.executable
