"""Exact resume after an interruption, without SLURM: real processes and real signals.

The model is numpy arrays that are REBOUND every step (``w = w + 1``), so a checkpoint of the
objects remembered at the last periodic save is stale; every step messages what it saw, so a
lost or repeated step shows in the history. Also: ``m.load`` in place, a missing step, the
wait limit of a held signal, and a spec that never fires.
"""

from __future__ import annotations

import os
import pathlib
import re
import signal
import subprocess
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import fexp
from fexp import _checkpoint, _errors, _layout, _messages, _runner, _yaml
from fexp.monitor import Monitor

Cli = Callable[..., subprocess.CompletedProcess[str]]
EPOCHS = 30

EXPERIMENT = """
import time
import numpy as np
import fexp
from fexp.monitor import Monitor


@fexp.experiment
def fit(root: fexp.Root, epochs: int = 30, delay: float = 0.05):  # @p one loop of epochs
    m = Monitor(ckpt="^w$@7s", log="^w$@1s", log_format=".0f")
    w = np.zeros(2)
    m.load(w=w)
    for epoch in m(range(epochs)):
        w = w + 1
        root.message({"w": float(w[0]), "epoch": epoch}, step=m.step + 1)
        time.sleep(delay)
    print(f"trained to step {m.step}")
"""


def _set(fexp_cli: Cli, tmp_path: pathlib.Path) -> pathlib.Path:
    (tmp_path / "fit.py").write_text(EXPERIMENT)
    root = tmp_path / "set"
    for args in (
        ("init", f"{tmp_path / 'fit.py'}:fit", "-r", root),
        ("link", f"{{epochs: {EPOCHS}}}", "-r", root),
    ):
        proc = fexp_cli(*args)
        assert proc.returncode == 0, proc.stderr
    return root


