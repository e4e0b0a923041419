"""TensorBoard summaries through the Monitor, read back with TensorBoard's own reader; the
numpy image grid; and a real TensorBoard server over two experiment folders."""

# The monitor reads loop variables from the frame, which linters cannot see.
# ruff: noqa: F841, B007

from __future__ import annotations

import json
import pathlib
import subprocess
import urllib.request
from typing import Any

import numpy as np
import pytest

from fexp import _errors, _services
from fexp.monitor import Monitor, TensorboardLogger, make_grid
from fexp.monitor._tensorboard import encode_gif, video_frames

pytest.importorskip("tensorboard")


def read_events(folder: pathlib.Path) -> Any:
    from tensorboard.backend.event_processing import event_accumulator

    accumulator = event_accumulator.EventAccumulator(
        str(folder), size_guidance={"scalars": 0, "images": 0, "histograms": 0, "tensors": 0}
    )
    accumulator.Reload()
    return accumulator


def steps_of(events: list[Any]) -> list[int]:
    return [event.step for event in events]


def test_summaries_read_back_with_tensorboards_reader(tmp_path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    with Monitor(
        tmp_path,
        sca=["^loss$@2s", "^metrics$@1e"], sca_pref=["", "eval"],
        hist="^weights$@3s",
        img=["^image$@2e", "^batch$@2e"], img_options={"nrow": 2},
        txt="^note$@1e", txt_fn=lambda s: f"note: {s}",
        fig="^figure$@2e",
        vid="^clip$@2e",
        hooks=[TensorboardLogger("pr_curve", "^pr$@2e")],
    ) as m:
        rng = np.random.default_rng(0)
        for epoch in m(range(2)):
            for step in m(range(4)):
                loss = float(step + 4 * epoch)
                weights = rng.standard_normal(100)
            metrics = {"acc": 0.5 + epoch, "f1": np.array([0.2, 0.4])}
            image = np.ones((1, 8, 8))
            batch = rng.random((3, 3, 8, 8))
            note = f"epoch {epoch}"
            figure = Figure()
            figure.add_subplot().plot([0, 1], [1, 0])
            clip = rng.random((2, 3, 3, 8, 8))
            pr = (np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.6, 0.4]))
    acc = read_events(tmp_path)
    tags = acc.Tags()
    assert sorted(tags["scalars"]) == ["eval/metrics/acc", "eval/metrics/f1", "loss"]
    assert steps_of(acc.Scalars("loss")) == [2, 4, 6, 8]
    assert [e.value for e in acc.Scalars("loss")] == [1.0, 3.0, 5.0, 7.0]
    assert steps_of(acc.Scalars("eval/metrics/acc")) == [4, 8]
    assert [e.value for e in acc.Scalars("eval/metrics/f1")] == pytest.approx([0.3, 0.3])
    assert tags["histograms"] == ["weights"]
    assert steps_of(acc.Histograms("weights")) == [3, 6]
    assert acc.Histograms("weights")[0].histogram_value.num == 100
    assert sorted(tags["images"]) == ["batch", "clip", "figure", "image"]
    image_event = acc.Images("image")[0]
    assert (image_event.step, image_event.width, image_event.height) == (8, 8, 8)
    batch_event = acc.Images("batch")[0]  # 3 images, 2 per row, padding 2
    assert (batch_event.width, batch_event.height) == (2 + 2 * 10, 2 + 2 * 10)
    assert acc.Images("clip")[0].encoded_image_string.startswith(b"GIF8")
    text_tags = [t for t in tags["tensors"] if t.startswith("note")]
    assert len(text_tags) == 1
    texts = acc.Tensors(text_tags[0])
    assert steps_of(texts) == [4, 8]
    assert texts[1].tensor_proto.string_val[0] == b"note: epoch 1"
    assert any(t.startswith("pr") for t in tags["tensors"])


def test_scalar_logger_direct_use_and_options(tmp_path: pathlib.Path) -> None:
    hook = TensorboardLogger("scalar", "^x$@1s", prefix="train", prepend=False)
    assert hook.items("d", {"a": 1, "b": 2}) == [("a", 1), ("b", 2)]
    assert hook.items("l", [1, 2]) == [("l/0", 1), ("l/1", 2)]
    with pytest.raises(_errors.ConfigError, match="unknown TensorBoard summary type .voxel."):
        TensorboardLogger("voxel", "x@1s")
    with pytest.raises(_errors.ConfigError, match="unknown option.*bogus.*expected nrow"):
        TensorboardLogger("image", "x@1s", bogus=1)
    with pytest.raises(_errors.ConfigError, match="expected none"):
        TensorboardLogger("scalar", "x@1s", nrow=1)
    with Monitor(tmp_path, hooks=[hook]) as m:
        for x in m(range(3)):
            pass
    assert steps_of(read_events(tmp_path).Scalars("train/x")) == [1, 2, 3]


