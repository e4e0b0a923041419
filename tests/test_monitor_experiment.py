"""A Monitor inside a functional experiment, run through script.sh by `fexp run`."""

from __future__ import annotations

import pathlib
import subprocess
import textwrap
from collections.abc import Callable

from fexp import _yaml

Cli = Callable[..., subprocess.CompletedProcess[str]]

EXPERIMENT = textwrap.dedent(
    """
    import numpy as np
    import fexp
    from fexp.monitor import Monitor


    @fexp.experiment
    def fit(root: fexp.Root, epochs: int = 3, steps: int = 4):  # @p loop sizes
        m = Monitor(log="loss@2s", msg="loss@1e", msg_keep="min", sca="loss@1s",
                    ckpt="weights@1e", ckpt_keep=2)
        weights = {"w": np.zeros(3)}
        m.load(weights=weights)
        for epoch in m(range(epochs)):
            for batch in m(range(steps)):
                weights["w"] = weights["w"] + 1
                loss = 1.0 / (m.step + 1)
    """
)


def test_monitor_in_a_functional_experiment_through_script_sh(
    fexp_cli: Cli, tmp_path: pathlib.Path
) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (tmp_path / "fit.py").write_text(EXPERIMENT)
    root = tmp_path / "set"
    assert fexp_cli("init", f"{tmp_path / 'fit.py'}:fit", "-r", root).returncode == 0
    assert fexp_cli("link", "{epochs: 3}", "-r", root).returncode == 0
    result = fexp_cli("run", "-r", root)
    assert result.returncode == 0, result.stderr
    folder = root / "epochs=3"
    data = _yaml.read_mapping(folder / "params.yml")
    assert data["_status"] == "finished"
    assert data["_messages"]["loss"] == 1.0 / 12  # the minimum, messaged once per epoch
    out = (folder / "out.txt").read_text()
    assert "loss = " in out  # the Logger's lines are teed into out.txt
    events = EventAccumulator(str(folder))
    events.Reload()
    assert [e.step for e in events.Scalars("loss")] == list(range(1, 13))
    checkpoints = sorted(
        p.name for p in (folder / "checkpoints").iterdir() if not p.name.startswith(".")
    )
    assert len(checkpoints) == 2  # ckpt_keep=2
