"""A small numpy regression that messages its loss, checkpoints every epoch, and resumes.

Re-running the same experiment folder (after a stop, a time limit or a crash) continues from
the last checkpoint instead of starting again:

    python examples/train_numpy.py --epochs 30 --stop-after 10 -r runs -n regression
    python examples/train_numpy.py --execute runs/regression/params.yml   # resumes at 11
    fexp init examples/train_numpy.py:train_numpy -r sweep
    fexp link "{lr: 0.01 | 0.1, hidden: 8 | 32}" -r sweep && fexp run -r sweep --jobs 2
"""

from __future__ import annotations

import os
import signal

import numpy as np

import fexp
from fexp import Root


@fexp.experiment
def train_numpy(
    root: Root,
    lr: float = 0.05,       # @p learning rate of plain gradient descent
    epochs: int = 30,       # @p passes over the data
    hidden: int = 16,       # @p width of the hidden layer
    samples: int = 256,     # @p size of the synthetic data set
    seed: int = 0,          # @p seed for data and initial weights
    stop_after: int = -1,   # @p send ourselves SIGUSR1 (a time limit) after this epoch;
                            #    -1 never
):
    """Fit y = sin(3x) with a one-hidden-layer tanh network in plain numpy."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(samples, 1))
    y = np.sin(3 * x)
    start = {
        "w1": rng.normal(0, 1, size=(1, hidden)), "b1": np.zeros(hidden),
        "w2": rng.normal(0, 1 / np.sqrt(hidden), size=(hidden, 1)), "b2": np.zeros(1),
        "epoch": 0,
    }
    state = root.restore_checkpoint(start)  # the latest checkpoint, or `start` when none
    if state["epoch"]:
        print(f"resuming after epoch {state['epoch']}")
    for epoch in range(int(state["epoch"]) + 1, epochs + 1):
        h = np.tanh(x @ state["w1"] + state["b1"])
        pred = h @ state["w2"] + state["b2"]
        err = pred - y
        loss = float(np.mean(err**2))
        grad_pred = 2 * err / samples
        grad_h = (grad_pred @ state["w2"].T) * (1 - h**2)
        state["w2"] = state["w2"] - lr * h.T @ grad_pred
        state["b2"] = state["b2"] - lr * grad_pred.sum(0)
        state["w1"] = state["w1"] - lr * x.T @ grad_h
        state["b1"] = state["b1"] - lr * grad_h.sum(0)
        state["epoch"] = epoch
        root.message({"loss": loss, "epoch": epoch}, keep="min", leader="loss", step=epoch)
        root.save_checkpoint(state, step=epoch, keep=2)
        if epoch == stop_after:  # simulate SLURM's warning before a time limit
            os.kill(os.getpid(), signal.SIGUSR1)
    print(f"final loss {loss:.4f}")
    return loss


if __name__ == "__main__":
    train_numpy.main()
