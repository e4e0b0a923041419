"""Checkpoints: round trips, fifteen/flax semantics, retention (last N + every Nth + best K),
flax_extra writers/readers, and atomicity under SIGKILL."""

from __future__ import annotations

import collections
import os
import pathlib
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from typing import Any

import numpy as np
import pytest

from fexp import _checkpoint, _errors, _npz
from fexp._checkpoint import Best, CheckpointRecord

Pair = collections.namedtuple("Pair", "first second")


class Stateful:
    def __init__(self) -> None:
        self.w = np.zeros(4)
        self.loaded: list[Any] = []

    def state_dict(self) -> dict[str, Any]:
        return {"w": self.w, "meta": {"n": 1}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.loaded.append(state)
        self.w = state["w"]


def test_round_trip_of_every_supported_leaf(tmp_path: pathlib.Path) -> None:
    structured = np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")])
    structured["a"] = [1, 2]
    tree = {
        "c": np.arange(12.0).reshape(3, 4),
        "fortran": np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3)),
        "strided": np.arange(10)[::3],
        "empty": np.empty((0, 3), np.float32),
        "zero_d": np.array(5.5),
        "structured": structured,
        "big_endian": np.arange(3, dtype=">i8"),
        "unicode": np.array(["ab", "c"]),
        "np_scalar": np.float32(2.5),
        "scalars": [1, 2.5, float("inf"), "text", None, True, False, 2**80, b"\x00bytes"],
        "tuple": (1, (2, [3])),
        "named": Pair(1, np.ones(2)),
        1: "int key",
        None: "none key",
        "objects": {"set": {1, 2}, "complex": 1 + 2j, "obj_array": np.array([1, "a"], object)},
    }
    path = _checkpoint.save(tmp_path, tree, step=3)
    assert path == tmp_path / "checkpoint_3"
    out = _checkpoint.restore(tmp_path)
    assert list(out) == list(tree)
    for key in ("c", "fortran", "strided", "empty", "zero_d", "structured", "big_endian",
                "unicode"):
        np.testing.assert_array_equal(out[key], tree[key])
        assert out[key].dtype == tree[key].dtype and out[key].shape == tree[key].shape
    assert out["fortran"].flags.f_contiguous
    assert isinstance(out["np_scalar"], np.float32) and out["np_scalar"] == 2.5
    assert out["scalars"] == tree["scalars"]
    assert out["tuple"] == (1, (2, [3]))
    assert type(out["named"]) is tuple  # without a target the namedtuple type is not rebuilt
    assert out[1] == "int key" and out[None] == "none key"
    assert out["objects"]["set"] == {1, 2} and out["objects"]["complex"] == 1 + 2j
    assert out["objects"]["obj_array"].tolist() == [1, "a"]


def test_nan_scalar_and_metrics(tmp_path: pathlib.Path) -> None:
    _checkpoint.save(tmp_path, {"x": float("nan")}, 1, metrics={"loss": np.float32(0.5)})
    assert np.isnan(_checkpoint.restore(tmp_path)["x"])
    assert _checkpoint.records(tmp_path)[0].metrics == {"loss": 0.5}
    with pytest.raises(ValueError, match="metrics must be scalars"):
        _checkpoint.save(tmp_path, {}, 2, metrics={"loss": "low"})


def test_file_is_a_valid_npz(tmp_path: pathlib.Path) -> None:
    arrays = {"a": np.arange(5), "b": np.ones((2, 2), np.float32)}
    path = _checkpoint.save(tmp_path, arrays, step=1)
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        assert all(info.compress_type == zipfile.ZIP_STORED for info in zf.infolist())
    with np.load(path) as npz:
        np.testing.assert_array_equal(npz["0"], arrays["a"])
        np.testing.assert_array_equal(npz["1"], arrays["b"])


def test_large_arrays_use_the_parallel_writer(tmp_path: pathlib.Path) -> None:
    big = {f"w{i}": np.random.default_rng(i).standard_normal(700_000) for i in range(3)}
    path = _checkpoint.save(tmp_path, big, step=1)  # 16.8 MB: CRCs in a thread, early fsync
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
    out = _checkpoint.restore(tmp_path)
    for key, value in big.items():
        np.testing.assert_array_equal(out[key], value)