def test_make_grid_matches_torchvision_layout() -> None:
    images = np.arange(5 * 1 * 2 * 3, dtype=np.float32).reshape(5, 1, 2, 3)
    grid = make_grid(images, nrow=2, padding=1, pad_value=-1)
    assert grid.shape == (3, 1 + 3 * 3, 1 + 2 * 4)  # 3 rows of 2, one channel made three
    np.testing.assert_array_equal(grid[0, 1:3, 1:4], images[0, 0])
    np.testing.assert_array_equal(grid[2, 1:3, 5:8], images[1, 0])
    np.testing.assert_array_equal(grid[0, 7:9, 1:4], images[4, 0])
    assert (grid[:, 7:9, 5:8] == -1).all()  # the missing sixth image is padding
    assert (grid[:, 0, :] == -1).all()
    one = make_grid(np.zeros((3, 4, 5)))
    assert one.shape == (3, 4, 5)  # a single [C, H, W] image is returned as is
    assert make_grid(np.zeros((4, 5))).shape == (3, 4, 5)
    with pytest.raises(ValueError, match=r"got shape \(2, 2, 2, 2, 2\)"):
        make_grid(np.zeros((2, 2, 2, 2, 2)))


def test_make_grid_normalize() -> None:
    images = np.stack([np.full((1, 2, 2), 2.0), np.full((1, 2, 2), 4.0)])
    images[0, 0, 0, 0] = 0.0
    together = make_grid(images, normalize=True, padding=0)
    assert together.min() == 0.0 and together.max() == 1.0
    assert together[0, 0, 1] == 0.5
    each = make_grid(images, normalize=True, scale_each=True, padding=0)
    assert each[0, 0, 2] == 0.0  # a constant image normalises to 0
    ranged = make_grid(images, normalize=True, value_range=(0, 8), padding=0)
    assert ranged.max() == 0.5


def test_video_frames_and_gif() -> None:
    clip = np.random.default_rng(0).random((2, 4, 3, 6, 6))
    frames = video_frames(clip, nrow=2, padding=0)
    assert frames.shape == (4, 6, 12, 3) and frames.dtype == np.uint8
    assert encode_gif(frames, fps=10).startswith(b"GIF89a")
    with pytest.raises(ValueError, match="videos must be"):
        video_frames(np.zeros((2, 2)))


# -- a real TensorBoard -------------------------------------------------------------------------


def test_tensorboard_argv_encodes_names() -> None:
    argv = _services.tensorboard_argv(
        {"lr=0.1,bs:32": pathlib.Path("/runs/a"), "/abs%": pathlib.Path("/runs/b")}, port=6123,
        host="0.0.0.0")
    assert argv[1:] == ["-m", "tensorboard.main", "--logdir_spec",
                        "lr=0.1%2Cbs%3A32:/runs/a,%2Fabs%25:/runs/b", "--port", "6123",
                        "--host", "0.0.0.0"]
    with pytest.raises(_errors.ConfigError, match="contains a comma"):
        _services.tensorboard_argv({"a": pathlib.Path("/x,y")}, port=1)
    with pytest.raises(_errors.ConfigError, match="no experiment folders"):
        _services.tensorboard_argv({}, port=1)
    farm = _services.tensorboard_argv({"a": pathlib.Path("/x,y")}, port=1,
                                      logdir=pathlib.Path("/tmp/links"))
    assert farm[3:] == ["--logdir", "/tmp/links", "--port", "1", "--host", "127.0.0.1"]


def test_link_runs_names_links_after_runs(tmp_path: pathlib.Path, weird_path: pathlib.Path) -> None:
    runs = {"sweep/lr=0.1": weird_path, ".hidden": tmp_path, "100%": tmp_path}
    _services.link_runs(runs, tmp_path / "links")
    links = sorted(p.name for p in (tmp_path / "links").iterdir())
    assert links == ["%2Ehidden", "100%25", "sweep%2Flr=0.1"]
    assert (tmp_path / "links" / "sweep%2Flr=0.1").resolve() == weird_path.resolve()


def test_start_tensorboard_without_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_services.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(_errors.ConfigError, match=r"install fexp\[tensorboard\]"):
        _services.start_tensorboard({"a": pathlib.Path("/x")})


@pytest.mark.slow
def test_real_tensorboard_shows_one_run_per_experiment(tmp_path: pathlib.Path) -> None:
    runs = {}
    for name in ("lr=0.1", "lr=0.01,bs:2"):
        folder = tmp_path / name
        with Monitor(folder, sca="^loss$@1s") as m:
            for loss in m(range(3)):
                pass
        runs[name] = folder
    process, url = _services.start_tensorboard(runs)
    try:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "data/runs", timeout=10) as response:
            names = json.loads(response.read())
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert sorted(names) == ["lr=0.01,bs:2", "lr=0.1"]


def test_mesh_summaries_read_back(tmp_path: pathlib.Path) -> None:
    """xmen's TensorboardLogger type 'mesh': vertices (and faces) as TensorBoard mesh data."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    vertices = np.array([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    faces = np.array([[[0, 1, 2]]])
    m = Monitor(tmp_path, hooks=[TensorboardLogger("mesh", "shape@2s")])
    for _ in m(range(4)):
        shape = {"vertices": vertices, "faces": faces}
    m.close()
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    tensors = acc.Tags()["tensors"]
    assert any(tag.startswith("shape") for tag in tensors), tensors
    first = next(tag for tag in tensors if tag.startswith("shape"))
    assert [e.step for e in acc.Tensors(first)] == [2, 4]
    assert shape["faces"] is faces