def _interrupt(root: pathlib.Path, folder: pathlib.Path, sig: int, after: int) -> int:
    """Run the experiment's script.sh and send ``sig`` once ``after`` steps are messaged."""
    proc = subprocess.Popen(
        ["bash", str(root / "script.sh"), str(folder / "params.yml")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while len(_messages.read(folder / _layout.MESSAGES_FILE)) < after:
            assert proc.poll() is None and time.monotonic() < deadline, "never got that far"
            time.sleep(0.02)
        proc.send_signal(sig)  # script.sh execs python: this is the experiment's process
        return proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize(
    ("sig", "status"),
    [(signal.SIGUSR1, "timeout"), (signal.SIGTERM, "stopped"), (signal.SIGINT, "stopped")],
)
def test_an_interrupted_loop_resumes_exactly(
    fexp_cli: Cli, tmp_path: pathlib.Path, sig: int, status: str
) -> None:
    root = _set(fexp_cli, tmp_path)
    folder = root / f"epochs={EPOCHS}"
    assert _interrupt(root, folder, sig, after=9) == 128 + sig
    data = _yaml.read_mapping(folder / _layout.PARAMS_FILE)
    assert data["_status"] == status
    resumed = fexp_cli("run", "-r", root, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert _yaml.read_mapping(folder / _layout.PARAMS_FILE)["_status"] == "finished"
    records = _messages.read(folder / _layout.MESSAGES_FILE)
    assert [r["step"] for r in records] == list(range(1, EPOCHS + 1))  # none lost, none twice
    assert [r["m"] for r in records] == [
        {"w": float(s), "epoch": s - 1} for s in range(1, EPOCHS + 1)
    ]
    out = (folder / "out.txt").read_text()
    counts = [int(c) for c in re.findall(rf"(\d+)/{EPOCHS}\]: w = ", out)]
    assert counts == list(range(1, EPOCHS + 1)), out  # the Logger never shows 31/30
    assert f"trained to step {EPOCHS}\n" in out


class _Rebinding(fexp.Experiment):
    """Rebinds ``w`` each step; the second step signals itself and then takes long."""

    def run(self) -> None:
        m = Monitor(ckpt="^w$@5s")
        w = np.zeros(1)
        for step in m(range(4)):
            w = w + 1
            if step == 1:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(float(os.environ.get("STEP_SECONDS", "0")))


def _run_rebinding(tmp_path: pathlib.Path) -> pathlib.Path:
    exp = _Rebinding()
    exp.register(tmp_path, "rebinding")
    with pytest.raises(_runner.Interrupted):
        exp()
    assert _yaml.read_mapping(tmp_path / "rebinding" / "params.yml")["_status"] == "stopped"
    return tmp_path / "rebinding" / _layout.CHECKPOINT_DIR


def test_a_held_signal_checkpoints_the_current_objects_at_the_step_end(
    tmp_path: pathlib.Path,
) -> None:
    folder = _run_rebinding(tmp_path)
    (record,) = _checkpoint.records(folder)
    assert record.step == 2 and _checkpoint.restore(folder)["w"].tolist() == [2.0]


def test_a_step_longer_than_the_wait_is_cut_short(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEXP_INTERRUPT_WAIT", "0.2")
    monkeypatch.setenv("STEP_SECONDS", "30")
    folder = _run_rebinding(tmp_path)
    # Saved in mid-step (step 1 done, the second update already made): the current objects.
    (record,) = _checkpoint.records(folder)
    assert record.step == 1 and _checkpoint.restore(folder)["w"].tolist() == [2.0]


def test_load_restores_dicts_lists_and_arrays_in_place(tmp_path: pathlib.Path) -> None:
    m = Monitor(tmp_path)
    m.checkpoint(weights={"w": np.arange(3.0)}, history=[1, 2], a=np.ones(2), n=5)
    weights: dict[str, Any] = {"w": np.zeros(3), "stale": 1}
    history: list[int] = []
    a = np.zeros(2)
    restored = Monitor(tmp_path).load(weights=weights, history=history, a=a, n=0)
    assert restored["weights"] is weights and weights["w"].tolist() == [0.0, 1.0, 2.0]
    assert "stale" not in weights
    assert restored["history"] is history and history == [1, 2]
    assert restored["a"] is a and a.tolist() == [1.0, 1.0]
    assert restored["n"] == 5  # a number cannot change in place: it is returned
    other = np.zeros(5)  # another shape: returned, the caller's array is left alone
    assert Monitor(tmp_path).load(a=other)["a"].tolist() == [1.0, 1.0] and not other.any()


def test_load_of_a_step_that_is_not_saved_is_an_error(tmp_path: pathlib.Path) -> None:
    m = Monitor(tmp_path, ckpt="^x$@2s", ckpt_keep=2)
    for x in m(range(8)):  # noqa: B007 - the specs select x
        pass
    for attempt in (True, False):
        with pytest.raises(
            _errors.ExperimentStateError,
            match=r"no checkpoint at step 2 to load: saved steps are 6, 8",
        ):
            Monitor(tmp_path).load(step=2, attempt=attempt, x=None)
    fresh = Monitor(tmp_path)
    assert fresh.load(step=6, x=None)["x"] == 5 and fresh.step == 6


def test_a_spec_that_can_never_fire_warns_once(tmp_path: pathlib.Path) -> None:
    m = Monitor(tmp_path, ckpt="^x$@1e", log="^x$@2s")
    with pytest.warns(RuntimeWarning, match=r"'\^x\$@1e' counts epochs.*never fires") as seen:
        for x in m(range(3)):
            assert len(seen) == (x > 0)  # as soon as the first pass shows the loops
        for x in m(range(3)):  # noqa: B007 - the specs select x
            pass
    assert len(seen) == 1
    nested = Monitor(tmp_path / "n", ckpt="^x$@1e")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # two wrapped loops count epochs: no warning
        for _ in nested(range(2)):
            for x in nested(range(2)):  # noqa: B007 - the specs select x
                pass
    assert nested.epoch == 2
