"""The end-to-end demo the README's first command runs: a 6-configuration sweep, run, listed.

    python examples/sweep_demo.py [FOLDER]      # default: ./fexp-demo (re-created each time)

Each step is the `fexp` command a user would type; the result is a table of the sweep
sorted by final loss, with a sparkline of each loss curve.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent


def fexp(*args: str) -> None:
    print(f"\n$ fexp {' '.join(args)}", flush=True)
    result = subprocess.run([sys.executable, "-m", "fexp", *args])
    if result.returncode != 0:
        sys.exit(result.returncode)


def main() -> None:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "fexp-demo").absolute()
    if root.exists():
        shutil.rmtree(root)
    fexp("init", f"{HERE / 'train_numpy.py'}:train_numpy", "-r", str(root),
         "--purpose", "which learning rate and width fit sin(3x) best?")
    fexp("link", "{lr: 0.01 | 0.05 | 0.2, hidden: 8 | 32, epochs: 60}", "-r", str(root))
    fexp("run", "*", "-r", str(root), "--jobs", "2", "--no-progress")
    fexp("list", "-r", str(root), "--sort", "loss", "-m", "loss", "--spark", "loss")
    print(f"\nThe experiments are in {root}; each folder holds params.yml, out.txt, "
          "messages.jsonl and checkpoints/.")


if __name__ == "__main__":
    main()
