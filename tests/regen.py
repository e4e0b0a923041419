"""Regenerate the golden files in tests/golden/: ``python -m tests.regen`` (then review the diff).

Tests compare against these files and never create them. Each entry of ``GOLDENS`` maps a
file name in tests/golden/ to a function returning its expected text; ``DELEGATES`` names
test modules whose own ``main()`` rewrites their golden files.
"""

from __future__ import annotations

import importlib
import pathlib
from collections.abc import Callable
from typing import Any

from fexp import _params, _render

GOLDEN_DIR = pathlib.Path(__file__).parent / "golden"

VERSION: dict[str, Any] = {
    "module": "examples.train",
    "function": "train",
    "python": "3.11.7",
    "fexp": "0.1.0",
    "git": {
        "repo": "/home/ada/project",
        "branch": "main",
        "remote": "git@example.org:ada/project.git",
        "commit": "0123456789abcdef0123456789abcdef01234567",
        "dirty": False,
    },
}

SPECS = [
    _params.ParamSpec("lr", float, 1e-3, "learning rate"),
    _params.ParamSpec("epochs", int, 10, "number of epochs; a help text may\ncontinue"),
    _params.ParamSpec("layers", list[int], [64, 64], "hidden sizes"),
    _params.ParamSpec("dataset", str, "mnist", "dataset name"),
    _params.ParamSpec("tag", str | None, None, ""),
    _params.ParamSpec("mode", str, "yes", "a string YAML 1.1 would read as a bool"),
    _params.ParamSpec("eps", float, 1e-8, "a float whose repr has no dot"),
]


def defaults_yml() -> str:
    return _render.render_defaults(
        SPECS, version=VERSION, description="Train a small model.\n\nOn MNIST by default."
    )


def params_yml() -> str:
    special = {
        "_status": "finished",
        "_name": "lr=0.01__epochs=10",
        "_root": "/home/ada/runs/train",
        "_purpose": "compare: learning rates",
        "_created": "2024-05-01T12:00:00+02:00",
        "_registered": "2024-05-01T12:00:01+02:00",
        "_started": "2024-05-01T12:00:02+02:00",
        "_stopped": "2024-05-01T12:10:00+02:00",
        "_last": "2024-05-01T12:09:59+02:00",
        "_messages": {"loss": 0.125, "acc": 0.97, "note": "best so far"},
        "_notes": ["first try", "lr: too high?"],
        "_version": VERSION,
        "_meta": {
            "host": "node01",
            "user": "ada",
            "platform": "Linux-6.1.0-x86_64",
            "pid": 4242,
            "python": "/usr/bin/python3",
            "slurm": {"job_id": "1234", "array_task_id": 3, "node": "node01"},
        },
        "_requeues": 1,
    }
    params = {spec.name: _params.to_plain(spec.default) for spec in SPECS}
    params["lr"] = 0.01
    helps = {spec.name: spec.help for spec in SPECS}
    return _render.render_params(special, params, helps)


def _script(dirty: bool) -> str:
    return _render.render_script(
        ref="examples.train:train",
        python="/opt/conda/envs/ml env/bin/python",
        pythonpath=["/home/ada/project", "/home/ada/lib dir"],
        git={**VERSION["git"], "dirty": dirty},
        header_lines=["#SBATCH --time=1:00:00", "#SBATCH --gres=gpu:1"],
        env={"OMP_NUM_THREADS": "1", "WANDB_MODE": "offline mode"},
        generated_on="2024-05-01T12:00:00+02:00",
    )


def script_sh() -> str:
    return _script(dirty=False)


def script_dirty_sh() -> str:
    return _script(dirty=True)


def script_minimal_sh() -> str:
    return _render.render_script(
        ref="train.py:train",
        python="/usr/bin/python3",
        pythonpath=[],
        git=None,
        generated_on="2024-05-01T12:00:00+02:00",
    )


GOLDENS: dict[str, Callable[[], str]] = {
    "defaults.yml": defaults_yml,
    "params.yml": params_yml,
    "script.sh": script_sh,
    "script_dirty.sh": script_dirty_sh,
    "script_minimal.sh": script_minimal_sh,
}


# Test modules that own golden files of their own expose a ``main()`` that rewrites them.
DELEGATES = ("tests.test_query",)


def main() -> None:
    GOLDEN_DIR.mkdir(exist_ok=True)
    for name, build in GOLDENS.items():
        path = GOLDEN_DIR / name
        data = build().encode("utf-8")
        old = path.read_bytes() if path.exists() else None
        path.write_bytes(data)
        print(f"{'unchanged' if old == data else 'rewrote'}: {path}")
    for module in DELEGATES:
        importlib.import_module(module).main()


if __name__ == "__main__":
    main()
