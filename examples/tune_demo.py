"""A numpy regression with a learning curve, for ``fexp tune`` (README section 6, bench).

The validation loss depends on the learning rate, the width of a random-feature layer, the
activation and the epochs: bad learning rates diverge or crawl, so a pruner can tell early.
Each epoch messages ``val_loss`` at its step, checkpoints, and asks ``root.should_prune()``;
an interrupted trial resumes from its checkpoint.

    fexp tune examples/tune_demo.py:regress -r tuned \\
        "{lr: loguniform(1e-3, 1), width: int(4, 64), act: relu | tanh}" \\
        --objective val_loss:min --trials 20 --pruner asha
"""

from __future__ import annotations

import fexp


@fexp.experiment
def regress(
    root: fexp.Root,
    lr: float = 0.05,  # @p learning rate of gradient descent
    width: int = 16,  # @p random features
    act: str = "relu",  # @p activation of the features: relu or tanh
    epochs: int = 27,  # @p passes over the data
    seed: int = 0,  # @p data and feature seed
) -> None:
    """Fit random features to a noisy sine by full-batch gradient descent."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, size=(256, 1))
    y = np.sin(x[:, 0]) + 0.1 * rng.normal(size=256)
    proj = rng.normal(size=(1, width))
    bias = rng.uniform(-3, 3, size=width)
    pre = x @ proj + bias
    feats = np.maximum(pre, 0.0) if act == "relu" else np.tanh(pre)
    feats = feats / np.sqrt(width)
    train, val = slice(0, 192), slice(192, 256)
    state = root.restore_checkpoint({"w": np.zeros(width), "epoch": 0})
    w, start = state["w"], int(state["epoch"])
    for epoch in range(start, epochs):
        for _ in range(10):
            grad = feats[train].T @ (feats[train] @ w - y[train]) / 192
            w = w - lr * grad
        val_loss = float(np.mean((feats[val] @ w - y[val]) ** 2))
        root.message({"val_loss": min(val_loss, 1e6)}, keep="min", step=epoch)
        root.save_checkpoint({"w": w, "epoch": epoch + 1}, step=epoch)
        if root.should_prune():
            return


if __name__ == "__main__":
    regress.main()