def test_state_dict_objects_restore_in_place(tmp_path: pathlib.Path) -> None:
    model = Stateful()
    model.w = np.arange(4.0)
    _checkpoint.save(tmp_path, {"model": model, "named": Pair(1, 2)}, step=1)
    plain = _checkpoint.restore(tmp_path)
    assert plain["model"]["w"].tolist() == [0, 1, 2, 3] and plain["model"]["meta"] == {"n": 1}
    fresh = Stateful()
    out = _checkpoint.restore(tmp_path, {"model": fresh, "named": Pair(0, 0)})
    assert out["model"] is fresh and fresh.w.tolist() == [0, 1, 2, 3]
    assert out["named"] == Pair(1, 2) and isinstance(out["named"], Pair)
    # A state_dict object as the whole target, and a plain dict loaded into such an object.
    _checkpoint.save(tmp_path, model, step=2)
    other = Stateful()
    assert _checkpoint.restore(tmp_path, other) is other and other.w.tolist() == [0, 1, 2, 3]
    _checkpoint.save(tmp_path, {"w": np.ones(4)}, step=3)
    assert _checkpoint.restore(tmp_path, other) is other and other.w.tolist() == [1, 1, 1, 1]


def test_default_when_there_is_no_checkpoint(tmp_path: pathlib.Path) -> None:
    assert _checkpoint.restore(tmp_path / "missing") is None
    assert _checkpoint.restore(tmp_path, default={"init": 1}) == {"init": 1}
    assert _checkpoint.restore(tmp_path, default=lambda: {"made": True}) == {"made": True}
    assert _checkpoint.latest_step(tmp_path) is None and _checkpoint.steps(tmp_path) == []
    assert _checkpoint.records(tmp_path) == []


def test_fifteen_semantics_keep_and_overwrite(tmp_path: pathlib.Path) -> None:
    for step in (1, 5, 9):
        _checkpoint.save(tmp_path, {"s": step}, step)  # keep=1 by default
    assert _checkpoint.steps(tmp_path) == [9]
    with pytest.raises(_errors.ExperimentStateError) as info:
        _checkpoint.save(tmp_path, {"s": 9}, 9)
    assert "cannot save step 9: checkpoint step 9 (checkpoint_9) is not older" in str(info.value)
    with pytest.raises(_errors.ExperimentStateError, match="cannot save step 4"):
        _checkpoint.save(tmp_path, {"s": 4}, 4)
    _checkpoint.save(tmp_path, {"s": 10}, 10, keep=None)
    _checkpoint.save(tmp_path, {"s": 11}, 11, keep=None)
    assert _checkpoint.steps(tmp_path) == [9, 10, 11]
    # overwrite: replace an older step and drop the newer checkpoints (resume from the past).
    _checkpoint.save(tmp_path, {"s": "again"}, 10, keep=None, overwrite=True)
    assert _checkpoint.steps(tmp_path) == [9, 10]
    assert _checkpoint.restore(tmp_path) == {"s": "again"}
    assert _checkpoint.read_step(tmp_path, 9) == {"s": 9}
    with pytest.raises(_errors.ExperimentStateError, match=r"no checkpoint checkpoint_3; saved "
                                                           r"steps: \[9, 10\]"):
        _checkpoint.restore(tmp_path, step=3)


def test_prefixes_are_independent(tmp_path: pathlib.Path) -> None:
    _checkpoint.save(tmp_path, 1, 5)
    _checkpoint.save(tmp_path, 2, 3, prefix="ema_")
    _checkpoint.save(tmp_path, 3, 7, prefix="checkpoint_1_")
    assert _checkpoint.steps(tmp_path) == [5]
    assert _checkpoint.steps(tmp_path, "ema_") == [3]
    assert _checkpoint.restore(tmp_path, prefix="checkpoint_1_") == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"step": -1}, "step must be an int >= 0"),
        ({"step": True}, "step must be an int >= 0"),
        ({"keep": -2}, "keep must be None"),
        ({"keep": 0}, "keep=0 would delete every checkpoint"),
        ({"keep_every_n_steps": 0}, "keep_every_n_steps must be None or an int >= 1"),
        ({"prefix": "a/b"}, "prefix must be a plain file-name start"),
        ({"prefix": ""}, "prefix must be a plain file-name start"),
    ],
)
def test_bad_arguments(tmp_path: pathlib.Path, kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"step": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        _checkpoint.save(tmp_path, {}, **args)
    assert not list(tmp_path.iterdir())


def test_best_validation_and_ranking() -> None:
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        Best("loss", mode="lowest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="keep must be an int >= 1"):
        Best("loss", keep=0)
    rs = [CheckpointRecord(1, {"loss": 0.5}), CheckpointRecord(2, {"loss": float("nan")}),
          CheckpointRecord(3, {}), CheckpointRecord(4, {"loss": 0.5}),
          CheckpointRecord(5, {"loss": 0.1})]
    assert [r.step for r in Best("loss", "min").rank(rs)] == [5, 4, 1]
    assert [r.step for r in Best("loss", "max").rank(rs)] == [4, 1, 5]


# -- retention ----------------------------------------------------------------------------------


def history(steps: list[int]) -> list[CheckpointRecord]:
    previous = [None, *steps[:-1]]
    return [CheckpointRecord(s, {"loss": (s - 35) ** 2}, previous_step=p)
            for s, p in zip(steps, previous, strict=True)]


def test_retained_combines_last_every_and_best() -> None:
    records = history(list(range(0, 100, 10)))  # 0, 10, ..., 90; loss best at 30 and 40
    assert retained(records, keep=2) == {80, 90}
    assert retained(records, keep=2, keep_every_n_steps=30) == {0, 30, 60, 80, 90}
    assert retained(records, keep=2, best=Best("loss", "min", 2)) == {30, 40, 80, 90}
    assert retained(records, keep=1, keep_every_n_steps=50,
                    best=Best("loss", "max", 1)) == {0, 50, 90}
    assert retained(records, keep=None) == set(range(0, 100, 10))
    assert retained(records, keep=0, best=Best("loss", "min", 1)) == {40}  # tie: later step


def test_every_n_keeps_the_first_save_after_each_multiple() -> None:
    records = history([7, 14, 21, 28, 35, 42])
    assert retained(records, keep=1, keep_every_n_steps=20) == {7, 21, 42}


def retained(records: list[CheckpointRecord], **kwargs: Any) -> set[int]:
    return _checkpoint.retained(records, **kwargs)


def save_run(folder: pathlib.Path, steps: range, **policy: Any) -> None:
    for step in steps:
        _checkpoint.save(folder, {"w": np.full(3, step)}, step,
                         metrics={"loss": (step - 35) ** 2}, **policy)


def test_retention_on_disk_and_resume_from_files(tmp_path: pathlib.Path) -> None:
    policy = {"keep": 2, "keep_every_n_steps": 30, "best": Best("loss", "min", 2)}
    save_run(tmp_path / "straight", range(0, 100, 10), **policy)
    # The same run interrupted twice: a new process knows only the files (no caches).
    save_run(tmp_path / "resumed", range(0, 40, 10), **policy)
    _checkpoint._RECORDS.clear()
    save_run(tmp_path / "resumed", range(40, 70, 10), **policy)
    _checkpoint._RECORDS.clear()
    save_run(tmp_path / "resumed", range(70, 100, 10), **policy)
    expected = [0, 30, 40, 60, 80, 90]
    assert _checkpoint.steps(tmp_path / "straight") == expected
    assert _checkpoint.steps(tmp_path / "resumed") == expected
    best = _checkpoint.restore(tmp_path / "resumed", best=Best("loss", "min"))
    assert best["w"].tolist() == [40, 40, 40]  # loss 25 at step 40 ties step 30; later wins
    records = _checkpoint.records(tmp_path / "resumed")
    assert [r.previous_step for r in records] == [None, 20, 30, 50, 70, 80]
    assert records[-1].completed_steps == 10 and records[-1].elapsed is not None
    assert records[0].completed_steps == 0 and records[0].elapsed is None


def test_records_are_read_without_loading_arrays(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _checkpoint.save(tmp_path, {"a": np.ones(3), "b": 2}, 4, metrics={"acc": 1},
                     counters={"step": 4, "epoch": 1})

    def boom(*args: Any) -> Any:
        raise AssertionError("arrays must not be read")

    monkeypatch.setattr(_npz.Reader, "array", boom)
    (record,) = _checkpoint.records(tmp_path)
    assert (record.step, record.metrics, record.keys) == (4, {"acc": 1.0}, ("a", "b"))
    assert record.counters == {"step": 4, "epoch": 1}
    assert record.path == tmp_path / "checkpoint_4" and record.time > 0
    assert _checkpoint.read_path(record.path, names=["b"]) == {"b": 2}


def test_unreadable_files(tmp_path: pathlib.Path) -> None:
    _checkpoint.save(tmp_path, {"a": 1}, 1, keep=None)
    (tmp_path / "checkpoint_2").write_bytes(b"not a zip")
    assert [r.step for r in _checkpoint.records(tmp_path)] == [1]
    with pytest.raises(_errors.ExperimentStateError, match="checkpoint file cannot be read"):
        _checkpoint.restore(tmp_path)
    with pytest.raises(_errors.ExperimentStateError, match="no entry 'b'"):
        _checkpoint.read_path(tmp_path / "checkpoint_1", names=["b"])
    _checkpoint.save(tmp_path, [1], 3, keep=None)
    with pytest.raises(_errors.ExperimentStateError, match="holds no named entries"):
        _checkpoint.read_path(tmp_path / "checkpoint_3", names=["a"])


def test_stale_temp_files_of_dead_processes_are_removed(tmp_path: pathlib.Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = tmp_path / f".checkpoint_9.{dead.stdout.strip()}.abcd1234.tmp"
    deleting = tmp_path / f".checkpoint_8.{dead.stdout.strip()}.abcd1234.del"
    live = tmp_path / f".checkpoint_9.{os.getppid()}.abcd1234.tmp"
    for path in (stale, deleting, live):
        path.write_bytes(b"half")
    _checkpoint.save(tmp_path, 1, 1)
    assert not stale.exists() and not deleting.exists() and live.exists()
    assert _checkpoint.steps(tmp_path) == [1]


def test_big_old_checkpoints_are_deleted_in_the_background(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_checkpoint, "_BACKGROUND_DELETE_BYTES", 0)
    for step in (1, 2, 3):
        _checkpoint.save(tmp_path, {"a": np.full(1000, step)}, step, keep=1)
        assert _checkpoint.steps(tmp_path) == [step]  # gone for readers at once
    _checkpoint.wait_for_deletions()
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint_3"]
    _checkpoint.save(tmp_path, {"a": 0}, 2, overwrite=True)  # newer ones go the same way
    _checkpoint.wait_for_deletions()
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint_2"]


# -- flax_extra-style writers and readers -------------------------------------------------------


def test_highest_and_lowest_writers_use_their_own_prefixes(tmp_path: pathlib.Path) -> None:
    highest = _checkpoint.HighestCheckpointWriter(tmp_path, "acc", keep=2)
    lowest = _checkpoint.LowestCheckpointWriter(tmp_path, "eval/loss")
    written = []
    for step, (acc, loss) in enumerate([(0.5, 3.0), (0.4, 2.0), (0.7, 2.5), (0.9, 1.0)]):
        written.append((highest.write({"s": step}, step, {"acc": acc}) is not None,
                        lowest.write({"s": step}, step, {"eval/loss": loss}) is not None))
    assert written == [(True, True), (False, True), (True, False), (True, True)]
    names = sorted(p.name for p in tmp_path.iterdir())
    # The highest values are saved as highest_* (never under a lowest_ prefix).
    assert names == ["highest_acc_2", "highest_acc_3", "lowest_eval_loss_3"]
    assert highest.best_value() == 0.9 and lowest.best_value() == 1.0
    assert not highest.is_best(0.9) and highest.is_best(0.95) and not highest.is_best(float("nan"))
    assert _checkpoint.read_best(tmp_path, "acc", "max") == {"s": 3}
    assert _checkpoint.read_best(tmp_path, "eval/loss", "min") == {"s": 3}
    assert _checkpoint.read_best(tmp_path, "f1", "max", default="none") == "none"
    # A new writer on the same folder continues from the files (resume-safe).
    again = _checkpoint.HighestCheckpointWriter(tmp_path, "acc", keep=2)
    assert again.write({"s": 4}, 4, {"acc": 0.8}) is None
    with pytest.raises(ValueError, match=r"needs metrics\['acc'\]"):
        again.write({}, 5, {"loss": 1})


def test_checkpoint_writer_and_readers(tmp_path: pathlib.Path) -> None:
    writer = _checkpoint.CheckpointWriter(tmp_path, keep=2, keep_every_n_steps=10)
    for step in range(0, 25, 5):
        writer.write({"step": step}, step, {"loss": step})
    assert _checkpoint.steps(tmp_path) == [0, 10, 15, 20]
    assert _checkpoint.read_latest(tmp_path) == {"step": 20}
    assert _checkpoint.read_step(tmp_path, 10) == {"step": 10}
    assert _checkpoint.read_best(tmp_path, "loss", "min", prefix="checkpoint_") == {"step": 0}
    assert _checkpoint.read_latest(tmp_path, prefix="other_", default=list) == []


# -- atomicity ----------------------------------------------------------------------------------

SAVER = textwrap.dedent(
    """
    import pathlib, sys
    import numpy as np
    from fexp import _checkpoint
    folder = pathlib.Path(sys.argv[1])
    step = (_checkpoint.latest_step(folder) or 0) + 1
    while True:
        tree = {"a": np.full(1_500_000, step, np.float32), "b": [np.full(300_000, step)],
                "step": step}
        _checkpoint.save(folder, tree, step, keep=2, keep_every_n_steps=4,
                         metrics={"loss": -step}, best=_checkpoint.Best("loss", "min", 1))
        print(step, flush=True)
        step += 1
    """
)


def read_while_saving(folder: pathlib.Path, stop: threading.Event,
                      failures: list[BaseException], reads: list[int]) -> None:
    """Restore the latest checkpoint again and again; every read must be whole."""
    while not stop.is_set():
        try:
            tree = _checkpoint.restore(folder)
            if tree is not None:
                reads.append(check_consistent(tree))
        except BaseException as exc:  # reported by the test
            failures.append(exc)
            return


def check_consistent(tree: dict[str, Any]) -> int:
    step = tree["step"]
    assert tree["a"].shape == (1_500_000,) and bool((tree["a"] == step).all())
    assert bool((tree["b"][0] == step).all())
    return int(step)


@pytest.mark.slow
def test_sigkill_mid_save_never_leaves_a_torn_checkpoint(tmp_path: pathlib.Path) -> None:
    rng = random.Random(1234)
    folder = tmp_path / "checkpoints"
    total_reads = killed_mid_save = 0
    for _ in range(5):
        saver = subprocess.Popen([sys.executable, "-c", SAVER, str(folder)],
                                 stdout=subprocess.PIPE, text=True)
        failures: list[BaseException] = []
        stop = threading.Event()
        reads: list[int] = []
        reader = threading.Thread(target=read_while_saving, args=(folder, stop, failures, reads))
        try:
            assert saver.stdout is not None
            saver.stdout.readline()  # at least one checkpoint exists
            reader.start()
            time.sleep(rng.uniform(0.0, 0.4))
        finally:
            saver.send_signal(signal.SIGKILL)
            saver.wait()
            stop.set()
            if reader.is_alive():
                reader.join()
            assert saver.stdout is not None
            saver.stdout.close()
        assert not failures, failures
        total_reads += len(reads)
        # After the kill: every visible checkpoint is whole and the latest one loads.
        visible = _checkpoint.steps(folder)
        assert visible
        for step in visible:
            assert check_consistent(_checkpoint.read_step(folder, step)) == step
        assert check_consistent(_checkpoint.restore(folder)) == visible[-1]
        others = [p.name for p in folder.iterdir() if not p.name.startswith("checkpoint_")]
        assert all(name.startswith(".checkpoint_") and name.endswith(".tmp") for name in others)
        killed_mid_save += bool(others)
    assert total_reads > 0
    assert killed_mid_save > 0  # a kill interrupted a save (its temp file was left behind)
    # The next save removes the killed saves' temp files.
    _checkpoint.save(folder, {"step": 10_000}, 10_000)
    assert all(p.name.startswith("checkpoint_") for p in folder.iterdir())


# -- torch (optional) ---------------------------------------------------------------------------


def test_torch_module_and_optimizer_round_trip(tmp_path: pathlib.Path) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.ones(4, 3)).sum().backward()
    optimizer.step()
    extra = {"half": torch.arange(4, dtype=torch.bfloat16), "np": np.ones(2)}
    _checkpoint.save(tmp_path, {"model": model, "opt": optimizer, "extra": extra}, step=1)

    fresh_model = torch.nn.Linear(3, 2)
    fresh_opt = torch.optim.Adam(fresh_model.parameters(), lr=0.5)
    out = _checkpoint.restore(tmp_path, {"model": fresh_model, "opt": fresh_opt})
    assert out["model"] is fresh_model and out["opt"] is fresh_opt
    for a, b in zip(model.parameters(), fresh_model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert fresh_opt.param_groups[0]["lr"] == 0.1
    assert fresh_opt.state_dict()["state"][0]["step"] == optimizer.state_dict()["state"][0]["step"]
    assert out["extra"]["half"].dtype == torch.bfloat16
    assert torch.equal(out["extra"]["half"], extra["half"])
